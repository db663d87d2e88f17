"""`python -m pipeline plot`: what is read from the rows, the Figure's texts, and the PNG a person opens."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timezone

import pytest
from matplotlib import dates
from PIL import Image

from pipeline.plot import build_figure, read_counts, select_tokens
from tests.integration_helpers import REPO, run_cli


def _row(start_s: int | None, token: str, count: int, timing: str = "ON_TIME", index: int = 0, size_s: int = 10):
    def iso(seconds: int) -> str:
        return datetime.fromtimestamp(1_795_766_400 + seconds, timezone.utc).isoformat(timespec="milliseconds")

    return {
        "kind": "count",
        "window_start": None if start_s is None else iso(start_s),
        "window_end": None if start_s is None else iso(start_s + size_s),
        "pane_timing": timing,
        "pane_index": index,
        "pane_is_last": True,
        "token": token,
        "count": count,
        "run_id": "r1",
    }


ROWS = [
    {"kind": "summary", "window_start": None, "messages": 3},
    _row(0, "the", 5, "EARLY", 0),
    _row(0, "the", 7, "ON_TIME", 1),  # discarding: 12, accumulating: 7
    _row(0, "rain", 2),
    _row(10, "the", 4),
    _row(10, "rain", 6),
    _row(10, "rain", 1, "LATE", 1),  # rain's window 10 ends LATE
    _row(10, "train", 1),
    _row(20, "the", 3, "EARLY", 0),  # window 20 never closed
    _row(20, "the", 3, "EARLY", 0),  # the same pane again (a restart): counted once
    _row(None, "the", 99),  # the global window: no window times
    {"kind": "top", "window_start": None, "top": [["the", 5]]},
]


def _write(path, rows) -> str:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def _by_key(counts):
    return {(c.window_start.timestamp() - 1_795_766_400, c.token): c for c in counts}


def test_panes_are_added_up_when_discarding_and_the_last_is_taken_when_accumulating():
    lines = [json.dumps(r) for r in ROWS]
    discarding, global_rows = read_counts(lines, "discarding")
    assert global_rows == 1
    got = _by_key(discarding)
    assert {k: (c.count, c.last_timing) for k, c in got.items()} == {
        (0, "the"): (12, "ON_TIME"),
        (0, "rain"): (2, "ON_TIME"),
        (10, "the"): (4, "ON_TIME"),
        (10, "rain"): (7, "LATE"),
        (10, "train"): (1, "ON_TIME"),
        (20, "the"): (3, "EARLY"),
    }
    accumulating = _by_key(read_counts(lines, "accumulating")[0])
    assert accumulating[(0, "the")].count == 7 and accumulating[(10, "rain")].count == 1


def test_top_tokens_by_total_and_chosen_tokens_in_the_order_given():
    counts, _ = read_counts([json.dumps(r) for r in ROWS])
    assert select_tokens(counts, 2, []) == ["the", "rain"]
    assert select_tokens(counts, 10, ["train", "absent", "the"]) == ["train", "the"]


def test_figure_has_title_labels_a_line_per_token_and_marks_late_and_early_windows():
    counts, _ = read_counts([json.dumps(r) for r in ROWS])
    figure = build_figure(counts, ["the", "rain"], "Token counts")
    [ax] = figure.axes
    assert ax.get_title() == "Token counts"
    assert ax.get_xlabel() == "window start (UTC)"
    assert ax.get_ylabel().startswith("count per window")
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["the (19)", "rain (9)", "last pane LATE", "EARLY panes only (window not closed)"]
    the_line = next(line for line in ax.get_lines() if line.get_label() == "the (19)")
    assert list(the_line.get_ydata()) == [12, 4, 3]
    # rain has no row in window 20: it counted 0 there (all windows are 10 s long).
    rain_line = next(line for line in ax.get_lines() if line.get_label() == "rain (9)")
    assert list(rain_line.get_ydata()) == [2, 7, 0]
    starts = [dates.num2date(x) for x in dates.date2num(the_line.get_xdata())]
    assert [s.timestamp() - 1_795_766_400 for s in starts] == [0, 10, 20]
    markers = {(line.get_marker(), len(line.get_xdata())) for line in ax.get_lines() if line.get_linestyle() == "None"}
    assert markers == {("^", 1), ("o", 1)}  # rain's late window, the's early-only window


def test_session_windows_of_different_lengths_are_not_filled_with_zeros():
    rows = [_row(0, "a", 2, size_s=5), _row(3, "b", 4, size_s=12), _row(20, "a", 1, size_s=7)]
    counts, _ = read_counts([json.dumps(r) for r in rows])
    ax = build_figure(counts, ["a", "b"], "sessions").axes[0]
    ys = {line.get_label(): list(line.get_ydata()) for line in ax.get_lines()}
    assert ys == {"a (3)": [2, 1], "b (4)": [4]}


def test_labels_of_odd_tokens_are_escaped():
    counts, _ = read_counts([json.dumps(_row(0, "$x$", 3)), json.dumps(_row(0, "a\x1bb", 2))])
    figure = build_figure(counts, ["$x$", "a\x1bb"], "t")
    legend = [t.get_text() for t in figure.axes[0].get_legend().get_texts()]
    assert legend == [r"\$x\$ (3)", r"a\x1bb (2)"]


def test_cli_writes_a_png_a_person_can_read(tmp_path):
    source = _write(tmp_path / "out.jsonl", ROWS)
    chart = tmp_path / "chart.png"
    result = run_cli("plot", source, "--top", "3", "-o", str(chart), timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"wrote {chart}: 3 tokens"
    assert "left out 1 count rows of the global window" in result.stderr
    with Image.open(chart) as image:
        assert image.format == "PNG"
        assert image.size == (1000, 550)
        colours = image.convert("RGB").getcolors(maxcolors=1_000_000)
    assert len(colours) > 50  # lines, text and anti-aliasing, not a blank canvas
    white = max(colours)[0]
    assert white < 0.99 * 1000 * 550


def test_cli_refuses_empty_input_and_files_without_count_rows(tmp_path):
    for name, rows in (
        ("empty.jsonl", []),
        ("tops.jsonl", [{"kind": "top", "window_start": None, "top": []}]),
        ("global.jsonl", [_row(None, "the", 3)]),
    ):
        chart = tmp_path / (name + ".png")
        result = run_cli("plot", _write(tmp_path / name, rows), "-o", str(chart), timeout=120)
        assert result.returncode == 1, result.stderr
        [line] = result.stderr.strip().splitlines()
        assert "nothing to plot" in line and name in line
        assert not chart.exists()


def test_cli_absent_tokens_are_refused(tmp_path):
    result = run_cli(
        "plot", _write(tmp_path / "out.jsonl", ROWS), "--token", "nope", "-o", str(tmp_path / "c.png"), timeout=120
    )
    assert result.returncode == 1
    assert "none of the tokens nope has a count row" in result.stderr


@pytest.mark.parametrize(
    "bad, reason",
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "expected a JSON object"),
        (json.dumps({"kind": "count", "window_start": None, "token": "a"}), "without the field 'count'"),
        (json.dumps({**_row(0, "a", 1), "window_start": "yesterday"}), "window_start: expected an ISO-8601 time"),
    ],
)
def test_cli_names_the_line_of_a_malformed_row(tmp_path, bad, reason):
    source = _write(tmp_path / "out.jsonl", [ROWS[1], "", bad, ROWS[2]])
    result = run_cli("plot", source, "-o", str(tmp_path / "c.png"), timeout=120)
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"error: {source}: line 3: ") and reason in line


def test_without_matplotlib_the_command_says_how_to_install_it(tmp_path):
    source = _write(tmp_path / "out.jsonl", ROWS)
    code = (
        "import sys; sys.modules['matplotlib'] = None; from pipeline.cli import main; "
        f"sys.exit(main(['plot', {source!r}]))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    # (Beam's import may log a line of its own first.)
    assert result.stderr.strip().splitlines()[-1] == (
        "error: the plot command needs matplotlib: pip install -e '.[plot]' (or pip install 'matplotlib>=3.8')"
    )


def test_panes_of_two_runs_add_up_and_a_pane_repeated_within_a_run_counts_once():
    first = {**_row(0, "a", 3), "run_id": "run1"}
    again = {**_row(0, "a", 3), "run_id": "run1"}  # a retried bundle wrote the same pane twice
    restarted = {**_row(0, "a", 2), "run_id": "run2"}  # what the first run had not committed
    counts, _ = read_counts([json.dumps(r) + "\n" for r in (first, again, restarted)])
    assert [(c.token, c.count) for c in counts] == [("a", 5)]


def test_a_last_row_cut_short_by_a_failed_write_is_skipped_with_a_warning(capsys):
    lines = [json.dumps(_row(0, "a", 3)) + "\n", '{"kind":"count","window']
    counts, _ = read_counts(lines)
    assert [(c.token, c.count) for c in counts] == [("a", 3)]
    assert "line 2: a row cut short by a failed write, skipped" in capsys.readouterr().err
