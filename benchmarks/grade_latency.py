"""Grading latency: `python -m task_lib grade` on a correct workspace, as a ratio to
`python -c "import numpy"` measured in the same run (interleaved rounds, median of the per-round
ratios), as this environment runs it and with task_lib's bytecode cached; where the time goes; and
the peak memory of a grade."""

import json
import os
import subprocess
import tempfile
from pathlib import Path

from _common import PYTHON, REPO, machine, median, ms, parser, seconds, table

from task_lib.workspace import write_reference_solution

TARGET_RATIO = 3.5
MEMORY = """import contextlib, io, resource, sys
from task_lib.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    code = main(["grade", sys.argv[1]])
usage = resource.getrusage
print(code, usage(resource.RUSAGE_SELF).ru_maxrss, usage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def cached_bytecode_env(directory: Path) -> dict[str, str]:
    """This environment with Python's bytecode cache on (kept under `directory`), as after an install."""
    env = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}
    return {**env, "PYTHONPYCACHEPREFIX": str(directory)}


def interleaved(commands: dict[str, tuple[list[str], dict | None]], rounds: int) -> dict[str, list[float]]:
    """Seconds of each command in each round; the order flips every round, so that no command always
    runs on a warmer (or busier) machine than another."""
    times = {name: [] for name in commands}
    for i in range(rounds):
        for name in list(commands)[:: 1 if i % 2 else -1]:
            command, env = commands[name]
            times[name].append(seconds(command, env=env))
    return times


def stages(workspace: Path, runs: int) -> dict[str, float]:
    script = str(Path(__file__).with_name("_grade_stages.py"))
    samples = [json.loads(subprocess.run([PYTHON, script, str(workspace)], capture_output=True, text=True,
                                         check=True).stdout) for _ in range(runs)]
    assert all(sample.pop("passed") for sample in samples), "the reference solution failed a grade"
    return {name: median([s[name] for s in samples]) for name in samples[0]}


def peak_memory(workspace: Path) -> tuple[int, int]:
    """Peak RSS in KiB of the grading process and of its sandboxed child, from one `grade` command."""
    found = subprocess.run([PYTHON, "-c", MEMORY, str(workspace)], capture_output=True, text=True,
                           check=True).stdout.split()
    assert found[0] == "0", "the reference solution failed a grade"
    return int(found[1]), int(found[2])


def main() -> None:
    args = parser(__doc__).parse_args()
    rounds, stage_runs = (1, 1) if args.quick else (40, 15)
    with tempfile.TemporaryDirectory() as tmp:
        workspace = write_reference_solution(Path(tmp) / "reference")
        grade = [PYTHON, "-m", "task_lib", "grade", str(workspace)]
        cached = cached_bytecode_env(Path(tmp) / "pycache")
        seconds(grade, env=cached)  # writes the bytecode cache
        times = interleaved({"grade": (grade, None), "grade, bytecode cached": (grade, cached),
                             "numpy": ([PYTHON, "-c", "import numpy"], None)}, rounds)
        parts = stages(workspace, stage_runs)
        bare = median([seconds([PYTHON, "-c", "pass"], cwd=REPO) for _ in range(stage_runs)])
        parent_kib, child_kib = peak_memory(workspace)
    ratios = {name: [t / n for t, n in zip(times[name], times["numpy"], strict=True)]
              for name in ("grade", "grade, bytecode cached")}
    as_is = "PYTHONDONTWRITEBYTECODE=1: task_lib compiled at every start" \
        if os.environ.get("PYTHONDONTWRITEBYTECODE") else "bytecode cache as configured"
    print(f"# Grading latency ({machine()}; {rounds} interleaved rounds)\n")
    table(["what", "median", "ratio to numpy (median of per-round ratios)", "min, max ratio"], [
        ['`python -c "import numpy"`', ms(median(times["numpy"])), "1", ""],
        *[[f"`python -m task_lib grade <reference>` ({label})", ms(median(times[name])),
           f"**{median(ratios[name]):.2f}x** (target <= {TARGET_RATIO}x)",
           f"{min(ratios[name]):.2f}x, {max(ratios[name]):.2f}x"]
          for name, label in (("grade", f"this environment: {as_is}"),
                              ("grade, bytecode cached", "task_lib bytecode cached, as after an install"))],
    ])
    print(f"Where the time of one grade goes (medians of {stage_runs} fresh processes), in the grading "
          "process, one stage after the other:\n")
    rows = [["interpreter start (`python -c pass`)", ms(bare)]]
    rows += [[name, ms(value)] for name, value in parts.items() if not name.startswith("child")]
    table(["stage", "time"], rows)
    print("and in the sandboxed child (from its start, during the stages above):\n")
    table(["child", "time"], [[name, ms(value)] for name, value in parts.items() if name.startswith("child")])
    print("Peak memory (max RSS) of one grade:\n")
    table(["process", "peak RSS"], [
        ["grading process (parent)", f"{parent_kib / 1024:.0f} MiB"],
        ["sandboxed child (candidate + probe)", f"{child_kib / 1024:.0f} MiB"],
        ["both (an upper bound on the command's total at any moment)",
         f"{(parent_kib + child_kib) / 1024:.0f} MiB"],
    ])


if __name__ == "__main__":
    main()
