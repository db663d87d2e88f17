"""`python -m benchmarks tokenizer`: the tokenizer alone, stock NLTK against the fast engine.

    python -m benchmarks tokenizer                    # speed on the corpus, one process, one core
    python -m benchmarks tokenizer --exactness 100000 # differential sweep: corpus + N generated texts
    python -m benchmarks tokenizer --worst-case       # adversarial inputs up to MAX_FAST_CHARS
    python -m benchmarks tokenizer --all              # all three (about 30 minutes on 2 cores)

Speed: each tokenizer with `engine="guarded"` (stock NLTK 3.10.4) and `engine="fast"`
(transforms/text/fast_patterns.py) over every corpus message, in interleaved rounds; the figure is
the best round's CPU time of this process (`time.process_time`), so other load on the machine
moves it little. Both paths' tokens are compared on every message of every round.

Exactness: every variant of tests/tokenizer_cases.py (word with installed and untrained Punkt,
preserve_line, sentences, treebank, tweet with its options, wordpunct, whitespace) on the
corpus and on N hypothesis-generated texts, fast against stock NLTK called directly.

Worst case: each tokenizer, and each swapped pattern with the call NLTK makes on it, on
adversarial text (long runs of every ASCII character and of the characters NLTK's patterns
treat specially, nested quotes and brackets, unterminated URLs, digit runs) at MAX_FAST_CHARS
characters, against stock NLTK on the same text; each call's CPU time, best of `WORST_CASE_RUNS`
runs (one wall-clock shot on a shared machine measures the neighbours' load as much as the call).

Results: benchmarks/results/tokenizer.json and benchmarks/results/TOKENIZER.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import string
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent / "results"
SPEED_VARIANTS = (  # (label, make_tokenizer arguments)
    ("word (pipeline default: punkt auto)", {"name": "word", "punkt": "auto"}),
    ("word, untrained Punkt", {"name": "word", "punkt": "untrained"}),
    ("word, preserve_line", {"name": "word", "preserve_line": True}),
    ("sentences, untrained Punkt", {"name": "sentences", "punkt": "untrained"}),
    ("treebank", {"name": "treebank"}),
    ("tweet", {"name": "tweet"}),
    ("tweet, strip_handles + reduce_len", {"name": "tweet", "strip_handles": True, "reduce_len": True}),
    ("wordpunct", {"name": "wordpunct"}),
    ("whitespace", {"name": "whitespace"}),
)


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Speed
# ---------------------------------------------------------------------------------------------


def _run(tokenize, texts) -> tuple:
    start = time.process_time()
    out = [tokenize(text) for text in texts]
    return time.process_time() - start, out


def speed(texts: list, rounds: int, chunk: int = 250) -> list:
    """Each round goes through the corpus in chunks of `chunk` messages, each chunk timed on both
    paths back to back (which one first alternates), so that load from other processes falls on
    both alike; a round's time is the sum over its chunks. Best and median round are reported."""
    from transforms.text.tokenizers import make_tokenizer

    rows = []
    for label, options in SPEED_VARIANTS:
        options = dict(options)
        name = options.pop("name")
        stock = make_tokenizer(name, engine="guarded", **options)
        fast = make_tokenizer(name, engine="fast", **options)
        stock(texts[0]), fast(texts[0])  # NLTK compiles some patterns lazily
        stock_s, fast_s, mismatches = [], [], 0
        for round_ in range(rounds):
            round_stock = round_fast = 0.0
            for i, start in enumerate(range(0, len(texts), chunk)):
                part = texts[start : start + chunk]
                if (i + round_) % 2:
                    fast_time, got = _run(fast, part)
                    stock_time, expected = _run(stock, part)
                else:
                    stock_time, expected = _run(stock, part)
                    fast_time, got = _run(fast, part)
                round_stock += stock_time
                round_fast += fast_time
                mismatches += sum(a != b for a, b in zip(expected, got))
            stock_s.append(round_stock)
            fast_s.append(round_fast)
        row = {
            "tokenizer": label,
            "messages": len(texts),
            "rounds": rounds,
            "stock_msg_s": len(texts) / min(stock_s),
            "fast_msg_s": len(texts) / min(fast_s),
            "stock_us_per_msg": 1e6 * min(stock_s) / len(texts),
            "fast_us_per_msg": 1e6 * min(fast_s) / len(texts),
            "speedup": min(stock_s) / min(fast_s),
            "speedup_median": statistics.median(s / f for s, f in zip(stock_s, fast_s)),
            "speedups": [s / f for s, f in zip(stock_s, fast_s)],
            "mismatches": mismatches,
            "fast_path_share": fast.fast / max(1, fast.fast + fast.guarded),
        }
        rows.append(row)
        _progress(
            f"  {label}: stock {row['stock_msg_s']:,.0f} msg/s, fast {row['fast_msg_s']:,.0f} msg/s, "
            f"x{row['speedup']:.2f} (median round x{row['speedup_median']:.2f}, rounds "
            f"{', '.join(f'{x:.2f}' for x in row['speedups'])}), {mismatches} mismatches"
        )
    return rows


# ---------------------------------------------------------------------------------------------
# Exactness
# ---------------------------------------------------------------------------------------------


def _generated(count: int, batch: int = 5000) -> list:
    """`count` texts from tests/tokenizer_cases.TEXTS, drawn by hypothesis in runs of `batch`
    (one run of 100,000 slows down as hypothesis tracks every choice it made)."""
    from hypothesis import HealthCheck, Phase, given, settings

    from tests.tokenizer_cases import TEXTS

    texts = []
    while len(texts) < count:
        before = len(texts)

        @settings(
            max_examples=min(batch, count - len(texts)),
            deadline=None,
            database=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(TEXTS)
        def collect(text):
            texts.append(text)

        collect()
        _progress(f"    {len(texts):,} texts")
        if len(texts) == before:
            break
    return texts[:count]


def exactness(corpus: list, generated: int) -> list:
    import nltk

    from tests.nltk_data_helpers import write_punkt_tab
    from tests.tokenizer_cases import describe, outcome, variants

    root = Path(tempfile.mkdtemp(prefix="bench-nltk-data-"))
    write_punkt_tab(root)  # the tests' Punkt model, trained with NLTK's trainer
    nltk.data.path.insert(0, str(root))
    _progress(f"  generating {generated:,} texts with hypothesis...")
    texts = _generated(generated)
    rows = []
    for variant in variants(installed_punkt=True):
        row = {
            "tokenizer": variant.name,
            "corpus": len(corpus),
            "generated": len(texts),
            "mismatches": 0,
            "examples": [],
        }
        before = variant.fast.fast, variant.fast.guarded
        for text in [*corpus, *texts]:
            if outcome(variant.fast, text) != outcome(variant.stock, text):
                row["mismatches"] += 1
                if len(row["examples"]) < 5:
                    row["examples"].append(describe(text))
        row["fast_path"] = variant.fast.fast - before[0]
        row["guarded_path"] = variant.fast.guarded - before[1]
        rows.append(row)
        _progress(
            f"  {variant.name}: {row['corpus'] + row['generated']:,} cases, {row['mismatches']} mismatches, "
            f"{row['fast_path']:,} on the fast path, {row['guarded_path']:,} routed to the guarded path"
        )
    return rows


# ---------------------------------------------------------------------------------------------
# Worst case
# ---------------------------------------------------------------------------------------------

_SPECIAL = (
    "a.",
    ". ",
    '."',
    "'s ",
    "a'",
    "''",
    "``",
    "--",
    "((",
    "))",
    "(a",
    "[(",
    "\"'",
    "'\"",
    "a ",
    "1.",
    "1,",
    ". .",
    "a.b",
    "@a",
    "#a",
    "a@",
    ":)",
    "&#",
    "&a",
    "1 ",
    "1-",
    "a-",
    "a'b",
    "é",
    "“",
    "’",
    "«»",
    "—",
    "😀",
    "👍🏽",
    "\u200d",
    ".\n",
    " \n",
    "\n\n",
    "a\n",
    "http://a",
    "www.a.",
    "a.co",
    "+1 ",
    "(1",
    "@a_",
    "#_",
    "<a",
    "-->",
    ":-",
    "a:",
    ",a",
    "?!",
    "...",
)


def adversarial(size: int) -> list:
    """(name, text) of `size` characters: runs of every ASCII character and of two-character units
    NLTK's patterns treat specially (each also with an odd ending), nested quotes and brackets."""
    units = [c for c in string.printable] + list(_SPECIAL)
    texts = []
    for unit in units:
        run = (unit * (size // len(unit) + 1))[:size]
        texts += [
            (f"run {unit!r}", run),
            (f"run {unit!r} + 'x'", run[:-1] + "x"),
            (f"run {unit!r} + '.\\n'", run[:-2] + ".\n"),
        ]
    half = size // 2
    texts += [
        ("nested ( )", "(" * half + ")" * half),
        ("nested [ { < > } ]", ("[{<" * size)[:half] + (">}]" * size)[:half]),
        ("nested quotes", ("\"'" * size)[:half] + ("'\"" * size)[:half]),
        ("nested curly quotes", ("“‘" * size)[:half] + ("’”" * size)[:half]),
        ("nested ``''", ("``" * size)[:half] + ("''" * size)[:half]),
        ("url, open parens", ("http://a.com/" + "(" * size)[:size]),
        ("url, (a repeated", ("http://a.com/" + "(a" * size)[:size]),
        ("words and dots", ("ab. " * size)[:size]),
        ("initials", ("A. " * size)[:size]),
        ("abbreviation soup", ("Dr. e.g. U.S. " * size)[:size]),
        ("digits and spaces", ("1 " * size)[:size]),
        ("phone-like", ("555 123 " * size)[:size]),
        ("emails", ("a.b@c.d " * size)[:size]),
    ]
    return texts


def _pattern_call(location: str):
    """The call NLTK makes on the pattern at this location (see fast_patterns.nltk_fixed_patterns)."""
    if location.startswith(("NLTKWordTokenizer", "TreebankWordTokenizer")) or location == "PunktToken._RE_NUMERIC":
        return lambda pattern, text: pattern.sub(" ", text)
    if location in ("PunktLanguageVars._re_word_tokenizer", "WordPunctTokenizer._regexp") or "WORD_RE" in location:
        return lambda pattern, text: pattern.findall(text)
    if location == "PunktLanguageVars._re_period_context":
        return lambda pattern, text: list(pattern.finditer(text))
    if location == "WhitespaceTokenizer._regexp":
        return lambda pattern, text: pattern.split(text)
    return lambda pattern, text: pattern.match(text)  # boundary realignment, PunktToken ._RE_*


WORST_CASE_RUNS = 3


def _timed(call, *args) -> float:
    """CPU time of call(*args), best of WORST_CASE_RUNS runs."""
    best = float("inf")
    for _ in range(WORST_CASE_RUNS):
        start = time.process_time()
        try:
            call(*args)
        except Exception:  # noqa: BLE001 - a guarded timeout is a result too (its time is what counts)
            pass
        best = min(best, time.process_time() - start)
    return best


def worst_case(size: int) -> dict:
    from transforms.text import fast_patterns
    from transforms.text.tokenizers import make_tokenizer

    inputs = adversarial(size)
    tokenizer_rows = []
    for label, options in SPEED_VARIANTS[1:]:
        options = dict(options)
        name = options.pop("name")
        stock = make_tokenizer(name, engine="guarded", **options)
        fast = make_tokenizer(name, engine="fast", **options)
        worst_fast, worst_stock = (0.0, ""), (0.0, "")
        for input_name, text in inputs:
            worst_fast = max(worst_fast, (_timed(fast, text), input_name))
            worst_stock = max(worst_stock, (_timed(stock, text), input_name))
        tokenizer_rows.append(
            {
                "tokenizer": label,
                "size": size,
                "fast_s": worst_fast[0],
                "fast_input": worst_fast[1],
                "stock_s": worst_stock[0],
                "stock_input": worst_stock[1],
            }
        )
        _progress(
            f"  {label}: worst fast {worst_fast[0]:.3f} s ({worst_fast[1]}), "
            f"stock {worst_stock[0]:.3f} s ({worst_stock[1]})"
        )
    pattern_rows = []
    for location, guarded in fast_patterns.nltk_fixed_patterns().items():
        fast = fast_patterns.fast_pattern(guarded)
        call = _pattern_call(location)
        worst_fast, worst_stock = (0.0, ""), (0.0, "")
        for input_name, text in inputs:
            worst_fast = max(worst_fast, (_timed(call, fast, text), input_name))
            worst_stock = max(worst_stock, (_timed(call, guarded, text), input_name))
        pattern_rows.append(
            {
                "pattern": location,
                "size": size,
                "fast_s": worst_fast[0],
                "fast_input": worst_fast[1],
                "stock_s": worst_stock[0],
                "stock_input": worst_stock[1],
            }
        )
        _progress(
            f"  {location}: worst fast {worst_fast[0]:.3f} s ({worst_fast[1]}), "
            f"stock {worst_stock[0]:.3f} s ({worst_stock[1]})"
        )
    return {
        "size": size,
        "inputs": len(inputs),
        "runs": WORST_CASE_RUNS,
        "clock": "process_time",
        "tokenizers": tokenizer_rows,
        "patterns": pattern_rows,
    }


# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------


def render(results: dict) -> str:
    def stamp(part: str) -> list:
        meta = results.get(f"{part}_meta", results["meta"])
        return [
            f"{meta['date']}, `{meta['command']}`, {meta['machine']}; corpus: {meta['corpus']} "
            f"({meta['messages']:,} messages); NLTK {meta['nltk']}, regex {meta['regex']}, "
            f"Python {meta['python']}, MAX_FAST_CHARS {meta.get('max_fast_chars')}.",
            "",
        ]

    lines = ["# The tokenizer alone: stock NLTK against the fast engine", ""]
    if results.get("speed"):
        lines += [
            "## Speed (one process, one core; CPU time, both paths timed on the same chunks of 250 messages)",
            "",
            *stamp("speed"),
            "| tokenizer | stock NLTK msg/s (best round) | fast msg/s (best round) | speed-up (best rounds) | "
            "(median of rounds) | fast path | "
            "tokens differing |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for row in results["speed"]:
            lines.append(
                f"| {row['tokenizer']} | {row['stock_msg_s']:,.0f} | {row['fast_msg_s']:,.0f} | "
                f"{row['speedup']:.2f}x | {row['speedup_median']:.2f}x | {row['fast_path_share']:.1%} | "
                f"{row['mismatches']} |"
            )
        lines.append("")
    if results.get("exactness"):
        lines += [
            "## Exactness (fast against stock NLTK)",
            "",
            *stamp("exactness"),
            "| variant | corpus texts | generated texts | fast path | routed to guarded | differing |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for row in results["exactness"]:
            lines.append(
                f"| {row['tokenizer']} | {row['corpus']:,} | {row['generated']:,} | {row['fast_path']:,} | "
                f"{row['guarded_path']:,} | {row['mismatches']} |"
            )
        lines.append("")
    if results.get("worst_case"):
        worst = results["worst_case"]
        lines += [
            f"## Worst case on adversarial text ({worst['size']:,} characters, {worst['inputs']} inputs)",
            "",
            (
                f"CPU time of each call, best of {worst['runs']} runs."
                if worst.get("clock") == "process_time"
                else "Wall time of one run of each call."
            ),
            "",
            *stamp("worst_case"),
            "| tokenizer / pattern (NLTK's call) | fast s | its input | stock s | its input |",
            "|---|---:|---|---:|---|",
        ]
        for row in worst["tokenizers"]:
            lines.append(
                f"| **{row['tokenizer']}** | {row['fast_s']:.3f} | {row['fast_input']} | "
                f"{row['stock_s']:.3f} | {row['stock_input']} |"
            )
        for row in worst["patterns"]:
            lines.append(
                f"| {row['pattern']} | {row['fast_s']:.3f} | {row['fast_input']} | "
                f"{row['stock_s']:.3f} | {row['stock_input']} |"
            )
        lines.append("")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks tokenizer", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5, help="speed rounds (default 5)")
    parser.add_argument("--exactness", type=int, metavar="N", help="differential sweep with N generated texts")
    parser.add_argument("--worst-case", action="store_true", help="adversarial inputs at MAX_FAST_CHARS")
    parser.add_argument("--size", type=int, help="worst-case input size (default MAX_FAST_CHARS)")
    parser.add_argument("--no-speed", action="store_true")
    parser.add_argument("--all", action="store_true", help="speed, --exactness 100000 and --worst-case")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    import nltk
    import regex

    from benchmarks.corpus import load_corpus
    from transforms.text import fast_patterns

    corpus_name, texts = load_corpus()
    results = {
        "meta": {
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "command": "python -m benchmarks tokenizer " + " ".join(argv if argv is not None else sys.argv[1:]),
            "machine": f"{platform.machine()}, {platform.system()}",
            "corpus": corpus_name,
            "messages": len(texts),
            "nltk": nltk.__version__,
            "regex": regex.__version__,
            "python": platform.python_version(),
            "max_fast_chars": fast_patterns.MAX_FAST_CHARS,
        }
    }
    if not args.no_speed:
        _progress(f"Speed over {len(texts):,} messages, {args.rounds} rounds...")
        results["speed"] = speed(texts, args.rounds)
    generated = 100_000 if args.all and args.exactness is None else args.exactness
    if generated is not None:
        _progress(f"Exactness: {len(texts):,} corpus texts and {generated:,} generated texts per variant...")
        results["exactness"] = exactness(texts, generated)
    if args.worst_case or args.all:
        size = args.size or fast_patterns.MAX_FAST_CHARS
        _progress(f"Worst case at {size:,} characters...")
        results["worst_case"] = worst_case(size)
    args.results_dir.mkdir(parents=True, exist_ok=True)
    previous = args.results_dir / "tokenizer.json"
    if previous.exists():  # a run of one part keeps the other parts of the last runs
        kept = json.loads(previous.read_text(encoding="utf-8"))
        for part in ("speed", "exactness", "worst_case"):
            if part not in results and part in kept:
                results[part], results[f"{part}_meta"] = kept[part], kept.get(f"{part}_meta", kept["meta"])
    for part in ("speed", "exactness", "worst_case"):
        results.setdefault(f"{part}_meta", results["meta"]) if part in results else None
    (args.results_dir / "tokenizer.json").write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    markdown = render(results)
    (args.results_dir / "TOKENIZER.md").write_text(markdown + "\n", encoding="utf-8")
    print(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
