"""Run untrusted Python in a confined child process: `python -I -B`, scrubbed environment, wall-clock
timeout, CPU / address-space / file-size / process-count limits, output capped, and confinement by the
strongest mechanism that works here (see `isolation()`): bubblewrap, else `unshare`, else none.

Every piece of code the model wrote (its tests, its snippets, its `dropout.py` under the grader) runs
through `run_python`; nothing of it is ever imported into this process.

Under bubblewrap the child starts from an empty root and sees only what `bind_table` lists (read-only),
its working directory (read-write, at its own path), a fresh `/proc` of its own PID namespace, a minimal
`/dev` and a private, size-capped `/tmp`. It has its own (empty) network, IPC, UTS and cgroup namespaces,
so no IP or abstract Unix socket of the host is reachable, and no host socket path is bound. bwrap runs
as root to set up the mounts (the interpreter may live under a directory only root can traverse), then
`setpriv` makes the child host uid/gid 65534 with no groups, no capabilities (bounding set included) and
`no_new_privs`; the working directory is handed to uid 65534 before each run.

Nothing outlives the run. bwrap starts in a session of its own (no controlling terminal, so the child
cannot reach the caller's), and its process group holds, for their whole lives, bwrap and the pid 1 of
the child's PID namespace, which bwrap runs (every other process of the sandbox is inside that
namespace, and dies with its pid 1). The end of a run kills that group before reaping bwrap, so the
group cannot have gone: a kill that lands at any moment of bwrap's start, even before bwrap's pid 1
has bound its life to bwrap's (`--die-with-parent`), kills the namespace. (bwrap's `--new-session`
would move its pid 1 out of the group before that binding, leaving a window in which it survives.)
"""

from __future__ import annotations

import contextlib
import functools
import os
import select
import shutil
import signal
import site
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, NamedTuple

# Variables a child may inherit: none of them can carry a secret. OPENBLAS_* are set on some
# machines because older OpenBLAS builds crash or compute wrongly without them.
INHERITED_VARIABLES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
SANDBOX_UID = SANDBOX_GID = 65534  # "nobody": owns nothing on the host
# RLIMIT_NPROC counts the processes (and threads) of one host uid, and every sandbox runs as uid 65534:
# this is one budget for all sandboxes running at once. 256 stops a fork bomb, and leaves room for ~10
# concurrent sandboxes of a few processes each (NumPy and friends are held to one thread).
DEFAULT_PROCESSES = 256
PRIVATE_TMP_BYTES = 256 * 1024**2  # the size cap of the child's private /tmp (a tmpfs, held in memory)


@dataclass(frozen=True)
class SandboxLimits:
    """Resource limits for one child process."""

    wall_seconds: float = 20.0
    cpu_seconds: int = 20
    memory_bytes: int = 2 * 1024**3
    file_bytes: int = 64 * 1024**2
    output_chars: int = 16_000
    processes: int = DEFAULT_PROCESSES


@dataclass(frozen=True)
class SandboxResult:
    """What a child did: exit status, captured (capped) output and which limit, if any, stopped it."""

    returncode: int | None
    stdout: str
    stderr: str
    timed_out: bool
    output_truncated: bool
    seconds: float

    @property
    def signal_name(self) -> str | None:
        """The signal that killed the child, if one did."""
        if self.returncode is None or self.returncode >= 0:
            return None
        try:
            return signal.Signals(-self.returncode).name
        except ValueError:
            return f"signal {-self.returncode}"

    def describe_end(self) -> str:
        """One line on how the child ended, for tool results and failure messages."""
        if self.timed_out:
            return "timed out (wall-clock limit)"
        limit_hit = {
            "SIGXCPU": "CPU-time limit",
            "SIGXFSZ": "file/output size limit",
            "SIGKILL": "killed",
            "SIGSEGV": "segmentation fault",
        }
        if self.signal_name:
            return f"killed by {self.signal_name} ({limit_hit.get(self.signal_name, 'signal')})"
        return f"exit code {self.returncode}"


@dataclass(frozen=True)
class Isolation:
    """The confinement in force: its mechanism, what it confines and what it does not cover."""

    mechanism: str  # "bubblewrap", "unshare" or "none"
    confines: tuple[str, ...]
    not_covered: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Mount(NamedTuple):
    """One entry of the child's filesystem under bubblewrap: a bwrap option, its source (for `--tmpfs`
    its size cap in bytes, or empty), its place in the sandbox and why the child needs it."""

    option: str  # "--ro-bind", "--symlink" or "--tmpfs"
    source: str
    dest: str
    why: str


PACKAGE_DIR = Path(__file__).resolve().parent  # the pack itself: never visible to a child
_SYSTEM_TOP_DIRS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")


def package_paths() -> list[str]:
    """The site-packages directories of this interpreter that exist: what a child may import from."""
    return [path for path in site.getsitepackages() if os.path.isdir(path)]


def bind_table(readable: Sequence[Path | str] = ()) -> list[Mount]:
    """Everything the child sees under bubblewrap besides its working directory, `/proc`, `/dev` and
    `/tmp`, in mount order. Read-only, and exactly what the interpreter needs."""
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
    run as root would make them 0700, closed to uid 65534), unless they exist inside an earlier bind."""
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
    if mount.option in ("--proc", "--dev"):
        return [mount.option, mount.dest]
    return [mount.option, mount.source, mount.dest]


# Own PID, network, IPC, UTS and cgroup namespaces. Not `--unshare-all`: its user namespace, with bwrap
# run as root, would map the child's uid 65534 to host root (exempt from RLIMIT_NPROC); the child is made
# host uid 65534 by setpriv instead, which also drops every capability and sets no_new_privs.
# No `--new-session` (see the module docstring): bwrap's own session is made by `started_python`.
_BWRAP_FLAGS = ("--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
                "--die-with-parent")
_SETPRIV_FLAGS = (f"--reuid={SANDBOX_UID}", f"--regid={SANDBOX_GID}", "--clear-groups", "--inh-caps=-all",
                  "--bounding-set=-all", "--no-new-privs")


def _bubblewrap_prefix(cwd: Path, readable: Sequence[Path | str]) -> list[str]:
    """bwrap and setpriv, ready for the child's command line."""
    workdir = str(Path(cwd).resolve())
    # /proc, /dev and the private /tmp first: a bind below /tmp (a checkout or venv kept there, the
    # working directory) must land on the tmpfs, not be hidden by it.
    mounts = [
        Mount("--proc", "", "/proc", "a fresh /proc of the child's PID namespace"),
        Mount("--dev", "", "/dev", "null, zero, random, urandom, tty, shm"),
        Mount("--tmpfs", str(PRIVATE_TMP_BYTES), "/tmp", "a private /tmp"),
        *bind_table(readable),
        Mount("--bind", workdir, workdir, "the working directory, read-write"),
    ]
    bwrap = [shutil.which("bwrap") or "bwrap", *_BWRAP_FLAGS, *_mount_args(mounts), "--chdir", workdir]
    return [*bwrap, "--", shutil.which("setpriv") or "setpriv", *_SETPRIV_FLAGS, "--"]


# Own network (none), PID and mount namespaces; a fresh /proc shows the child only its own processes,
# so /proc/<pid>/environ of the harness (which holds the API key) is out of reach.
_UNSHARE_FLAGS = ("--net", "--pid", "--fork", "--kill-child", "--mount", "--mount-proc")


def _runs(command: list[str], cwd: str | None = None) -> bool:
    try:
        return subprocess.run(command, cwd=cwd, capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _bubblewrap_works() -> bool:
    """True when bwrap, with the real flags and mounts, runs `true` as uid 65534 here (root only)."""
    if os.geteuid() != 0 or not (shutil.which("bwrap") and shutil.which("setpriv")):
        return False
    with tempfile.TemporaryDirectory(prefix="sandbox-probe-") as probe:
        hand_over(Path(probe))
        return _runs([*_bubblewrap_prefix(Path(probe), ()), "true"], cwd=probe)


def _unshare_works() -> bool:
    unshare = shutil.which("unshare")
    return unshare is not None and _runs([unshare, *_UNSHARE_FLAGS, "true"])


_ALWAYS = ("scrubbed environment (no API keys)", "wall-clock, CPU, address-space and file-size limits",
           "output capped", "the child's process group killed at the end")
_BWRAP_CONFINES = (
    f"host uid/gid {SANDBOX_UID}, no groups, no capabilities, no_new_privs",
    "filesystem: only the working directory is writable; read-only just the interpreter, its standard "
    "library, site-packages and /usr (see bind_table); nothing of the pack, the repository or /root",
    "no network: empty network namespace (no IP, no abstract Unix sockets), no host socket path bound",
    "own PID namespace with a fresh /proc (no other process, its environment or signals)",
    "private /tmp (tmpfs), own IPC and UTS namespaces",
    "nothing outlives the run: the PID namespace's pid 1 stays in bwrap's process group, killed at the end",
    "process limit (RLIMIT_NPROC for uid 65534)",
)
_BWRAP_GAPS = (
    "one process budget for all sandboxes (they share uid 65534): a fork bomb in one makes forks fail in "
    "the others until its run is killed",
    "memory is limited per process (address space), not for the child's whole process tree",
    "the child can create user namespaces of its own (more kernel surface; bwrap's --disable-userns needs "
    "a user namespace that would map the child to host root)",
    "no seccomp filter: the whole kernel interface is reachable",
    "readable: every installed package in site-packages, /usr, the standard library, and the path of an "
    "editable install (named in site-packages, not its content)",
    "the working directory is handed to uid 65534 (chown) before each run",
    "a harness killed by SIGKILL (no cleanup runs) in the first milliseconds of a sandbox's start, before "
    "bwrap has bound the sandbox's life to its own, leaves that sandbox running until its program ends",
)
_UNSHARE_CONFINES = ("no network: empty network namespace", "own PID namespace with a fresh /proc",
                     "nothing outlives the run (the PID namespace dies with the child)")
_UNSHARE_GAPS = (
    "runs as the harness's user (root here: all of its capabilities)",
    "reads and writes the whole filesystem the harness can: the pack, its reference solution, other "
    "workspaces, home directories",
    "Unix sockets on the filesystem are reachable",
    "no process limit when the harness runs as root (RLIMIT_NPROC does not apply to root)",
)
_NONE_GAPS = ("the network, every process's environment and signals", *_UNSHARE_GAPS,
              "a grandchild that leaves the process group outlives the run")


@functools.cache
def isolation() -> Isolation:
    """The strongest confinement that works here, detected once by running it on `true`."""
    if _bubblewrap_works():
        return Isolation("bubblewrap", (*_BWRAP_CONFINES, *_ALWAYS), _BWRAP_GAPS)
    if _unshare_works():
        return Isolation("unshare", (*_UNSHARE_CONFINES, *_ALWAYS), _UNSHARE_GAPS)
    return Isolation("none", _ALWAYS, _NONE_GAPS)


def network_isolation_available() -> bool:
    """True when the child gets its own (empty) network and PID namespaces here."""
    return isolation().mechanism != "none"


def hand_over(workdir: Path) -> None:
    """Make `workdir` and what it holds belong to uid 65534, so that the child may write there
    (symlinks are not followed; a hard-linked file is left alone)."""
    for root, dirs, files in os.walk(workdir):
        for name in [*dirs, *files]:
            path = os.path.join(root, name)
            info = os.lstat(path)
            if info.st_uid != SANDBOX_UID and (info.st_nlink == 1 or os.path.isdir(path)):
                os.chown(path, SANDBOX_UID, SANDBOX_GID, follow_symlinks=False)
    os.chown(workdir, SANDBOX_UID, SANDBOX_GID)


def child_environment(workdir: Path) -> dict[str, str]:
    """A minimal environment: no API keys, tokens or anything else from the parent."""
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(workdir),
        "TMPDIR": "/tmp" if isolation().mechanism == "bubblewrap" else str(workdir),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "MPLBACKEND": "Agg",
    }
    env.update({k: os.environ[k] for k in INHERITED_VARIABLES if k in os.environ})
    return env


def _command(args: list[str], cwd: Path, limits: SandboxLimits, readable: Sequence[Path | str]) -> list[str]:
    python = [sys.executable, "-I", "-B", *args]
    mechanism = isolation().mechanism
    if mechanism == "bubblewrap":
        python = [*_bubblewrap_prefix(cwd, readable), *python]
    elif mechanism == "unshare":
        python = [shutil.which("unshare") or "unshare", *_UNSHARE_FLAGS, *python]
    prlimit = shutil.which("prlimit")
    if prlimit is None:
        return python  # limits are then applied by _set_limits in the child
    return [
        prlimit,
        f"--as={limits.memory_bytes}",
        f"--cpu={limits.cpu_seconds}",
        f"--fsize={limits.file_bytes}",
        f"--nproc={limits.processes}",
        "--core=0",
        "--",
        *python,
    ]


def _set_limits(limits: SandboxLimits) -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))
    resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes, limits.processes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _read_capped(path: Path, limit: int) -> tuple[str, bool]:
    with open(path, "rb") as handle:
        data = handle.read(limit * 4 + 4)
    text = data.decode("utf-8", errors="replace")
    if len(text) > limit or path.stat().st_size > len(data):
        return text[:limit], True
    return text, False


def _end(process: subprocess.Popen) -> None:
    """Kill the child's process group, then reap the child; nothing once it is reaped. The child is
    reaped only here, after the kill: until then its pid, and so its group, cannot be reused, and the
    kill reaches everything that was ever in the group and is still alive (under bubblewrap: bwrap and
    the PID namespace's pid 1)."""
    if process.returncode is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:  # the group is empty: every member has ended and been reaped
        pass
    process.wait()


def _feed(pipe, data: bytes) -> None:
    """Write `data` to the child's stdin and close it (in a thread, so a child that never reads
    cannot block the parent past its wall-clock limit)."""
    try:
        with pipe:
            pipe.write(data)
    except OSError:  # the child ended, or closed its stdin, without reading everything
        pass


def _wait_for_exit(process: subprocess.Popen, timeout: float) -> bool:
    """Wait up to `timeout` seconds for `process` to end, without reaping it (see `_end`); False if it
    is still running.

    A pidfd wakes us the moment the child ends; `Popen.wait(timeout)` would poll with sleeps of up
    to 50 ms, adding that much to every sandboxed run. Without pidfds (not Linux 5.3+) it polls too.
    """
    try:
        pidfd = os.pidfd_open(process.pid)
    except (AttributeError, OSError):
        return _poll_for_exit(process.pid, timeout)
    try:
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        return bool(poller.poll(timeout * 1000))
    finally:
        os.close(pidfd)


def _poll_for_exit(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None:
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)
    return True


def _child_status(returncode: int) -> int:
    """The child's status as Popen would give it: bwrap exits 128 + N when its child died of signal N
    (so, under bwrap, a child's own `exit(128 + N)` reads as that signal too)."""
    if isolation().mechanism == "bubblewrap" and 128 < returncode < 128 + 65:
        return 128 - returncode
    return returncode


class SandboxChild:
    """A sandboxed child already running (see `started_python`): `finish` lets it go on and waits."""

    def __init__(self, process: subprocess.Popen, io_dir: Path, limits: SandboxLimits, start: float):
        self.process, self.io_dir, self.limits, self.start = process, io_dir, limits, start

    def finish(self, stdin_data: str | bytes = "") -> SandboxResult:
        """Write `stdin_data` (text is UTF-8 encoded) to the child's stdin and close it, then wait for
        the child to end (up to the wall-clock limit, counted from its start) and return what it did."""
        if self.process.stdin is not None:
            data = stdin_data.encode() if isinstance(stdin_data, str) else stdin_data
            feed = threading.Thread(target=_feed, args=(self.process.stdin, data), daemon=True)
            feed.start()
        left = self.limits.wall_seconds - (time.monotonic() - self.start)
        try:
            timed_out = not _wait_for_exit(self.process, max(left, 0.0))
        finally:
            _end(self.process)  # also kills what is left in its group
        stdout, cut_out = _read_capped(self.io_dir / "stdout", self.limits.output_chars)
        stderr, cut_err = _read_capped(self.io_dir / "stderr", self.limits.output_chars)
        return SandboxResult(
            returncode=None if timed_out else _child_status(self.process.returncode),
            stdout=stdout,
            stderr=stderr,
            timed_out=timed_out,
            output_truncated=cut_out or cut_err,
            seconds=time.monotonic() - self.start,
        )


@contextlib.contextmanager
def started_python(
    args: list[str],
    cwd: Path,
    limits: SandboxLimits = SandboxLimits(),
    *,
    stdin: bool = False,
    readable: Sequence[Path | str] = (),
    pass_fds: Sequence[int] = (),
) -> Iterator[SandboxChild]:
    """Start `python -I -B *args` in `cwd` under `limits` now, and finish it later: a child that
    reads its stdin (`stdin=True`) waits there for `finish`, e.g. while the caller writes its input
    files. `readable` are extra paths the child may read, `pass_fds` file descriptors it inherits.
    The child and its process group are killed on leaving, whatever happened (a KeyboardInterrupt
    included), and the child is reaped."""
    start = time.monotonic()
    if isolation().mechanism == "bubblewrap":
        hand_over(Path(cwd))
    with tempfile.TemporaryDirectory(prefix="sandbox-io-") as io_dir:
        with open(Path(io_dir, "stdout"), "wb") as out, open(Path(io_dir, "stderr"), "wb") as err:
            process = subprocess.Popen(
                _command(args, Path(cwd), limits, readable),
                cwd=cwd,
                env=child_environment(Path(cwd)),
                stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
                pass_fds=tuple(pass_fds),
                preexec_fn=None if shutil.which("prlimit") else functools.partial(_set_limits, limits),
            )
        try:
            yield SandboxChild(process, Path(io_dir), limits, start)
        finally:
            _end(process)


def run_python(
    args: list[str],
    cwd: Path,
    limits: SandboxLimits = SandboxLimits(),
    stdin_text: str | None = None,
    *,
    readable: Sequence[Path | str] = (),
    pass_fds: Sequence[int] = (),
) -> SandboxResult:
    """Run `python -I -B *args` in `cwd` under `limits`; never raises for anything the child does."""
    with started_python(args, cwd, limits, stdin=stdin_text is not None, readable=readable,
                        pass_fds=pass_fds) as child:
        return child.finish(stdin_text or "")
