"""The benchmark scripts still run: each one in its tiny --quick mode, printing its tables."""

import runpy
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
SCRIPTS = ("grade_latency", "grader_power", "calibration_throughput", "cost", "notebooks")


def test_every_benchmark_script_is_smoke_tested():
    assert sorted(path.stem for path in BENCHMARKS.glob("[!_]*.py")) == sorted(SCRIPTS)


@pytest.mark.parametrize("name", SCRIPTS)
def test_benchmark_runs_in_quick_mode_and_prints_tables(name, monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    monkeypatch.setattr(sys, "argv", [f"{name}.py", "--quick"])
    runpy.run_path(str(BENCHMARKS / f"{name}.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert out.startswith("# ") and "|---|" in out, out
