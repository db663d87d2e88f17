"""Text from records, made safe to write to a terminal or a log line.

A token, a dead letter's reason or a topic name can hold ESC/OSC sequences (colours,
cursor moves, window titles, hyperlinks), C0/C1 control characters (a carriage
return that overwrites the line before it, a CSI that starts a sequence by itself)
or bidi overrides that reorder what the reader sees. `escape_controls` writes each
such character as a visible escape (``\\x1b``, ``\\x9b``, ``\\u202e``) and leaves
every other character as it is, so ordinary text in any script is unchanged.
"""

from __future__ import annotations

import unicodedata

__all__ = ["escape_controls"]

# Python's str.isprintable() is False for exactly these categories and for spaces other
# than " " (Zs), which are harmless and stay: controls (C0, DEL, C1), format characters
# (bidi overrides and isolates, zero-width marks), surrogates, private use, unassigned,
# and the Unicode line and paragraph separators.
_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escape(char: str) -> str:
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def escape_controls(text: object, keep_lines: bool = False) -> str:
    """`text` with every control, format (bidi) or unassigned character written as an escape.

    Args:
        text: What to show; not a str is converted with str().
        keep_lines: Leave newlines and tabs as they are (a multi-line log message,
            a traceback); without it they are escaped too (one record, one line).
    """
    if not isinstance(text, str):
        text = str(text)
    if text.isprintable():  # the common case, in C
        return text
    kept = "\t\n" if keep_lines else ""
    return "".join(
        char if char.isprintable() or char in kept or unicodedata.category(char) == "Zs" else _escape(char)
        for char in text
    )
