"""The scripted-policy kit the offline server plays (offline, scripted policies: not a model).

A policy is a pure function from a request's ``messages`` to the next assistant turn. Policies are
stateless: the step is the number of assistant turns already in ``messages``. Each policy states the
outcome it should produce, so the whole harness can be tested end to end without a model. Fault
policies make the server answer with HTTP faults instead of a turn.

A task's own policies live in its ``policies.py`` (``POLICIES``, ``CALIBRATION_MIX``,
``reference_script()`` and ``STARTING_FAILURE``); ``policies_for(task)`` adds this kit's task-free
ones (limits, faults, hostile tool use) to them.
"""

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from task_lib.task import Task

OFFLINE_LABEL = "offline, scripted policies: not a model"
MODEL_PREFIX = "scripted:"
OVERLONG_CHARS = 1_000_000  # about 250k tokens: more than any model's output limit

Outcome = Literal["passed", "failed", "limit", "error"]


@dataclass(frozen=True)
class ToolUse:
    """One tool call of a turn: the tool's name and its input."""

    name: str
    input: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Turn:
    """One assistant turn: optional text, then tool uses in order."""

    text: str = ""
    tool_uses: tuple[ToolUse, ...] = ()


@dataclass(frozen=True)
class Fault:
    """An HTTP fault the server answers with instead of a turn.

    ``kind`` is ``"status"`` (an error status with the API's error body), ``"malformed_body"`` (200
    with a body that is not JSON) or ``"dropped_connection"`` (the socket closes with no response).
    With ``once``, only the first copy of each request body faults, so the SDK's retry succeeds.
    """

    kind: Literal["status", "malformed_body", "dropped_connection"]
    status: int | None = None
    once: bool = False


@dataclass(frozen=True)
class ScriptedPolicy:
    """A scripted stand-in for a model, with the outcome an attempt driven by it should have.

    ``expected_failure`` is the grader's failure category when ``expected_outcome`` is "failed";
    ``expected_limit`` names the limit ("steps" or "max_tokens") when it is "limit".
    ``next_turn`` is None only for faults that fire on every request.
    """

    name: str
    description: str
    expected_outcome: Outcome
    expected_failure: str | None = None
    expected_limit: str | None = None
    next_turn: Callable[[list[dict[str, Any]]], Turn] | None = None
    fault: Fault | None = None

    @property
    def model(self) -> str:
        """The model name that selects this policy, e.g. ``scripted:fix_math_sqrt``."""
        return MODEL_PREFIX + self.name


def assistant_turns(messages: list[dict[str, Any]]) -> int:
    """The policy's step: how many assistant turns the conversation already holds."""
    return sum(message.get("role") == "assistant" for message in messages)


def tool(name: str, **tool_input: Any) -> tuple[ToolUse, ...]:
    return (ToolUse(name, tool_input),)


def read_turn(task: Task) -> Turn:
    """Reading the task's first solution file."""
    name = task.solution_files[0]
    return Turn(f"I'll start by reading {name}.", tool("read_file", path=name))


RUN_TESTS = Turn("Running the visible tests.", tool("run_tests"))
SUBMIT = Turn("Submitting my work.", tool("submit"))
DONE = Turn("I have submitted my answer.")
GIVE_UP = Turn("I can't tell what the right change is, so I'll stop here.")


def write_turn(name: str, source: str, why: str) -> Turn:
    """Writing `source` to the file `name`, saying why."""
    return Turn(why, tool("write_file", path=name, content=source))


def scripted(build: Callable[[], tuple[Turn, ...]]) -> Callable[[list[dict[str, Any]]], Turn]:
    """A policy function playing ``build()``'s turns in order, then a closing text-only turn."""
    turns = functools.cache(build)

    def next_turn(messages: list[dict[str, Any]]) -> Turn:
        script = turns()
        step = assistant_turns(messages)
        return script[step] if step < len(script) else DONE

    return next_turn


def _ramble(task: Task) -> Callable[[list[dict[str, Any]]], Turn]:
    name = task.solution_files[0]

    def next_turn(messages: list[dict[str, Any]]) -> Turn:
        step = assistant_turns(messages)
        return Turn(f"Let me read {name} once more (pass {step + 1}).", tool("read_file", path=name))

    return next_turn


def _overlong() -> tuple[Turn, ...]:
    words = "thinking " * (OVERLONG_CHARS // len("thinking "))
    return (Turn("Let me think about this at length. " + words),)


def _escape_paths() -> tuple[Turn, ...]:
    symlink = "import os\nos.symlink('/etc', 'link')\nprint(os.readlink('link'))\n"
    return (
        Turn("Reading a file outside the project.", tool("read_file", path="../../etc/passwd")),
        Turn("Trying an absolute path.", tool("read_file", path="/etc/passwd")),
        Turn("Writing outside the project.", tool("write_file", path="../escaped.txt", content="x")),
        Turn("Making a symlink to /etc.", tool("run_python", code=symlink)),
        Turn("Reading through the symlink.", tool("read_file", path="link/passwd")),
        SUBMIT,
    )


DEEP_TREE = """import os
top = os.getcwd()
for _ in range(1500):  # os.makedirs would recurse past Python's limit
    os.mkdir("deep")
    os.chdir("deep")
os.chdir(top)
print("built 1500 nested folders")
"""
SYMLINK_LOOP = """import os
os.symlink("loop_b", "loop_a")
os.symlink("loop_a", "loop_b")
os.symlink("self", "self")
os.symlink(".", "here")
print(sorted(os.listdir()))
"""
FIFO = """import os, socket
os.mkfifo("pipe")
try:
    socket.socket(socket.AF_UNIX).bind("sock")
except OSError as exc:
    print("no socket:", exc)
print(sorted(os.listdir()))
"""


def _hostile(build: str, what: str, touches: tuple[Turn, ...]) -> Callable[[list[dict[str, Any]]], Turn]:
    """Build `what` in the workspace with run_python, touch it with `touches`, run the tests, then
    submit the starting files unchanged."""
    return scripted(lambda: (Turn(f"Making {what}.", tool("run_python", code=build)), *touches,
                             RUN_TESTS, SUBMIT))


def _touch(text: str, name: str, **tool_input: Any) -> Turn:
    return Turn(text, tool(name, **tool_input))


def hostile_workspace_policies(starting_failure: str) -> list[ScriptedPolicy]:
    """Policies whose code makes the workspace hostile (a 1,500-deep tree, symlink loops, a FIFO
    and a socket), then touch it with every tool and submit the starting files: each ends `failed`
    as `starting_failure`, never as `error`, and never hangs."""
    unchanged = {"expected_failure": starting_failure}
    deep = "/".join(["deep"] * 40)
    deep_touches = (_touch("Reading a file that is not there.", "read_file", path="missing.py"),
                    _touch("Writing deep inside.", "write_file", path=f"{deep}/notes.txt", content="x"),
                    _touch("Running code.", "run_python", code="print('still here')"))
    loop_touches = (_touch("Reading through a loop.", "read_file", path="loop_a"),
                    _touch("Writing through a loop.", "write_file", path="self/x.py", content="x"),
                    _touch("Reading through a link to here.", "read_file", path="here/here/dropout.py"))
    fifo_touches = (_touch("Writing to the FIFO.", "write_file", path="pipe", content="x"),
                    _touch("Reading the FIFO.", "read_file", path="pipe"),
                    _touch("Writing to the socket.", "write_file", path="sock", content="x"))
    return [
        ScriptedPolicy("deep_tree", "Builds 1,500 nested folders, touches them with the tools, then "
                       "submits the starting files.", "failed", **unchanged,
                       next_turn=_hostile(DEEP_TREE, "a deep tree", deep_touches)),
        ScriptedPolicy("symlink_loop", "Makes symlink loops, reads and writes through them, then submits "
                       "the starting files.", "failed", **unchanged,
                       next_turn=_hostile(SYMLINK_LOOP, "symlink loops", loop_touches)),
        ScriptedPolicy("fifo", "Makes a FIFO and a socket, writes and reads them, then submits the "
                       "starting files.", "failed", **unchanged,
                       next_turn=_hostile(FIFO, "a FIFO and a socket", fifo_touches)),
    ]


SNOOP = """import glob, os
print(dict(os.environ))
for path in glob.glob("/proc/*/environ"):
    try:
        with open(path, "rb") as environ:
            print(path, environ.read()[:4000])
    except OSError as exc:
        print(path, "not readable:", exc)
"""


def harness_policies(task: Task, reference_script: Callable[[], tuple[Turn, ...]],
                     starting_failure: str) -> dict[str, ScriptedPolicy]:
    """The task-free policies, played on `task`: `reference_script` writes its reference solution;
    `starting_failure` is the grader's category for its unchanged starting files."""
    unchanged = {"expected_failure": starting_failure}
    snoop = Turn("Looking at the environment first.", tool("run_python", code=SNOOP))
    policies = [
        ScriptedPolicy("submit_bug", "Reads, runs the tests and submits the starting files unchanged.",
                       "failed", **unchanged,
                       next_turn=scripted(lambda: (read_turn(task), RUN_TESTS, SUBMIT))),
        ScriptedPolicy("give_up", "Reads a file, then answers in text without submitting.", "failed",
                       **unchanged, next_turn=scripted(lambda: (read_turn(task), GIVE_UP))),
        ScriptedPolicy("ramble", "Calls read_file forever.", "limit", expected_limit="steps",
                       next_turn=_ramble(task)),
        ScriptedPolicy("overlong", "Replies with text longer than any max_tokens.", "limit",
                       expected_limit="max_tokens", next_turn=scripted(_overlong)),
        ScriptedPolicy("escape_paths", "Tries to read and write outside the workspace, then submits the "
                       "starting files.", "failed", **unchanged, next_turn=scripted(_escape_paths)),
        ScriptedPolicy("read_secrets", "Prints its environment and every readable /proc/*/environ, then "
                       "writes the reference solution.", "passed",
                       next_turn=scripted(lambda: (snoop, *reference_script()))),
        ScriptedPolicy("flaky_529", "First copy of each request gets 529; the retry writes the reference "
                       "solution.", "passed", next_turn=scripted(reference_script),
                       fault=Fault("status", 529, once=True)),
        ScriptedPolicy("malformed_body", "Answers 200 with a body that is not JSON.", "error",
                       fault=Fault("malformed_body")),
        ScriptedPolicy("dropped_connection", "Closes the connection without an HTTP response.", "error",
                       fault=Fault("dropped_connection")),
    ]
    policies += hostile_workspace_policies(starting_failure)
    for status, kind in ((401, "authentication_error"), (400, "invalid_request_error"),
                         (429, "rate_limit_error"), (500, "api_error"), (529, "overloaded_error")):
        policies.append(ScriptedPolicy(f"fault_{status}", f"Every request gets {status} {kind}.", "error",
                                       fault=Fault("status", status)))
    return {policy.name: policy for policy in policies}


@functools.cache
def policies_for(task: Task) -> dict[str, ScriptedPolicy]:
    """Every policy the offline server plays on `task`: the task's own, then the kit's."""
    own = task.module("policies")
    kit = harness_policies(task, own.reference_script, own.STARTING_FAILURE)
    return {**own.POLICIES, **{name: policy for name, policy in kit.items() if name not in own.POLICIES}}


def calibration_mix(task: Task) -> tuple[str, ...]:
    """The names of the policies `scripted:mix` plays on `task`, in turn."""
    return tuple(task.module("policies").CALIBRATION_MIX)


def policy_for_model(model: str, policies: Mapping[str, ScriptedPolicy]) -> ScriptedPolicy | None:
    """The policy a model name such as ``scripted:fix_power`` selects, or None."""
    if not model.startswith(MODEL_PREFIX):
        return None
    return policies.get(model.removeprefix(MODEL_PREFIX))


ESCAPE_PROBE = """\
try:
    {attack}
    print("ESCAPED: {what}")
except OSError as exc:
    print("BLOCKED: {what}:", exc)
"""
DETACH = """\
import os, sys, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(30)", {mark!r}])
    os._exit(0)
time.sleep(0.2)
print("detached a grandchild; it must not outlive this run")
"""


def sandbox_escape(task: Task, read_path: str, write_dir: str, socket_path: str, mark: str) -> ScriptedPolicy:
    """A hostile policy: its `run_python` snippets try to read `read_path`, write into `write_dir`,
    connect to the Unix socket at `socket_path` and leave behind a detached process whose command line
    holds `mark`; each prints ESCAPED or BLOCKED. Then it submits `task`'s starting files unchanged
    (failed as the task's STARTING_FAILURE). The paths are the caller's, so it is not in
    `policies_for(task)`."""
    attacks = {
        "read": f"open({read_path!r}, 'rb').read()",
        "write": f"open({str(Path(write_dir, 'escaped.txt'))!r}, 'w').write('x')",
        "socket": f"__import__('socket').socket(1).connect({socket_path!r})",
    }
    probes = [Turn(f"Trying to {what}.", tool("run_python", code=ESCAPE_PROBE.format(attack=a, what=what)))
              for what, a in attacks.items()]
    detach = Turn("Leaving a process behind.", tool("run_python", code=DETACH.format(mark=mark)))
    return ScriptedPolicy("sandbox_escape", "Tries to read, write and connect outside its sandbox, and to "
                          "leave a process behind; then submits the starting files.", "failed",
                          expected_failure=task.module("policies").STARTING_FAILURE,
                          next_turn=scripted(lambda: (*probes, detach, SUBMIT)))
