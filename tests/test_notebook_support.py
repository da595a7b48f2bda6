"""What the notebooks lean on in task_lib: grade tables, Markdown transcript events, seeded grades in
attempts and calibrations, loading a complete saved run, the progress line, and the figures."""

import asyncio

import pytest
from tasks.variance_dropout.solutions import BASE, BUG
from tasks.variance_dropout.task_files import TASK

from task_lib.agent.backends import open_backend
from task_lib.agent.loop import run_attempt
from task_lib.agent.transcript import fenced, markdown_event, read_transcript
from task_lib.calibration import run_plots
from task_lib.calibration.runs import Progress, format_progress, load_attempts, run_calibration, saved_summary
from task_lib.grading.grade_tables import checks_table, comparison_table, format_value
from task_lib.tasks.variance_dropout import plots
from task_lib.tasks.variance_dropout.tolerance import pass_rate_curve, tolerance_curves

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
OFFLINE_LABEL = "offline, scripted policies: not a model"


@pytest.fixture(scope="module")
def seeded_run(tmp_path_factory):
    """A 3-attempt offline calibration of scripted:mix with grade seed 40, and one attempt run alone."""
    root = tmp_path_factory.mktemp("seeded")

    async def run():
        async with open_backend("offline") as backend:
            summary = await run_calibration(backend, "scripted:mix", root / "run", 3, concurrency=3,
                                            grade_seed=40)
            attempt = await run_attempt(backend, "scripted:fix_np_sqrt_naive", root / "attempt", grade_seed=5)
            return summary, attempt

    summary, attempt = asyncio.run(run())
    return summary, attempt, root


# ---- grade tables ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def two_grades(grade_many):
    return grade_many({"fix": {"dropout.py": BASE}, "bug": {"dropout.py": BUG}}, seed=3)


def test_checks_table_has_a_row_per_check_and_the_verdict(two_grades):
    table = checks_table(two_grades["bug"].to_dict())
    rows = [line for line in table.splitlines() if line.startswith("| ✓") or line.startswith("| ✗")]
    assert len(rows) == len(two_grades["bug"].checks)
    assert "| ✗ | `variance_ratio` | 0.3 |" in table and table.endswith(two_grades["bug"].message)
    assert "**FAILED**" in table and checks_table(two_grades["fix"]).count("✗") == 0


def test_comparison_table_puts_grades_side_by_side_with_rounded_ratios(two_grades):
    table = comparison_table({"the fix": two_grades["fix"], "the bug": two_grades["bug"]})
    lines = table.splitlines()
    assert lines[0] == "| check | p | required | the fix | the bug |"
    ratio_row = next(line for line in lines if line.startswith("| `variance_ratio` | 0.5 |"))
    fix_cell, bug_cell = ratio_row.split("|")[-3:-1]
    fix_mark, fix_ratio = fix_cell.split()
    bug_mark, bug_ratio = bug_cell.split()
    assert fix_mark == "✓" and abs(float(fix_ratio) - 1) < 0.02 and len(fix_ratio) == 4  # 2 decimals
    assert bug_mark == "✗" and abs(float(bug_ratio) - 2) < 0.02 and len(bug_ratio) == 4
    assert lines[-1] == "| **verdict** | | | **passed** | **failed** |"


def test_table_cells_escape_pipes_and_are_cut():
    assert format_value("a|b") == "a\\|b"
    assert format_value("x" * 100, chars=10) == "x" * 9 + "…"
    assert format_value([0.123456789, 1.0]) == "[0.123457, 1]"


# ---- transcript events as Markdown -------------------------------------------------------------


def test_markdown_events_render_turns_calls_and_results(seeded_run):
    _, attempt, root = seeded_run
    events = read_transcript(root / "attempt" / "transcript.jsonl")
    rendered = [markdown_event(event) for event in events]
    text = "\n".join(r for r in rendered if r)
    assert OFFLINE_LABEL in text and "> I'll start by reading dropout.py." in text
    assert "→ tool call `write_file` `path=dropout.py`" in text
    assert "```python\n" in text and "return x * keep / np.sqrt(1.0 - self.p)" in text
    assert "← result" in text and "5 passed, 0 failed" in text
    assert rendered[[e["kind"] for e in events].index("request")] is None
    assert text.rstrip().endswith(attempt.describe())


def test_fences_are_longer_than_any_backtick_run_inside():
    assert fenced("a ``` b", "python") == "````python\na ``` b\n````"
    assert fenced("plain") == "```\nplain\n```"


def test_model_text_and_tool_arguments_cannot_inject_markup():
    response = {"kind": "response", "step": 1, "stop_reason": "tool_use", "usage": {"output_tokens": 3},
                "content": [{"type": "text", "text": "<script>alert(1)</script>"}]}
    call = {"kind": "tool_call", "step": 1, "name": "read_file", "input": {"path": "a`b.py"}}
    assert "<script>" not in markdown_event(response) and "&lt;script&gt;" in markdown_event(response)
    assert markdown_event(call).endswith("`` path=a`b.py ``")


# ---- seeded grades, saved runs, progress ----------------------------------------------------------


def test_grade_seed_fixes_the_grader_inputs_of_each_attempt(seeded_run):
    _, attempt, root = seeded_run
    assert attempt.grade["seed"] == 5
    assert [r.grade["seed"] for r in load_attempts(root / "run")] == [40, 41, 42]


TOLERANCE = {"tolerance": 0.1}


def test_saved_summary_loads_only_a_complete_run_of_the_same_config(seeded_run):
    summary, _, root = seeded_run
    run_dir = root / "run"
    assert saved_summary(run_dir, "offline", "scripted:mix", 3, TASK, TOLERANCE) == summary
    first_two = saved_summary(run_dir, "offline", "scripted:mix", 2, TASK, TOLERANCE)
    assert first_two["runs"] == first_two["requested"] == 2
    assert saved_summary(run_dir, "offline", "scripted:mix", 4, TASK, TOLERANCE) is None  # unfinished
    assert saved_summary(run_dir, "offline", "scripted:fix_power", 3, TASK, TOLERANCE) is None
    assert saved_summary(run_dir, "offline", "scripted:mix", 3, TASK, {"tolerance": 0.2}) is None
    assert saved_summary(root / "nothing", "offline", "scripted:mix", 3, TASK, TOLERANCE) is None


def test_progress_line_shows_a_bar_the_count_and_the_outcomes():
    line = format_progress(Progress(5, 20, {"passed": 2, "failed": 3, "limit": 0, "error": 0}), width=8)
    assert line == "[##......] 5/20  passed 2  failed 3  limit 0  error 0"
    assert format_progress(Progress(0, 0, {}), width=4) == "[....] 0/0  "


# ---- figures -----------------------------------------------------------------------------------


def test_new_figures_are_written_with_stable_bytes_and_say_where_their_data_came_from(seeded_run, tmp_path):
    import matplotlib.pyplot as plt

    summary, _, root = seeded_run
    records = load_attempts(root / "run")
    source = f"{summary['model']} · {summary['label']}"
    figures = {
        "tolerance_tradeoff": plots.plot_tolerance_tradeoff(tolerance_curves([0.05, 0.1, 0.2]), 0.1,
                                                            (0.3, 0.5, 0.7), 1e-9),
        "calibration_pass_rate": run_plots.plot_pass_rate_in_band(1, 3, (0.06, 0.79), (0.1, 0.4),
                                                              "undetermined", source),
        "calibration_outcomes": run_plots.plot_outcomes(summary["outcomes"], summary["failures"], source),
        "pass_rate_vs_tolerance": plots.plot_pass_rate_vs_tolerance(
            pass_rate_curve(records, [0.05, 0.1, 0.2]), 0.1, (0.1, 0.4), source, regraded=(0.2, 1, 3)),
    }
    for name, fig in figures.items():
        if name != "tolerance_tradeoff":
            assert any(OFFLINE_LABEL in text.get_text() for text in fig.findobj(plt.Text)), name
        first = run_plots.save_figure(fig, name, tmp_path / "a").read_bytes()
        second = run_plots.save_figure(fig, name, tmp_path / "b").read_bytes()
        plt.close(fig)
        assert first.startswith(PNG_SIGNATURE) and first == second and b"Software" not in first
