"""One markdown table of every proof's and benchmark's figures in ``test-artifacts/proof/*.json``.

    .venv/bin/python -m bench.proof_summary [--dir test-artifacts/proof]

Each file is a flat-ish dict as ``tests.proof.scale.record`` writes it: ``name``, ``full``, optionally ``database``,
``cases`` / ``rounds``, ``result`` and ``summary`` (the key figures in a sentence, written by the producer); without
a summary, the other scalar figures are listed, one level of nesting flattened as ``outer.inner``.

Every proof and benchmark ``make proof`` runs has a row: one that wrote no figures (it crashed, or never ran) reads
"missing". Exits 1 if any is missing or unreadable, or any result starts with "FAIL", so a table of what was measured
is never mistaken for a pass.
"""

from __future__ import annotations

import argparse
import json
import pathlib

# The names the producers record under (tests/proof/test_*.py, bench.throughput, bench.positions_reply), in the
# order make proof runs them.
EXPECTED = ("attacks", "crash_anywhere", "faults", "fuzzing", "races", "worker_races", "throughput",
            "positions_scaling", "inspection_latency", "landing", "jupiter_budget", "mev",
            "orders_cycle", "orders_latency", "paper_vs_real")
COLUMNS = ("proof", "size", "database", "cases / rounds", "result", "key figures")
KNOWN = {"name", "full", "database", "cases", "rounds", "result", "summary"}
MAX_FIGURES_CHARS = 400
MISSING = "missing"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default="test-artifacts/proof", type=pathlib.Path)
    args = parser.parse_args()
    found = {path.stem: path for path in sorted(args.dir.glob("*.json"))}
    rows = [_row(found[name]) if name in found else _missing(name) for name in EXPECTED]
    rows += [_row(path) for name, path in found.items() if name not in EXPECTED]
    print("| " + " | ".join(COLUMNS) + " |")
    print("|" + "---|" * len(COLUMNS))
    for row in rows:
        print("| " + " | ".join(_cell(value) for value in row) + " |")
    bad = [row[0] for row in rows if _is_failure(row[4])]
    if bad:
        print(f"\nNot a pass: {', '.join(bad)} (figures in {args.dir}/).")
    return 1 if bad else 0


def _row(path: pathlib.Path) -> tuple[str, ...]:
    try:
        figures = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        return path.stem, "", "", "", f"unreadable: {err}", ""
    if not isinstance(figures, dict):
        return path.stem, "", "", "", "unreadable: not a JSON object", ""
    counts = " / ".join(f"{figures[key]} {key}" for key in ("cases", "rounds") if key in figures)
    size = "full" if figures.get("full") else "short"
    return (str(figures.get("name", path.stem)), size, str(figures.get("database", "")), counts,
            str(figures.get("result", "")), str(figures.get("summary") or _figures(figures)))


def _missing(name: str) -> tuple[str, ...]:
    return name, "", "", "", MISSING, "no figures written: the proof or benchmark failed before recording, or never ran"


def _is_failure(result: str) -> bool:
    return result == MISSING or result.startswith(("FAIL", "unreadable"))


def _figures(figures: dict) -> str:
    items = []
    for key, value in figures.items():
        if key in KNOWN:
            continue
        if isinstance(value, dict):
            items += [f"{key}.{inner}={_short(v)}" for inner, v in value.items() if not isinstance(v, dict | list)]
        else:
            items.append(f"{key}={_short(value)}")
    text = ", ".join(items)
    return text if len(text) <= MAX_FIGURES_CHARS else text[:MAX_FIGURES_CHARS - 1] + "…"


def _short(value) -> str:
    return json.dumps(value) if isinstance(value, list) else str(value)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


if __name__ == "__main__":
    raise SystemExit(main())
