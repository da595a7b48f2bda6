"""The five tools (the tool contract) on an Inspect AI sample's sandbox, with the names, descriptions
and input schemas of `task_lib.agent.tools.tool_schemas(task)`.

Contract: with Inspect's `local` sandbox (which isolates nothing) every tool runs through the pack's
own `WorkspaceTools`, so code still runs in the pack's confining sandbox, on the sample's own
directory. With any other sandbox (docker, k8s) the tools use only Inspect's three verbs, `exec`,
`read_file` and `write_file`, in the sandbox's working directory. Either way a tool never raises for
anything a model can send: a problem comes back as a `ToolError` the model reads.
"""

from __future__ import annotations

import asyncio
import posixpath
import shutil
from pathlib import Path
from typing import Any

from inspect_ai.tool import Tool, ToolDef, ToolError, ToolParams
from inspect_ai.util import OutputLimitExceededError, SandboxEnvironment, sandbox
from inspect_ai.util._sandbox.local import LocalSandboxEnvironment

from task_lib.agent.tools import (
    MAX_RESULT_CHARS,
    MAX_WRITE_CHARS,
    RUN_PYTHON_BOOTSTRAP,
    TOOL_LIMITS,
    ToolResult,
    WorkspaceTools,
    run_tests_bootstrap,
    tool_error,
    tool_schemas,
    trim,
)
from task_lib.task import Task

MAX_READ_BYTES = MAX_RESULT_CHARS * 4


def local_directory(env: SandboxEnvironment) -> Path | None:
    """The sample's directory when `env` is Inspect's local sandbox (None for any other sandbox)."""
    if isinstance(env, LocalSandboxEnvironment):
        return Path(env.directory.name)
    return None


class SandboxWorkspace:
    """The five tools through Inspect's sandbox verbs, in the sandbox's working directory."""

    def __init__(self, env: SandboxEnvironment, task: Task):
        self.env, self.task = env, task

    async def handle(self, name: str, tool_input: dict[str, Any]) -> ToolResult:
        try:
            if name == "read_file":
                return await self.read_file(_relative(tool_input.get("path")))
            if name == "write_file":
                return await self.write_file(_relative(tool_input.get("path")), tool_input.get("content"))
            if name == "run_tests":
                tests = run_tests_bootstrap(self.task.visible_tests)
                return await self.run(["python", "-I", "-B", "-c", tests])
            if name == "run_python":
                code = tool_input.get("code")
                if not isinstance(code, str):
                    return tool_error("'code' must be a string")
                return await self.run(["python", "-I", "-B", "-c", RUN_PYTHON_BOOTSTRAP], code)
            graded = ", ".join(self.task.solution_files)
            return ToolResult(f"Submitted. The grader will now check {graded}.", submitted=True)
        except ValueError as exc:
            return tool_error(str(exc))

    async def read_file(self, path: str) -> ToolResult:
        try:
            data = await self.env.read_file(path, text=False)
        except FileNotFoundError:
            return tool_error(f"no file {path!r}")
        except (IsADirectoryError, PermissionError, UnicodeDecodeError, OutputLimitExceededError) as exc:
            return tool_error(f"{path!r} cannot be read: {exc}")
        text = data[:MAX_READ_BYTES].decode("utf-8", errors="replace")
        if len(text) > MAX_RESULT_CHARS or len(data) > MAX_READ_BYTES:
            shown = text[:MAX_RESULT_CHARS]
            return ToolResult(f"{shown}\n[... trimmed: showing the first {len(shown):,} characters of "
                              f"a {len(data):,}-byte file; use run_python to print other parts]")
        return ToolResult(text if text else f"({path} is empty)")

    async def write_file(self, path: str, content: Any) -> ToolResult:
        if not isinstance(content, str):
            return tool_error("'content' must be a string")
        if len(content) > MAX_WRITE_CHARS:
            return tool_error(f"content is {len(content):,} characters; the limit is {MAX_WRITE_CHARS:,}")
        try:
            await self.env.write_file(path, content)
        except (IsADirectoryError, PermissionError) as exc:
            return tool_error(f"{path!r} cannot be written: {exc}")
        lines = content.count("\n") + (not content.endswith("\n") and bool(content))
        return ToolResult(f"wrote {len(content):,} characters ({lines} lines) to {path}")

    async def run(self, command: list[str], stdin: str | None = None) -> ToolResult:
        seconds = TOOL_LIMITS.wall_seconds
        try:
            result = await self.env.exec(command, input=stdin, timeout=int(seconds))
        except TimeoutError:
            return ToolResult(f"timed out after {seconds:.0f} s (the time limit); the process was killed")
        except OutputLimitExceededError:
            return ToolResult("the output exceeded the sandbox's limit; the process was stopped")
        parts = [f"exit code {result.returncode}"]
        for label, text in (("stdout", result.stdout), ("stderr", result.stderr)):
            text = text[:TOOL_LIMITS.output_chars]
            parts.append(f"--- {label} ---\n{text.rstrip()}" if text.strip() else f"--- {label}: (empty)")
        return ToolResult(trim("\n".join(parts)))

    async def copy_final_files(self, destination: Path) -> None:
        """Copy the task's solution and protected files out of the sandbox (those that exist)."""
        for name in (*self.task.solution_files, *self.task.protected_files):
            try:
                data = await self.env.read_file(name, text=False)
            except (FileNotFoundError, IsADirectoryError, PermissionError, OutputLimitExceededError):
                continue
            (destination / name).write_bytes(data)


class LocalWorkspace:
    """The pack's own `WorkspaceTools` on the sample's directory (run in a thread: they block)."""

    def __init__(self, directory: Path, task: Task):
        self.directory, self.tools = directory, WorkspaceTools(directory, task=task)

    async def handle(self, name: str, tool_input: dict[str, Any]) -> ToolResult:
        return await asyncio.to_thread(self.tools.handle, name, tool_input)

    async def copy_final_files(self, destination: Path) -> None:
        for name in (*self.tools.task.solution_files, *self.tools.task.protected_files):
            source = self.directory / name
            if source.is_file() and not source.is_symlink():
                shutil.copyfile(source, destination / name)


def sample_workspace(task: Task) -> LocalWorkspace | SandboxWorkspace:
    """The workspace of the current sample: its local directory, or its (container) sandbox."""
    env = sandbox()
    directory = local_directory(env)
    return LocalWorkspace(directory, task) if directory is not None else SandboxWorkspace(env, task)


def pack_tools(task: Task) -> list[Tool]:
    """The five tools of the tool contract for `task`, as Inspect tools on the current sample."""
    return [_tool(task, schema) for schema in tool_schemas(task)]


def _tool(task: Task, schema: dict[str, Any]) -> Tool:
    name = schema["name"]

    async def execute(**tool_input: Any) -> str:
        result = await sample_workspace(task).handle(name, tool_input)
        if result.is_error:
            raise ToolError(result.text)
        return result.text

    parameters = ToolParams.model_validate({**schema["input_schema"], "additionalProperties": None})
    # max_output=0: results are already trimmed the way the pack trims them.
    return ToolDef(execute, name=name, description=schema["description"], parameters=parameters,
                   max_output=0).as_tool()


def _relative(path: Any) -> str:
    """`path` as a normalised path inside the working directory; ValueError saying what to change."""
    if not isinstance(path, str) or not path.strip():
        raise ValueError("path must be a non-empty string relative to the project directory")
    if "\x00" in path:
        raise ValueError("path must not contain NUL characters")
    if path.startswith("/"):
        raise ValueError(f"{path!r} is absolute: use a path relative to the project directory")
    normal = posixpath.normpath(path)
    if normal == ".." or normal.startswith("../"):
        raise ValueError(f"{path!r} is outside the project directory")
    return normal

