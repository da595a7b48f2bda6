"""`python -m task_lib doctor`: which sandbox confines the untrusted code here, what it confines, what it
does not cover, and what the child sees. Contract: `add_doctor_command(commands)` adds the subcommand,
which prints that (or one JSON object with `--json`) and exits 0 whatever the level."""

from __future__ import annotations

import argparse
import json

from task_lib.sandbox import bind_table, isolation


def doctor_report() -> dict:
    """The isolation in force, and the read-only mounts a bubblewrap child gets."""
    report = isolation().to_dict()
    if report["mechanism"] == "bubblewrap":
        report["mounts"] = [m._asdict() for m in bind_table()]
    return report


def format_report(report: dict) -> str:
    lines = [f"isolation: {report['mechanism']}", "confines:"]
    lines += [f"  - {item}" for item in report["confines"]]
    lines += ["does not cover:", *(f"  - {item}" for item in report["not_covered"])]
    if "mounts" in report:
        lines.append("the child sees, read-only (besides its working directory, /proc, /dev, /tmp):")
        lines += [f"  {m['option']:<10} {m['dest']}  ({m['why']})" for m in report["mounts"]]
    return "\n".join(lines)


def cmd_doctor(args: argparse.Namespace) -> int:
    report = doctor_report()
    print(json.dumps(report, indent=1) if args.json else format_report(report))
    return 0


def add_doctor_command(commands) -> None:
    doctor = commands.add_parser("doctor", help="which sandbox confines untrusted code here, and its gaps")
    doctor.add_argument("--json", action="store_true", help="print one JSON object")
    doctor.set_defaults(handler=cmd_doctor)
