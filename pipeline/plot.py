"""`python -m pipeline plot OUT.jsonl`: token counts per window over time, as a PNG.

Reads the `count` rows of the JSON-lines output and draws one line per token:
x is the window's start (UTC), y the token's count in that window.

A window can have several panes (early, on-time, late firings). Whether each
pane holds only what arrived since the one before (discarding) or everything so
far (accumulating) is a setting of the run, not written on the rows, so
`--accumulation` says it: `discarding` (the default, as trigger.accumulation)
adds the panes of a window up; `accumulating` takes the last pane (the highest
pane_index). Panes are told apart by the run that wrote them (`run_id`): within
one run a pane that appears twice (same window, token and pane index: a retried
bundle) counts once, the last one read; the runs' results add up, because a
restarted run counts only what its predecessor had not committed
(docs/delivery.md). A last line cut short by a failed write (no newline, not
JSON) is skipped with a warning. Each point is marked by the timing of its window's last pane: a plain
dot for an on-time pane, a triangle when it was late (the count includes late
records), a hollow circle when the window had only early panes (it had not
closed when the output ended).

Where all windows have the same length (fixed and sliding windows), a token
with no row in a window that others have counts 0 there; session windows are
per stream, so their points are drawn as they are. Rows of the global window
have no window times and are left out (with a note); a file with nothing but
them is refused.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Iterable, Optional

__all__ = ["PlotError", "WindowCount", "add_arguments", "build_figure", "read_counts", "run", "select_tokens"]

_TIMINGS = ("EARLY", "ON_TIME", "LATE", "UNKNOWN")
_MAX_LABEL = 30


class PlotError(ValueError):
    """A one-line reason why there is no chart; `exit_code` 1: nothing to plot, 2: bad input."""

    def __init__(self, message: str, exit_code: int = 2):
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class WindowCount:
    """One token's count in one window, from its panes."""

    window_start: datetime
    window_end: datetime
    token: str
    count: int
    last_timing: str  # pane_timing of the window's last pane for this token


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", metavar="OUT.jsonl", help="JSON-lines output of a run (sink.type: jsonl)")
    parser.add_argument(
        "-o", "--output", metavar="CHART.png", help="the PNG to write (default: the input's name with .png)"
    )
    parser.add_argument(
        "--top", type=int, default=10, metavar="N", help="plot the N tokens with the largest total count (default 10)"
    )
    parser.add_argument(
        "--token", action="append", default=[], metavar="WORD", help="plot this token (repeatable); replaces --top"
    )
    parser.add_argument(
        "--accumulation",
        choices=("discarding", "accumulating"),
        default="discarding",
        help="how the run's panes were fired (trigger.accumulation): discarding adds a "
        "window's panes up, accumulating takes its last pane (default discarding)",
    )
    parser.add_argument("--title", help="the chart's title (default: names the input file)")


def _timestamp(value, line_number: int, key: str) -> datetime:
    try:
        return datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise PlotError(f"line {line_number}: {key}: expected an ISO-8601 time, got {value!r:.60}") from None


def read_counts(lines: Iterable[str], accumulation: str = "discarding") -> tuple[list[WindowCount], int]:
    """The count per (window, token) from JSON lines, and how many global-window rows were left out.

    Raises PlotError naming the line number for a line that is not a JSON object
    or a count row without its fields.
    """
    panes: dict[tuple, dict[int, tuple[int, str]]] = defaultdict(dict)
    global_rows = 0
    lines = list(lines)
    for line_number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as e:
            if line_number == len(lines) and not line.endswith("\n"):
                print(f"warning: line {line_number}: a row cut short by a failed write, skipped", file=sys.stderr)
                continue
            raise PlotError(f"line {line_number}: not valid JSON ({e})") from None
        if not isinstance(row, dict):
            raise PlotError(f"line {line_number}: expected a JSON object, got {type(row).__name__}")
        if row.get("kind") != "count":
            continue
        try:
            token, count, start, end = row["token"], row["count"], row["window_start"], row["window_end"]
            index, timing = row.get("pane_index", 0), row.get("pane_timing", "UNKNOWN")
        except KeyError as e:
            raise PlotError(f"line {line_number}: a count row without the field {e.args[0]!r}") from None
        if not isinstance(count, int) or isinstance(count, bool) or not isinstance(token, str):
            raise PlotError(f"line {line_number}: a count row needs a string token and an integer count")
        if not isinstance(index, int) or timing not in _TIMINGS:
            raise PlotError(
                f"line {line_number}: pane_index must be an integer and pane_timing one of {', '.join(_TIMINGS)}"
            )
        if start is None:
            global_rows += 1
            continue
        window = (_timestamp(start, line_number, "window_start"), _timestamp(end, line_number, "window_end"))
        panes[(window, token, row.get("run_id"))][index] = (count, timing)
    totals: dict[tuple, list] = {}
    for (window, token, _), by_index in panes.items():
        last = max(by_index)
        if accumulation == "accumulating":
            count = by_index[last][0]
        else:
            count = sum(c for c, _ in by_index.values())
        total = totals.setdefault((window, token), [0, by_index[last][1]])
        total[0] += count  # the runs add up
        total[1] = by_index[last][1]
    counts = [WindowCount(start, end, token, n, timing) for ((start, end), token), (n, timing) in totals.items()]
    return counts, global_rows


def select_tokens(counts: list[WindowCount], top: int, tokens: list[str]) -> list[str]:
    """The chosen tokens that occur, or the `top` tokens by total count (ties by token)."""
    if tokens:
        present = {c.token for c in counts}
        return [t for t in dict.fromkeys(tokens) if t in present]
    totals: dict[str, int] = defaultdict(int)
    for c in counts:
        totals[c.token] += c.count
    return sorted(totals, key=lambda t: (-totals[t], t))[:top]


def _label(token: str) -> str:
    """A token as legend text: control characters escaped, `$` not read as mathtext, long ones cut."""
    text = "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in token)
    if len(text) > _MAX_LABEL:
        text = text[: _MAX_LABEL - 1] + "\u2026"
    return text.replace("$", r"\$")


def build_figure(counts: list[WindowCount], tokens: list[str], title: str, accumulation: str = "discarding"):
    """The chart as a matplotlib Figure (Agg canvas, no pyplot state)."""
    from matplotlib import dates
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    windows = sorted({(c.window_start, c.window_end) for c in counts})
    aligned = len({end - start for start, end in windows}) == 1
    by_token: dict[str, dict[tuple, WindowCount]] = defaultdict(dict)
    for c in counts:
        by_token[c.token][(c.window_start, c.window_end)] = c

    figure = Figure(figsize=(10, 5.5), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    seen_timings = set()
    for token in tokens:
        points = by_token[token]
        keys = windows if aligned else sorted(points)
        xs = [start for start, _ in keys]
        ys = [points[k].count if k in points else 0 for k in keys]
        total = sum(ys)
        (line,) = ax.plot(xs, ys, marker=".", markersize=5, linewidth=1.5, label=f"{_label(token)} ({total:,})")
        for timing, style in (
            ("LATE", {"marker": "^", "markersize": 8}),
            ("EARLY", {"marker": "o", "markersize": 8, "markerfacecolor": "none"}),
        ):
            marked = [(k[0], points[k].count) for k in keys if k in points and points[k].last_timing == timing]
            if marked:
                seen_timings.add(timing)
                ax.plot(
                    [x for x, _ in marked], [y for _, y in marked], linestyle="none", color=line.get_color(), **style
                )
    handles, labels = ax.get_legend_handles_labels()
    if "LATE" in seen_timings:
        handles.append(Line2D([], [], color="0.3", marker="^", markersize=8, linestyle="none"))
        labels.append("last pane LATE")
    if "EARLY" in seen_timings:
        handles.append(Line2D([], [], color="0.3", marker="o", markersize=8, markerfacecolor="none", linestyle="none"))
        labels.append("EARLY panes only (window not closed)")
    ax.legend(
        handles,
        labels,
        title="token (total)",
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        fontsize="small",
        frameon=False,
    )
    locator = dates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(dates.ConciseDateFormatter(locator))
    ax.set_title(title)
    ax.set_xlabel("window start (UTC)")
    ax.set_ylabel("count per window" + (" (last pane)" if accumulation == "accumulating" else " (panes added up)"))
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    return figure


def _window_size(counts: list[WindowCount]) -> Optional[str]:
    sizes = {c.window_end - c.window_start for c in counts}
    if len(sizes) != 1:
        return None
    seconds = sizes.pop().total_seconds()
    for unit, length in (("h", 3600), ("min", 60), ("s", 1)):
        if seconds >= length and seconds % length == 0:
            return f"{seconds / length:g} {unit}"
    return f"{seconds:g} s"


def make_chart(
    path: str,
    output: str,
    *,
    top: int = 10,
    tokens: Iterable[str] = (),
    accumulation: str = "discarding",
    title: Optional[str] = None,
) -> tuple[list[str], list[str]]:
    """Reads `path`, writes the PNG `output`; returns (notes, tokens plotted). Raises PlotError."""
    try:
        with open(path, encoding="utf-8") as lines:
            counts, global_rows = read_counts(lines, accumulation)
    except OSError as e:
        raise PlotError(f"cannot read {path}: {e.strerror}") from None
    except UnicodeDecodeError as e:
        raise PlotError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except PlotError as e:
        raise PlotError(f"{path}: {e}") from None
    notes = []
    if global_rows:
        notes.append(f"left out {global_rows} count rows of the global window (they have no window times)")
    if not counts:
        what = "only global-window count rows" if global_rows else "no count rows"
        raise PlotError(
            f"{path}: {what}, nothing to plot (count rows come from a jsonl sink with "
            "count.emit_counts: true and a fixed, sliding or session window)",
            exit_code=1,
        )
    tokens = list(tokens)
    chosen = select_tokens(counts, top, tokens)
    missing = [t for t in dict.fromkeys(tokens) if t not in chosen]
    if missing:
        notes.append(f"not in {path}: {', '.join(_label(t) for t in missing)}")
    if not chosen:
        raise PlotError(
            f"{path}: none of the tokens {', '.join(_label(t) for t in tokens)} has a count row, nothing to plot",
            exit_code=1,
        )
    size = _window_size(counts)
    title = title or f"Token counts per {size + ' ' if size else ''}window: {Path(path).name}"
    figure = build_figure(counts, chosen, title, accumulation)
    try:
        figure.savefig(output, format="png")
    except OSError as e:
        raise PlotError(f"cannot write {output}: {e.strerror}") from None
    return notes, chosen


def run(args) -> int:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print(
            "error: the plot command needs matplotlib: pip install -e '.[plot]' (or pip install 'matplotlib>=3.8')",
            file=sys.stderr,
        )
        return 2
    if args.top < 1:
        print("error: --top must be at least 1", file=sys.stderr)
        return 2
    output = args.output or str(Path(args.input).with_suffix(".png"))
    try:
        notes, chosen = make_chart(
            args.input, output, top=args.top, tokens=args.token, accumulation=args.accumulation, title=args.title
        )
    except PlotError as e:
        print(f"{'error: ' if e.exit_code == 2 else ''}{e}", file=sys.stderr)
        return e.exit_code
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    print(f"wrote {output}: {len(chosen)} tokens")
    return 0
