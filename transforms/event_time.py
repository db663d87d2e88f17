"""Event time from a message payload: a field of a JSON object.

A number is read as milliseconds since the epoch when it is at least 1e11 (after
March 1973 in ms; year 5138 in seconds), else as seconds; a string as ISO-8601
(UTC unless it carries an offset).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Optional

__all__ = ["payload_event_time_us"]

_MILLIS_FROM = 1e11


def _parse(value) -> Optional[int]:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        seconds = value / 1000 if abs(value) >= _MILLIS_FROM else value
        return int(round(seconds * 1_000_000))
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        return int(moment.timestamp() * 1_000_000)
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
