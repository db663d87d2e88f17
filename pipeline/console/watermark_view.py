"""Why hasn't my window fired? The reader's per-partition report, in the words `run --live` and `lag` show.

The report (transforms/kafka/watermarks.py) gives each partition's watermark, the newest
event time read, and since when it has been idle. From it this module says which
partition holds the reader's watermark (the minimum) and why, and which windows wait
for it: a window fires when the watermark passes its end. Everything here is plain text
from numbers (ASCII, for any terminal); nothing comes from records.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Mapping, Optional, Sequence

from transforms.kafka.watermarks import PartitionWatermark, holding_partition, newest_event_ms
from transforms.windowing import WindowSpec

__all__ = [
    "clock",
    "current",
    "holder_line",
    "partition_cells",
    "partition_state",
    "span",
    "stale_s",
    "windows_line",
]

Key = tuple[str, int]
# A report older than this is said to be old: the reader publishes about once a second.
_STALE_S = 5.0
# A partition's report this much older than the newest is an earlier run's (or a shard's that is gone).
_EARLIER_RUN_S = 60.0
# A partition that has given no record for this long, and that the broker has not shown caught up, waits for it.
_QUIET_S = 3.0


def span(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    if seconds < 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d{seconds % 86400 // 3600:02d}h"


def clock(ms: Optional[int], now_ms: int) -> str:
    """HH:MM:SS (UTC), with the date when it is not today's; '-' for None."""
    if ms is None:
        return "-"
    try:
        moment = datetime.fromtimestamp(ms / 1000, timezone.utc)
    except (OverflowError, OSError, ValueError):
        return "-"
    today = datetime.fromtimestamp(now_ms / 1000, timezone.utc).date()
    return f"{moment:%H:%M:%S}" if moment.date() == today else f"{moment:%Y-%m-%d %H:%M:%S}"


def stale_s(partitions: Sequence[PartitionWatermark], now_ms: int) -> Optional[float]:
    """How old the newest report is, when it is older than a live reader's would be; None: it is fresh."""
    times = [p.reported_ms for p in partitions if p.reported_ms is not None]
    if not times:
        return None
    age = (now_ms - max(times)) / 1000
    return age if age > _STALE_S else None


def current(partitions: Sequence[PartitionWatermark]) -> list[PartitionWatermark]:
    """The reports of the running reader: those a minute older than the newest are left (an earlier run's).

    A shard that has not reported for a few seconds is kept: it may be the one that holds.
    """
    times = [p.reported_ms for p in partitions if p.reported_ms is not None]
    if not times:
        return list(partitions)
    newest = max(times)
    return [p for p in partitions if p.reported_ms is not None and newest - p.reported_ms <= _EARLIER_RUN_S * 1000]


def _behind(p: PartitionWatermark, ends: Mapping[Key, int]) -> Optional[int]:
    """Records between the reader's next offset and the partition's end, when both are known."""
    end = (ends or {}).get((p.topic, p.partition))
    if end is None or p.next_offset is None:
        return None
    return max(end - p.next_offset, 0)


def partition_state(p: PartitionWatermark, now_ms: int, ends: Optional[Mapping[Key, int]] = None) -> str:
    """A few words: finished, idle 45s, no record yet, quiet 5s, reading (with what is left to read)."""
    if p.finished:
        return "finished"
    if p.idle_since_ms is not None:
        return f"idle {span((now_ms - p.idle_since_ms) / 1000)}"
    behind = _behind(p, ends)
    left = f", {behind:,} to read" if behind else ""
    if p.watermark_ms is None:
        return "no record yet" + left
    quiet = _quiet_s(p, now_ms)
    if quiet is not None and not behind:
        return f"quiet {span(quiet)}, unconfirmed"
    return "reading" + left


def _quiet_s(p: PartitionWatermark, now_ms: int) -> Optional[float]:
    """How long a partition that is not idle has given no record, when that is longer than a few polls."""
    if p.last_read_ms is None or p.idle_since_ms is not None:
        return None
    quiet = (now_ms - p.last_read_ms) / 1000
    return quiet if quiet >= _QUIET_S else None


def _reason(p: PartitionWatermark, now_ms: int, delay_s: float, ends: Optional[Mapping[Key, int]]) -> str:
    """Why this partition's watermark is where it is.

    What is left to read is the partition's end now less the reader's position in its last report,
    so a busy partition shows what came in since then too.
    """
    behind = _behind(p, ends)
    if p.idle_since_ms is not None:
        return (
            f"idle {span((now_ms - p.idle_since_ms) / 1000)} (caught up since {clock(p.idle_since_ms, now_ms)}): "
            f"it follows the wall clock minus max_out_of_orderness {delay_s:g}s"
        )
    if p.watermark_ms is None:
        if behind:
            return f"no record read yet, {behind:,} to read"
        return "no record read yet, and the broker has not yet confirmed it is caught up"
    left = f"; {behind:,} records to read" if behind else ""
    newest = f"its newest event {clock(p.newest_event_ms, now_ms)}" if p.newest_event_ms is not None else "its events"
    quiet = _quiet_s(p, now_ms)
    if quiet is not None and not behind:
        return f"no record for {span(quiet)} and the broker has not confirmed it is caught up: its watermark waits"
    return f"reading: it follows {newest} minus max_out_of_orderness {delay_s:g}s{left}"


def holder_line(
    partitions: Sequence[PartitionWatermark], now_ms: int, delay_s: float, ends: Optional[Mapping[Key, int]] = None
) -> str:
    """The reader's watermark and the partition that holds it, with the reason."""
    if not partitions:
        return "reader watermark: not reported yet"
    holder = holding_partition(partitions)
    if holder is None:
        return "reader watermark: every partition is read to its end"
    reason = _reason(holder, now_ms, delay_s, ends)
    if holder.watermark_ms is None:
        return f"reader watermark: none yet, held by {holder.name}: {reason}"
    behind = (now_ms - holder.watermark_ms) / 1000
    where = f"{span(behind)} behind the wall clock" if behind >= 0 else "ahead of the wall clock"
    return f"reader watermark {clock(holder.watermark_ms, now_ms)} UTC ({where}), held by {holder.name}: {reason}"


def windows_line(spec: WindowSpec, partitions: Sequence[PartitionWatermark], now_ms: int) -> str:
    """The next window to close and how many more wait, against the reader's watermark and newest event."""
    holder = holding_partition(partitions)
    windows = spec.windows
    if windows.type == "global":
        return "the global window fires on its repeated trigger, and at the end of the read"
    if holder is None:
        return "every window fires: the read has ended"
    name = holder.name
    watermark = holder.watermark_ms
    if watermark is None:
        return f"no window can close before {name} has a watermark"
    newest = newest_event_ms(partitions)
    if windows.type == "session":
        return (
            f"a session closes when the watermark passes its key's last record + {windows.gap_s:g}s: "
            f"sessions with records after {clock(watermark - int(windows.gap_s * 1000), now_ms)} wait on {name}"
        )
    ends = spec.window_ends_us(watermark * 1000) or []
    next_end_ms = min(ends) // 1000
    size_ms = int(windows.size_s * 1000)
    step_ms = int((windows.period_s if windows.type == "sliding" else windows.size_s) * 1000)
    start_ms = next_end_ms - size_ms
    if newest is None or newest < start_ms:
        return f"no open window holds a record read so far; the next to close ends {clock(next_end_ms, now_ms)}"
    last_end_ms = spec.latest_window_end_us(newest * 1000) // 1000
    more = max((last_end_ms - next_end_ms) // step_ms, 0)
    text = (
        f"next window to close {clock(start_ms, now_ms)}-{clock(next_end_ms, now_ms).split(' ')[-1]} "
        f"waits on {name}: it fires when the watermark passes its end, "
        f"{span((next_end_ms - watermark) / 1000)} of event time from here"
    )
    if more:
        text += f"; {more} more open up to the newest event {clock(newest, now_ms)}"
    return text


def partition_cells(
    p: Optional[PartitionWatermark],
    holder: Optional[PartitionWatermark],
    now_ms: int,
    ends: Optional[Mapping[Key, int]] = None,
) -> tuple[str, str, str]:
    """(watermark, newest event, state) of one partition; the holder's state says so."""
    if p is None:
        return "-", "-", "not reported"
    state = partition_state(p, now_ms, ends)
    if p.reported_ms is not None and now_ms - p.reported_ms > _STALE_S * 1000:
        state += f" (reported {span((now_ms - p.reported_ms) / 1000)} ago)"
    if holder is not None and (p.topic, p.partition) == (holder.topic, holder.partition):
        state += " <- holds"
    return clock(p.watermark_ms, now_ms), clock(p.newest_event_ms, now_ms), state
