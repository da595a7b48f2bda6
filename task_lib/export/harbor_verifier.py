"""The verifier side of a Harbor export: grade the workspace artifact with the pack's grader and write
Harbor's reward file beside the whole verdict. The export's `tests/test.sh` runs it as

    python -I -m task_lib.export.harbor_verifier --task NAME --task-version V [--param N=V] WORKSPACE OUT

Contract: for anything WORKSPACE holds (an unusable one included: category `unusable_workspace`) it
writes OUT/reward.json, numbers only: `reward` (1 passed, 0 failed) and `failure_<category>` (1 for
the failure's category, 0 for every other category the task has); and OUT/grade.json, the grader's
verdict (`failure` names the category), then exits 0. Only the task's solution and protected files
are read from WORKSPACE and nothing of it is imported (`grade_workspace`). It writes no reward and
exits 2 when the installed pack lacks the task at version V or its parameters (the image and the
export disagree), 3 when the grader itself fails (a harness bug is no verdict).
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from pathlib import Path
from typing import Any

from task_lib.export.verdicts import grade_artifact, reward_values
from task_lib.task import Task

EXIT_OK, EXIT_MISMATCH, EXIT_GRADER_BUG = 0, 2, 3


def write_verdict(task: Task, verdict: dict[str, Any], out: Path) -> None:
    """OUT/grade.json, then OUT/reward.json (Harbor reads the reward once the script ends)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "grade.json").write_text(json.dumps(verdict, indent=1) + "\n", encoding="utf-8")
    (out / "reward.json").write_text(json.dumps(reward_values(task, verdict)) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    from task_lib.cli import param_arg
    from task_lib.registry import UnknownTask, get_task

    parser = argparse.ArgumentParser(prog="python -m task_lib.export.harbor_verifier",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--task", required=True)
    parser.add_argument("--task-version", required=True, help="the version the export was made from")
    parser.add_argument("--param", type=param_arg, action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("workspace", type=Path)
    parser.add_argument("out", type=Path)
    args = parser.parse_args(argv)
    try:
        task = get_task(args.task)
    except UnknownTask as exc:
        print(f"error: {exc}: this image's pack does not match the export", file=sys.stderr)
        return EXIT_MISMATCH
    if task.version != args.task_version:
        print(f"error: the export is of {task.name} version {args.task_version} but this image's pack "
              f"holds version {task.version}: rebuild the image or re-export", file=sys.stderr)
        return EXIT_MISMATCH
    try:
        params = task.resolve_params(dict(args.param))
    except ValueError as exc:
        print(f"error: {exc}: this image's pack does not match the export", file=sys.stderr)
        return EXIT_MISMATCH
    try:
        verdict = grade_artifact(task, args.workspace, params)
    except Exception:  # our bug, whatever the workspace holds: no reward rather than a false one
        traceback.print_exc()
        print("error: the grader itself failed (a harness bug, not a verdict); no reward written",
              file=sys.stderr)
        return EXIT_GRADER_BUG
    write_verdict(task, verdict, args.out)
    print(f"{task.name}: {'passed' if verdict['passed'] else 'failed ' + verdict['failure']}: "
          f"{verdict['message']}")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
