"""Totality, property-based: seeded random hostile workspaces (deep trees, symlink loops and links
out, FIFOs, sockets, locked folders and files, non-UTF-8 and overlong names, sparse huge files, the
solution file replaced by any of them) touched by every tool and graded. Invariant: every call
returns within its limit, no exception escapes (the grader's UnusableWorkspace is its stated
"nothing to grade"), every result is text the model can be sent, nothing is written outside the
workspace, and nothing is left in TMPDIR; the workspace is then removed whatever it holds."""

import os
import socket
import tempfile
import time
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tasks.variance_dropout.task_files import TASK

from task_lib.agent.tools import TOOL_LIMITS, ToolResult, WorkspaceTools
from task_lib.agent.workspace import create_workspace
from task_lib.grading.grader import GradeResult, UnusableWorkspace, grade_workspace
from task_lib.sandbox.untrusted_trees import remove_tree

NAMES = ("dropout.py", "test_dropout.py", "a", "b", "nested/c")
SYMLINK_TARGETS = (".", "..", "a", "b", "/etc", "/etc/passwd", "../outside/secret.txt", "/nonexistent",
                   "nested/../a", "self")
TOOL_SECONDS = TOOL_LIMITS.wall_seconds + 10
GRADE_SECONDS = TASK.grade_limits.wall_seconds + 10

name = st.sampled_from(NAMES)
hostile_thing = st.one_of(
    st.tuples(st.just("deep"), st.sampled_from([5, 70, 400])),
    st.tuples(st.just("symlink"), name, st.sampled_from(SYMLINK_TARGETS)),
    st.tuples(st.just("fifo"), name),
    st.tuples(st.just("socket"), name),
    st.tuples(st.just("locked_dir"), name),
    st.tuples(st.just("locked_file"), name),
    st.tuples(st.just("directory"), name),
    st.tuples(st.just("sparse"), name),
    st.tuples(st.just("odd_names")),
)


def make(workspace: Path, thing: tuple) -> None:
    """Put one hostile thing in the workspace (as the model's code could); a clash is skipped."""
    kind, *args = thing
    if kind == "deep":
        fd = os.open(workspace, os.O_RDONLY | os.O_DIRECTORY)
        for _ in range(args[0]):
            os.mkdir("deep", dir_fd=fd) if not os.path.lexists(f"/proc/self/fd/{fd}/deep") else None
            next_fd = os.open("deep", os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = next_fd
        os.close(fd)
        return
    if kind == "odd_names":
        os.close(os.open(os.fsencode(workspace) + b"/bad\xff\xfe.py", os.O_CREAT | os.O_WRONLY, 0o644))
        (workspace / ("n" * 255)).write_text("long")
        return
    path = workspace / args[0]
    path.parent.mkdir(exist_ok=True)
    if os.path.lexists(path):
        if path.is_symlink() or not path.is_dir():
            path.unlink()
        else:
            remove_tree(path)
    if kind == "symlink":
        os.symlink(args[0].rsplit("/", 1)[-1] if args[1] == "self" else args[1], path)
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "socket":
        with socket.socket(socket.AF_UNIX) as server:
            server.bind(str(path))
    elif kind == "locked_dir":
        path.mkdir()
        (path / "inside.py").write_text("x = 1\n")
        path.chmod(0)
    elif kind == "locked_file":
        path.write_text("x = 1\n")
        path.chmod(0)
    elif kind == "directory":
        path.mkdir()
    elif kind == "sparse":
        with open(path, "wb") as handle:
            handle.truncate(1024**4)


def timed(seconds: float, call, *args):
    started = time.monotonic()
    result = call(*args)
    assert time.monotonic() - started < seconds, f"{call.__name__}{args!r} took too long"
    return result


def check_tool_result(result: ToolResult) -> None:
    assert isinstance(result, ToolResult)
    result.text.encode("utf-8")  # sendable to the API: no lone surrogates


@settings(max_examples=25, derandomize=True, database=None, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(things=st.lists(hostile_thing, min_size=1, max_size=6))
def test_every_tool_and_the_grader_are_total_on_hostile_workspaces(tmp_path, monkeypatch, things):
    private = Path(tempfile.mkdtemp(dir=tmp_path))
    monkeypatch.setenv("TMPDIR", str(private))
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    root = Path(tempfile.mkdtemp(dir=tmp_path, prefix="case-"))
    (root / "outside").mkdir()
    (root / "outside" / "secret.txt").write_text("secret")
    workspace = create_workspace(root / "project", TASK)
    for thing in things:
        make(workspace, thing)
    tools = WorkspaceTools(workspace, task=TASK)
    for path in (*NAMES, "deep/deep/deep/x.py", "self/x", "bad\udcff\udcfe.py", "n" * 255):
        check_tool_result(timed(TOOL_SECONDS, tools.handle, "read_file", {"path": path}))
        write = {"path": path, "content": "y = 2\n"}
        check_tool_result(timed(TOOL_SECONDS, tools.handle, "write_file", write))
    listing = {"code": "import os; print(os.listdir())"}
    check_tool_result(timed(TOOL_SECONDS, tools.handle, "run_python", listing))
    check_tool_result(timed(TOOL_SECONDS, tools.handle, "run_tests", {}))
    try:
        grade = timed(GRADE_SECONDS, grade_workspace, workspace, TASK)
        assert isinstance(grade, GradeResult)
    except UnusableWorkspace:
        pass  # "nothing to grade": the attempt's `no_solution` failure
    assert (root / "outside" / "secret.txt").read_text() == "secret"
    assert sorted(p.name for p in (root / "outside").iterdir()) == ["secret.txt"]
    assert remove_tree(root) and not root.exists()
    assert list(private.iterdir()) == []
    private.rmdir()
