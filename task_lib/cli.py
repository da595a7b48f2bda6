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

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


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


def format_grade(result) -> str:
    """A grade as a human-readable table of checks and a verdict line."""
    from task_lib.grader import _short

    lines = []
    for check in result.checks:
        mark = "ok  " if check.passed else "FAIL"
        at_p = f" p={check.p:g}" if check.p is not None else ""
        lines.append(f"  {mark} {check.name + at_p:34} {_short(check.value):>28}   {_short(check.threshold)}")
    verdict = "PASSED" if result.passed else "FAILED"
    lines.append(f"{verdict}: {result.message} (tolerance {result.tolerance:g}, seed {result.seed})")
    return "\n".join(lines)


def cmd_grade(args: argparse.Namespace) -> int:
    from task_lib.grader import UnusableWorkspace, grade_workspace

    try:
        result = grade_workspace(args.directory, tolerance=args.tolerance, seed=args.seed)
    except UnusableWorkspace as exc:
        raise UsageError(str(exc)) from None
    print(json.dumps(result.to_dict()) if args.json else format_grade(result))
    return EXIT_OK if result.passed else EXIT_FAILED


def cmd_demo(args: argparse.Namespace) -> int:
    from task_lib.demo import run_demo

    print(run_demo(seed=args.seed))
    return EXIT_OK


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
        return 130
