"""The benchmark corpus: Debian's fortunes (real English text) or, failing that, generated text.

The corpus is loaded once per harness run into a fresh topic with several
partitions; each message carries a round-robin key and a Kafka CreateTime
timestamp, spread evenly over an event-time range in corpus order, so every
partition is in event-time order and the windows see a steady stream.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import random
from collections import Counter
from pathlib import Path
from typing import Iterable, NamedTuple

from pipeline.devtools.producer import ProducerRecord, ensure_topic, produce_messages

__all__ = [
    "CorpusMessage",
    "Expected",
    "FORTUNES_DIR",
    "count_fingerprint",
    "cycle",
    "expected_counts",
    "load_corpus",
    "produce_corpus",
    "read_corpus",
    "stamp",
    "window_start_ms",
    "write_corpus",
]

FORTUNES_DIR = Path("/usr/share/games/fortunes")
_GENERATED_MESSAGES = 15000
_WORDS = (
    "the of and to in a is that for it as was with be by on not he this are or his from at which but have "
    "an they you were her she there been one all we their has would when if so no will more can who said "
    "stream window token count kafka beam pipeline watermark late early pane record message partition "
    "offset event time processing runner worker bundle shuffle combine accumulate"
).split()


class CorpusMessage(NamedTuple):
    text: str
    key: str
    timestamp_ms: int


class Expected(NamedTuple):
    """What a correct windowed count of a stream finds: the check every run is held to."""

    tokens: int  # the sum of all counts
    pairs: int  # distinct (window, token) counts
    fingerprint: int  # count_fingerprint summed over those counts


def _fortunes(directory: Path) -> list[str]:
    """Every fortune of every file in the directory (fortunes are separated by '%' lines)."""
    texts = []
    for path in sorted(directory.iterdir()):
        if path.is_symlink() or not path.is_file() or path.suffix in (".dat", ".u8"):
            continue
        text = path.read_bytes().decode("utf-8", errors="replace").replace("\r\n", "\n")
        texts.extend(part.strip("\n") for part in text.split("\n%\n") if part.strip())
    return texts


def _generated(count: int, seed: int = 7) -> list[str]:
    """Zipf-like English-ish sentences of about 29 words, the fortunes' average."""
    rng = random.Random(seed)
    weights = [1 / (rank + 1) for rank in range(len(_WORDS))]
    texts = []
    for _ in range(count):
        words = rng.choices(_WORDS, weights, k=rng.randint(10, 48))
        cut = rng.randint(5, len(words) - 3)
        texts.append(" ".join(words[:cut]).capitalize() + ". " + " ".join(words[cut:]).capitalize() + ".")
    return texts


def load_corpus(fortunes_dir: Path = FORTUNES_DIR) -> tuple[str, list[str]]:
    """(name, texts): the fortunes when the package is installed, else generated text."""
    if fortunes_dir.is_dir():
        texts = _fortunes(fortunes_dir)
        if texts:
            return "Debian fortunes", texts
    return "generated text (install Debian's 'fortunes' package for real English)", _generated(_GENERATED_MESSAGES)


def cycle(texts: list[str], messages: int) -> list[str]:
    """The texts repeated in order until there are `messages` of them (a longer stream of the same text)."""
    return [texts[i % len(texts)] for i in range(messages)]


def stamp(texts: list[str], start_ms: int, span_ms: int, keys: int) -> list[CorpusMessage]:
    """Keys round-robin and event times spread evenly over [start_ms, start_ms + span_ms)."""
    step = span_ms / max(len(texts), 1)
    return [CorpusMessage(text, f"key-{i % keys}", start_ms + int(i * step)) for i, text in enumerate(texts)]


def write_corpus(messages: Iterable[CorpusMessage], path: Path) -> None:
    with open(path, "w", encoding="utf-8") as out:
        for message in messages:
            out.write(json.dumps(message._asdict()) + "\n")


def read_corpus(path: Path) -> list[CorpusMessage]:
    with open(path, encoding="utf-8") as lines:
        return [CorpusMessage(**json.loads(line)) for line in lines]


def produce_corpus(bootstrap_servers: str, topic: str, messages: list[CorpusMessage], partitions: int) -> int:
    """Creates the topic and sends the corpus as fast as the broker takes it; returns how many were delivered."""
    created, found = ensure_topic(bootstrap_servers, topic, partitions)
    if not created or found != partitions:
        raise RuntimeError(f"topic {topic} should be new with {partitions} partitions (found {found})")
    records = (ProducerRecord(m.text, key=m.key, timestamp_ms=m.timestamp_ms) for m in messages)
    return produce_messages(bootstrap_servers, topic, records, producer_config={"linger.ms": 20})


def window_start_ms(timestamp_ms: int, size_ms: int) -> int:
    return timestamp_ms - timestamp_ms % size_ms


def count_fingerprint(window_start: str, token: str, count: int) -> int:
    """One count's share of a stream's fingerprint (sum modulo 2**64 over every count row).

    A token's counts may be split over several rows of one window (a loop that closes
    a window early and reopens it) and still sum to the same fingerprint, but a count
    that is off, a token or window that is missing or extra, almost surely does not.
    """
    digest = hashlib.blake2b(f"{window_start}\x00{token}".encode(), digest_size=8).digest()
    return count * int.from_bytes(digest, "little") % 2**64


def expected_counts(messages: list[CorpusMessage], window_ms: int, engine: str = "fast") -> Expected:
    """What a correct windowed count finds in the messages, tokenized on `engine` (`guarded`: stock NLTK)."""
    from benchmarks.systems.common import iso_ms, make_tokenize

    tokenize = make_tokenize(engine)
    tokens_of: dict[str, list] = {}  # a cycled corpus repeats its texts: tokenize each once
    tokens = pairs = fingerprint = 0
    ordered = sorted(messages, key=lambda m: m.timestamp_ms)
    for start, group in itertools.groupby(ordered, key=lambda m: window_start_ms(m.timestamp_ms, window_ms)):
        counts = Counter()
        for message in group:
            if message.text not in tokens_of:
                tokens_of[message.text] = tokenize(message.text)
            counts.update(tokens_of[message.text])
        window = iso_ms(start)
        tokens += sum(counts.values())
        pairs += len(counts)
        fingerprint += sum(count_fingerprint(window, token, n) for token, n in counts.items())
    return Expected(tokens, pairs, fingerprint % 2**64)
