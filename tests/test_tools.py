"""The agent's tools: hostile paths are refused, nothing outside the workspace is read or written,
and every problem comes back as a tool error the model can act on."""

import os
from pathlib import Path

import pytest

from task_lib.agent.tools import MAX_RESULT_CHARS, MAX_WRITE_CHARS, TOOL_NAMES, WorkspaceTools, tool_schemas
from task_lib.agent.workspace import create_workspace
from task_lib.registry import all_tasks
from task_lib.sandbox.bubblewrap import WORKSPACE
from task_lib.sandbox.run import SandboxLimits, isolation

SECRET = "outside the workspace: must never be read"


@pytest.fixture
def layout(tmp_path: Path):
    """A workspace next to a secret file and a secret directory it must not reach."""
    workspace = create_workspace(tmp_path / "project")
    (tmp_path / "secret.txt").write_text(SECRET)
    (tmp_path / "secret_dir").mkdir()
    (tmp_path / "secret_dir" / "inner.txt").write_text(SECRET)
    return workspace, tmp_path


def outside_files(root: Path) -> set[Path]:
    return {path for path in root.rglob("*") if "project" not in path.relative_to(root).parts}


def test_schemas_name_the_contract_tools():
    assert TOOL_NAMES == ("read_file", "write_file", "run_tests", "run_python", "submit")
    for schema in [schema for task in all_tasks() for schema in tool_schemas(task)]:
        assert schema["description"] and schema["input_schema"]["type"] == "object"


def test_read_file_returns_the_whole_file(layout):
    workspace, _ = layout
    result = WorkspaceTools(workspace).handle("read_file", {"path": "dropout.py"})
    assert not result.is_error and result.text == (workspace / "dropout.py").read_text()


def test_reading_a_missing_file_lists_the_files_that_exist(layout):
    result = WorkspaceTools(layout[0]).handle("read_file", {"path": "dropuot.py"})
    assert result.is_error and "dropout.py, test_dropout.py" in result.text


@pytest.mark.parametrize("path", ["../secret.txt", "sub/../../secret.txt", "/etc/passwd", "ABSOLUTE_SECRET"])
def test_paths_leaving_the_workspace_are_refused_for_reading_and_writing(layout, path):
    workspace, root = layout
    path = str(root / "secret.txt") if path == "ABSOLUTE_SECRET" else path
    before = outside_files(root)
    tools = WorkspaceTools(workspace)
    read = tools.handle("read_file", {"path": path})
    write = tools.handle("write_file", {"path": path, "content": "overwritten"})
    assert read.is_error and write.is_error
    assert "outside the project directory" in read.text or "is absolute" in read.text
    assert SECRET not in read.text and "root:" not in read.text
    assert (root / "secret.txt").read_text() == SECRET and outside_files(root) == before


@pytest.mark.parametrize(
    ("link", "target", "path"),
    [
        ("out", "secret_dir", "out/inner.txt"),  # a directory symlink pointing out
        ("link.txt", "secret.txt", "link.txt"),  # a file symlink pointing out
        ("dangling", "new_outside.txt", "dangling"),  # a symlink to a file that does not exist yet
        ("etc", "/etc", "etc/passwd"),
    ],
)
def test_symlinks_pointing_outside_are_refused(layout, link, target, path):
    workspace, root = layout
    os.symlink(target if target.startswith("/") else root / target, workspace / link)
    before = outside_files(root)
    tools = WorkspaceTools(workspace)
    read = tools.handle("read_file", {"path": path})
    write = tools.handle("write_file", {"path": path, "content": "escaped"})
    assert read.is_error and "outside the project directory" in read.text
    assert write.is_error and SECRET not in read.text and "root:" not in read.text
    assert outside_files(root) == before and (root / "secret.txt").read_text() == SECRET


def test_write_file_creates_files_and_directories_inside(layout):
    workspace, _ = layout
    result = WorkspaceTools(workspace).handle("write_file", {"path": "notes/a.txt", "content": "x\ny\n"})
    assert not result.is_error and "2 lines" in result.text
    assert (workspace / "notes" / "a.txt").read_text() == "x\ny\n"


def test_non_utf8_content_is_reported_not_crashed_on(layout):
    workspace, _ = layout
    (workspace / "blob.bin").write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe" * 10)
    result = WorkspaceTools(workspace).handle("read_file", {"path": "blob.bin"})
    assert result.is_error and "not UTF-8" in result.text


def test_long_files_are_trimmed_with_a_note(layout):
    workspace, _ = layout
    (workspace / "big.txt").write_text("y" * (3 * MAX_RESULT_CHARS))
    result = WorkspaceTools(workspace).handle("read_file", {"path": "big.txt"})
    assert not result.is_error and len(result.text) < MAX_RESULT_CHARS + 200 and "trimmed" in result.text


def test_special_files_are_refused_without_blocking(layout):
    workspace, _ = layout
    os.mkfifo(workspace / "pipe")
    result = WorkspaceTools(workspace).handle("read_file", {"path": "pipe"})
    assert result.is_error and "not a regular file" in result.text


@pytest.mark.parametrize(
    ("name", "tool_input", "message"),
    [
        ("delete_file", {"path": "dropout.py"}, "unknown tool"),
        ("read_file", {}, "'path' must be a string"),
        ("read_file", {"path": 3}, "'path' must be a string"),
        ("write_file", {"path": "a.py"}, "'content' must be a string"),
        ("run_python", {"code": None}, "'code' must be a string"),
        ("read_file", ["dropout.py"], "must be a JSON object"),
        ("read_file", {"path": ""}, "non-empty"),
        ("read_file", {"path": "."}, "is a directory"),
        ("write_file", {"path": "x.py", "content": "a" * (MAX_WRITE_CHARS + 1)}, "the limit is"),
        ("write_file", {"path": "x.py", "content": "\ud800"}, "not valid in UTF-8"),
    ],
)
def test_bad_tool_calls_are_tool_errors(layout, name, tool_input, message):
    result = WorkspaceTools(layout[0]).handle(name, tool_input)
    assert result.is_error and message in result.text and not result.submitted


def test_run_tests_imports_the_workspace_dropout(layout):
    result = WorkspaceTools(layout[0]).handle("run_tests", {})
    assert not result.is_error and result.text.startswith("exit code 0")
    assert "5 passed, 0 failed" in result.text


def test_run_python_runs_in_the_workspace_and_reports_the_exit_status(layout):
    workspace, _ = layout
    code = "import os, dropout\nprint(os.getcwd())\nraise SystemExit(3)\n"
    result = WorkspaceTools(workspace).handle("run_python", {"code": code})
    where = WORKSPACE if isolation().mechanism == "bubblewrap" else str(workspace.resolve())  # a copy of it
    assert result.text.startswith("exit code 3") and where in result.text


def test_run_python_tracebacks_show_the_snippet_line(layout):
    result = WorkspaceTools(layout[0]).handle("run_python", {"code": "x = 1\nx / 0  # here\n"})
    assert result.text.startswith("exit code 1")
    assert "x / 0  # here" in result.text and "ZeroDivisionError" in result.text


def test_run_python_timeout_is_reported_plainly(layout):
    tools = WorkspaceTools(layout[0], SandboxLimits(wall_seconds=1.0))
    result = tools.handle("run_python", {"code": "import time\ntime.sleep(30)"})
    assert result.text.startswith("timed out")


def test_run_python_sees_no_api_key(layout, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-not-a-real-key")
    result = WorkspaceTools(layout[0]).handle("run_python", {"code": "import os\nprint(dict(os.environ))"})
    assert "sk-ant-test" not in result.text and "ANTHROPIC" not in result.text


def test_submit_ends_the_attempt(layout):
    assert WorkspaceTools(layout[0]).handle("submit", {}).submitted


def test_a_small_file_with_one_bad_byte_at_its_end_is_reported(layout):
    workspace, _ = layout
    (workspace / "dropout.py").write_bytes(b"x = 1\n\xff")
    result = WorkspaceTools(workspace).handle("read_file", {"path": "dropout.py"})
    assert result.is_error and "offset 6" in result.text


def test_a_long_file_cut_inside_a_character_is_still_text(layout):
    workspace, _ = layout
    (workspace / "wide.txt").write_text("x" + "é" * (3 * MAX_RESULT_CHARS), encoding="utf-8")  # cut mid-é
    result = WorkspaceTools(workspace).handle("read_file", {"path": "wide.txt"})
    assert not result.is_error and result.text.startswith("x" + "é" * 100) and "trimmed" in result.text


HOSTILE_SNIPPETS = {
    "infinite_loop": ("while True:\n    pass", "timed out"),
    "allocates_50_gb": ("import numpy as np\nnp.ones(50 * 10**9 // 8)", "MemoryError"),
    "prints_a_gigabyte": ("import sys\nfor _ in range(1024):\n    sys.stdout.write('x' * 2**20)",
                          "output cut"),
    "spawns_children_then_loops": (
        "import subprocess, sys\n"
        "for _ in range(5):\n"
        "    subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "while True:\n    pass",
        "timed out",
    ),
}


@pytest.mark.parametrize("name", list(HOSTILE_SNIPPETS))
def test_hostile_snippets_end_as_a_tool_result_within_the_limits(layout, name):
    code, expected = HOSTILE_SNIPPETS[name]
    limits = SandboxLimits(wall_seconds=3.0, file_bytes=16 * 1024**2)
    result = WorkspaceTools(layout[0], limits).handle("run_python", {"code": code})
    assert expected in result.text
    assert len(result.text) <= MAX_RESULT_CHARS + 200
    follow_up = WorkspaceTools(layout[0], limits).handle("run_python", {"code": "print('still here')"})
    assert "still here" in follow_up.text


@pytest.mark.skipif(isolation().mechanism != "bubblewrap", reason="only bubblewrap copies the workspace back")
def test_a_run_whose_workspace_cannot_come_back_keeps_the_files_as_they_were_and_says_so(layout):
    """25,000 files are more than a copy-back keeps (20,000 entries): the run's changes are dropped
    whole, and the model is told."""
    workspace, _ = layout
    before = {path.name: path.read_bytes() for path in workspace.iterdir() if path.is_file()}
    code = "import os\nos.mkdir('many')\nfor i in range(25_000):\n    open(f'many/{i}', 'w').close()\n"
    result = WorkspaceTools(workspace).handle("run_python", {"code": code + "open('dropout.py', 'w')\n"})
    assert "were not kept" in result.text and "20,000" in result.text, result.text
    assert {path.name: path.read_bytes() for path in workspace.iterdir() if path.is_file()} == before
    assert not (workspace / "many").exists()
