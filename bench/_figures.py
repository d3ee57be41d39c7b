"""Figures as JSON in the shape of ``tests.proof.scale.record`` (``name``, ``full``, then the figures), so that
``bench.proof_summary`` prints benchmarks and proofs in one table."""

from __future__ import annotations

import json
import pathlib


def write_figures(path: str | pathlib.Path, name: str, *, full: bool, **figures) -> None:
    """``full``: the run used the default (full-size) cases, not a quick smaller one. Never put a secret here."""
    target = pathlib.Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps({"name": name, "full": full, **figures}, indent=2, sort_keys=True) + "\n")


def percentile(values: list[float], percent: float) -> float:
    """Nearest-rank percentile (p50 of [1, 2, 3, 4] is 2): no interpolation between two real measurements."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * percent // 100))
    return ordered[int(rank) - 1]
