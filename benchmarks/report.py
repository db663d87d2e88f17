"""The results: a markdown table (RESULTS.md), a PNG chart of throughput, and the raw figures (JSON)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

from benchmarks.sidebyside import block_of, replace_block
from benchmarks.streaming import StreamingResult
from benchmarks.throughput import SystemResult

__all__ = ["Figures", "figures", "targets", "write_report"]


def _fmt(value: Optional[float], digits: int = 0, suffix: str = "") -> str:
    if value is None:
        return "–"
    return f"{value:,.{digits}f}{suffix}"


class Figures:
    """Derived figures of one system: rates end to end and net of start-up."""

    def __init__(self, result: SystemResult, messages: int, expected_tokens: int, expected_pairs: int):
        self.result = result
        self.wall = result.median("wall_s")
        self.startup = result.median("wall_s", empty=True)
        self.cpu = result.median("cpu_s")
        self.rss = result.median("peak_rss_mb")
        self.tokens = result.median("tokens")
        self.net_wall = self._paired_net_wall()
        # A net time shorter than the spread of the start-up times is noise, not a rate.
        startups = [run["wall_s"] for run in result.empty_runs]
        self.startup_spread = max(startups) - min(startups) if startups else 0.0
        self.reliable = self.net_wall is None or self.net_wall > self.startup_spread
        self.rate = None if self.wall is None else messages / self.wall
        self.net_rate = None if self.net_wall is None else messages / self.net_wall
        self.net_token_rate = None if self.net_wall is None else expected_tokens / self.net_wall
        # Messages per CPU second net of start-up: efficiency, which noise on the machine hardly moves.
        empty_cpu = result.median("cpu_s", empty=True) or 0.0
        self.per_cpu_s = None if self.cpu is None or self.cpu <= empty_cpu else messages / (self.cpu - empty_cpu)
        self.check = self._check(messages, expected_tokens, expected_pairs)

    def _paired_net_wall(self) -> Optional[float]:
        """Median over rounds of (wall on the corpus - wall on the empty topic in the same round)."""
        runs, empty = self.result.runs, self.result.empty_runs
        if not runs:
            return None
        if len(empty) != len(runs):
            return max(self.wall - (self.startup or 0.0), 1e-3)
        import statistics

        return max(statistics.median(r["wall_s"] - e["wall_s"] for r, e in zip(runs, empty)), 1e-3)

    def _check(self, messages, expected_tokens, expected_pairs) -> str:
        runs = self.result.runs
        if not runs:
            return ""
        if self.result.name.startswith("source"):
            read = runs[-1].get("reported_messages")
            return "ok" if read == messages else f"read {read}/{messages}"
        if "tokens" not in runs[-1]:
            return ""
        tokens = runs[-1]["tokens"]
        pairs = runs[-1].get("pairs")
        if tokens == expected_tokens and pairs in (None, expected_pairs):
            return "ok"
        detail = f"tokens {tokens:,}/{expected_tokens:,}"
        if pairs is not None:
            detail += f", rows {pairs:,}/{expected_pairs:,}"
        return detail


def figures(results: list[SystemResult], messages: int, expected_tokens: int, expected_pairs: int) -> dict:
    return {r.name: Figures(r, messages, expected_tokens, expected_pairs) for r in results}


def _tokenizer_rate(figs: dict, processes: str) -> Optional[float]:
    for name, fig in figs.items():
        if name.startswith("compute limit") and name.endswith(processes):
            return fig.net_rate
    return None


def _one_core_tokenizer(figs: dict) -> Optional[float]:
    return _tokenizer_rate(figs, "1 process")


def targets(figs: dict, streaming: Optional[StreamingResult]) -> list[tuple[str, str, str]]:
    """(target, measured, met?) rows of the issue's targets."""
    rows = []
    one_core = _one_core_tokenizer(figs)
    pipelines = {n: f for n, f in figs.items() if f.result.group == "pipeline" and f.net_rate and f.reliable}
    best_name, best = max(pipelines.items(), key=lambda kv: kv[1].net_rate, default=(None, None))
    if one_core and best:
        goal = 0.8 * 2 * one_core
        measured = (
            f"{best_name}: {best.net_rate:,.0f} msg/s vs {goal:,.0f} msg/s "
            f"(= {best.net_rate / (2 * one_core):.2f} x 2 cores)"
        )
        two_processes = _tokenizer_rate(figs, "2 processes")
        if two_processes:
            # What two cores really give the tokenizer alone here, for context; the target stays as set.
            measured += (
                f"; the tokenizer alone in 2 processes reached {two_processes / (2 * one_core):.2f} x 2 cores,"
                f" the pipeline {best.net_rate / two_processes:.2f} x that"
            )
        rows.append(
            (
                "best local runner >= 0.8 x (2 cores x tokenizer-alone rate)",
                measured,
                "met" if best.net_rate >= goal else "missed",
            )
        )
    for name, fig in figs.items():
        if best and fig.result.group in ("baseline", "peer") and fig.net_rate:
            rows.append(
                (
                    f"pipeline beats {name.split(':', 1)[1].strip()}",
                    f"{best.net_rate:,.0f} vs {fig.net_rate:,.0f} msg/s net "
                    f"({_fmt(best.rate)} vs {_fmt(fig.rate)} end to end)",
                    "met" if best.net_rate > fig.net_rate else "missed",
                )
            )
    if streaming is not None and streaming.latencies_s:
        p50 = streaming.percentile(50)
        rows.append(
            (
                "on-time panes within 2 s (p50) of the watermark passing the window end",
                f"p50 {p50:.2f} s, p99 {streaming.percentile(99):.2f} s",
                "met" if p50 <= 2 else "missed",
            )
        )
        summary = streaming.summary()
        if streaming.covered_s < streaming.duration_s - 30:
            rows.append(
                (
                    f"RSS at the end of the {streaming.duration_s / 60:.0f}-minute run within 10% of RSS after "
                    "minute 1",
                    f"not measured: panes stopped after {streaming.covered_s:.0f} s "
                    f"({streaming.error or f'exit {streaming.returncode}'})",
                    "missed",
                )
            )
        elif summary["rss_1min_mb"] and summary["rss_end_mb"]:
            growth = summary["rss_end_mb"] / summary["rss_1min_mb"] - 1
            rows.append(
                (
                    f"RSS at the end of the {streaming.duration_s / 60:.0f}-minute run within 10% of RSS after "
                    "minute 1",
                    f"{summary['rss_1min_mb']:.0f} MB -> {summary['rss_end_mb']:.0f} MB ({growth:+.1%})",
                    "met" if abs(growth) <= 0.10 else "missed",
                )
            )
    return rows


def _throughput_table(figs: dict, messages: int) -> list[str]:
    one_core = _one_core_tokenizer(figs)
    lines = [
        "| system | msg/s net | tokens/s net | x 1-core tokenizer | msg/s end to end | start-up s | "
        "wall s | CPU s | msg per CPU s net | peak RSS MB | check | notes |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for name, fig in figs.items():
        r = fig.result
        if r.unavailable or (not r.runs and r.errors):
            why = r.unavailable or r.errors[0]
            lines.append(f"| {name} | not measured | | | | | | | | | | {why} |")
            continue
        ratio = f"{fig.net_rate / one_core:.2f}" if one_core and fig.net_rate else "–"
        mark, note = (
            ("", r.note)
            if fig.reliable
            else (
                " (unreliable)",
                "; ".join(
                    filter(
                        None,
                        [
                            r.note,
                            (
                                f"start-up varied by {fig.startup_spread:.1f} s across rounds, more than the "
                                f"{fig.net_wall:.1f} s the corpus took net: compare msg per CPU s"
                            ),
                        ],
                    )
                ),
            )
        )
        lines.append(
            f"| {name} | {_fmt(fig.net_rate)}{mark} | "
            f"{_fmt(fig.net_token_rate) if r.name[:6] != 'source' else '–'} | "
            f"{ratio} | {_fmt(fig.rate)} | {_fmt(fig.startup, 1)} | {_fmt(fig.wall, 1)} | {_fmt(fig.cpu, 1)} | "
            f"{_fmt(fig.per_cpu_s)} | {_fmt(fig.rss)} | {fig.check} | {note} |"
        )
    return lines


def _streaming_table(streaming: StreamingResult) -> list[str]:
    s = streaming.summary()
    lines = [
        f"Unbounded run on `run_configs/{streaming.config}` (DirectRunner on Prism): "
        f"{streaming.rate:g} messages/s stamped with the send time, {streaming.window_s:g} s fixed windows, "
        f"`max_out_of_orderness` {streaming.out_of_orderness_s:g} s, "
        f"{streaming.duration_s / 60:.1f} minutes after the first pane (+ {streaming.warmup_s:.0f} s warm-up "
        f"not counted).",
        "",
        "| figure | value |",
        "|---|---:|",
        f"| on-time panes measured | {s['on_time_panes']} |",
        f"| panes kept coming for (s) | {_fmt(s['covered_s'])} |",
        f"| latency p50 (s) | {_fmt(s['latency_p50_s'], 2)} |",
        f"| latency p99 (s) | {_fmt(s['latency_p99_s'], 2)} |",
        f"| latency max (s) | {_fmt(s['latency_max_s'], 2)} |",
        f"| RSS at the first pane (MB) | {_fmt(s['rss_start_mb'])} |",
        f"| RSS after 1 minute (MB) | {_fmt(s['rss_1min_mb'])} |",
        f"| RSS at the end (MB) | {_fmt(s['rss_end_mb'])} |",
        f"| messages produced | {streaming.produced:,} |",
        f"| early/late panes (should be 0) | {streaming.late_or_early_panes} |",
    ]
    if streaming.error or streaming.returncode not in (0, None):
        lines.append(f"| run error | {streaming.error or f'exit {streaming.returncode}'} |")
    return lines


def _chart(figs: dict, path: Path, one_core: Optional[float]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    measured = [(n, f) for n, f in figs.items() if f.net_rate][::-1]
    colors = {"limit": "#9e9e9e", "baseline": "#ff9800", "pipeline": "#1e88e5", "peer": "#8e24aa"}
    # The source limit is two orders of magnitude off the scale of the rest: clip it and say so.
    others = [f.net_rate for n, f in measured if not n.startswith("source") and f.reliable]
    limit = 1.25 * max(others + [1.6 * one_core if one_core else 0.0])
    fig, ax = plt.subplots(figsize=(10, 0.45 * len(measured) + 1.8))
    for i, (_, f) in enumerate(measured):
        ax.barh(
            i + 0.2,
            min(f.net_rate, limit),
            height=0.4,
            color=colors[f.result.group],
            alpha=1.0 if f.reliable else 0.35,
            hatch=None if f.reliable else "//",
        )
        ax.barh(i - 0.2, min(f.rate, limit), height=0.4, color="#cfd8dc")
        label = (
            f" {f.net_rate:,.0f}"
            + (" (off scale)" if f.net_rate > limit else "")
            + ("" if f.reliable else " (unreliable)")
        )
        ax.text(min(f.net_rate, limit), i + 0.2, label, va="center", fontsize=8)
    if one_core:
        ax.axvline(1.6 * one_core, color="#e53935", linestyle="--", linewidth=1)
    ax.set_xlim(0, limit * 1.4)
    ax.set_yticks(range(len(measured)))
    ax.set_yticklabels([n for n, _ in measured], fontsize=8)
    ax.set_xlabel("messages / s, median (coloured: net of start-up; grey: end to end)")
    ax.set_title("Throughput: NLTK token counts per 10 s window, same Kafka topic, 2 cores")
    handles = [Patch(color=c, label=g) for g, c in colors.items()] + [Patch(color="#cfd8dc", label="end to end")]
    if one_core:
        handles.append(plt.Line2D([], [], color="#e53935", linestyle="--", label="target: 0.8 x 2 x tokenizer"))
    ax.legend(handles=handles, fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(
    results_dir: Path, meta: dict, results: list[SystemResult], streaming: Optional[StreamingResult]
) -> str:
    """Writes RESULTS.md, throughput.png and results.json; returns the markdown."""
    results_dir.mkdir(parents=True, exist_ok=True)
    figs = figures(results, meta["messages"], meta["expected_tokens"], meta["expected_pairs"]) if results else {}
    lines = [
        "# Benchmark results",
        "",
        f"Generated by `{meta['command']}` on {meta['date']} ({meta['machine']}).",
        "",
        f"Corpus: {meta['corpus']}: {meta['messages']:,} messages, {meta['expected_tokens']:,} tokens "
        f"({meta['expected_tokens'] / meta['messages']:.1f} per message after normalisation), in a topic of "
        f"{meta['partitions']} partitions with event times spread over {meta['span_s'] / 60:.0f} minutes; "
        f"{meta['window_s']:g} s fixed windows ({meta['expected_pairs']:,} (window, token) counts), "
        f"max_out_of_orderness {meta['out_of_orderness_s']:g} s. Tokenizer everywhere: "
        "`make_tokenizer('word', punkt='auto')` (" + meta["punkt"] + "), lowercased, punctuation dropped.",
        "",
        f"Each figure is the median of {meta['rounds']} run(s). *Net* rates divide the corpus by the median over "
        "rounds of (wall time - wall time of the same program on an empty topic in the same round), i.e. "
        "without interpreter, runner and job start-up; "
        "*end to end* includes them. CPU s is user + system time of the whole process tree; peak RSS is the "
        "largest sum of RSS over the tree; *msg per CPU s net* is corpus messages / (CPU s - CPU s on the empty "
        "topic), an efficiency that other load on the machine hardly moves. *check* compares the counted tokens and (window, token) rows with "
        "the corpus.",
        "",
    ]
    if figs:
        lines += (
            ["## Throughput", ""]
            + _throughput_table(figs, meta["messages"])
            + ["", "![throughput](throughput.png)", ""]
        )
        _chart(figs, results_dir / "throughput.png", _one_core_tokenizer(figs))
    if streaming is not None:
        lines += ["## Streaming latency and memory", ""] + _streaming_table(streaming) + [""]
    target_rows = targets(figs, streaming)
    if target_rows:
        lines += ["## Targets (issue 6)", "", "| target | measured | |", "|---|---|---|"]
        lines += [f"| {t} | {m} | **{ok}** |" for t, m, ok in target_rows] + [""]
    markdown = "\n".join(lines)
    previous = results_dir / "RESULTS.md"
    block = block_of(previous.read_text(encoding="utf-8")) if previous.exists() else None
    if block:  # the side-by-side table comes from its own command: keep it
        markdown = replace_block(markdown, block)
    previous.write_text(markdown, encoding="utf-8")
    raw = {
        "meta": meta,
        "throughput": [r.__dict__ for r in results],
        "streaming": None if streaming is None else {**streaming.__dict__, "summary": streaming.summary()},
    }
    (results_dir / "results.json").write_text(json.dumps(raw, indent=1, default=str), encoding="utf-8")
    return markdown


def rewrite_report(results_dir: Path) -> str:
    """Renders RESULTS.md and the chart again from results.json (no benchmark is run)."""
    import dataclasses

    raw = json.loads((results_dir / "results.json").read_text(encoding="utf-8"))
    results = [SystemResult(**r) for r in raw["throughput"]]
    streaming = None
    if raw.get("streaming"):
        names = {f.name for f in dataclasses.fields(StreamingResult)}
        streaming = StreamingResult(**{k: v for k, v in raw["streaming"].items() if k in names})
    return write_report(results_dir, raw["meta"], results, streaming)
