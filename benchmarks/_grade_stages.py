"""One grade of WORKSPACE by TASK (default variance-dropout), stage by stage, in a fresh process:
`_grade_stages.py WORKSPACE [TASK [MODULE]]` (run by grade_latency.py).

Does what `grade_workspace` does (`run_probe` in its two steps, the checks at the checkpoint), timing
each step, and prints one JSON
object of seconds; then the sandboxed start of a child that only imports MODULE (default numpy), to
split the child's time.
"""

import json
import sys
import time
from pathlib import Path

start = time.perf_counter()
import task_lib.cli  # noqa: E402, F401
from task_lib.grading import grader  # noqa: E402
from task_lib.registry import get_task  # noqa: E402
from task_lib.sandbox.run import run_python  # noqa: E402

imported = time.perf_counter()
task = get_task(sys.argv[2] if len(sys.argv) > 2 else None)
params = task.resolve_params()
workspace = Path(sys.argv[1])
sources = grader.read_solution(task, workspace)
with grader.started_probe(task, task.grade_limits, grader.probe_files(task, sources)) as probe:
    spawned = time.perf_counter()
    import numpy as np

    task_checks = task.module("checks")
    numpy_imported = time.perf_counter()
    inputs, plan = task_checks.make_job(params, np.random.default_rng())
    drawn = time.perf_counter()
    marks = {}

    def prepare():
        if hasattr(task_checks, "prepare"):
            task_checks.prepare(params, inputs, plan)
        marks["prepared"] = time.perf_counter()

    def early(report, outputs):
        marks["checkpoint"] = time.perf_counter()
        found = task_checks.run_checks(params, inputs, plan, report, outputs)
        marks["checked"] = time.perf_counter()
        return found

    result, stream, key, at_checkpoint, checks = grader.finish_probe(probe, inputs, plan, prepare=prepare,
                                                                      early=early)
    child_ended = time.perf_counter()
    run = grader.read_results(result, stream, key, complete=probe.results.complete)
    probed = time.perf_counter()
checked = time.perf_counter()
module = sys.argv[3] if len(sys.argv) > 3 else "numpy"
bare_child = run_python(["-c", f"import {module}"], cwd=workspace, limits=task.grade_limits,
                        keep_changes=False)
print(json.dumps({
    "passed": checks is not None and all(check.passed for check in checks),
    "task_lib imports (no numpy)": imported - start,
    "start the child": spawned - imported,
    "numpy + the task's checks imports (while the child starts)": numpy_imported - spawned,
    "draw inputs (while the child starts)": drawn - numpy_imported,
    "send the inputs, prepare the checks (while the child runs)": marks["prepared"] - drawn,
    "wait for the child's checkpoint": marks.get("checkpoint", child_ended) - marks["prepared"],
    "checks (statistics, while the child re-checks and ends)": marks.get("checked", child_ended)
    - marks.get("checkpoint", child_ended),
    "wait for the child's end": child_ended - marks.get("checked", child_ended),
    "read the results channel": probed - child_ended,
    "child process, start to end": run.sandbox.seconds,
    f"child: start + {module} import alone": bare_child.seconds,
}))
