"""One markdown table of every proof's and benchmark's figures in ``test-artifacts/proof/*.json``.

    .venv/bin/python -m bench.proof_summary [--dir test-artifacts/proof]

Each file is a flat-ish dict as ``tests.proof.scale.record`` writes it: ``name``, ``full``, optionally ``cases`` /
``rounds``, ``result`` and ``summary`` (the key figures in a sentence, written by the producer); without a summary,
the other scalar figures are listed, one level of nesting flattened as ``outer.inner``.
"""

from __future__ import annotations

import argparse
import json
import pathlib

COLUMNS = ("proof", "size", "cases / rounds", "result", "key figures")
KNOWN = {"name", "full", "cases", "rounds", "result", "summary"}
MAX_FIGURES_CHARS = 400


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default="test-artifacts/proof", type=pathlib.Path)
    args = parser.parse_args()
    files = sorted(args.dir.glob("*.json"))
    if not files:
        print(f"No figures in {args.dir}/ (run the proofs or benchmarks with --json first).")
        return
    print("| " + " | ".join(COLUMNS) + " |")
    print("|" + "---|" * len(COLUMNS))
    for path in files:
        print("| " + " | ".join(_cell(value) for value in _row(path)) + " |")


def _row(path: pathlib.Path) -> tuple[str, ...]:
    try:
        figures = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        return path.stem, "", "", f"unreadable: {err}", ""
    if not isinstance(figures, dict):
        return path.stem, "", "", "unreadable: not a JSON object", ""
    counts = " / ".join(f"{figures[key]} {key}" for key in ("cases", "rounds") if key in figures)
    size = "full" if figures.get("full") else "short"
    return (str(figures.get("name", path.stem)), size, counts, str(figures.get("result", "")),
            str(figures.get("summary") or _figures(figures)))


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
    main()
