"""``bench.proof_summary``, run as ``make proof`` runs it: every proof and benchmark has a row, and the table fails
(exit 1) when one is missing or failed, so a table of what was measured is never read as a pass."""

from __future__ import annotations

import json
import subprocess
import sys

from bench.proof_summary import EXPECTED
from kernel.config import BASE_DIR


def test_a_complete_passing_run_has_a_row_each_and_exits_zero(tmp_path):
    for name in EXPECTED:
        _write(tmp_path, name, result="pass", summary=f"{name} figures")
    result = _summary(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = _rows(result.stdout)
    assert list(rows) == list(EXPECTED)
    assert all(rows[name][1:3] == ["full", "postgresql"] and rows[name][4] == "pass" for name in EXPECTED)


def test_a_missing_or_failed_proof_is_shown_and_fails_the_table(tmp_path):
    missing, failed, *passed = EXPECTED
    for name in passed:
        _write(tmp_path, name, result="pass")
    _write(tmp_path, failed, result="FAILED (not run, or not passed: test_one)")
    result = _summary(tmp_path)
    assert result.returncode == 1
    rows = _rows(result.stdout)
    assert rows[missing][4] == "missing" and rows[failed][4].startswith("FAILED")
    assert f"Not a pass: {missing}, {failed}" in result.stdout


def test_nothing_recorded_lists_every_proof_as_missing(tmp_path):
    result = _summary(tmp_path)
    assert result.returncode == 1
    assert {name: row[4] for name, row in _rows(result.stdout).items()} == dict.fromkeys(EXPECTED, "missing")


def _write(directory, name: str, **figures) -> None:
    figures = {"name": name, "full": True, "database": "postgresql", **figures}
    (directory / f"{name}.json").write_text(json.dumps(figures))


def _summary(directory) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bench.proof_summary", "--dir", str(directory)], cwd=BASE_DIR,
                          capture_output=True, text=True, timeout=60)


def _rows(table: str) -> dict[str, list[str]]:
    """The table's body rows by proof name, each as its cells (name first)."""
    lines = [line for line in table.splitlines() if line.startswith("| ")][1:]  # past the header
    cells = [[cell.strip() for cell in line.strip("|").split(" | ")] for line in lines]
    return {row[0]: row for row in cells}
