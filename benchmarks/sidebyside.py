"""Side by side: the newcomer's loop and this project's runners on one long stream, as whole processes.

The corpus is cycled into a stream of `--messages` (120,000 by default, about a
minute for the loop), with event times spread over 40 minutes, in a fresh topic
of 4 partitions. Each program reads that topic from the start to the end
offsets it finds and exits; its time is the whole process, start to exit, as a
user waits for it (no start-up is subtracted). The programs run in interleaved
rounds and each figure is the median over rounds.

The loop is what a newcomer writes: one confluent-kafka consumer, stock NLTK
(`engine="guarded"`, which is `nltk.word_tokenize`), a `Counter` per window.
Every run's count rows are checked against the stream, tokenized with stock
NLTK by the harness: the total and a fingerprint of every (window, token)
count must both match, so no program can look fast by counting fewer records.

The results go to results/sidebyside.json and sidebyside.png, and the table
replaces the block between `<!-- sidebyside -->` and `<!-- /sidebyside -->` in
results/RESULTS.md and in the top-level README.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Optional

from benchmarks.throughput import System, baseline_system, config_system

__all__ = ["PROGRAMS", "programs", "render", "replace_block", "targets", "write_results"]

BEGIN, END = "<!-- sidebyside -->", "<!-- /sidebyside -->"

# System name -> what the table calls it.
PROGRAMS = {
    "loop": "the newcomer's loop: one confluent-kafka consumer, stock NLTK `word_tokenize`, lowercase, "
    "punctuation dropped, a `Counter` per 10 s window (`benchmarks/systems/baseline.py`)",
    "every core": "this project, every core: `direct.yaml`, `source.stop: latest`, `options.direct_num_workers: 0` "
    "(Beam's FnApiRunner, a worker process per core)",
    "Prism": "this project on Prism, its streaming engine: `direct.yaml`, `source.stop: latest`",
    "Flink embedded": "embedded Flink: `flink-local.yaml`",
    "Flink cluster": "the Flink cluster: `flink-cluster.yaml` (started before the round; its CPU during the run "
    "is counted)",
}

# Where each ratio to the loop has to be (the targets).
_SPEED_TARGETS = {"every core": 2.0, "Prism": 1.2}


def programs() -> list[System]:
    """The programs of the table, in order."""
    return [
        baseline_system("loop", "stock NLTK", engine="guarded"),
        config_system("every core", "direct.yaml", "FnApiRunner", "options.direct_num_workers=0"),
        config_system("Prism", "direct.yaml", "DirectRunner on Prism"),
        config_system("Flink embedded", "flink-local.yaml", "flink-local.yaml"),
        config_system("Flink cluster", "flink-cluster.yaml", "flink-cluster.yaml", cluster=True),
    ]


def _exact(run: dict, expected: dict) -> bool:
    return run.get("tokens") == expected["tokens"] and run.get("fingerprint") == expected["fingerprint"]


class _Figures:
    """The medians of one program and whether every run of it counted exactly."""

    def __init__(self, result: dict, meta: dict):
        runs = result["runs"]
        self.name = result["name"]
        self.error = result["unavailable"] or (result["errors"][0] if result["errors"] else None)
        self.time = statistics.median(r["wall_s"] for r in runs) if runs else None
        self.cpu = statistics.median(r["cpu_s"] for r in runs) if runs else None
        self.rss = statistics.median(r["peak_rss_mb"] for r in runs) if runs else None
        self.cpu_per_million = None if self.cpu is None else self.cpu * 1e6 / meta["messages"]
        self.runs = len(runs)
        self.exact_runs = sum(_exact(r, meta["expected"]) for r in runs)
        self.exact = bool(runs) and self.exact_runs == len(runs) and not result["errors"]
        self.check = self._check(runs, meta["expected"])

    def _check(self, runs: list, expected: dict) -> str:
        if not runs:
            return ""
        if self.exact:
            rows = runs[-1]["pairs"]
            split = f"; {rows:,} rows for {expected['pairs']:,} counts" if rows != expected["pairs"] else ""
            return f"exact ({len(runs)}/{len(runs)} runs){split}"
        wrong = next(r for r in runs if not _exact(r, expected))
        return (
            f"**not exact** in {len(runs) - self.exact_runs}/{len(runs)} runs: tokens {wrong['tokens']:,}/"
            f"{expected['tokens']:,}, rows {wrong['pairs']:,}/{expected['pairs']:,}"
        )


def _fmt(value: Optional[float], digits: int = 0) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def _caveats(meta: dict) -> list[str]:
    """What the reader should know before trusting the figures of this run."""
    notes = []
    if meta["rounds"] < 3:
        notes.append(f"Only {meta['rounds']} round(s): no median over rounds steadies these figures.")
    if meta.get("load_1min"):
        before, after = meta["load_1min"]
        notes.append(
            f"Load average (1 min) of the machine before and after the runs: {before:.1f} and {after:.1f} "
            f"on {meta['machine'].split(',')[0]}; a figure well above the cores used means other work shared it."
        )
    return ["", " ".join(notes)] if notes else []


def _tokenizer_rows(tokenizer: Optional[dict]) -> list[str]:
    """The tokenizer alone, per core, from results/tokenizer.json (`python -m benchmarks tokenizer`)."""
    if not tokenizer:
        return ["| the tokenizer alone: not measured yet (`python -m benchmarks tokenizer`) | | | | | | | |"]
    when = f" on {tokenizer['date']}" if tokenizer.get("date") else ""
    rate = {"stock NLTK": tokenizer["stock_msg_s"], "the fast engine": tokenizer["fast_msg_s"]}
    lines = []
    for engine, msg_s in rate.items():
        speedup = f", {tokenizer['speedup_median']:.2f}x stock NLTK" if engine == "the fast engine" else ""
        lines.append(
            f"| the tokenizer alone, {engine}, one core, no Kafka (`python -m benchmarks tokenizer`{when}{speedup}) "
            "| – | – | "
            f"{msg_s:,.0f} | {1e6 / msg_s:,.0f} | 1 | – | {tokenizer['mismatches']} messages differ |"
        )
    return lines


def targets(raw: dict) -> list[tuple[str, str, str]]:
    """(target, measured, met/missed) rows: the speed targets and the exactness of every run."""
    figs = {r["name"]: _Figures(r, raw["meta"]) for r in raw["programs"]}
    loop = figs.get("loop")
    rows = []
    for name, goal in _SPEED_TARGETS.items():
        fig = figs.get(name)
        target = f"{name} >= {goal:.1f}x the loop (whole process)"
        if fig is None or fig.time is None or loop is None or loop.time is None:
            rows.append((target, "not measured", "missed"))
            continue
        ratio = loop.time / fig.time
        measured = f"{ratio:.2f}x ({fig.time:,.1f} s against {loop.time:,.1f} s)"
        if not (fig.exact and loop.exact):
            measured += "; counts not exact"
        rows.append((target, measured, "met" if ratio >= goal and fig.exact and loop.exact else "missed"))
    runs = sum(f.runs for f in figs.values())
    exact = sum(f.exact_runs for f in figs.values())
    failed = [f.name for f in figs.values() if f.error]
    measured = f"{exact} of {runs} runs exact" + (f"; not run or failed: {', '.join(failed)}" if failed else "")
    rows.append(("every run's counts exact", measured, "met" if runs and exact == runs and not failed else "missed"))
    return rows


def render(raw: dict, image: str) -> str:
    """The side-by-side block (table, targets, chart) as markdown; `image` is the chart's relative path."""
    meta = raw["meta"]
    figs = [_Figures(r, meta) for r in raw["programs"]]
    loop = next((f for f in figs if f.name == "loop" and f.time), None)
    lines = [
        BEGIN,
        f"{meta['corpus'].split(' (')[0]} cycled into **{meta['messages']:,} messages** "
        f"({meta['expected']['tokens']:,} tokens), "
        f"a topic of {meta['partitions']} partitions, event times over {meta['span_s'] / 60:.0f} minutes, "
        f"{meta['window_s']:g} s windows ({meta['expected']['pairs']:,} (window, token) counts). Each program is a "
        f"whole process, start to exit, {meta['rounds']} interleaved round(s), medians. `{meta['command']}`, "
        f"{meta['date']}, {meta['machine']}.",
        *_caveats(meta),
        "",
        "| program | time s | x the loop | msg/s | CPU s per million messages | cores busy | peak RSS MB | check |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for fig in figs:
        label = PROGRAMS.get(fig.name, fig.name)
        if fig.time is None:
            lines.append(f"| {label} | not measured: {fig.error} | | | | | | |")
            continue
        ratio = f"{loop.time / fig.time:.2f}" if loop else "–"
        lines.append(
            f"| {label} | {fig.time:,.1f} | {ratio} | {meta['messages'] / fig.time:,.0f} | "
            f"{_fmt(fig.cpu_per_million)} | {fig.cpu / fig.time:.2f} | {_fmt(fig.rss)} | {fig.check} |"
        )
    lines += _tokenizer_rows(raw.get("tokenizer"))
    lines += ["", "| target | measured | |", "|---|---|---|"]
    lines += [f"| {target} | {measured} | **{ok}** |" for target, measured, ok in targets(raw)]
    lines += ["", f"![side by side]({image})", END]
    return "\n".join(lines)


def replace_block(text: str, block: str) -> str:
    """`text` with its side-by-side block replaced by `block` (appended when it has none)."""
    if BEGIN in text and END in text:
        return text[: text.index(BEGIN)] + block + text[text.index(END) + len(END) :]
    return text.rstrip("\n") + "\n\n## Side by side\n\n" + block + "\n"


def block_of(text: str) -> Optional[str]:
    """The side-by-side block of a document, if it has one."""
    if BEGIN in text and END in text:
        return text[text.index(BEGIN) : text.index(END) + len(END)]
    return None


def _chart(raw: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figs = [f for f in (_Figures(r, raw["meta"]) for r in raw["programs"]) if f.time][::-1]
    loop = next((f for f in figs if f.name == "loop"), None)
    fig, ax = plt.subplots(figsize=(9, 0.5 * len(figs) + 1.5))
    for i, f in enumerate(figs):
        ax.barh(i, f.time, color="#ff9800" if f.name == "loop" else "#1e88e5", alpha=1.0 if f.exact else 0.35)
        ratio = f", {loop.time / f.time:.2f}x the loop" if loop else ""
        ax.text(f.time, i, f" {f.time:,.0f} s{ratio}" + ("" if f.exact else ", counts not exact"), va="center")
    ax.set_xlim(0, max(f.time for f in figs) * 1.45)
    ax.set_yticks(range(len(figs)))
    ax.set_yticklabels([f.name for f in figs])
    ax.set_xlabel("seconds, whole process, start to exit (median)")
    ax.set_title(f"{raw['meta']['messages']:,} Kafka messages: NLTK token counts per 10 s window")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_results(raw: dict, results_dir: Path, readme: Optional[Path]) -> str:
    """Writes sidebyside.json, the chart and the block in RESULTS.md and in `readme`; returns the block."""
    results_dir.mkdir(parents=True, exist_ok=True)
    for program in raw["programs"]:
        for run in program["runs"]:
            run.pop("log", None)  # a temporary file of the machine that ran it
    (results_dir / "sidebyside.json").write_text(json.dumps(raw, indent=1) + "\n", encoding="utf-8")
    if any(r["runs"] for r in raw["programs"]):
        _chart(raw, results_dir / "sidebyside.png")
    results = results_dir / "RESULTS.md"
    old = results.read_text(encoding="utf-8") if results.exists() else "# Benchmark results\n"
    results.write_text(replace_block(old, render(raw, "sidebyside.png")), encoding="utf-8")
    # A partial run (--only, --skip-flink) leaves the README's table as it is.
    if readme is not None and not raw["meta"].get("partial") and block_of(readme.read_text(encoding="utf-8")):
        image = (results_dir.resolve() / "sidebyside.png").relative_to(readme.resolve().parent).as_posix()
        readme.write_text(replace_block(readme.read_text(encoding="utf-8"), render(raw, image)), encoding="utf-8")
    return render(raw, "sidebyside.png")
