"""Grading latency, per task: `python -m task_lib grade --task NAME` on the task's reference solution,
as a ratio to the import of the library the task is about (`python -c "import torch"` for a task
that requires torch, else `python -c "import numpy"`), measured in the same run (interleaved rounds,
median of the per-round ratios), as this environment runs it and with task_lib's bytecode cached,
against the task's target; where the time goes; and the peak memory of a grade."""

import importlib.util
import json
import os
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import PYTHON, REPO, machine, median, ms, parser, seconds, table

from task_lib.agent.workspace import write_reference_solution
from task_lib.registry import DEFAULT_TASK_NAME, all_tasks, get_task, task_names
from task_lib.task import Task

TARGET_RATIOS = {"variance-dropout": 3.5, "dropout-from-scratch": 3.5, "softmax-cross-entropy": 3.0}
ROUNDS, STAGE_RUNS = 20, 15
# The sandbox's end kills its process group before the child is reaped, so RUSAGE_CHILDREN never sees the
# child's peak: a thread reads the peak RSS (VmHWM) of every process descended from this one meanwhile.
MEMORY = """import contextlib, io, os, resource, sys, threading
from task_lib.cli import main

def descendants():
    parents = {}
    for entry in os.listdir("/proc"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            parents[int(entry)] = int(open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()[1])
    found, frontier = set(), {os.getpid()}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found

peak, done = [0], threading.Event()
def watch():
    while not done.wait(0.005):
        for pid in descendants():
            with contextlib.suppress(OSError, ValueError, IndexError):
                lines = open(f"/proc/{pid}/status").read().splitlines()
                peak[0] = max([peak[0]] + [int(l.split()[1]) for l in lines if l.startswith("VmHWM:")])
watcher = threading.Thread(target=watch)
watcher.start()
with contextlib.redirect_stdout(io.StringIO()):
    code = main(["grade", "--task", sys.argv[2], sys.argv[1]])
done.set()
watcher.join()
print(code, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, peak[0])
"""


def cached_bytecode_env(directory: Path) -> dict[str, str]:
    """This environment with Python's bytecode cache on (kept under `directory`), as after an install."""
    env = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}
    return {**env, "PYTHONPYCACHEPREFIX": str(directory)}


def fresh_bytecode(source: Path) -> bool:
    """True when `source` has a cached .pyc Python will use: its header holds the source's mtime and size."""
    try:
        header = Path(importlib.util.cache_from_source(str(source))).read_bytes()[:16]
    except OSError:
        return False
    info = source.stat()
    flags, mtime, size = struct.unpack("<III", header[4:16])
    return flags == 0 and mtime == int(info.st_mtime) & 0xFFFFFFFF and size == info.st_size & 0xFFFFFFFF


def bytecode_state() -> str:
    """How a grade in this environment gets task_lib's bytecode."""
    templates = ("files", "reference")  # written into workspaces, never imported
    sources = [path for path in (REPO / "task_lib").rglob("*.py") if path.parent.name not in templates]
    if all(fresh_bytecode(path) for path in sources):
        return "task_lib's bytecode compiled beforehand, as `make setup` does"
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        return "PYTHONDONTWRITEBYTECODE=1: task_lib compiled at every start"
    return "bytecode cache as configured"


def baseline_module(task: Task) -> str:
    """The library whose bare import a grade of `task` is compared with."""
    return "torch" if "torch" in task.requires else "numpy"


def interleaved(commands: dict[str, tuple[list[str], dict | None]], rounds: int) -> dict[str, list[float]]:
    """Seconds of each command in each round; the order flips every round, so that no command always
    runs on a warmer (or busier) machine than another."""
    times = {name: [] for name in commands}
    for i in range(rounds):
        for name in list(commands)[:: 1 if i % 2 else -1]:
            command, env = commands[name]
            times[name].append(seconds(command, env=env))
    return times


def stages(workspace: Path, task: Task, runs: int) -> dict[str, float]:
    script = str(Path(__file__).with_name("_grade_stages.py"))
    command = [PYTHON, script, str(workspace), task.name, baseline_module(task)]
    samples = [json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout)
               for _ in range(runs)]
    assert all(sample.pop("passed") for sample in samples), "the reference solution failed a grade"
    return {name: median([s[name] for s in samples]) for name in samples[0]}


def peak_memory(workspace: Path, task: Task) -> tuple[int, int]:
    """Peak RSS in KiB of the grading process and of the largest process of its sandbox (the child), from
    one `grade` command."""
    found = subprocess.run([PYTHON, "-c", MEMORY, str(workspace), task.name], capture_output=True,
                           text=True, check=True).stdout.split()
    assert found[0] == "0", "the reference solution failed a grade"
    return int(found[1]), int(found[2])


def verdict(ratio: float, target: float | None) -> str:
    if target is None:
        return "no target set"
    return f"<= {target}x: {'PASS' if ratio <= target else 'OVER'}"


def chosen_tasks(args) -> list[Task]:
    """The task --task names, or with --all every registered task whose packages are installed (the
    others are named on stderr)."""
    if not args.all:
        task = get_task(args.task)
        task.check_available()
        return [task]
    tasks = []
    for task in all_tasks():
        reason = task.missing_requirement()
        if reason:
            print(f"skipped: {reason}", file=sys.stderr)
        else:
            tasks.append(task)
    return tasks


def report(task: Task, rounds: int, stage_runs: int) -> None:
    """Measure `task` and print its tables."""
    target, module = TARGET_RATIOS.get(task.name), baseline_module(task)
    baseline = f'`python -c "import {module}"`'
    with tempfile.TemporaryDirectory() as tmp:
        workspace = write_reference_solution(Path(tmp) / "reference", task)
        grade = [PYTHON, "-m", "task_lib", "grade", "--task", task.name, str(workspace)]
        cached = cached_bytecode_env(Path(tmp) / "pycache")
        seconds(grade, env=cached)  # writes the bytecode cache
        times = interleaved({"grade": (grade, None), "grade, bytecode cached": (grade, cached),
                             module: ([PYTHON, "-c", f"import {module}"], None)}, rounds)
        parts = stages(workspace, task, stage_runs)
        bare = median([seconds([PYTHON, "-c", "pass"], cwd=REPO) for _ in range(stage_runs)])
        parent_kib, child_kib = peak_memory(workspace, task)
    ratios = {name: [t / n for t, n in zip(times[name], times[module], strict=True)]
              for name in ("grade", "grade, bytecode cached")}
    as_is = bytecode_state()
    print(f"# Grading latency of {task.name} ({machine()}; {rounds} interleaved rounds)\n")
    table(["what", "median", f"ratio to {module} (median of per-round ratios)", "min, max ratio", "target"], [
        [baseline, ms(median(times[module])), "1", "", ""],
        *[[f"`python -m task_lib grade --task {task.name} <reference>` ({label})", ms(median(times[name])),
           f"**{median(ratios[name]):.2f}x**", f"{min(ratios[name]):.2f}x, {max(ratios[name]):.2f}x",
           verdict(median(ratios[name]), target)]
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


def main() -> None:
    arguments = parser(__doc__)
    arguments.add_argument("--task", choices=task_names(), default=DEFAULT_TASK_NAME)
    arguments.add_argument("--all", action="store_true", help="every registered task that can run here")
    arguments.add_argument("--rounds", type=int, default=ROUNDS, help=f"rounds per task ({ROUNDS})")
    args = arguments.parse_args()
    rounds, stage_runs = (1, 1) if args.quick else (args.rounds, min(args.rounds, STAGE_RUNS))
    for task in chosen_tasks(args):
        report(task, rounds, stage_runs)


if __name__ == "__main__":
    main()
