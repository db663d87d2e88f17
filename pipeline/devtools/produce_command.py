"""The `produce` command: send sample text, a file or stdin to a Kafka topic.

This is what `python -m pipeline produce` runs. The source is a file (one message per
line or per paragraph), standard input, or the built-in sample text. Messages can be
paced at a steady rate, carry round-robin keys, and carry CreateTime timestamps spread
evenly over an event-time range, optionally out of order by a bounded jitter, so that
windows, watermarks and lateness can be exercised on purpose. The sending itself is
`pipeline.devtools.producer.produce_messages`.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NamedTuple

from pipeline.config import ConfigError, parse_duration, substitute_env
from pipeline.devtools.producer import (
    DEFAULT_BOOTSTRAP_SERVERS,
    DEFAULT_PARTITIONS,
    DEFAULT_TOPIC,
    ProduceInterrupted,
    ProduceProgress,
    ProducerError,
    ProducerRecord,
    ensure_topic,
    produce_messages,
    split_records,
)
from pipeline.devtools.sample_text import SAMPLE_LINES

__all__ = ["add_arguments", "main", "run"]

_EXIT_OK, _EXIT_FAILED, _EXIT_USAGE, _EXIT_INTERRUPTED = 0, 1, 2, 130
# Broker defaults that silently or loudly drop records by timestamp: retention.ms and
# (since Kafka 4.0) log.message.timestamp.after.max.ms.
_RETENTION_WARNING_AGE = timedelta(days=7)
_FUTURE_WARNING_LEAD = timedelta(hours=1)
_TOPIC_NAME = re.compile(r"[A-Za-z0-9._-]{1,249}")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


_DESCRIPTION = """\
Send text to a Kafka topic: the built-in sample text, a file, or standard input,
one message per line (or paragraph), optionally paced, keyed and event-timestamped.
The topic is created with --partitions partitions if it does not exist."""

_EPILOG = """\
examples:
  python -m pipeline produce                          # the sample text once, to text-stream
  python -m pipeline produce --rate 20 --forever      # a steady live stream; Ctrl-C stops
  python -m pipeline produce --file book.txt --split paragraph --count 10000 --keys 8
  python -m pipeline produce --timestamps spread --count 600 --jitter 2s --seed 7
      # event time over the last 10 minutes, out of order by up to 2s (the same jitter each run)

--jitter D moves each timestamp back by up to D (never before --start), so no message
is more than D older than one sent before it: a watermark that allows D of
out-of-orderness sees no late data.
Secrets: pass them as -X sasl.password='${KAFKA_PASSWORD}'; the variable is read from
the environment, and no config value is ever printed.
exit status: 0 done, 1 Kafka or delivery error, 2 bad arguments, 130 interrupted."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the `produce` options to `parser` (the CLI's `produce` subparser)."""
    parser.description = parser.description or _DESCRIPTION
    # argparse prints the usage before every error; the full one is ten lines of noise.
    parser.usage = parser.usage or "%(prog)s [options]"
    if parser.epilog is None:
        parser.epilog = _EPILOG
        # The epilog's examples are laid out by hand.
        if parser.formatter_class is argparse.HelpFormatter:
            parser.formatter_class = argparse.RawDescriptionHelpFormatter

    kafka = parser.add_argument_group("Kafka")
    kafka.add_argument(
        "--bootstrap-servers",
        default=DEFAULT_BOOTSTRAP_SERVERS,
        metavar="HOST:PORT",
        help=f"Kafka bootstrap servers (default: {DEFAULT_BOOTSTRAP_SERVERS})",
    )
    kafka.add_argument(
        "--topic",
        default=DEFAULT_TOPIC,
        type=_topic_name,
        help=f"topic to write to (default: {DEFAULT_TOPIC})",
    )
    kafka.add_argument(
        "--partitions",
        type=_positive_int,
        metavar="N",
        help=f"partitions of the topic if it must be created (default: {DEFAULT_PARTITIONS})",
    )
    kafka.add_argument(
        "-X",
        "--producer-config",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a confluent-kafka client setting, repeatable; '${VAR}' in a value reads the environment variable VAR",
    )
    kafka.add_argument(
        "--connect-timeout",
        dest="connect_timeout_s",
        type=_duration_s,
        default=10.0,
        metavar="DURATION",
        help="how long to wait for the broker at start (default: 10s)",
    )
    kafka.add_argument(
        "--kafka-log", action="store_true", help="show the Kafka client's own log lines (hidden by default)"
    )

    source = parser.add_argument_group("source (default: the built-in sample text)")
    where = source.add_mutually_exclusive_group()
    where.add_argument("--file", type=Path, metavar="PATH", help="read messages from a file")
    where.add_argument("--stdin", action="store_true", help="read messages from standard input")
    source.add_argument(
        "--split",
        choices=("line", "paragraph"),
        help="one message per non-blank line or per paragraph (default: line)",
    )

    amount = parser.add_argument_group("how many and how fast")
    how_many = amount.add_mutually_exclusive_group()
    how_many.add_argument(
        "--count",
        type=_positive_int,
        metavar="N",
        help="send N messages, cycling the source as needed (default: the source once)",
    )
    how_many.add_argument("--forever", action="store_true", help="cycle the source until Ctrl-C")
    amount.add_argument(
        "--rate",
        type=_positive_float,
        metavar="MSGS_PER_S",
        help="steady messages per second (default: as fast as possible)",
    )

    records = parser.add_argument_group("keys and event time")
    records.add_argument(
        "--keys",
        type=_positive_int,
        metavar="K",
        help='K distinct keys "key-0".."key-{K-1}", assigned round-robin (default: no key)',
    )
    records.add_argument(
        "--timestamps",
        choices=("now", "spread"),
        help="CreateTime: the send time, or spread evenly over [--start, --end) in "
        "message order (default: now; spread if --start or --end is given)",
    )
    records.add_argument(
        "--start",
        dest="start_ms",
        type=_iso_ms,
        metavar="ISO-8601",
        help="first event time for spread; UTC unless it has an offset (default: --end minus 10m)",
    )
    records.add_argument(
        "--end",
        dest="end_ms",
        type=_iso_ms,
        metavar="ISO-8601",
        help="end (exclusive) of the spread (default: now)",
    )
    records.add_argument(
        "--jitter",
        dest="jitter_ms",
        type=_duration_ms,
        metavar="DURATION",
        help="move each timestamp back by a random 0..DURATION, e.g. 2s (out-of-order events)",
    )
    records.add_argument("--seed", type=int, help="random seed for --jitter, for a replayable run")


def run(args: argparse.Namespace) -> int:
    """Runs `produce` with arguments parsed by a parser that `add_arguments` set up.

    Returns:
        The exit status: 0 done, 1 Kafka or delivery error, 2 bad arguments,
        130 interrupted.
    """
    printer = _ProgressPrinter()
    try:
        _produce_from_args(args, printer)
    except _UsageError as exc:
        return _fail(f"error: {exc}", _EXIT_USAGE)
    except ProduceInterrupted as exc:
        lost = f"; {exc.undelivered} not confirmed" if exc.undelivered else ""
        return _fail(f"interrupted: {printer.summary(args.topic)}{lost}", _EXIT_INTERRUPTED)
    except KeyboardInterrupt:  # before sending started: nothing to flush
        return _fail("interrupted", _EXIT_INTERRUPTED)
    except (ProducerError, _SourceError) as exc:
        return _fail(f"error: {exc}", _EXIT_FAILED)
    except OSError as exc:  # the file became unreadable mid-run
        return _fail(f"error: {exc.filename or 'source'}: {exc.strerror or exc}", _EXIT_FAILED)
    _note(printer.summary(args.topic))
    return _EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Runs `produce` as a program of its own (`python -m pipeline.devtools.produce_command ...`)."""
    parser = argparse.ArgumentParser(prog="python -m pipeline.devtools.produce_command")
    add_arguments(parser)
    return run(parser.parse_args(argv))


def _produce_from_args(args: argparse.Namespace, printer: _ProgressPrinter) -> None:
    """Checks the arguments, makes sure the topic exists, and sends."""
    config = _client_config(args)
    plan = _plan(args)
    created, partitions = ensure_topic(
        args.bootstrap_servers,
        args.topic,
        args.partitions or DEFAULT_PARTITIONS,
        client_config=config,
        timeout_s=args.connect_timeout_s,
    )
    if args.partitions and not created and partitions != args.partitions:
        _note(f"note: topic {args.topic} already has {partitions} partition(s); --partitions not applied")
    _note(
        f"sending {plan.description} to topic {args.topic} "
        f"({partitions} partitions{', created' if created else ''}) at {args.bootstrap_servers}"
    )
    produce_messages(
        args.bootstrap_servers,
        args.topic,
        plan.messages,
        rate=args.rate,
        producer_config=config,
        progress=printer,
    )


# --- turning arguments into messages -------------------------------------------------


class _UsageError(Exception):
    """Arguments that argparse accepts but that do not fit together."""


class _SourceError(Exception):
    """The source turned out to be empty or unreadable."""


class _Plan(NamedTuple):
    messages: Iterable[ProducerRecord]
    description: str


def _plan(args: argparse.Namespace) -> _Plan:
    """Checks the arguments together and builds the (lazy) messages to send."""
    if args.split and not (args.file or args.stdin):
        raise _UsageError("--split applies to --file and --stdin; the sample text is one message per line")
    spread = _spread_mode(args)
    if spread and args.forever:
        raise _UsageError("--timestamps spread needs a known number of messages, so not --forever")
    split = args.split or "line"
    known: int | None = None
    if args.file is not None:
        one_pass, what = _file_source(args.file, split), f"{args.file} (one per {split})"
    elif args.stdin:
        replay = bool(args.count or args.forever or spread)
        one_pass, what = _stdin_source(split, keep=replay), f"stdin (one per {split})"
    else:
        one_pass, what, known = _sample_source, "the built-in sample text", len(SAMPLE_LINES)
    total = args.count or known
    if spread and total is None:
        total = sum(1 for _ in one_pass())  # counts a file, or reads all of stdin
        if total == 0:
            raise _UsageError(f"no messages in {what}")
    rng = random.Random(args.seed)
    stamps = _stamps(args, spread, total, rng)
    records = _cycle(one_pass, limit=args.count, repeat=bool(args.count or args.forever), what=what)
    amount = f"{total} messages" if total and not args.forever else "messages"
    pace = f" at {args.rate:g} msg/s" if args.rate else ""
    until = " until Ctrl-C" if args.forever else ""
    return _Plan(_messages(records, args.keys, stamps), f"{amount} from {what}{pace}{until}")


def _spread_mode(args: argparse.Namespace) -> bool:
    bounds = args.start_ms is not None or args.end_ms is not None
    if args.timestamps == "now" and bounds:
        raise _UsageError("--start and --end apply to --timestamps spread, not now")
    return args.timestamps == "spread" or bounds


def _stamps(
    args: argparse.Namespace, spread: bool, total: int | None, rng: random.Random
) -> Callable[[int], int | None]:
    """Returns the function giving message i its CreateTime (ms; None: the send time)."""
    jitter_ms = args.jitter_ms or 0
    if not spread:
        if not jitter_ms:
            return lambda i: None
        return lambda i: _now_ms() - rng.randint(0, jitter_ms)
    end = args.end_ms if args.end_ms is not None else _now_ms() // 1000 * 1000
    start = args.start_ms if args.start_ms is not None else end - 600_000
    if start >= end:
        raise _UsageError("--start must be before --end")
    if start <= 0:
        raise _UsageError("--start must be after 1970-01-01T00:00:00Z")
    if _now_ms() - start > _RETENTION_WARNING_AGE / timedelta(milliseconds=1):
        _note(
            "note: Kafka's retention (7 days by default) may delete messages with older timestamps "
            "within minutes; set retention.ms=-1 on the topic to keep them"
        )
    if end - 1 - _now_ms() > _FUTURE_WARNING_LEAD / timedelta(milliseconds=1):
        _note(
            "note: Kafka rejects timestamps more than 1h ahead of its clock by default "
            "(log.message.timestamp.after.max.ms)"
        )
    span = end - start

    def spread_stamp(i: int) -> int:
        # Integer arithmetic keeps every slot exact and inside [start, end); clamping
        # the jitter at start keeps that true and keeps the out-of-orderness bound.
        slot = start + i * span // total
        return max(start, slot - rng.randint(0, jitter_ms)) if jitter_ms else slot

    return spread_stamp


def _messages(
    records: Iterator[bytes], keys: int | None, stamps: Callable[[int], int | None]
) -> Iterator[ProducerRecord]:
    for i, value in enumerate(records):
        yield ProducerRecord(value, f"key-{i % keys}" if keys else None, stamps(i))


def _cycle(one_pass: Callable[[], Iterator[bytes]], *, limit: int | None, repeat: bool, what: str) -> Iterator[bytes]:
    """Yields the source's records, pass after pass if `repeat`, at most `limit`."""
    sent = 0
    while True:
        empty = True
        for record in one_pass():
            empty = False
            yield record
            sent += 1
            if limit is not None and sent >= limit:
                return
        if empty:  # also stops an endless loop over an empty source
            raise _SourceError(f"no messages in {what}")
        if not repeat:
            return


def _sample_source() -> Iterator[bytes]:
    return (line.encode("utf-8") for line in SAMPLE_LINES)


def _file_source(path: Path, split: str) -> Callable[[], Iterator[bytes]]:
    try:  # fail now, before connecting, rather than mid-run
        with path.open("rb"):
            pass
    except OSError as exc:
        raise _UsageError(f"cannot read {path}: {exc.strerror or exc}") from None

    def one_pass() -> Iterator[bytes]:
        with path.open("rb") as stream:
            yield from split_records(stream, split)

    if next(one_pass(), None) is None:
        raise _UsageError(f"no messages in {path}: it has no non-blank lines")
    return one_pass


def _stdin_source(split: str, *, keep: bool) -> Callable[[], Iterator[bytes]]:
    """Streams stdin on the first pass; later passes replay it if `keep`."""
    if sys.stdin is None:
        raise _UsageError("--stdin: there is no standard input")
    kept: list[bytes] = []
    passes = 0

    def one_pass() -> Iterator[bytes]:
        nonlocal passes
        passes += 1
        if passes > 1:
            yield from kept
            return
        for record in split_records(sys.stdin.buffer, split):
            if keep:
                kept.append(record)
            yield record

    return one_pass


def _client_config(args: argparse.Namespace) -> dict[str, object]:
    """The -X settings, with ${VAR} read from the environment."""
    # The client's own log lines duplicate what error_cb reports; keep stderr readable.
    config: dict[str, object] = {} if args.kafka_log else {"log_level": 0}
    for item in args.producer_config:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            # Not echoed: a mistyped item may well hold a secret.
            raise _UsageError("-X expects KEY=VALUE, and one of them has no key or no '='")
        if key in ("bootstrap.servers", "on_delivery", "error_cb"):
            raise _UsageError(f"-X {key} is set by the producer; use its own option")
        try:
            config[key] = substitute_env(value, "-X", key)
        except ConfigError as exc:
            raise _UsageError(str(exc)) from None
    return config


# --- argparse types and output -------------------------------------------------------


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _duration_s(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _duration_ms(text: str) -> int:
    return round(_duration_s(text) * 1000)


def _iso_ms(text: str) -> int:
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid ISO-8601 time {text!r}, e.g. 2025-01-01T12:00:00Z") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def _topic_name(text: str) -> str:
    if not _TOPIC_NAME.fullmatch(text) or text in (".", ".."):
        raise argparse.ArgumentTypeError(f"invalid topic name {text!r}: use letters, digits, '.', '_' and '-'")
    return text


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _note(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _fail(line: str, status: int) -> int:
    _note(line)
    return status


class _ProgressPrinter:
    """Prints a progress line on stderr and keeps the last snapshot for the summary."""

    def __init__(self) -> None:
        self.last = ProduceProgress(0, 0, 0, 0.0, False)

    def __call__(self, progress: ProduceProgress) -> None:
        previous, self.last = self.last, progress
        if not progress.done:
            window = progress.elapsed_s - previous.elapsed_s
            rate = (progress.sent - previous.sent) / window if window > 0 else 0.0
            _note(f"sent {progress.sent}, delivered {progress.delivered} ({rate:,.0f} msg/s)")

    def summary(self, topic: str) -> str:
        done = self.last
        rate = done.delivered / done.elapsed_s if done.elapsed_s > 0 else 0.0
        return f"produced {done.delivered} messages to {topic} in {done.elapsed_s:.1f}s ({rate:,.0f} msg/s)"


if __name__ == "__main__":
    sys.exit(main())
