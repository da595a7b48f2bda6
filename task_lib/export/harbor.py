"""One Harbor task folder per pack task: `export_harbor(out, task)` writes `out/<task name>/`.

The folder (Harbor's task format, task.toml schema 1.4):
- `instruction.md`: the task's prompt at the export's parameters;
- `environment/`: the starting workspace; the task uses a prebuilt image (`docker_image`, see
  `Dockerfile` beside this module) and Harbor uploads these files into its `workdir`, /workspace;
- `task.toml`: the task's name, version and parameters; no network for the agent's box or the
  verifier's; `[verifier] environment_mode = "separate"` with /workspace the only artifact, so the
  verifier runs in a fresh box of the same image that holds the agent's workspace and nothing else
  of the agent's box (its workdir is /verifier, so the starting files Harbor uploads there never mix
  with the artifact);
- `tests/test.sh`: grades the artifact with the pack's grader (`harbor_verifier`), writing
  `reward.json` and `grade.json` into /logs/verifier;
- `solution/solve.sh` and `solution/files/`: writes the reference solution into the workspace.
The scripts' paths are environment variables with Harbor's defaults (WORKSPACE_DIR=/workspace,
VERIFIER_DIR=/logs/verifier, PACK_PYTHON=python3), so a check can run them outside a container.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from task_lib import __version__
from task_lib.task import Task

WORKSPACE = "/workspace"
VERIFIER_WORKDIR = "/verifier"
DEFAULT_IMAGE = f"dropout-variance:{__version__}"
DOCKERFILE = Path(__file__).with_name("Dockerfile")
VERIFIER_SECONDS = 600.0  # the grade itself is bounded by the task's grade limits, well inside this

TEST_SH = """\
#!/bin/sh
# Grades the agent's workspace (the only artifact of the agent's box) with the pack's grader, in
# Harbor's separate verifier box: writes reward.json (numbers only) and grade.json (the verdict).
# `python -I` and `cd /`: nothing of the workspace is on any path, and the grader imports none of it.
# Paths, with Harbor's defaults (set them to run this outside a container):
#   WORKSPACE_DIR  the workspace to grade          (default {workspace})
#   VERIFIER_DIR   where the two files are written (default /logs/verifier)
#   PACK_PYTHON    a Python with the pack installed (default python3)
set -eu
cd /
exec "${{PACK_PYTHON:-python3}}" -I -m task_lib.export.harbor_verifier {arguments} \\
    "${{WORKSPACE_DIR:-{workspace}}}" "${{VERIFIER_DIR:-/logs/verifier}}"
"""

SOLVE_SH = """\
#!/bin/sh
# The reference solution of {task}: copies files/ beside this script into the workspace
# (WORKSPACE_DIR, default {workspace}).
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
{copies}
"""


class ExportError(ValueError):
    """The export cannot be written where asked: the message says what to change."""


def toml_value(value: Any) -> str:
    """`value` (a string, number, bool, or a list of them) as a TOML value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a TOML basic string
    return "[" + ", ".join(toml_value(item) for item in value) + "]"


def toml_document(top: Mapping[str, Any], tables: Mapping[str, Mapping[str, Any]]) -> str:
    """A TOML document: the `top` keys, then one `[name]` table per entry of `tables`."""
    lines = [f"{key} = {toml_value(value)}" for key, value in top.items()]
    for name, table in tables.items():
        lines += ["", f"[{name}]", *(f"{key} = {toml_value(value)}" for key, value in table.items())]
    return "\n".join(lines) + "\n"


def task_toml(task: Task, params: Mapping[str, float], image: str) -> str:
    """task.toml of `task` at `params`, run in `image`."""
    return toml_document(
        {"schema_version": "1.4", "artifacts": [WORKSPACE]},
        {
            "task": {"name": f"dropout-variance/{task.name}", "version": task.version,
                     "description": task.summary, "keywords": ["dropout-variance", "python", "rl"]},
            "metadata": {"pack_task": task.name, "pack_task_version": task.version,
                         "pack_version": __version__, "solution_files": list(task.solution_files),
                         "protected_files": list(task.protected_files),
                         "tools": "the agent's own (a shell in the agent's box); see docs/rl-training.md"},
            "metadata.params": dict(params),
            "agent": {"timeout_sec": float(task.agent_limits.attempt_seconds)},
            "environment": {"docker_image": image, "workdir": WORKSPACE, "network_mode": "no-network"},
            "verifier": {"environment_mode": "separate", "timeout_sec": VERIFIER_SECONDS,
                         "network_mode": "no-network"},
            "verifier.environment": {"workdir": VERIFIER_WORKDIR, "network_mode": "no-network"},
        },
    )


def test_script(task: Task, params: Mapping[str, float]) -> str:
    """tests/test.sh of `task` at `params`."""
    arguments = ["--task", task.name, "--task-version", task.version]
    for name, value in params.items():
        arguments += ["--param", f"{name}={value!r}"]
    return TEST_SH.format(arguments=shlex.join(arguments), workspace=WORKSPACE)


def solve_script(task: Task) -> str:
    """solution/solve.sh of `task`."""
    copies = "\n".join(f'cp "$here/files/{name}" "${{WORKSPACE_DIR:-{WORKSPACE}}}/{name}"'
                       for name in task.solution_files)
    return SOLVE_SH.format(task=task.name, workspace=WORKSPACE, copies=copies)


def export_harbor(out: Path, task: Task, params: Mapping[str, Any] | None = None,
                  image: str = DEFAULT_IMAGE) -> Path:
    """Write `task`'s Harbor folder at `params` (its defaults, overridden; ValueError for a wrong one)
    into `out/<task name>`, which must not exist yet or be empty (ExportError otherwise)."""
    resolved = task.resolve_params(params)
    folder = out / task.name
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise ExportError(f"{folder} already exists and is not empty: remove it or export elsewhere")
    files = {"instruction.md": task.prompt(resolved), "task.toml": task_toml(task, resolved, image),
             "tests/test.sh": test_script(task, resolved), "solution/solve.sh": solve_script(task)}
    files |= {f"environment/{name}": task.starting_text(name) for name in task.starting_files}
    files |= {f"solution/files/{name}": task.reference_text(name) for name in task.solution_files}
    for relative, text in files.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        if path.suffix == ".sh":
            path.chmod(0o755)
    return folder
