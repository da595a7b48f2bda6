"""The agent's tools: their schemas, and handlers bound to one workspace.

Contract: `WorkspaceTools.handle(name, input)` never raises and never blocks for anything a model can
send or its code can leave in the workspace (deep trees, symlink loops, FIFOs, sockets, files without
permissions, odd names); every problem comes back as an `is_error` result saying what to change.
Paths are opened inside the workspace only (`workspace.open_in_workspace`); code runs only in the
sandbox, and only while the workspace is within what the sandbox takes (MAX_TREE_DEPTH,
MAX_TREE_ENTRIES).
"""

from __future__ import annotations

import codecs
import os
import stat
from pathlib import Path
from typing import Any, NamedTuple

from task_lib.agent.workspace import WorkspacePathError, describe_os_error, open_in_workspace
from task_lib.registry import get_task
from task_lib.sandbox.run import SandboxLimits, SandboxResult, run_python
from task_lib.sandbox.untrusted_files import read_open_prefix
from task_lib.sandbox.untrusted_trees import scan_tree
from task_lib.task import Task

MAX_RESULT_CHARS = 20_000
MAX_WRITE_CHARS = 1_000_000
MAX_LISTED_FILES = 100
MAX_LISTED_ENTRIES = 5_000  # entries looked at to list the files in a message
# What a project directory may hold for the sandbox to take it (run_tests, run_python).
MAX_TREE_DEPTH = 64
MAX_TREE_ENTRIES = 20_000
TOOL_LIMITS = SandboxLimits()


# `python -I` does not put the working directory on sys.path: these put it back, so that the
# project's modules import in the tests and in snippets.
def run_tests_bootstrap(test_file: str) -> str:
    """The `python -c` source that runs `test_file` as a script from the project directory."""
    return (f"import runpy, sys; sys.path.insert(0, ''); sys.argv = [{test_file!r}]; "
            f"runpy.run_path({test_file!r}, run_name='__main__')")


RUN_PYTHON_BOOTSTRAP = """\
import linecache, sys, traceback
sys.path.insert(0, '')
source = sys.stdin.read()
linecache.cache['<snippet>'] = (len(source), None, source.splitlines(True), '<snippet>')
try:
    exec(compile(source, '<snippet>', 'exec'), {'__name__': '__main__'})
except SystemExit:
    raise
except BaseException as exc:
    traceback.print_exception(type(exc), exc, exc.__traceback__.tb_next)
    sys.exit(1)
"""

_NO_INPUT: dict[str, Any] = {"type": "object", "properties": {}}


def tool_schemas(task: Task) -> list[dict[str, Any]]:
    """The five tools' schemas, their descriptions naming `task`'s files. Names and input schemas
    are the same for every task (the tool contract)."""
    main_file, tests = task.solution_files[0], task.visible_tests
    graded = ", ".join(task.solution_files)
    return [
        {
            "name": "read_file",
            "description": "Read a text file of the project and return its whole content.",
            "input_schema": {
                "type": "object",
                "properties": {"path": {"type": "string", "description": f"Relative path, e.g. {main_file}"}},
                "required": ["path"],
            },
        },
        {
            "name": "write_file",
            "description": "Create or overwrite a text file of the project with the given full content "
            "(the whole new file, not a diff).",
            "input_schema": {
                "type": "object",
                "properties": {
                    "path": {"type": "string", "description": f"Relative path, e.g. {main_file}"},
                    "content": {"type": "string", "description": "The complete new content of the file"},
                },
                "required": ["path", "content"],
            },
        },
        {
            "name": "run_tests",
            "description": f"Run the visible tests in {tests} against the current {graded}; "
            "returns their output and exit status.",
            "input_schema": _NO_INPUT,
        },
        {
            "name": "run_python",
            "description": "Run a Python snippet in the project directory (the project's modules import, "
            f"{' and '.join(task.libraries)} available, no network, {TOOL_LIMITS.wall_seconds:g} s time "
            "limit); returns its stdout, stderr and exit status. Use print() to see values.",
            "input_schema": {
                "type": "object",
                "properties": {"code": {"type": "string", "description": "Python source to run"}},
                "required": ["code"],
            },
        },
        {
            "name": "submit",
            "description": f"Finish the task: the grader then checks {graded}. Call it once, "
            "when you are done.",
            "input_schema": _NO_INPUT,
        },
    ]
TOOL_NAMES = ("read_file", "write_file", "run_tests", "run_python", "submit")


class ToolResult(NamedTuple):
    """What a tool call returns to the model, and whether it ended the attempt."""

    text: str
    is_error: bool = False
    submitted: bool = False


def tool_error(text: str) -> ToolResult:
    return ToolResult(text, is_error=True)


def trim(text: str, limit: int = MAX_RESULT_CHARS) -> str:
    """`text` cut to about `limit` characters, keeping its start and end, with a note saying so."""
    if len(text) <= limit:
        return text
    half = limit // 2
    cut = len(text) - 2 * half
    return f"{text[:half]}\n[... {cut:,} characters trimmed from the middle ...]\n{text[-half:]}"


class WorkspaceTools:
    """The five tools, bound to one workspace directory of `task` (default: variance-dropout)."""

    def __init__(self, workspace: Path | str, limits: SandboxLimits = TOOL_LIMITS, task: Task | None = None):
        self.workspace = Path(workspace).resolve()
        self.limits = limits
        self.task = task or get_task()

    def handle(self, name: str, tool_input: Any) -> ToolResult:
        """Run one tool call; problems come back as is_error results, never as exceptions. The text
        is always valid UTF-8 (a lone surrogate of the input, echoed, is shown escaped)."""
        result = self._handle(name, tool_input)
        text = result.text.encode("utf-8", "backslashreplace").decode("utf-8")
        return result._replace(text=text)

    def _handle(self, name: str, tool_input: Any) -> ToolResult:
        if name not in TOOL_NAMES:
            return tool_error(f"unknown tool {name!r}: the tools are {', '.join(TOOL_NAMES)}")
        if not isinstance(tool_input, dict):
            return tool_error(f"{name}: the input must be a JSON object")
        try:
            if name == "read_file":
                return self.read_file(_string(tool_input, "path"))
            if name == "write_file":
                return self.write_file(_string(tool_input, "path"), _string(tool_input, "content"))
            if name == "run_tests":
                return self.run_tests()
            if name == "run_python":
                return self.run_python(_string(tool_input, "code"))
            graded = ", ".join(self.task.solution_files)
            return ToolResult(f"Submitted. The grader will now check {graded}.", submitted=True)
        except (WorkspacePathError, _BadInput) as exc:
            return tool_error(str(exc))
        except OSError as exc:  # what the workspace holds, e.g. a FIFO, a socket, a file without permissions
            if isinstance(tool_input.get("path"), str):
                return tool_error(f"{name}: " + describe_os_error(tool_input["path"], exc))
            return tool_error(f"{name} failed: {exc.strerror or exc}")

    def read_file(self, path: str) -> ToolResult:
        try:
            fd = open_in_workspace(self.workspace, path, os.O_RDONLY)
        except FileNotFoundError:
            return tool_error(f"no file {path!r}. Files in the project: {self.list_files()}")
        try:
            if stat.S_ISDIR(os.fstat(fd).st_mode):
                return tool_error(f"{path!r} is a directory. Files in the project: {self.list_files()}")
            found = read_open_prefix(fd, MAX_RESULT_CHARS * 4)
        finally:
            os.close(fd)
        if found is None:
            return tool_error(f"{path!r} is not a regular file")
        data, size = found
        cut = len(data) < size
        try:  # a character split by the read limit is no error: the decoder keeps it back
            text = codecs.getincrementaldecoder("utf-8")().decode(data, final=not cut)
        except UnicodeDecodeError as exc:
            return tool_error(f"{path!r} is not UTF-8 text (byte {data[exc.start]:#04x} at offset "
                              f"{exc.start}); it holds {size:,} bytes")
        if len(text) > MAX_RESULT_CHARS or cut:
            shown = text[:MAX_RESULT_CHARS]
            return ToolResult(f"{shown}\n[... trimmed: showing the first {len(shown):,} characters of "
                              f"a {size:,}-byte file; use run_python to print other parts]")
        return ToolResult(text if text else f"({path} is empty)")

    def write_file(self, path: str, content: str) -> ToolResult:
        if len(content) > MAX_WRITE_CHARS:
            return tool_error(f"content is {len(content):,} characters; the limit is {MAX_WRITE_CHARS:,}")
        try:
            data = content.encode("utf-8")
        except UnicodeEncodeError as exc:
            return tool_error(f"content holds a character that is not valid in UTF-8 at offset {exc.start}")
        fd = open_in_workspace(self.workspace, path, os.O_WRONLY | os.O_CREAT, make_dirs=True)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return tool_error(f"{path!r} is not a regular file: give the path of a text file")
            os.ftruncate(fd, 0)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        lines = content.count("\n") + (not content.endswith("\n") and bool(content))
        return ToolResult(f"wrote {len(content):,} characters ({lines} lines) to {path}")

    def run_tests(self) -> ToolResult:
        tests = self.task.visible_tests
        try:
            os.close(open_in_workspace(self.workspace, tests, os.O_RDONLY))
        except (OSError, WorkspacePathError):
            return tool_error(f"{tests} is missing from the project")
        if (problem := self.sandbox_problem()) is not None:
            return tool_error(problem)
        result = run_python(["-c", run_tests_bootstrap(tests)], self.workspace, self.limits)
        return ToolResult(describe_run(result, self.limits.output_chars))

    def run_python(self, code: str) -> ToolResult:
        if (problem := self.sandbox_problem()) is not None:
            return tool_error(problem)
        result = run_python(["-c", RUN_PYTHON_BOOTSTRAP], self.workspace, self.limits, stdin_text=code)
        return ToolResult(describe_run(result, self.limits.output_chars))

    def sandbox_problem(self) -> str | None:
        """Why the project directory cannot be handed to the sandbox (deeper than MAX_TREE_DEPTH or
        holding more than MAX_TREE_ENTRIES entries), or None."""
        scan = scan_tree(self.workspace, max_entries=MAX_TREE_ENTRIES, max_depth=MAX_TREE_DEPTH)
        if not scan.cut:
            return None
        return (f"the project directory holds more than the sandbox takes (at most {MAX_TREE_DEPTH} nested "
                f"directories and {MAX_TREE_ENTRIES:,} entries), so code cannot run in it any more; "
                "read_file, write_file and submit still work")

    def list_files(self) -> str:
        """The project's files (relative paths, no caches), for messages about missing files."""
        scan = scan_tree(self.workspace, max_entries=MAX_LISTED_ENTRIES, max_depth=MAX_TREE_DEPTH,
                         skip=frozenset({"__pycache__"}))
        found = scan.files
        if len(found) > MAX_LISTED_FILES or scan.cut:
            shown = found[:MAX_LISTED_FILES]
            return ", ".join(shown) + f" (and more; {len(shown)} shown)"
        return ", ".join(found) if found else "(none)"


def describe_run(result: SandboxResult, output_chars: int = TOOL_LIMITS.output_chars) -> str:
    """A sandboxed run as the model sees it: how it ended, then its stdout and stderr."""
    if result.timed_out:
        head = f"timed out after {result.seconds:.0f} s (the time limit); the process was killed"
    else:
        head = f"{result.describe_end()} ({result.seconds:.1f} s)"
    parts = [head]
    for label, text in (("stdout", result.stdout), ("stderr", result.stderr)):
        parts.append(f"--- {label} ---\n{text.rstrip()}" if text.strip() else f"--- {label}: (empty)")
    if result.output_truncated:
        parts.append(f"[output cut: the sandbox keeps at most {output_chars:,} characters per stream]")
    if result.workspace_note:
        parts.append(f"[this run's changes to the files were not kept: {result.workspace_note}]")
    return trim("\n".join(parts))


class _BadInput(ValueError):
    """A tool input is missing or has the wrong type."""


def _string(tool_input: dict[str, Any], key: str) -> str:
    value = tool_input.get(key)
    if not isinstance(value, str):
        found = "missing" if value is None else f"a {type(value).__name__}"
        raise _BadInput(f"{key!r} must be a string; it is {found}")
    return value
