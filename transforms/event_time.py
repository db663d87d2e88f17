"""Event time: read from a message payload (a field of a JSON object), checked, and written as ISO-8601.

A number is read as milliseconds since the epoch when it is at least 1e11 (after
March 1973 in ms; year 5138 in seconds), else as seconds; a string as ISO-8601
(UTC unless it carries an offset). NaN and infinities are no usable time.

`event_time_error` says why a time cannot be counted: outside the years 1000 to
9000 (windows and the ISO-8601 output must be able to hold it, with room for a
window's length), or further ahead of the wall clock than the allowed skew.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from typing import Optional

__all__ = ["payload_event_time_us", "event_time_error", "iso_utc", "EARLIEST_US", "LATEST_US"]

_MILLIS_FROM = 1e11
EARLIEST_US = int(datetime(1000, 1, 1, tzinfo=timezone.utc).timestamp() * 1_000_000)
LATEST_US = int(datetime(9000, 1, 1, tzinfo=timezone.utc).timestamp() * 1_000_000)


def iso_utc(micros: int) -> str:
    """ISO-8601 in UTC with milliseconds and a Z, as every output row writes times."""
    return (
        datetime.fromtimestamp(micros / 1e6, tz=timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


def event_time_error(micros: int, now_us: int, max_future_skew_us: int) -> Optional[str]:
    """Why an event time cannot be counted, or None when it can."""
    if not EARLIEST_US <= micros < LATEST_US:
        return "event time out of range: outside the years 1000 to 9000"
    if micros > now_us + max_future_skew_us:
        return (
            f"event time {iso_utc(micros)} is {(micros - now_us) / 1e6:,.0f}s ahead of the wall clock "
            f"(source.max_future_skew {max_future_skew_us / 1e6:g}s)"
        )
    return None


def _parse(value) -> Optional[int]:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            return None
        seconds = value / 1000 if abs(value) >= _MILLIS_FROM else value
        # Far out of range either way; kept finite so that it is reported as such.
        seconds = max(min(seconds, 1e15), -1e15)
        return int(round(seconds * 1_000_000))
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=timezone.utc)
            return int(moment.timestamp() * 1_000_000)
        except (ValueError, OverflowError):  # also a time that the offset moves out of datetime's range
            return None
    return None


def payload_event_time_us(payload: Optional[bytes], field: str) -> Optional[int]:
    """The event time (µs) in `field` of a JSON object payload, or None if there is none."""
    if not payload:
        return None
    try:
        document = json.loads(payload)
    except (ValueError, RecursionError):
        return None
    if not isinstance(document, dict):
        return None
    return _parse(document.get(field))
