"""Calibration throughput, per task (every registered task whose packages are installed, or --task NAME):
N attempts of the task's scripted calibration mix at concurrency N (1 to --max-concurrency, default 32)
while the offline server waits 0.5 s before each response, against the serial sum of that latency; and
the harness's own time per turn when the model answers at once (latency 0)."""

import asyncio
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from _common import machine, ms, offline_backend, parser, table

from task_lib.agent.backends import MIX_MODEL
from task_lib.agent.loop import TRANSCRIPT_FILE
from task_lib.agent.transcript import read_transcript
from task_lib.calibration.runs import attempt_dir, run_calibration
from task_lib.offline import calibration_mix
from task_lib.registry import DEFAULT_TASK_NAME, all_tasks, get_task, task_names
from task_lib.task import Task

TARGET_SPEEDUP = 3.0
LEVELS = (1, 2, 4, 8, 16, 32)


async def calibrate(task: Task, run_dir: Path, runs: int, concurrency: int,
                    latency: float) -> tuple[float, int]:
    """Wall seconds of one calibration run of `scripted:mix` on `task`, and the model calls it made."""
    async with offline_backend(task, latency=latency) as backend:
        start = time.perf_counter()
        summary = await run_calibration(backend, MIX_MODEL, run_dir, runs, concurrency=concurrency, task=task)
        wall = time.perf_counter() - start
    assert summary["outcomes"]["error"] == 0 and summary["runs"] == runs, summary
    return wall, backend.server.request_count


def scaling_row(task: Task, tmp: Path, concurrency: int, latency: float) -> list:
    wall, calls = asyncio.run(calibrate(task, tmp / f"c{concurrency}", concurrency, concurrency, latency))
    serial = calls * latency
    return [concurrency, calls, f"{serial:.1f} s", f"{wall:.2f} s", f"{serial / wall:.1f}x",
            f"{wall / concurrency:.2f} s"]


def turn_split(run_dir: Path, runs: int) -> dict[str, list[float]]:
    """Seconds spent per kind of step, from the transcripts' timestamps (1 ms resolution)."""
    spent = defaultdict(list)
    for index in range(runs):
        events = read_transcript(attempt_dir(run_dir, index) / TRANSCRIPT_FILE)
        for before, after in zip(events, events[1:], strict=False):
            if (before["kind"], after["kind"]) == ("request", "response"):
                spent["API round trip (SDK, HTTP, offline server)"].append(after["t"] - before["t"])
            elif (before["kind"], after["kind"]) == ("tool_call", "tool_result"):
                spent[f"tool: {before['name']}"].append(after["t"] - before["t"])
            elif after["kind"] == "grade":
                spent["grade (per attempt)"].append(after["t"] - before["t"])
    return spent


def report(task: Task, levels: tuple[int, ...], latency: float, overhead_runs: int, quick: bool) -> None:
    """Measure `task` and print its tables."""
    print(f"# Calibration throughput of {task.name} ({machine()}; offline server, {MIX_MODEL} = "
          f"{', '.join(calibration_mix(task))}; latency {latency:g} s)\n")
    with tempfile.TemporaryDirectory() as tmp:
        if not quick:  # the SDK's first request is slower
            asyncio.run(calibrate(task, Path(tmp) / "warm-up", 1, 1, 0.0))
        rows = [scaling_row(task, Path(tmp), concurrency, latency) for concurrency in levels]
        print(f"N attempts at concurrency N (speedup: serial model latency / wall; target at 8: "
              f">= {TARGET_SPEEDUP:g}x):\n")
        table(["attempts = concurrency", "model calls", "serial model latency", "wall", "speedup",
               "wall per attempt"], rows)
        run_dir = Path(tmp) / "overhead"
        wall, calls = asyncio.run(calibrate(task, run_dir, overhead_runs, 1, 0.0))
        spent = turn_split(run_dir, overhead_runs)
    print(f"Harness time with latency 0: {overhead_runs} attempts one at a time, {calls} model calls "
          f"(turns): {ms(wall / calls)} of wall per turn, {wall / overhead_runs:.2f} s per attempt.\n")
    rows = [[what, len(values), ms(statistics.median(values)), ms(sum(values) / calls)]
            for what, values in sorted(spent.items())]
    accounted = sum(sum(values) for values in spent.values())
    rows.append(["the rest (workspace, transcript, loop, run files)", "", "", ms((wall - accounted) / calls)])
    table(["where", "count", "median each", "per turn"], rows)


def main() -> None:
    arguments = parser(__doc__)
    arguments.add_argument("--task", choices=task_names(), help="only this task (default: every one)")
    arguments.add_argument("--max-concurrency", type=int, default=32, help="the largest N (32)")
    arguments.add_argument("--overhead-runs", type=int, default=20, help="attempts at latency 0 (20)")
    args = arguments.parse_args()
    latency = 0.01 if args.quick else 0.5
    levels = (1,) if args.quick else tuple(n for n in LEVELS if n <= args.max_concurrency)
    tasks = [get_task(args.task)] if args.task else all_tasks()
    for task in tasks:
        if args.quick and task.name != DEFAULT_TASK_NAME:
            continue  # the smoke run checks the script, on one task
        reason = task.missing_requirement()
        if reason:
            print(f"skipped: {reason}", file=sys.stderr)
            continue
        report(task, levels, latency, 1 if args.quick else args.overhead_runs, args.quick)


if __name__ == "__main__":
    main()
