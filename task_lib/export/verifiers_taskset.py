"""The pack as a verifiers v1 taskset (the optional extra `verifiers`), run with its own id:

    vf-eval task_lib.export.verifiers_taskset -m MODEL --client.base-url URL --client.api-key-var VAR

Contract: one `PackTask` per registered task available here (`--env.taskset.tasks` picks some), with
the task's prompt and system prompt, its version and parameters in the task data; the five tools as
`PackToolset` (the pack's `WorkspaceTools`: code runs in the pack's sandbox); `submit` ends the
rollout (`@vf.stop`); after the rollout the pack's grader grades the workspace host side
(`finalize`, the verdict kept in `trace.info["grade"]`); the reward `passed` is 1 or 0 and the
metrics are `failure_<category>` for every category of the task. The taskset ships its harness,
`PackHarness`, so that the model gets these five tools and nothing else (no shell). Rollouts run on
verifiers' subprocess runtime only: the workspace is a host directory the pack's sandbox confines.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import verifiers.v1 as vf
from verifiers.v1.harnesses.null.harness import NullHarness
from verifiers.v1.harnesses.utils.launch import CHAT_PROGRAM_SOURCE

from task_lib.agent.loop import system_prompt
from task_lib.export.verdicts import failure_flags, grade_artifact
from task_lib.export.verifiers_tools import WORKSPACE, PackState, PackToolset
from task_lib.registry import get_task, task_names

CHAT_PROGRAM = ".vf-pack-chat.py"  # in the runtime's working directory, outside the workspace


def subprocess_workdir(runtime: vf.Runtime) -> Path:
    """The host directory of a subprocess runtime; TaskError for any other runtime."""
    if runtime.type != "subprocess":
        raise vf.TaskError(f"the pack's taskset runs on the subprocess runtime (its tools confine code in "
                           f"the pack's sandbox), not on {runtime.type!r}")
    return Path(runtime.info.id)


class PackTaskData(vf.TaskData):
    """One pack task at one set of parameters."""

    pack_task: str
    task_version: str
    params: dict[str, float]


class PackTaskConfig(vf.TaskConfig):
    """The toolset runs colocated with the rollout's runtime, where the workspace is."""

    tools: vf.ToolsetConfig = vf.ToolsetConfig(colocated=True)


class PackTask(vf.Task[PackTaskData, PackState, PackTaskConfig]):
    """A pack task: its starting workspace, its five tools, its grader as reward and metrics."""

    @classmethod
    def toolsets(cls, config: PackTaskConfig) -> list[vf.Toolset]:
        return [PackToolset(config.tools)]

    async def setup(self, trace: vf.Trace, runtime: vf.Runtime) -> None:
        """Write the starting workspace; TaskError when the pack here holds another task version."""
        subprocess_workdir(runtime)
        task = get_task(self.data.pack_task)
        if task.version != self.data.task_version:
            raise vf.TaskError(f"task {task.name} is at version {task.version} here, not "
                               f"{self.data.task_version}: reload the taskset")
        for name in task.starting_files:
            await runtime.write(f"{WORKSPACE}/{name}", task.starting_text(name).encode("utf-8"))

    async def finalize(self, trace: vf.Trace, runtime: vf.Runtime) -> None:
        """Grade the final workspace with the pack's grader, host side; keep the verdict on the trace."""
        workspace = subprocess_workdir(runtime) / WORKSPACE
        task = get_task(self.data.pack_task)
        trace.info["grade"] = await asyncio.to_thread(grade_artifact, task, workspace, self.data.params)

    @vf.stop
    def submitted(self, trace: vf.Trace) -> bool:
        """The model called submit."""
        return trace.state.submitted

    @vf.reward
    async def passed(self, trace: vf.Trace) -> float:
        """1 when the pack's grader passed the final workspace, else 0."""
        return float(trace.info["grade"]["passed"])

    @vf.metric
    async def failure(self, trace: vf.Trace) -> dict[str, float]:
        """`failure_<category>`: 1 for the grade's failure category, 0 for the task's others."""
        task = get_task(self.data.pack_task)
        return {name: float(flag) for name, flag in failure_flags(task, trace.info["grade"]).items()}


class PackTasksetConfig(vf.TasksetConfig):
    tasks: list[str] = []
    """The pack tasks to load (default: every registered task whose packages are installed)."""
    task: PackTaskConfig = PackTaskConfig()


class PackTaskset(vf.Taskset[PackTask, PackTasksetConfig]):
    """Every pack task, once, at its default parameters."""

    def load(self) -> list[PackTask]:
        names = self.config.tasks or [n for n in task_names() if get_task(n).missing_requirement() is None]
        tasks = []
        for name in names:
            task = get_task(name)
            task.check_available()
            params = task.resolve_params()
            data = PackTaskData(id=name, name=name, description=task.summary, prompt=task.prompt(params),
                                system_prompt=system_prompt(task), pack_task=name, task_version=task.version,
                                params=params)
            tasks.append(PackTask(data, self.config.task))
        return tasks


class PackHarness(NullHarness):
    """verifiers' plain chat loop (the `null` harness: the model's only tools are the toolset's),
    run by this Python, whose packages verifiers brings, instead of an environment uv builds at run
    time; on the subprocess runtime only."""

    async def setup(self, runtime: vf.Runtime) -> None:
        if runtime.type != "subprocess":
            raise vf.HarnessError(f"the pack's harness runs on the subprocess runtime, not {runtime.type!r}")
        await runtime.write(CHAT_PROGRAM, CHAT_PROGRAM_SOURCE.encode("utf-8"))

    async def launch(self, ctx, trace, runtime, endpoint, secret, mcp_urls, data,
                     tool_interception_url=None) -> vf.ProgramResult:
        system, prompt = self.resolve_prompt(data)
        servers = {name: {"url": url, "timeout": self.config.tool_timeout} for name, url in mcp_urls.items()}
        args = [f"--base-url={endpoint}", f"--api-key={secret}", f"--model={ctx.model}",
                f"--system-prompt={system or ''}", f"--prompt={prompt}",
                "--mcp-config=" + json.dumps({"mcpServers": servers})]
        if tool_interception_url:
            args.append(f"--tool-interception-url={tool_interception_url}")
        env = dict(self.config.resolved_env)
        return await runtime.run_program([sys.executable, CHAT_PROGRAM, *args], env)


__all__ = ["PackHarness", "PackTaskset"]
