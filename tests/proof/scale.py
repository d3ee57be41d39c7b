"""Short inside ``make test``, full inside ``make proof`` (PROOF=1). Each proof records its figures as JSON in
``test-artifacts/proof/`` so ``make proof`` can print one summary table (``python -m bench.proof_summary``)."""

from __future__ import annotations

import json
import os
import pathlib

FULL = os.environ.get("PROOF") == "1"
RESULTS = pathlib.Path(os.environ.get("PROOF_RESULTS", "test-artifacts/proof"))


def scaled(short: int, full: int) -> int:
    """How many cases/rounds/users to run: ``short`` inside ``make test``, ``full`` inside ``make proof``."""
    return full if FULL else short


def record(name: str, **figures) -> None:
    """Write one proof's figures (``name``: e.g. "fuzzing"); ``make proof`` turns them into the summary table.
    Values must be JSON-serialisable (ints, strings, lists); never a secret."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    figures = {"name": name, "full": FULL, **figures}
    (RESULTS / f"{name}.json").write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")
