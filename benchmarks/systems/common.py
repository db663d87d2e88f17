"""What every measured program shares: the tokenizer, the window arithmetic, the output rows.

Only NLTK, confluent-kafka and the project's `transforms.text.tokenizers` /
`transforms.text.normalize` are imported, so this also runs in a peer's own
virtual environment (Quix Streams pins an older confluent-kafka).
"""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime, timezone
from typing import Callable

__all__ = ["end_offsets", "iso_ms", "make_tokenize", "count_row", "report"]

_METADATA_TIMEOUT_S = 30.0


def make_tokenize(engine: str = "fast") -> Callable[[str], list]:
    """The pipeline's default tokenization: NLTK word_tokenize (Punkt as installed, else
    untrained), lowercased, punctuation-only tokens dropped (`tokenize:` defaults).

    `engine="guarded"` is stock NLTK, what a program that calls `nltk.word_tokenize` runs.
    """
    from transforms.text.normalize import is_punctuation
    from transforms.text.tokenizers import make_tokenizer

    tokenizer = make_tokenizer("word", punkt="auto", engine=engine)

    def normalize(tokens: list) -> list:
        # TokenizeText's default normalisation: lowercase, then drop empty and punctuation-only tokens.
        lowered = (token.lower() for token in tokens)
        return [token for token in lowered if token and not is_punctuation(token)]

    tokenizer("Warm up: Dr. Smith's 2 cats.")  # compiles NLTK's lazy patterns, as TokenizeText.setup does
    return lambda text: normalize(tokenizer(text))


def iso_ms(ms: int) -> str:
    """ISO-8601 UTC with milliseconds, as the pipeline writes window bounds."""
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def count_row(window_start_ms: int, window_ms: int, token: str, count: int) -> str:
    """One count row as a JSON line (the fields of the pipeline's count rows that matter here)."""
    return json.dumps(
        {
            "kind": "count",
            "window_start": iso_ms(window_start_ms),
            "window_end": iso_ms(window_start_ms + window_ms),
            "token": token,
            "count": count,
        }
    )


def end_offsets(consumer, topic: str) -> dict:
    """{partition: (low, high)} of every partition of the topic now: what a bounded read reads."""
    from confluent_kafka import TopicPartition

    metadata = consumer.list_topics(topic, timeout=_METADATA_TIMEOUT_S)
    partitions = sorted(metadata.topics[topic].partitions)
    return {
        p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=_METADATA_TIMEOUT_S) for p in partitions
    }


def report(**figures) -> None:
    """The program's closing line on stdout (read by the harness), with its own timings."""
    figures.setdefault("finished_at", time.time())
    print("RESULT " + json.dumps(figures), file=sys.stdout, flush=True)
