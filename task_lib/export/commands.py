"""The `export` subcommand: `python -m task_lib export harbor OUT [--task NAME] [--param N=V]
[--image IMAGE]` writes one Harbor task folder per task (every registered task by default) into OUT.
Contract: `add_export_command(commands)` adds it; it prints one line per folder written and exits 0,
or exits 2 with one line naming what to change (a folder already there, an unknown task or
parameter)."""

from __future__ import annotations

import argparse
from pathlib import Path

from task_lib.export.harbor import DEFAULT_IMAGE, ExportError, export_harbor


def cmd_export(args: argparse.Namespace) -> int:
    from task_lib.cli import EXIT_OK, UsageError, chosen_task, param_overrides
    from task_lib.registry import all_tasks

    if args.param and args.task is None:
        raise UsageError("--param needs --task: parameters belong to one task")
    tasks = [chosen_task(args)] if args.task is not None else all_tasks()
    for task in tasks:
        try:
            folder = export_harbor(args.out, task, param_overrides(args), image=args.image)
        except (ExportError, ValueError) as exc:
            raise UsageError(str(exc)) from None
        except OSError as exc:
            raise UsageError(f"cannot write the export into {args.out}: {exc.strerror or exc}") from None
        print(f"wrote {task.name} (version {task.version}) to {folder}")
    return EXIT_OK


def add_export_command(commands) -> None:
    from task_lib.cli import param_arg

    export = commands.add_parser("export", help="write the tasks in an RL training format (harbor)")
    export.add_argument("format", choices=["harbor"], help="harbor: one Harbor task folder per task")
    export.add_argument("out", type=Path, metavar="OUT", help="the folder to write the task folders into")
    export.add_argument("--task", default=None, help="export only this task (default: every task)")
    export.add_argument("--param", type=param_arg, action="append", default=[], metavar="NAME=VALUE",
                        help="a parameter of the --task exported (repeatable), e.g. tolerance=0.2")
    export.add_argument("--image", default=DEFAULT_IMAGE,
                        help=f"the prebuilt image the tasks run in (default: {DEFAULT_IMAGE}; "
                        "build it with task_lib/export/Dockerfile)")
    export.set_defaults(handler=cmd_export)
