"""Workspaces: setup writes the starting files; tool paths cannot leave the workspace."""

import os

import pytest
from tasks.variance_dropout.task_files import TASK, template_text

from task_lib.workspace import (
    WorkspacePathError,
    create_workspace,
    resolve_in_workspace,
    snapshot,
    write_reference_solution,
)

STARTING_FILES = TASK.starting_files


@pytest.fixture
def workspace(tmp_path):
    return create_workspace(tmp_path / "ws")


def test_setup_writes_the_starting_files(tmp_path):
    directory = create_workspace(tmp_path / "new" / "ws")
    assert sorted(p.name for p in directory.iterdir()) == sorted(STARTING_FILES)
    for name in STARTING_FILES:
        assert (directory / name).read_text(encoding="utf-8") == template_text(name)


def test_setup_restores_changed_task_files_and_keeps_others(workspace):
    (workspace / "dropout.py").write_text("broken")
    (workspace / "notes.txt").write_text("mine")
    create_workspace(workspace)
    assert (workspace / "dropout.py").read_text(encoding="utf-8") == template_text("dropout.py")
    assert (workspace / "notes.txt").read_text() == "mine"


def test_setup_refuses_a_path_that_is_a_file(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(NotADirectoryError):
        create_workspace(tmp_path / "file")


def test_reference_workspace_holds_the_reference_solution(tmp_path):
    directory = write_reference_solution(tmp_path / "ref")
    assert (directory / "dropout.py").read_text(encoding="utf-8") == template_text("reference_dropout.py")


@pytest.mark.parametrize("relative", ["dropout.py", "sub/dir/new.py", "./dropout.py", "sub/../dropout.py"])
def test_paths_inside_the_workspace_resolve(workspace, relative):
    resolved = resolve_in_workspace(workspace, relative)
    assert resolved == (workspace / relative).resolve()
    assert resolved.is_relative_to(workspace.resolve())


@pytest.mark.parametrize("relative", ["..", "../x.py", "sub/../../x.py", "./../ws2/dropout.py"])
def test_dot_dot_out_of_the_workspace_is_refused(workspace, relative):
    with pytest.raises(WorkspacePathError, match="outside"):
        resolve_in_workspace(workspace, relative)


@pytest.mark.parametrize("relative", ["/etc/passwd", "/tmp"])
def test_absolute_paths_are_refused(workspace, relative):
    with pytest.raises(WorkspacePathError, match="absolute"):
        resolve_in_workspace(workspace, relative)


def test_absolute_path_into_the_workspace_is_refused_too(workspace):
    with pytest.raises(WorkspacePathError, match="absolute"):
        resolve_in_workspace(workspace, str(workspace / "dropout.py"))


def test_symlink_pointing_outside_is_refused(workspace, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    os.symlink(outside, workspace / "link")
    os.symlink(outside / "secret.txt", workspace / "file_link")
    for relative in ("link", "link/secret.txt", "file_link", "link/new.py"):
        with pytest.raises(WorkspacePathError, match="outside"):
            resolve_in_workspace(workspace, relative)


def test_dangling_symlink_pointing_outside_is_refused(workspace, tmp_path):
    os.symlink(tmp_path / "not_yet", workspace / "dangling")
    with pytest.raises(WorkspacePathError, match="outside"):
        resolve_in_workspace(workspace, "dangling")


def test_symlink_pointing_inside_is_accepted(workspace):
    os.symlink(workspace / "dropout.py", workspace / "alias.py")
    assert resolve_in_workspace(workspace, "alias.py") == (workspace / "dropout.py").resolve()


@pytest.mark.parametrize("relative", ["dropout.py\0", "\0", "a\0/../../x"])
def test_nul_characters_are_refused(workspace, relative):
    with pytest.raises(WorkspacePathError, match="NUL"):
        resolve_in_workspace(workspace, relative)


@pytest.mark.parametrize("relative", ["", "   ", None, 3])
def test_empty_or_non_string_paths_are_refused(workspace, relative):
    with pytest.raises(WorkspacePathError):
        resolve_in_workspace(workspace, relative)


def test_workspace_path_error_is_a_value_error():
    assert issubclass(WorkspacePathError, ValueError)


def test_snapshot_copies_regular_files_only(workspace, tmp_path):
    (workspace / "sub").mkdir()
    (workspace / "sub" / "inner.py").write_text("x")
    os.symlink(tmp_path, workspace / "link")
    copy = snapshot(workspace, tmp_path / "snap")
    assert sorted(p.name for p in copy.iterdir()) == sorted(STARTING_FILES)
    assert (copy / "dropout.py").read_bytes() == (workspace / "dropout.py").read_bytes()
