"""Cheats that attack the harness rather than a task's checks: the child's exit, its process group,
its memory and output, its source bytes, the protected test file, endless loops. Every task's grader
must end each of them in the harness's own category, so each task's cheat tests play them on that
task's starting files (beside the cheats aimed at its own checks)."""

from __future__ import annotations

from collections.abc import Callable

Files = dict[str, str | bytes]
Inject = Callable[[str], Files]  # code -> the starting files with that code injected


def harness_cheats(starting: dict[str, str], at_import: Inject, in_call: Inject,
                   test_file: str) -> dict[str, tuple[Files, str | None]]:
    """name -> (files, the failure category the grader must give; None where only "failed" is
    pinned). `at_import` runs code when the first solution file is imported, `in_call` at the start
    of every call the grader makes; `test_file` is the protected visible test."""
    first = next(iter(starting))
    return {
        "rewrites_the_visible_tests": (
            {**starting, test_file: "def test_everything():\n    pass\n"}, "test_file_unchanged"),
        "os_exit_at_import": (at_import("import os\nos._exit(0)"), "early_exit"),
        "os_exit_in_call": (in_call("import os\nos._exit(0)"), "early_exit"),
        "sys_exit_in_call": (in_call("import sys\nsys.exit()"), "early_exit"),
        "sys_exit_at_import": (at_import("import sys\nsys.exit(0)"), "import_error"),
        "raises_at_import": (at_import("raise RuntimeError('no')"), "import_error"),
        "allocates_50_gb_at_import": (at_import("_hoard = bytearray(50 * 10**9)"), "import_error"),
        "prints_a_gigabyte": (at_import("for _ in range(1000):\n    print('x' * 10**6)"), "import_error"),
        "kills_its_own_process_group": (
            in_call("import os, signal\nos.killpg(os.getpgrp(), signal.SIGKILL)"), None),
        "nul_byte_in_source": (at_import("# \0"), "syntax_error"),
        "not_utf8": ({**starting, first: "# caf\xe9\n".encode("latin-1") + starting[first].encode()},
                     "source_readable"),
    }


def endless_loops(at_import: Inject, in_call: Inject) -> dict[str, Files]:
    """Two workspaces that never finish: one loops at import, one in every call (grade: timeout)."""
    forever = "while True:\n    pass"
    return {"infinite_loop_at_import": at_import(forever), "infinite_loop_in_call": in_call(forever)}
