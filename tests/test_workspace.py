"""Workspaces: setup writes the starting files; tool paths cannot leave the workspace, block or
recurse; a snapshot keeps bounded regular files only."""

import os

import pytest
from tasks.variance_dropout.task_files import TASK, template_text

from task_lib.agent.workspace import (
    SNAPSHOT_FILE_BYTES,
    WorkspacePathError,
    create_workspace,
    open_in_workspace,
    snapshot,
    write_reference_solution,
)

STARTING_FILES = TASK.starting_files


@pytest.fixture
def workspace(tmp_path):
    return create_workspace(tmp_path / "ws")


def resolve_in_workspace(workspace, relative, flags=os.O_RDONLY, **options):
    """The real path of what `open_in_workspace` opens."""
    fd = open_in_workspace(workspace, relative, flags, **options)
    try:
        return type(workspace)(os.readlink(f"/proc/self/fd/{fd}"))
    finally:
        os.close(fd)


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
    resolved = resolve_in_workspace(workspace, relative, os.O_WRONLY | os.O_CREAT, make_dirs=True)
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
        resolve_in_workspace(workspace, "dangling", os.O_WRONLY | os.O_CREAT)
    assert not (tmp_path / "not_yet").exists()


def test_relative_symlink_climbing_out_is_refused(workspace):
    (workspace / "sub").mkdir()
    os.symlink("../../", workspace / "sub" / "up")
    with pytest.raises(WorkspacePathError, match="outside"):
        resolve_in_workspace(workspace, "sub/up/ws/dropout.py")


@pytest.mark.parametrize("links", [{"a": "b", "b": "a"}, {"self": "self"}, {"d": "d/d"}])
def test_symlink_loops_are_refused_not_recursed_into(workspace, links):
    for name, target in links.items():
        os.symlink(target, workspace / name)
    for name in links:
        for relative in (name, f"{name}/x.py"):
            with pytest.raises(WorkspacePathError, match="loop|too many"):
                resolve_in_workspace(workspace, relative, os.O_WRONLY | os.O_CREAT, make_dirs=True)


def test_a_fifo_opens_without_blocking_and_refuses_a_writer(workspace):
    os.mkfifo(workspace / "pipe")
    fd = open_in_workspace(workspace, "pipe", os.O_RDONLY)  # O_NONBLOCK: no writer needed
    os.close(fd)
    with pytest.raises(OSError) as raised:
        open_in_workspace(workspace, "pipe", os.O_WRONLY | os.O_CREAT)  # no reader: ENXIO, not a hang
    assert raised.value.errno == 6


def test_long_paths_are_opened_up_to_the_limit_and_refused_past_it(workspace):
    relative = "/".join(["d" * 250] * 16) + "/f.py"
    os.close(open_in_workspace(workspace, relative, os.O_WRONLY | os.O_CREAT, make_dirs=True))
    assert os.path.getsize(os.path.join(workspace, relative)) == 0
    with pytest.raises(WorkspacePathError, match="limit"):
        open_in_workspace(workspace, "/".join(["d" * 250] * 17), os.O_RDONLY)


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
    os.mkfifo(workspace / "pipe")
    with open(workspace / "sparse.bin", "wb") as handle:
        handle.truncate(1024**4)  # a 1 TiB sparse file: never read whole
    copy = tmp_path / "snap"
    left_out = snapshot(workspace, copy)
    assert sorted(p.name for p in copy.iterdir()) == sorted(STARTING_FILES)
    assert (copy / "dropout.py").read_bytes() == (workspace / "dropout.py").read_bytes()
    assert left_out == [f"sparse.bin ({1024**4:,} bytes)"] and SNAPSHOT_FILE_BYTES < 1024**4
