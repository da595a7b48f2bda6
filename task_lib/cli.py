"""Command line: `python -m task_lib COMMAND`. Thin: every command calls task_lib functions.

Exit codes: 0 success (a passed grade), 1 a failed grade, 2 bad usage or unusable input.
Errors a user can cause print one line naming what to change; tracebacks are for our bugs.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class UsageError(Exception):
    """Bad arguments or unusable input: reported in one line, exit code 2."""


def tolerance_arg(text: str) -> float:
    """argparse type: a relative tolerance strictly between 0 and 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"tolerance must be a number, got {text!r}") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"tolerance must be between 0 and 1 (e.g. 0.1), got {text}")
    return value


def positive_int_arg(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number of at least 1, got {value}")
    return value


# ---- setup, grade, demo -------------------------------------------------------------------------


def cmd_setup(args: argparse.Namespace) -> int:
    from task_lib.workspace import create_workspace

    try:
        path = create_workspace(args.directory)
    except OSError as exc:
        raise UsageError(f"cannot create a workspace at {args.directory}: {exc.strerror or exc}") from None
    print(f"wrote the starting workspace to {path}")
    return EXIT_OK


def cmd_grade(args: argparse.Namespace) -> int:
    from task_lib.grade_tables import text_table
    from task_lib.grader import UnusableWorkspace, grade_workspace

    try:
        result = grade_workspace(args.directory, tolerance=args.tolerance, seed=args.seed)
    except UnusableWorkspace as exc:
        raise UsageError(str(exc)) from None
    print(json.dumps(result.to_dict()) if args.json else text_table(result))
    return EXIT_OK if result.passed else EXIT_FAILED


def cmd_demo(args: argparse.Namespace) -> int:
    from task_lib.demo import run_demo

    print(run_demo(seed=args.seed))
    return EXIT_OK


# ---- attempt, calibrate, regrade: the agent harness ----------------------------------------------

def choose_backend_and_model(backend: str | None, model: str | None) -> tuple[str, str]:
    """The backend (default: anthropic with ANTHROPIC_API_KEY set, else offline) and a model valid on it."""
    from task_lib.backends import DEFAULT_MODELS, BackendError, check_choice, default_backend_name

    backend = backend or default_backend_name()
    model = model or DEFAULT_MODELS.get(backend, "")
    try:
        check_choice(backend, model)
    except BackendError as exc:
        raise UsageError(str(exc)) from None
    return backend, model


def agent_limits(max_steps: int | None):
    """The task's default agent limits, with the step limit replaced when given."""
    from dataclasses import replace

    from task_lib.task import DEFAULT_TASK

    limits = DEFAULT_TASK.limits
    return limits if max_steps is None else replace(limits, max_steps=max_steps)


def usable_directory(path: Path) -> Path:
    """`path`, created if needed; UsageError when it cannot be (a file, no permission)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot use {path} as an output directory: {exc.strerror or exc}") from None
    return path


def cmd_attempt(args: argparse.Namespace) -> int:
    import time

    from task_lib.agent import run_attempt
    from task_lib.backends import open_backend
    from task_lib.grade_tables import text_table
    from task_lib.interrupts import exit_after_interrupt, run_async
    from task_lib.transcript import print_event

    backend_name, model = choose_backend_and_model(args.backend, args.model)
    out = usable_directory(args.out or Path("runs") / time.strftime("attempt-%Y%m%d-%H%M%S"))

    async def attempt():
        async with open_backend(backend_name) as backend:
            if not args.json:
                print(f"backend: {backend.name} ({backend.label})", flush=True)
            return await run_attempt(backend, model, out, limits=agent_limits(args.max_steps),
                                     tolerance=args.tolerance, on_event=None if args.json else print_event)

    try:
        record = run_async(attempt())
    except KeyboardInterrupt:
        print(f"\ninterrupted: the transcript so far is in {out}", file=sys.stderr, flush=True)
        return exit_after_interrupt()
    if args.json:
        print(json.dumps(record.to_dict()))
    else:
        print(text_table(record.grade))
        cost = "n/a" if record.cost_usd is None else f"${record.cost_usd:.4f}"
        print(f"outcome: {record.describe()}; {sum(record.usage.values()):,} tokens, cost {cost} "
              f"({record.price_note}); {record.wall_seconds:.1f} s")
        print(f"backend: {record.backend} ({record.label}); transcript and final workspace in {out}")
    if record.fatal:
        print(f"error: {record.error}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK if record.outcome == "passed" else EXIT_FAILED


def calibration_reporter(header: str, stream, bar: bool):
    """A progress callback: `header` (and the attempts already done) first, then, when `bar`, one
    self-overwriting progress line on `stream`."""
    from task_lib.calibration import format_progress

    started = False

    def report(progress) -> None:
        nonlocal started
        if not started:
            started = True
            resumed = f" ({progress.done} already done)" if progress.done else ""
            stream.write(f"{header}{resumed}\n")
        if bar:
            stream.write("\r" + format_progress(progress, width=24))
            stream.write("\n" if progress.done >= progress.total else "")
        stream.flush()

    return report


def cmd_calibrate(args: argparse.Namespace) -> int:
    from task_lib.backends import open_backend
    from task_lib.calibration import (
        RUN_FILE,
        CalibrationError,
        format_summary,
        load_attempts,
        load_config,
        run_calibration,
    )
    from task_lib.interrupts import exit_after_interrupt, run_async
    from task_lib.task import DEFAULT_TASK, AgentLimits

    try:
        saved = load_config(args.out) if args.resume and (args.out / RUN_FILE).is_file() else None
    except CalibrationError as exc:
        raise UsageError(str(exc)) from None
    backend_name, model = choose_backend_and_model(args.backend or (saved and saved.backend),
                                                   args.model or (saved and saved.model))
    runs = args.runs or (saved and saved.runs)
    if not runs:
        raise UsageError("--runs is required: the number of attempts, e.g. --runs 20")
    tolerance = args.tolerance or (saved.tolerance if saved else DEFAULT_TASK.tolerance)
    limits = agent_limits(args.max_steps)
    if saved and args.max_steps is None:
        limits = AgentLimits(**saved.limits)  # a resumed run keeps the limits it started with
    usable_directory(args.out)
    resume_command = f"python -m task_lib calibrate --out {args.out} --runs {runs} --resume"

    async def calibrate():
        async with open_backend(backend_name) as backend:
            header = (f"calibrating: {runs} attempts of {model} on {backend.name} ({backend.label}), "
                      f"{args.concurrency} at a time, into {args.out}")
            return await run_calibration(
                backend, model, args.out, runs, concurrency=args.concurrency, tolerance=tolerance,
                limits=limits, resume=args.resume,
                on_progress=calibration_reporter(header, sys.stderr, bar=sys.stderr.isatty()),
            )

    try:
        summary = run_async(calibrate())
    except CalibrationError as exc:
        raise UsageError(str(exc)) from None
    except KeyboardInterrupt:
        finished = len([r for r in load_attempts(args.out) if r.index < runs])
        print(f"\ninterrupted: {finished} of {runs} attempts are finished and saved in {args.out}; "
              f"complete the run with: {resume_command}", file=sys.stderr, flush=True)
        return exit_after_interrupt()
    print(json.dumps(summary) if args.json else format_summary(summary))
    if summary["stopped"]:
        print(f"error: the run stopped early: {summary['stopped']}. Fix it, then: {resume_command}",
              file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK


def cmd_regrade(args: argparse.Namespace) -> int:
    from task_lib.calibration import CalibrationError, format_summary, regrade_run
    from task_lib.interrupts import run_async

    if not args.run_dir.is_dir():
        raise UsageError(f"no run directory at {args.run_dir}")
    try:
        summary = run_async(regrade_run(args.run_dir, args.tolerance))
    except CalibrationError as exc:
        raise UsageError(str(exc)) from None
    print(json.dumps(summary) if args.json else format_summary(summary))
    return EXIT_OK


def add_agent_commands(commands) -> None:
    """The attempt, calibrate and regrade subcommands."""
    backend_help = "anthropic or offline (default: anthropic when ANTHROPIC_API_KEY is set, else offline)"
    model_help = "model id (anthropic: claude-haiku-4-5 …; offline: scripted:mix or scripted:<policy>)"

    attempt = commands.add_parser("attempt", help="run the agent once, printing the transcript as it goes")
    attempt.add_argument("--backend", help=backend_help)
    attempt.add_argument("--model", help=model_help)
    attempt.add_argument("--out", type=Path, help="directory for the transcript and final workspace")
    attempt.add_argument("--tolerance", type=tolerance_arg, default=None, help="grading tolerance")
    attempt.add_argument("--max-steps", type=positive_int_arg, default=None, help="model calls allowed")
    attempt.add_argument("--json", action="store_true", help="print only the attempt record as JSON")
    attempt.set_defaults(handler=cmd_attempt)

    calibrate = commands.add_parser("calibrate", help="run N attempts concurrently and summarise them")
    calibrate.add_argument("--runs", type=positive_int_arg, default=None, help="number of attempts")
    calibrate.add_argument("--concurrency", type=positive_int_arg, default=4, help="attempts at a time")
    calibrate.add_argument("--backend", help=backend_help)
    calibrate.add_argument("--model", help=model_help)
    calibrate.add_argument("--out", type=Path, required=True, help="run directory")
    calibrate.add_argument("--tolerance", type=tolerance_arg, default=None, help="grading tolerance")
    calibrate.add_argument("--max-steps", type=positive_int_arg, default=None, help="model calls allowed")
    calibrate.add_argument("--resume", action="store_true", help="complete the run in --out to --runs")
    calibrate.add_argument("--json", action="store_true", help="print one JSON summary object")
    calibrate.set_defaults(handler=cmd_calibrate)

    regrade = commands.add_parser("regrade", help="re-grade a saved run at a tolerance (no model calls)")
    regrade.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    regrade.add_argument("--tolerance", type=tolerance_arg, required=True, help="grading tolerance")
    regrade.add_argument("--json", action="store_true", help="print one JSON summary object")
    regrade.set_defaults(handler=cmd_regrade)


# ---- notebooks: run them headlessly -------------------------------------------------------------

NOTEBOOKS_HELP = """\
Run the course notebooks (NN_*.ipynb) headlessly, in order, each from a fresh kernel in its own
directory, and print how long each took. By default each executed notebook replaces its source
(this is how the committed notebooks are made); --output-dir writes them elsewhere instead.

-p NAME=VALUE overrides a parameter of the notebooks' cell tagged `parameters` (papermill style: a
cell tagged `injected-parameters` is added after it). It applies to every selected notebook whose
parameters cell defines NAME, and the others skip it; a NAME no selected notebook defines is an
error. VALUE is read as a Python literal when it is one (-p RUNS=10, -p TOLERANCE=0.2,
-p 'P_VALUES=(0.3, 0.9)', -p 'BACKEND="offline"'), else as a string (-p BACKEND=offline). An
override equal to the notebook's own default is left out, so it adds no cell.

Exit codes: 0 every notebook ran; 1 a cell failed (the executed notebook, error included, is
written where it would have gone, and later notebooks are not run); 2 bad usage.
"""


def select_notebooks(notebooks: list[Path], names: Sequence[str] | None) -> list[Path]:
    """The notebooks `names` pick (file name, stem, or number prefix such as 02), in reading order."""
    if not names:
        return notebooks

    def picks(name: str, path: Path) -> bool:
        return name in (path.name, path.stem) or path.stem.split("_", 1)[0] == name

    unknown = [name for name in names if not any(picks(name, path) for path in notebooks)]
    if unknown:
        raise UsageError(f"no notebook {', '.join(map(repr, unknown))}: choose from "
                         + ", ".join(path.stem for path in notebooks))
    return [path for path in notebooks if any(picks(name, path) for name in names)]


def notebook_overrides(path: Path, overrides: dict) -> tuple[dict, set[str]]:
    """The overrides that apply to the notebook at `path` (those it defines, unless equal to its
    default), and every parameter name it defines."""
    import nbformat

    from task_lib.notebook_runner import parameter_defaults, parameters_cell_index

    nb = nbformat.read(path, as_version=4)
    try:
        defaults = parameter_defaults(nb.cells[parameters_cell_index(nb, path)].source)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    applied = {name: value for name, value in overrides.items()
               if name in defaults and not (type(value) is type(defaults[name]) and value == defaults[name])}
    return applied, set(defaults)


def cmd_notebooks(args: argparse.Namespace) -> int:
    import time

    from nbclient.exceptions import CellExecutionError

    from task_lib.notebook_runner import find_notebooks, parse_parameter_overrides, run_notebook

    notebooks = find_notebooks(args.notebooks_dir)
    if not notebooks:
        raise UsageError(f"no notebooks (NN_*.ipynb) in {args.notebooks_dir}: run from the repository "
                         "root or pass --notebooks-dir")
    selected = select_notebooks(notebooks, args.only)
    try:
        overrides = parse_parameter_overrides(args.parameter)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    plans, defined = [], set()
    for path in selected:
        applied, names = notebook_overrides(path, overrides)
        plans.append((path, applied))
        defined |= names
    if unknown := sorted(set(overrides) - defined):
        raise UsageError(f"no selected notebook has the parameter {', '.join(unknown)}: "
                         f"they define {', '.join(sorted(defined))}")
    output_dir = usable_directory(args.output_dir) if args.output_dir else None
    for path, applied in plans:
        target = output_dir / path.name if output_dir else path
        shown = ", ".join(f"{name}={value!r}" for name, value in applied.items())
        print(f"{path.name}" + (f" ({shown})" if shown else "") + " ...", flush=True)
        started = time.monotonic()
        try:
            run_notebook(path, applied, output_path=target, timeout=args.timeout)
        except CellExecutionError as exc:
            error = str(exc).strip().splitlines()
            print(f"error: {path.name} failed after {time.monotonic() - started:.1f} s: "
                  f"{error[-1] if error else exc}; the executed notebook is in {target}", file=sys.stderr)
            return EXIT_FAILED
        print(f"{path.name}: {time.monotonic() - started:.1f} s -> {target}", flush=True)
        if applied and output_dir is None:
            print(f"  note: {path.name} now holds an injected-parameters cell; run it again without -p "
                  "before committing it", flush=True)
    return EXIT_OK


def add_notebooks_command(commands) -> None:
    """The notebooks subcommand."""
    notebooks = commands.add_parser(
        "notebooks", help="run the notebooks headlessly, in order (in place by default)",
        description=NOTEBOOKS_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    notebooks.add_argument("--only", nargs="+", metavar="NAME",
                           help="run only these notebooks (file name, stem or number, e.g. 02)")
    notebooks.add_argument("-p", "--parameter", action="append", default=[], metavar="NAME=VALUE",
                           help="override a parameter in every notebook that defines it (repeatable)")
    notebooks.add_argument("--output-dir", type=Path, default=None,
                           help="write the executed notebooks here instead of in place")
    notebooks.add_argument("--notebooks-dir", type=Path, default=Path("notebooks"),
                           help="where the notebooks are (default: notebooks)")
    notebooks.add_argument("--timeout", type=positive_int_arg, default=1800,
                           help="seconds one cell may run (default: 1800)")
    notebooks.set_defaults(handler=cmd_notebooks)


# ---- the parser ---------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m task_lib", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    setup = commands.add_parser("setup", help="write the starting workspace into DIR")
    setup.add_argument("directory", type=Path, metavar="DIR")
    setup.set_defaults(handler=cmd_setup)

    grade = commands.add_parser("grade", help="grade the dropout.py in DIR (exit 0 pass, 1 fail, 2 unusable)")
    grade.add_argument("directory", type=Path, metavar="DIR")
    grade.add_argument("--tolerance", type=tolerance_arg, default=0.10, help="relative variance tolerance")
    grade.add_argument("--seed", type=int, default=None, help="fix the random inputs (default: fresh)")
    grade.add_argument("--json", action="store_true", help="print one JSON object")
    grade.set_defaults(handler=cmd_grade)

    demo = commands.add_parser("demo", help="grade the buggy file and the reference fix, side by side")
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(handler=cmd_demo)

    add_agent_commands(commands)
    add_notebooks_command(commands)
    from task_lib.doctor import add_doctor_command

    add_doctor_command(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
