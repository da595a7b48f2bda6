"""The five tools of the tool contract as a verifiers v1 toolset (an MCP server the harness reaches),
each backed by the pack's own `WorkspaceTools`: paths stay inside the workspace and code runs only in
the pack's sandbox, as everywhere else. verifiers starts it per rollout as
`python -m task_lib.export.verifiers_tools`, colocated with the rollout's subprocess runtime, whose
working directory holds the workspace (`WORKSPACE`, written by the task's setup).

Contract: every tool returns the text `WorkspaceTools.handle` returns (a problem is a result starting
`error: `, never an exception); `submit` also sets the rollout state's `submitted`, which ends the
rollout (`PackTask.submitted`).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import verifiers.v1 as vf

from task_lib.agent.tools import WorkspaceTools
from task_lib.registry import get_task

WORKSPACE = "workspace"  # relative to the runtime's working directory


class PackState(vf.State):
    """The rollout state the toolset shares with the task: whether the model has submitted."""

    submitted: bool = False


class PackToolset(vf.Toolset[vf.ToolsetConfig, PackState]):
    """read_file, write_file, run_tests, run_python, submit, on the rollout's workspace."""

    TOOL_PREFIX = None  # the contract's bare names, as every other harness of the pack shows them

    def __init__(self, config: vf.ToolsetConfig) -> None:
        super().__init__(config)
        self.tools: WorkspaceTools | None = None

    async def setup_task(self, task) -> None:
        """Bind the tools to the workspace of the rollout's pack task (`task.pack_task`)."""
        self.tools = WorkspaceTools(Path.cwd() / WORKSPACE, task=get_task(task.pack_task))

    async def call(self, name: str, tool_input: dict) -> str:
        """Run one tool call in a thread (a sandboxed run blocks), as the model reads its result."""
        if self.tools is None:
            return "error: the tools have no task yet (the rollout's setup did not reach them)"
        result = await asyncio.to_thread(self.tools.handle, name, tool_input)
        if result.submitted:
            self.state.submitted = True
        return f"error: {result.text}" if result.is_error else result.text

    @vf.tool
    async def read_file(self, path: str) -> str:
        """Read a text file of the project and return its whole content."""
        return await self.call("read_file", {"path": path})

    @vf.tool
    async def write_file(self, path: str, content: str) -> str:
        """Create or overwrite a text file of the project with the given full content (the whole new
        file, not a diff)."""
        return await self.call("write_file", {"path": path, "content": content})

    @vf.tool
    async def run_tests(self) -> str:
        """Run the project's visible tests against its current solution; returns their output and exit
        status."""
        return await self.call("run_tests", {})

    @vf.tool
    async def run_python(self, code: str) -> str:
        """Run a Python snippet in the project directory (the project's modules import, no network,
        a time limit); returns its stdout, stderr and exit status. Use print() to see values."""
        return await self.call("run_python", {"code": code})

    @vf.tool
    async def submit(self) -> str:
        """Finish the task: the grader then checks the solution. Call it once, when you are done."""
        return await self.call("submit", {})


if __name__ == "__main__":
    PackToolset.run()
