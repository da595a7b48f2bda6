"""Calibration runs against the offline server: attempts saved as they finish, the summary, a 401
stopping the run, resuming after a torn last line, and regrading at another tolerance."""

import asyncio
import json
from dataclasses import replace

import pytest
from tasks.variance_dropout.task_files import CALIBRATION_MIX, TASK

from task_lib.agent.backends import open_backend
from task_lib.agent.loop import TRANSCRIPT_FILE, WORKSPACE_DIR, AttemptRecord
from task_lib.calibration.runs import (
    ATTEMPTS_FILE,
    CalibrationError,
    RunConfig,
    attempt_dir,
    load_attempts,
    load_summary,
    regrade_attempts,
    run_calibration,
    summarize,
)
from task_lib.calibration.stats import wilson_interval

SUMMARY_KEYS = {
    "runs", "outcomes", "pass_rate", "ci95", "verdict", "failures", "usage", "cost_usd", "backend",
    "model", "run_dir", "task", "task_version", "params", "label", "requested", "runs_needed",
    "more_runs_needed", "stopped",
}  # fmt: skip


def calibrate(run_dir, model, runs, **options):
    """Run a calibration on the offline backend; returns its summary, the server's request log and
    every progress report."""
    reports = []

    async def run():
        async with open_backend("offline") as backend:
            options.setdefault("on_progress", reports.append)
            summary = await run_calibration(backend, model, run_dir, runs, **options)
            return summary, backend.server.requests

    summary, requests = asyncio.run(run())
    return summary, requests, reports


def indices_in_file(run_dir):
    return [json.loads(line)["index"] for line in (run_dir / ATTEMPTS_FILE).read_text().splitlines()]


@pytest.fixture(scope="module")
def mix_run(tmp_path_factory):
    """The first 7 policies of the calibration mix (3 fixes, naive cast, bug, 1/sqrt(p), near miss)."""
    run_dir = tmp_path_factory.mktemp("calibration") / "mix"
    summary, _, reports = calibrate(run_dir, "scripted:mix", 7, concurrency=4)
    return summary, run_dir, reports


def test_summary_has_the_documented_keys_and_counts(mix_run):
    summary, run_dir, _ = mix_run
    assert SUMMARY_KEYS <= set(summary)
    assert summary["outcomes"] == {"passed": 3, "failed": 4, "limit": 0, "error": 0}
    assert summary["pass_rate"] == pytest.approx(3 / 7) and summary["ci95"] == list(wilson_interval(3, 7))
    assert summary["failures"] == {"variance_ratio": 3, "shape_and_dtype": 1}
    assert summary["verdict"] == "undetermined" and summary["more_runs_needed"] > 0
    assert summary["label"] == "offline, scripted policies: not a model" and summary["backend"] == "offline"
    assert summary["cost_usd"] > 0 and summary["usage"]["input_tokens"] > 0 and summary["stopped"] is None
    assert load_summary(run_dir) == summary


def test_every_attempt_is_appended_as_it_finishes_with_its_files(mix_run):
    _, run_dir, reports = mix_run
    assert sorted(indices_in_file(run_dir)) == list(range(7))
    for record in load_attempts(run_dir):
        assert record.model == f"scripted:{CALIBRATION_MIX[record.index]}"
        assert (attempt_dir(run_dir, record.index) / TRANSCRIPT_FILE).is_file()
        assert (attempt_dir(run_dir, record.index) / WORKSPACE_DIR / "dropout.py").is_file()
    assert [report.done for report in reports] == list(range(8))


def test_regrade_at_a_looser_tolerance_passes_the_near_miss_but_not_the_bug(mix_run):
    summary, run_dir, _ = mix_run
    before = {r.index: r for r in load_attempts(run_dir)}
    after = {r.index: r for r in asyncio.run(regrade_attempts(run_dir, TASK, {"tolerance": 0.2}))}
    near_miss, bug = CALIBRATION_MIX.index("near_miss"), CALIBRATION_MIX.index("submit_bug")
    assert (before[near_miss].outcome, after[near_miss].outcome) == ("failed", "passed")
    assert (before[bug].outcome, after[bug].outcome) == ("failed", "failed")
    assert all(record.grade["params"] == {"tolerance": 0.2} for record in after.values())


def test_regrade_keeps_limit_outcomes(tmp_path):
    calibrate(tmp_path, "scripted:overlong", 2)
    regraded = asyncio.run(regrade_attempts(tmp_path, TASK, {"tolerance": 0.2}))
    outcomes = [(r.outcome, r.limit, r.grade["params"]) for r in regraded]
    assert outcomes == [("limit", "max_tokens", {"tolerance": 0.2})] * 2


def test_pass_rate_leaves_errors_out_of_the_denominator():
    outcomes = ["passed"] * 2 + ["failed"] * 3 + ["limit"] + ["error"] * 4
    records = [AttemptRecord(outcome, index=i, failure="variance_ratio" if outcome == "failed" else None,
                             limit="steps" if outcome == "limit" else None,
                             error="529 overloaded_error: busy" if outcome == "error" else None)
               for i, outcome in enumerate(outcomes)]
    summary = summarize(records, RunConfig("offline", "scripted:mix", "label", 10, TASK.name,
                                           TASK.version, {"tolerance": 0.1}), "dir")
    assert summary["runs"] == 10 and summary["pass_rate"] == pytest.approx(2 / 6)
    assert summary["ci95"] == list(wilson_interval(2, 6))
    assert summary["failures"] == {"variance_ratio": 3} and summary["limits"] == {"steps": 1}
    assert summary["errors"] == {"529 overloaded_error": 4}


def test_a_refused_key_stops_the_run_early(tmp_path):
    summary, requests, _ = calibrate(tmp_path, "scripted:fault_401", 20, concurrency=2)
    assert "ANTHROPIC_API_KEY" in summary["stopped"] and summary["runs"] == 0
    assert len([r for r in requests if r.model == "scripted:fault_401"]) <= 2  # no new attempt started
    assert (tmp_path / ATTEMPTS_FILE).read_text() == ""


def test_resume_completes_the_run_after_a_half_written_last_line(tmp_path):
    calibrate(tmp_path, "scripted:give_up", 3, concurrency=3)
    lines = (tmp_path / ATTEMPTS_FILE).read_bytes().splitlines(keepends=True)
    torn = json.loads(lines[-1])["index"]
    (tmp_path / ATTEMPTS_FILE).write_bytes(b"".join(lines[:-1]) + lines[-1][: len(lines[-1]) // 2])
    assert sorted(r.index for r in load_attempts(tmp_path)) == sorted({0, 1, 2} - {torn})

    summary, requests, _ = calibrate(tmp_path, "scripted:give_up", 4, resume=True)
    indices = indices_in_file(tmp_path)  # every line parses again
    assert sorted(indices) == [0, 1, 2, 3] and summary["runs"] == 4
    assert len(requests) == 2 * 2  # only the torn attempt and the new one ran (give_up takes 2 calls)


def test_a_finished_run_is_not_overwritten_nor_resumed_with_another_model(tmp_path):
    calibrate(tmp_path, "scripted:give_up", 1)
    with pytest.raises(CalibrationError, match="--resume"):
        calibrate(tmp_path, "scripted:give_up", 1)
    with pytest.raises(CalibrationError, match="model"):
        calibrate(tmp_path, "scripted:fix_power", 2, resume=True)


def test_a_corrupt_line_before_the_last_is_an_error(tmp_path):
    lines = ['{"outcome": "passed", "index": 0}', "not json", '{"outcome": "passed", "index": 1}']
    (tmp_path / ATTEMPTS_FILE).write_text("\n".join(lines) + "\n")
    with pytest.raises(CalibrationError, match=":2 "):
        load_attempts(tmp_path)


def test_step_limit_applies_to_every_attempt(tmp_path):
    limits = replace(TASK.agent_limits, max_steps=2)
    summary, _, _ = calibrate(tmp_path, "scripted:ramble", 2, limits=limits)
    assert summary["outcomes"]["limit"] == 2 and summary["limits"] == {"steps": 2}
