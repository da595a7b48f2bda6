"""Command line: `python -m task_lib COMMAND`. Thin: every command calls task_lib functions.

Exit codes: 0 success (a passed grade), 1 a failed grade, 2 bad usage or unusable input, 3 the grader
itself failed (a harness bug: never reported as a verdict).
Errors a user can cause print one line naming what to change; tracebacks are for our bugs.
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from task_lib.sandbox.run import SandboxError

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_GRADER_BUG, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


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


def param_arg(text: str) -> tuple[str, str]:
    """argparse type: NAME=VALUE (checked against the task once the task is known)."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE (e.g. tolerance=0.2), got {text!r}")
    return name.strip(), value.strip()


def chosen_task(args: argparse.Namespace):
    """The task `--task` names (default variance-dropout); UsageError listing the registered ones."""
    from task_lib.registry import UnknownTask, get_task

    try:
        return get_task(args.task)
    except UnknownTask as exc:
        raise UsageError(str(exc)) from None


def param_overrides(args: argparse.Namespace) -> dict[str, str | float]:
    """The task parameters the command line sets, unchecked: every --param, then --tolerance."""
    overrides: dict[str, str | float] = dict(getattr(args, "param", None) or [])
    if getattr(args, "tolerance", None) is not None:
        overrides["tolerance"] = args.tolerance
    return overrides


def chosen_params(args: argparse.Namespace, task, base: dict | None = None) -> dict[str, float]:
    """`task`'s parameters: `base` (default: the task's defaults), then every --param, then
    --tolerance; UsageError for an unknown name or a bad value."""
    if getattr(args, "tolerance", None) is not None and "tolerance" not in {p.name for p in task.params}:
        raise UsageError(f"task {task.name} has no tolerance: see `python -m task_lib tasks`")
    overrides = {**(base or {}), **param_overrides(args)}
    try:
        return task.resolve_params(overrides)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def available_task(args: argparse.Namespace):
    """`chosen_task`, refused in one line when a package it needs is not installed."""
    task = chosen_task(args)
    reason = task.missing_requirement()
    if reason:
        raise UsageError(reason)
    return task


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


def cmd_tasks(args: argparse.Namespace) -> int:
    from task_lib.registry import all_tasks

    described = [task.describe() for task in all_tasks()]
    if args.json:
        print(json.dumps(described))
        return EXIT_OK
    for task in described:
        graded = ", ".join(task["solution_files"])
        print(f"{task['name']}  (version {task['version']}; graded: {graded})\n  {task['summary']}")
        if task["params"]:
            print("  parameters: " + ", ".join(f"{k}={v:g}" for k, v in task["params"].items()))
        if not task["available"]:
            print(f"  unavailable: {task['unavailable_reason']}")
    return EXIT_OK


def cmd_setup(args: argparse.Namespace) -> int:
    from task_lib.agent.workspace import create_workspace

    task = chosen_task(args)
    try:
        path = create_workspace(args.directory, task)
    except OSError as exc:
        raise UsageError(f"cannot create a workspace at {args.directory}: {exc.strerror or exc}") from None
    print(f"wrote the starting workspace of {task.name} to {path}")
    return EXIT_OK


def cmd_grade(args: argparse.Namespace) -> int:
    from task_lib.grading.grade_tables import text_table
    from task_lib.grading.grader import UnusableWorkspace, grade_workspace

    task = available_task(args)
    params = chosen_params(args, task)
    try:
        result = grade_workspace(args.directory, task, params, seed=args.seed)
    except UnusableWorkspace as exc:
        raise UsageError(str(exc)) from None
    except SandboxError:
        raise
    except Exception:  # our bug, whatever the candidate did: never an exit code that reads as a verdict
        traceback.print_exc()
        print("error: the grader itself failed (a harness bug, not a verdict on the solution); "
              "please report the traceback above", file=sys.stderr)
        return EXIT_GRADER_BUG
    print(json.dumps(result.to_dict()) if args.json else text_table(result))
    return EXIT_OK if result.passed else EXIT_FAILED


def cmd_demo(args: argparse.Namespace) -> int:
    from task_lib.demo import run_demo

    print(run_demo(available_task(args), seed=args.seed))
    return EXIT_OK


# ---- attempt, calibrate, regrade: the agent harness ----------------------------------------------

def choose_backend_and_model(backend: str | None, model: str | None, task=None) -> tuple[str, str]:
    """The backend (default: anthropic with ANTHROPIC_API_KEY set, else offline) and a model valid on
    it for `task`."""
    from task_lib.agent.backends import DEFAULT_MODELS, BackendError, check_choice, default_backend_name

    backend = backend or default_backend_name()
    model = model or DEFAULT_MODELS.get(backend, "")
    try:
        check_choice(backend, model, task)
    except BackendError as exc:
        raise UsageError(str(exc)) from None
    return backend, model


def require_confinement(backend_name: str, allow_unconfined: bool) -> str:
    """The confinement in force, checked before a run with a real model: UsageError (exit 2, before any
    API request) when it is weaker than the bubblewrap sandbox and `--allow-unconfined` was not given.
    Scripted offline runs may run unconfined; their output says so."""
    from task_lib.sandbox.run import isolation

    confinement = isolation()
    if confinement.mechanism == "bubblewrap" or backend_name != "anthropic" or allow_unconfined:
        return confinement.mechanism
    raise UsageError(f"refusing to run a real model's code with confinement '{confinement.mechanism}' "
                     f"({confinement.weaker_because}): install bubblewrap (Debian: apt-get install "
                     "bubblewrap), or run the task on Inspect AI with its docker sandbox; "
                     "--allow-unconfined runs it anyway, and its records say so")


def confinement_line(mechanism: str) -> str:
    """One line naming the confinement a run's sandboxed code had."""
    if mechanism == "bubblewrap":
        return "confinement: bubblewrap"
    return f"confinement: {mechanism} -- UNCONFINED: the model's code could reach this machine (see `doctor`)"


def agent_limits(task, max_steps: int | None):
    """The task's default agent limits, with the step limit replaced when given."""
    from dataclasses import replace

    limits = task.agent_limits
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

    from task_lib.agent.backends import open_backend
    from task_lib.agent.interrupts import exit_after_interrupt, run_async
    from task_lib.agent.loop import run_attempt
    from task_lib.agent.transcript import print_event
    from task_lib.grading.grade_tables import text_table

    task = available_task(args)
    params = chosen_params(args, task)
    backend_name, model = choose_backend_and_model(args.backend, args.model, task)
    mechanism = require_confinement(backend_name, args.allow_unconfined)
    out = usable_directory(args.out or Path("runs") / time.strftime("attempt-%Y%m%d-%H%M%S"))

    async def attempt():
        async with open_backend(backend_name, task=task) as backend:
            if not args.json:
                print(f"backend: {backend.name} ({backend.label}); task {task.name} version {task.version}; "
                      f"{confinement_line(mechanism)}", flush=True)
            return await run_attempt(backend, model, out, task=task,
                                     limits=agent_limits(task, args.max_steps),
                                     params=params, on_event=None if args.json else print_event)

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
    from task_lib.calibration.runs import format_progress

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
    from task_lib.agent.backends import default_backend_name, open_backend
    from task_lib.agent.interrupts import exit_after_interrupt, run_async
    from task_lib.calibration.runs import (
        RUN_FILE,
        CalibrationError,
        default_run_dir,
        format_summary,
        load_attempts,
        load_config,
        run_calibration,
        task_of_run,
    )
    from task_lib.task import AgentLimits

    if args.out is None:
        args.out = default_run_dir(args.backend or default_backend_name(), available_task(args))
    try:
        saved = load_config(args.out) if args.resume and (args.out / RUN_FILE).is_file() else None
        if saved and args.task is None:
            args.task = saved.task  # resuming without --task: the run's own task
        task = available_task(args)
        if saved:
            task_of_run(saved, task)
    except CalibrationError as exc:
        raise UsageError(str(exc)) from None
    backend_name, model = choose_backend_and_model(args.backend or (saved and saved.backend),
                                                   args.model or (saved and saved.model), task)
    runs = args.runs or (saved and saved.runs)
    if not runs:
        raise UsageError("--runs is required: the number of attempts, e.g. --runs 20")
    mechanism = require_confinement(backend_name, args.allow_unconfined)
    params = chosen_params(args, task, saved.params if saved else None)
    limits = agent_limits(task, args.max_steps)
    if saved and args.max_steps is None:
        limits = AgentLimits(**saved.limits)  # a resumed run keeps the limits it started with
    usable_directory(args.out)
    resume_command = (f"python -m task_lib calibrate --task {task.name} --out {args.out} --runs {runs} "
                      "--resume")

    async def calibrate():
        async with open_backend(backend_name, task=task) as backend:
            header = (f"calibrating {task.name} (version {task.version}): {runs} attempts of {model} on "
                      f"{backend.name} ({backend.label}), {args.concurrency} at a time, into {args.out}; "
                      f"{confinement_line(mechanism)}")
            return await run_calibration(
                backend, model, args.out, runs, concurrency=args.concurrency, task=task, params=params,
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
    from task_lib.agent.interrupts import run_async
    from task_lib.calibration.runs import CalibrationError, format_summary, regrade_run

    if not args.run_dir.is_dir():
        raise UsageError(f"no run directory at {args.run_dir}")
    task = available_task(args) if args.task else None  # default: the run's own task
    overrides = param_overrides(args)
    if not overrides:
        raise UsageError("give the parameters to re-grade at: --param NAME=VALUE (or --tolerance T)")
    try:
        summary = run_async(regrade_run(args.run_dir, overrides, task=task))
    except CalibrationError as exc:
        raise UsageError(str(exc)) from None
    print(json.dumps(summary) if args.json else format_summary(summary))
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    from task_lib.calibration.report import write_report
    from task_lib.calibration.runs import CalibrationError

    if not args.run_dir.is_dir():
        raise UsageError(f"no run directory at {args.run_dir}")
    task = chosen_task(args) if args.task else None  # default: the run's own task
    try:
        path = write_report(args.run_dir, args.out, task=task)
    except CalibrationError as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise UsageError(f"cannot write the report to {exc.filename}: {exc.strerror or exc}") from None
    print(f"wrote the report of {args.run_dir} to {path}")
    return EXIT_OK


def cmd_summarize_inspect(args: argparse.Namespace) -> int:
    from task_lib.calibration.runs import format_summary

    try:
        from task_lib.inspect_support.log import UnreadableLog, log_summary
    except ModuleNotFoundError as exc:  # inspect_ai is an optional extra
        raise UsageError(f"reading Inspect logs needs inspect-ai ({exc.name} is missing): "
                         "pip install -e '.[inspect]'") from None
    try:
        summary = log_summary(args.log)
    except UnreadableLog as exc:
        raise UsageError(str(exc)) from None
    print(json.dumps(summary) if args.json else format_summary(summary))
    return EXIT_OK


def add_task_options(parser: argparse.ArgumentParser, params: bool = True) -> None:
    """--task, and (with `params`) --param and --tolerance."""
    parser.add_argument("--task", default=None, help="the task (default: variance-dropout; see `tasks`)")
    if params:
        parser.add_argument("--param", type=param_arg, action="append", default=[], metavar="NAME=VALUE",
                            help="a task parameter (repeatable), e.g. tolerance=0.2")
        parser.add_argument("--tolerance", type=tolerance_arg, default=None,
                            help="the same as --param tolerance=T, where the task has a tolerance")


def add_agent_commands(commands) -> None:
    """The attempt, calibrate, regrade and report subcommands."""
    backend_help = "anthropic or offline (default: anthropic when ANTHROPIC_API_KEY is set, else offline)"
    model_help = "model id (anthropic: claude-haiku-4-5 …; offline: scripted:mix or scripted:<policy>)"
    unconfined_help = "run a real model even where the bubblewrap sandbox does not work (see `doctor`)"

    attempt = commands.add_parser("attempt", help="run the agent once, printing the transcript as it goes")
    attempt.add_argument("--backend", help=backend_help)
    attempt.add_argument("--model", help=model_help)
    attempt.add_argument("--out", type=Path, help="directory for the transcript and final workspace")
    add_task_options(attempt)
    attempt.add_argument("--max-steps", type=positive_int_arg, default=None, help="model calls allowed")
    attempt.add_argument("--json", action="store_true", help="print only the attempt record as JSON")
    attempt.add_argument("--allow-unconfined", action="store_true", help=unconfined_help)
    attempt.set_defaults(handler=cmd_attempt)

    calibrate = commands.add_parser("calibrate", help="run N attempts concurrently and summarise them")
    calibrate.add_argument("--runs", type=positive_int_arg, default=None, help="number of attempts")
    calibrate.add_argument("--concurrency", type=positive_int_arg, default=4, help="attempts at a time")
    calibrate.add_argument("--backend", help=backend_help)
    calibrate.add_argument("--model", help=model_help)
    calibrate.add_argument("--out", type=Path, default=None,
                           help="run directory (default: runs/<backend>-<task>-<task version>)")
    add_task_options(calibrate)
    calibrate.add_argument("--max-steps", type=positive_int_arg, default=None, help="model calls allowed")
    calibrate.add_argument("--resume", action="store_true", help="complete the run in --out to --runs")
    calibrate.add_argument("--json", action="store_true", help="print one JSON summary object")
    calibrate.add_argument("--allow-unconfined", action="store_true", help=unconfined_help)
    calibrate.set_defaults(handler=cmd_calibrate)

    regrade = commands.add_parser("regrade", help="re-grade a saved run at a tolerance (no model calls)")
    regrade.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    add_task_options(regrade)
    regrade.add_argument("--json", action="store_true", help="print one JSON summary object")
    regrade.set_defaults(handler=cmd_regrade)

    report = commands.add_parser("report", help="explain a saved run: why attempts failed, with diffs")
    report.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    add_task_options(report, params=False)
    report.add_argument("--out", type=Path, default=None,
                        help="FILE.md (figures beside it) or FILE.html (self-contained); "
                        "default RUN_DIR/report.md")
    report.set_defaults(handler=cmd_report)


    summarize = commands.add_parser("summarize-inspect",
                                    help="summarise an Inspect AI log of a pack task as calibrate does")
    summarize.add_argument("log", type=Path, metavar="LOG", help="an Inspect log file (.eval or .json)")
    summarize.add_argument("--json", action="store_true", help="print one JSON summary object")
    summarize.set_defaults(handler=cmd_summarize_inspect)


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

Every run is bounded: a cell may run for its notebook's budget (metadata.task_lib.cell_timeout, a
few times what the cell takes; --timeout sets one for all). A stall (a cell past its budget, a dead
kernel, a kernel that never began a request) prints one line naming the notebook and the cell. A
request the kernel never began (a message lost between client and kernel) gets one retry with a fresh
kernel, announced.

Exit codes: 0 every notebook ran; 1 a cell failed or stalled (the executed notebook, error included,
is written where it would have gone, and later notebooks are not run); 2 bad usage.
"""


def select_notebooks(notebooks: list[Path], names: Sequence[str] | None, root: Path) -> list[Path]:
    """The notebooks `names` pick, in reading order: a folder (e.g. variance_dropout), a path below
    `root` with or without .ipynb (variance_dropout/01_derivation), a file name, a stem or a number
    prefix (02: every folder's 02_*)."""
    if not names:
        return notebooks

    def picks(name: str, path: Path) -> bool:
        relative = path.relative_to(root)
        return name.rstrip("/") in (str(relative), str(relative.with_suffix("")), path.name, path.stem,
                                    str(relative.parent), path.stem.split("_", 1)[0])

    unknown = [name for name in names if not any(picks(name, path) for path in notebooks)]
    if unknown:
        raise UsageError(f"no notebook {', '.join(map(repr, unknown))}: choose from "
                         + ", ".join(str(path.relative_to(root).with_suffix("")) for path in notebooks))
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


def run_notebook_with_a_retry(path: Path, parameters: dict, target: Path, timeout: int | None) -> None:
    """Run the notebook at `path` into `target`; when its kernel never began a request (a message lost
    between client and kernel), say so and run it once more with a fresh kernel. A second stall, or
    any other, raises NotebookStalled."""
    from task_lib.notebook_runner import NotebookStalled, run_notebook

    try:
        run_notebook(path, parameters, output_path=target, timeout=timeout)
    except NotebookStalled as exc:
        if not exc.fresh_kernel_helps:
            raise
        print(f"  stalled: {exc}; running it once more with a fresh kernel", flush=True)
        run_notebook(path, parameters, output_path=target, timeout=timeout)


def cmd_notebooks(args: argparse.Namespace) -> int:
    import time

    from nbclient.exceptions import CellExecutionError

    from task_lib.notebook_runner import (
        HARNESS_FOLDER,
        NotebookStalled,
        find_notebooks,
        parse_parameter_overrides,
    )

    notebooks = find_notebooks(args.notebooks_dir)
    if not notebooks:
        raise UsageError(f"no notebooks (NN_*.ipynb) in {args.notebooks_dir}: run from the repository "
                         "root or pass --notebooks-dir")
    only = args.only
    if args.task is not None:
        task = chosen_task(args)
        only = [*(only or []), task.package.rsplit(".", 1)[1], HARNESS_FOLDER]
    selected = select_notebooks(notebooks, only, args.notebooks_dir)
    try:
        overrides = parse_parameter_overrides(args.parameter)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if args.task is not None:
        overrides.setdefault("TASK", task.name)
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
        name = str(path.relative_to(args.notebooks_dir))
        target = output_dir / name if output_dir else path
        shown = ", ".join(f"{key}={value!r}" for key, value in applied.items())
        print(name + (f" ({shown})" if shown else "") + " ...", flush=True)
        started = time.monotonic()
        try:
            run_notebook_with_a_retry(path, applied, target, args.timeout)
        except CellExecutionError as exc:
            error = str(exc).strip().splitlines()
            print(f"error: {path.name} failed after {time.monotonic() - started:.1f} s: "
                  f"{error[-1] if error else exc}; the executed notebook is in {target}", file=sys.stderr)
            return EXIT_FAILED
        except NotebookStalled as exc:
            print(f"error: {name} stalled after {time.monotonic() - started:.1f} s: {exc}; the partial "
                  f"notebook is in {target}", file=sys.stderr)
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
                           help="run only these notebooks (a folder, e.g. variance_dropout, or a notebook, "
                           "e.g. harness/02_calibration)")
    notebooks.add_argument("--task", default=None,
                           help="run this task's notebooks and the harness's, with TASK set to it")
    notebooks.add_argument("-p", "--parameter", action="append", default=[], metavar="NAME=VALUE",
                           help="override a parameter in every notebook that defines it (repeatable)")
    notebooks.add_argument("--output-dir", type=Path, default=None,
                           help="write the executed notebooks here instead of in place")
    notebooks.add_argument("--notebooks-dir", type=Path, default=Path("notebooks"),
                           help="where the notebooks are (default: notebooks)")
    notebooks.add_argument("--timeout", type=positive_int_arg, default=None,
                           help="seconds one cell may run (default: each notebook's own budget, "
                           "metadata.task_lib.cell_timeout)")
    notebooks.set_defaults(handler=cmd_notebooks)


# ---- the parser ---------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m task_lib", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    tasks = commands.add_parser("tasks", help="list the registered tasks")
    tasks.add_argument("--json", action="store_true", help="print one JSON list")
    tasks.set_defaults(handler=cmd_tasks)

    setup = commands.add_parser("setup", help="write the starting workspace into DIR")
    setup.add_argument("directory", type=Path, metavar="DIR")
    add_task_options(setup, params=False)
    setup.set_defaults(handler=cmd_setup)

    grade = commands.add_parser(
        "grade", help="grade the solution in DIR (exit 0 pass, 1 fail, 2 unusable, 3 grader bug)")
    grade.add_argument("directory", type=Path, metavar="DIR")
    add_task_options(grade)
    grade.add_argument("--seed", type=int, default=None, help="fix the random inputs (default: fresh)")
    grade.add_argument("--json", action="store_true", help="print one JSON object")
    grade.set_defaults(handler=cmd_grade)

    demo = commands.add_parser("demo", help="grade the buggy file and the reference fix, side by side")
    demo.add_argument("--seed", type=int, default=0)
    add_task_options(demo, params=False)
    demo.set_defaults(handler=cmd_demo)

    add_agent_commands(commands)
    add_notebooks_command(commands)
    from task_lib.sandbox.doctor import add_doctor_command

    add_doctor_command(commands)
    from task_lib.export.commands import add_export_command

    add_export_command(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except (UsageError, SandboxError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
