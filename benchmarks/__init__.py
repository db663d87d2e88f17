"""The benchmark harness: throughput, streaming latency and memory, side by side.

One command runs everything and writes benchmarks/results/RESULTS.md and a chart:

    python -m benchmarks run            # the full run (each figure a median of 3 runs, a 10-minute soak)
    python -m benchmarks run --quick    # one run of each, a 2-minute soak

See benchmarks/README.md for what is measured and how.
"""
