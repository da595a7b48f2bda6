"""`python -m task_lib doctor`: which sandbox confines the untrusted code here, for the user running it,
what each layer covers, what it does not cover, and what the child sees. Contract: `add_doctor_command
(commands)` adds the subcommand, which prints that (or one JSON object with `--json`: at least
`mechanism`, `confines`, `not_covered`) and exits 0 whatever the level (2 if TASK_LIB_SANDBOX asks for
what does not work)."""

from __future__ import annotations

import argparse
import json
import os
import pwd

from task_lib.sandbox.bubblewrap import SANDBOX_UID, bind_table
from task_lib.sandbox.run import SandboxLimits, isolation
from task_lib.sandbox.seccomp_filter import DENIED, NAMESPACE_FLAGS


def _user() -> str:
    uid = os.geteuid()
    try:
        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except KeyError:
        return f"uid {uid}"


def doctor_report() -> dict:
    """The isolation in force for this user, its layers, and the read-only mounts a bubblewrap child gets."""
    report = {"user": _user(), **isolation().to_dict()}
    if report["mechanism"] == "bubblewrap":
        limits = SandboxLimits()
        sandbox_uid = SANDBOX_UID if os.geteuid() == 0 else os.geteuid()
        report["layers"] = {
            "namespaces": f"user (the child is uid {sandbox_uid}, no capabilities), PID, network, IPC, UTS, "
                          "cgroup, mount; nested user namespaces disabled",
            "seccomp": f"{len(DENIED)} system calls denied, clone with any of {len(NAMESPACE_FLAGS)} "
                       "namespace flags, sockets other than Unix ones, TIOCSTI",
            "limits": f"per process: {limits.memory_bytes >> 20} MiB address space, {limits.cpu_seconds} s "
                      f"CPU, {limits.file_bytes >> 20} MiB per file; per sandbox: {limits.processes} "
                      f"processes, workspace {limits.disk_bytes >> 20} MiB, /tmp {limits.tmp_bytes >> 20} "
                      f"MiB, /dev/shm {limits.shm_bytes >> 20} MiB, {limits.wall_seconds:g} s wall clock "
                      "(the defaults; each task sets its grader's)",
            "landlock": "not used",
        }
        report["mounts"] = [m._asdict() for m in bind_table()]
    return report


def format_report(report: dict) -> str:
    lines = [f"user: {report['user']}", f"isolation: {report['mechanism']}"]
    if report["weaker_because"]:
        lines.append(f"not bubblewrap because: {report['weaker_because']}")
    lines += [f"{name}: {text}" for name, text in report.get("layers", {}).items()]
    lines.append("confines:")
    lines += [f"  - {item}" for item in report["confines"]]
    lines += ["does not cover:", *(f"  - {item}" for item in report["not_covered"])]
    if "mounts" in report:
        lines.append("the child sees, read-only (besides its workspace, /proc, /dev, /tmp):")
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
