"""The compute limit: the NLTK tokenizer alone over the corpus messages, in N processes.

No Kafka: the messages come from the corpus file the harness wrote. Each process
tokenizes every Nth message (`make_tokenize`, exactly what the pipeline runs).

    python -m benchmarks.systems.tokenizer_limit --corpus corpus.jsonl --processes 1 [--limit 0]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing

from benchmarks.systems.common import make_tokenize, report


def _tokenize_slice(args) -> int:
    texts, index, step = args
    tokenize = make_tokenize()
    return sum(len(tokenize(text)) for text in texts[index::step])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--limit", type=int, default=None, help="only the first N messages (0: startup cost)")
    args = parser.parse_args()
    with open(args.corpus, encoding="utf-8") as lines:
        texts = [json.loads(line)["text"] for line in lines]
    texts = texts[: args.limit] if args.limit is not None else texts
    if args.processes == 1:
        tokens = _tokenize_slice((texts, 0, 1))
    else:
        with multiprocessing.get_context("fork").Pool(args.processes) as pool:
            tokens = sum(pool.map(_tokenize_slice, [(texts, i, args.processes) for i in range(args.processes)]))
    report(messages=len(texts), tokens=tokens)


if __name__ == "__main__":
    main()
