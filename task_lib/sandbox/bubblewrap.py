"""The bubblewrap command line of a sandbox: what the child sees (every mount, and why), the namespaces
and the seccomp filter it runs under. `task_lib/sandbox/run.py` runs it; nothing here starts a process.

The child always runs in a user namespace of its own, made by an unprivileged bwrap (`--unshare-all`,
`--disable-userns`), as an ordinary uid without capabilities or `no_new_privs` cleared, under the
seccomp filter of `task_lib/sandbox/seccomp_filter.py`:
- run by an ordinary user, one bwrap builds the whole view (the caller's uid inside and out);
- run by root, a first bwrap (privileged, mount namespace only) builds the view, including paths only
  root can traverse (an interpreter under /root), then `setpriv` becomes uid 65534 with no capabilities
  and a second, unprivileged bwrap makes the namespaces. The child is thus host uid 65534 inside a user
  namespace of its own: not root (so RLIMIT_NPROC applies), and whatever the kernel keys by user
  namespace (keyrings, process counts) is per sandbox.
The child's working directory is `WORKSPACE`, a tmpfs of the disk quota's size; the host directory it
starts from is bound read-only at `STAGED` and copied in (see `task_lib/sandbox/run.py`).
"""

from __future__ import annotations

import os
import shutil
import site
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

SANDBOX_UID = SANDBOX_GID = 65534  # "nobody": the uid a root harness's sandboxes run as
WORKSPACE = "/workspace"  # the child's working directory, a size-capped tmpfs
STAGED = "/run/workspace"  # the host directory the child starts from, read-only
PACKAGE_DIR = Path(__file__).resolve().parent.parent  # the pack itself: never visible to a child
_SYSTEM_TOP_DIRS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")


class Mount(NamedTuple):
    """One entry of the child's filesystem: a bwrap option, its source (for `--tmpfs` its size cap in
    bytes, or empty), its place in the sandbox and why the child needs it."""

    option: str  # "--ro-bind", "--symlink" or "--tmpfs"
    source: str
    dest: str
    why: str


def package_paths() -> list[str]:
    """The site-packages directories of this interpreter that exist: what a child may import from."""
    return [path for path in site.getsitepackages() if os.path.isdir(path)]


def bind_table(readable: Sequence[Path | str] = ()) -> list[Mount]:
    """Everything the child sees read-only besides its workspace, `/proc`, `/dev` and `/tmp`, in mount
    order: exactly what the interpreter needs."""
    table = [Mount("--ro-bind", "/usr", "/usr", "the dynamic loader, libc and the other shared libraries")]
    for top in _SYSTEM_TOP_DIRS:
        if os.path.islink(top):
            table.append(Mount("--symlink", os.readlink(top), top, "merged /usr: the loader's usual paths"))
        elif os.path.isdir(top):
            table.append(Mount("--ro-bind", top, top, "system libraries outside /usr"))
    if os.path.exists("/etc/ld.so.cache"):
        table.append(Mount("--ro-bind", "/etc/ld.so.cache", "/etc/ld.so.cache", "the loader's library index"))
    table.append(Mount("--ro-bind", sys.base_prefix, sys.base_prefix, "interpreter, standard library"))
    if sys.prefix != sys.base_prefix:  # a venv: `-I` still reads pyvenv.cfg next to the executable
        cfg = str(Path(sys.prefix, "pyvenv.cfg"))
        table.append(Mount("--ro-bind", cfg, cfg, "makes the interpreter use the venv's site-packages"))
        table.append(Mount("--ro-bind", os.path.realpath(sys.executable), sys.executable,
                           "the interpreter at the path it was started by"))
    for path in package_paths():
        table.append(Mount("--ro-bind", path, path, "installed packages (NumPy, the task's), not the repo"))
    table += [Mount("--ro-bind", str(path), str(path), "asked for by the caller") for path in readable]
    table = [m for m in table if m.option != "--ro-bind" or os.path.exists(m.source)]
    if any(_inside(str(PACKAGE_DIR), m.dest) for m in table if m.option == "--ro-bind"):
        table.append(Mount("--tmpfs", "", str(PACKAGE_DIR), "hides the pack if installed in site-packages"))
    return table


def _inside(path: str, directory: str) -> bool:
    return path == directory or path.startswith(directory.rstrip("/") + "/")


def _mount_args(mounts: Sequence[Mount]) -> list[str]:
    """bwrap options for `mounts`, each preceded by the directories leading to it (mode 0755: bwrap
    would make them 0700, closed to the sandbox's uid), unless they exist inside an earlier bind."""
    args: list[str] = []
    made: set[str] = {"/"}
    bound: list[str] = []
    for mount in mounts:
        enclosed = any(_inside(mount.dest, b) for b in bound)
        if mount.option == "--ro-bind" and mount.source == mount.dest and enclosed:
            continue  # already visible through an enclosing bind
        for parent in map(str, reversed(Path(mount.dest).parents)):
            if parent not in made and not any(_inside(parent, b) for b in bound):
                args += ["--perms", "0755", "--dir", parent]
                made.add(parent)
        args += _option_args(mount)
        made.add(mount.dest)
        if mount.option.endswith("bind"):
            bound.append(mount.dest)
    return args


def _option_args(mount: Mount) -> list[str]:
    if mount.option == "--tmpfs":
        return [*(["--size", mount.source] if mount.source else []), "--tmpfs", mount.dest]
    if mount.option == "--dir":
        return ["--perms", "0755", "--dir", mount.dest]
    return [mount.option, mount.source, mount.dest]


# The namespaces, made by an unprivileged bwrap: user (with nested ones disabled), PID, network (empty:
# no IP, no abstract Unix socket of the host), IPC, UTS and cgroup. bwrap drops every capability and
# sets no_new_privs; `--die-with-parent` ends the sandbox if the harness dies.
UNPRIVILEGED_FLAGS = ("--unshare-user", "--unshare-all", "--disable-userns", "--die-with-parent")
SETPRIV_FLAGS = (f"--reuid={SANDBOX_UID}", f"--regid={SANDBOX_GID}", "--clear-groups", "--inh-caps=-all",
                 "--bounding-set=-all")


class Quotas(NamedTuple):
    """Sizes, in bytes, of the child's writable filesystems (each a tmpfs, held in memory)."""

    workspace: int
    tmp: int
    shm: int


def command(program: Sequence[str], quotas: Quotas, seccomp_fd: int, *, staged: Path | None,
            readable: Sequence[Path | str] = ()) -> list[str]:
    """The command line running `program` in a sandbox (see the module docstring). `staged` is the host
    directory bound read-only at `STAGED`, if any."""
    mounts = [*bind_table(readable)]
    if staged is not None:
        mounts.append(Mount("--ro-bind", str(Path(staged).resolve()), STAGED, "the workspace to copy in"))
    mounts.append(Mount("--dir", "", WORKSPACE, "where the workspace's tmpfs is mounted"))
    # /tmp first: a bind below /tmp (a checkout, a venv or a workspace kept there) lands on the tmpfs.
    tmp = ["--perms", "1777", "--size", str(quotas.tmp), "--tmpfs", "/tmp"]
    view = [*tmp, *_mount_args(mounts)]
    bwrap = shutil.which("bwrap") or "bwrap"
    sandbox = [bwrap, *UNPRIVILEGED_FLAGS, "--seccomp", str(seccomp_fd)]
    inner = ["--proc", "/proc", "--dev", "/dev", "--size", str(quotas.shm), "--tmpfs", "/dev/shm",
             "--remount-ro", "/dev", "--size", str(quotas.workspace), "--tmpfs", WORKSPACE,
             "--remount-ro", "/", "--chdir", WORKSPACE, "--", *program]
    if os.geteuid() != 0:
        return [*sandbox, *view, *inner]
    # root: the privileged bwrap binds the host's /proc and /dev, from which the second makes its own.
    outer = [bwrap, "--die-with-parent", *view, "--bind", "/proc", "/proc", "--dev", "/dev", "--"]
    setpriv = [shutil.which("setpriv") or "setpriv", *SETPRIV_FLAGS, "--"]
    return [*outer, *setpriv, *sandbox, "--bind", "/", "/", *inner]
