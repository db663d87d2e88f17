"""Streaming token counts from Kafka with NLTK on Apache Beam."""

import setuptools

setuptools.setup(
    name="beam-token-counts",
    version="0.1.0",
    description="Windowed NLTK token counts from an Apache Kafka stream, on any Beam runner.",
    python_requires=">=3.11",
    packages=setuptools.find_packages(include=["pipeline", "pipeline.*", "transforms", "transforms.*"]),
    install_requires=[
        "apache-beam==2.77.0",
        "confluent-kafka==2.16.1",
        "nltk==3.10.4",
        "PyYAML>=6.0",
        # The progress line and `run --live` draw in place with rich.
        "rich>=13.7",
        # The run config's models, their checks and JSON Schema (pipeline/config.py).
        "pydantic>=2.11,<3",  # validate_by_name / by_name=False (2.11)
    ],
    extras_require={
        "dataflow": ["apache-beam[gcp]==2.77.0"],
        # The plot command draws with matplotlib; dev includes it so the tests of the chart run.
        "plot": ["matplotlib>=3.8"],
        "dev": ["pytest>=8", "hypothesis>=6.100", "ruff==0.17.6", "matplotlib>=3.8", "jsonschema>=4.18"],
        # benchmarks/ only; Quix Streams pins confluent-kafka < 2.13, so the harness gives it a venv of its own.
        "bench": ["psutil>=5.9", "matplotlib>=3.8", "bytewax[kafka]==0.21.1", "py-spy>=0.3"],
    },
)
