"""Run untrusted Python in a confined child process: `python -I -B`, scrubbed environment, wall-clock
timeout, CPU / address-space / file-size / process-count limits, output capped, and confinement by the
strongest mechanism that works for the user running the harness (see `isolation()`): bubblewrap, else
`unshare`, else none. `TASK_LIB_SANDBOX=bubblewrap|unshare|none` asks for one no stronger than that.

Every piece of code the model wrote (its tests, its snippets, its solution under the grader) runs
through `started_python` / `run_python`; nothing of it is ever imported into this process.

Under bubblewrap (`bubblewrap.py` beside this module has the command line and every mount) the child
runs in user, PID, network, IPC, UTS, cgroup and mount namespaces of its own, as an ordinary uid with
no capabilities, under a seccomp filter (`seccomp_filter.py`); its process limit is set inside its user
namespace, so it is its own. It works in a tmpfs of the disk quota's size holding a copy of `cwd`; with
`keep_changes` the workspace is copied back into `cwd` when its program ends (`workspace_sync.py`), so
nothing the child writes reaches the host's disk beyond the quota. `/tmp` and `/dev/shm` are tmpfs
of fixed sizes, `/dev` is read-only.

Nothing outlives the run. bwrap starts in a session of its own (no controlling terminal), and its
process group holds, for their whole lives, the bwrap processes and the pid 1 of the child's PID
namespace (every other process of the sandbox is inside that namespace, and dies with its pid 1). The
end of a run kills that group before reaping the child, so the group cannot have gone.
"""

from __future__ import annotations

import contextlib
import functools
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from task_lib.sandbox import bubblewrap, probe_cache
from task_lib.sandbox.bubblewrap import STAGED, WORKSPACE, bind_table, package_paths
from task_lib.sandbox.seccomp_filter import SeccompUnavailable, program_fd
from task_lib.sandbox.workspace_sync import ArchiveReader, replace_contents

__all__ = ["Isolation", "SandboxError", "SandboxLimits", "SandboxResult", "bind_table", "isolation",
           "package_paths", "run_python", "started_python"]

# Variables a child may inherit: none of them can carry a secret. OPENBLAS_* are set on some
# machines because older OpenBLAS builds crash or compute wrongly without them.
INHERITED_VARIABLES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
SANDBOX_VARIABLE = "TASK_LIB_SANDBOX"
MECHANISMS = ("none", "unshare", "bubblewrap")  # weakest first
COPY_SECONDS = 10.0  # beyond the wall-clock limit: copying the workspace in and back out


@dataclass(frozen=True)
class SandboxLimits:
    """Resource limits for one sandboxed run. Under bubblewrap the process limit and the sizes of the
    writable filesystems are the sandbox's own; the other limits hold for each of its processes."""

    wall_seconds: float = 20.0
    cpu_seconds: int = 20
    memory_bytes: int = 2 * 1024**3
    file_bytes: int = 64 * 1024**2
    output_chars: int = 16_000
    processes: int = 128
    disk_bytes: int = 64 * 1024**2  # the workspace's tmpfs
    tmp_bytes: int = 128 * 1024**2  # /tmp
    shm_bytes: int = 64 * 1024**2  # /dev/shm


@dataclass(frozen=True)
class SandboxResult:
    """What a child did: exit status, captured (capped) output and which limit, if any, stopped it."""

    returncode: int | None
    stdout: str
    stderr: str
    timed_out: bool
    output_truncated: bool
    seconds: float
    workspace_note: str = ""  # why the workspace's changes were not kept, when they were not

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
    """The confinement in force: its mechanism, what it confines, what it does not cover, and why no
    stronger mechanism is in force (empty for bubblewrap)."""

    mechanism: str  # "bubblewrap", "unshare" or "none"
    confines: tuple[str, ...]
    not_covered: tuple[str, ...]
    weaker_because: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class SandboxError(RuntimeError):
    """The confinement asked for (TASK_LIB_SANDBOX) is unknown or does not work here."""


_UNSHARE_FLAGS = ("--net", "--pid", "--fork", "--kill-child", "--mount", "--mount-proc")


def _unshare_command() -> list[str]:
    """unshare with its own network (none), PID and mount namespaces and a fresh /proc; an ordinary
    user also needs a user namespace for them."""
    user = () if os.geteuid() == 0 else ("--user", "--map-current-user")
    return [shutil.which("unshare") or "unshare", *user, *_UNSHARE_FLAGS]


def _problem(command: list[str], cwd: str, pass_fds: Sequence[int] = ()) -> str | None:
    """None if `command` runs and exits 0 here, else its last line of error."""
    try:
        done = subprocess.run(command, cwd=cwd, capture_output=True, timeout=20, pass_fds=tuple(pass_fds))
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{command[0]}: {exc}"
    if done.returncode == 0:
        return None
    return (done.stderr.decode("utf-8", "replace").strip().splitlines() or [f"exit {done.returncode}"])[-1]


def _sandbox_programs() -> tuple[str, ...]:
    return ("bwrap", "prlimit") + (("setpriv",) if os.geteuid() == 0 else ())


def _bubblewrap_problem() -> str | None:
    """None when the bubblewrap sandbox, with its real flags, mounts and filter, runs here (known from
    the probe cache when it passed before in this boot; see probe_cache.py)."""
    missing = [name for name in _sandbox_programs() if shutil.which(name) is None]
    if missing:
        return f"{' and '.join(missing)} not found (Debian: apt-get install bubblewrap util-linux)"
    if probe_cache.remembered(_sandbox_programs()):
        return None
    why = _probe_bubblewrap()
    if why is None:
        probe_cache.remember(_sandbox_programs())
    return why


def _probe_bubblewrap() -> str | None:
    """Run the bubblewrap sandbox on `true`: None if it works, else why not."""
    try:
        fd = program_fd()
    except SeccompUnavailable as exc:
        return str(exc)
    try:
        with tempfile.TemporaryDirectory(prefix="sandbox-probe-") as probe:
            os.chmod(probe, 0o755)
            command = bubblewrap.command(["true"], bubblewrap.Quotas(1 << 20, 1 << 20, 1 << 20), fd,
                                         staged=Path(probe))
            return _problem(command, probe, [fd])
    finally:
        os.close(fd)


_ALWAYS = ("scrubbed environment (no API keys)", "wall-clock, CPU, address-space and file-size limits",
           "output capped", "the child's process group killed at the end")
_BWRAP_CONFINES = (
    "user namespace of its own (nested ones disabled): an ordinary uid (65534 when the harness is root, "
    "else the harness's) with no capabilities and no_new_privs; process counts and keyrings are the "
    "sandbox's own",
    "seccomp filter (task_lib/sandbox/seccomp_filter.py): keyrings, ptrace and process_vm_*, bpf, perf, "
    "userfaultfd, io_uring, new namespaces, mounts, modules, memfd and System V shared memory, sockets "
    "other than Unix ones",
    "filesystem: read-only just the interpreter, its standard library, site-packages and /usr (see "
    "bind_table); nothing of the pack, the repository or any home directory",
    "disk: the workspace is a tmpfs of the quota's size, copied back only when the run ends; /tmp and "
    "/dev/shm are size-capped tmpfs, /dev is read-only",
    "no network: empty network namespace (no IP, no abstract Unix sockets), no host socket path bound",
    "own PID namespace with a fresh /proc (no other process, its environment or signals)",
    "own IPC and UTS namespaces",
    "nothing outlives the run: the PID namespace's pid 1 stays in bwrap's process group, killed at the end",
    "process limit (RLIMIT_NPROC inside the sandbox's own user namespace)",
)
_BWRAP_GAPS = (
    "memory is limited per process (address space), not for the child's whole process tree (no "
    "delegated cgroup here)",
    "readable: every installed package in site-packages, /usr, the standard library, and the path of an "
    "editable install (named in site-packages, not its content)",
    "Landlock is not used (a second layer where the kernel has it)",
    "the kernel's remaining system calls are reachable (the filter is a deny list)",
)
_UNSHARE_CONFINES = ("no network: empty network namespace", "own PID namespace with a fresh /proc",
                     "nothing outlives the run (the PID namespace dies with the child)")
_UNSHARE_GAPS = (
    "runs as the harness's user (as root: all of its capabilities)",
    "reads and writes the whole filesystem the harness can: the pack, its reference solution, other "
    "workspaces, home directories",
    "Unix sockets on the filesystem are reachable",
    "no seccomp filter, no process limit, no disk quota",
)
_NONE_GAPS = ("the network, every process's environment and signals", *_UNSHARE_GAPS,
              "a grandchild that leaves the process group outlives the run")


def _detected() -> Isolation:
    """The strongest mechanism that works here, found by running each on `true`."""
    why = _bubblewrap_problem()
    if why is None:
        return Isolation("bubblewrap", (*_BWRAP_CONFINES, *_ALWAYS), _BWRAP_GAPS)
    if _problem([*_unshare_command(), "true"], "/") is None:
        return Isolation("unshare", (*_UNSHARE_CONFINES, *_ALWAYS), _UNSHARE_GAPS, f"bubblewrap: {why}")
    return Isolation("none", _ALWAYS, _NONE_GAPS, f"bubblewrap: {why}; unshare does not work either")


@functools.cache
def isolation() -> Isolation:
    """The confinement in force: the strongest that works for this user, or the one TASK_LIB_SANDBOX
    asks for (SandboxError if it is unknown or stronger than what works)."""
    asked = os.environ.get(SANDBOX_VARIABLE, "").strip()
    if asked and asked not in MECHANISMS:
        raise SandboxError(f"{SANDBOX_VARIABLE} must be one of {', '.join(MECHANISMS)}, got {asked!r}")
    best = _detected()
    if not asked or asked == best.mechanism:
        return best
    if MECHANISMS.index(asked) > MECHANISMS.index(best.mechanism):
        raise SandboxError(f"{SANDBOX_VARIABLE}={asked}, but only {best.mechanism} works here "
                           f"({best.weaker_because})")
    forced = f"{SANDBOX_VARIABLE}={asked} (the strongest here is {best.mechanism})"
    if asked == "unshare":
        return Isolation("unshare", (*_UNSHARE_CONFINES, *_ALWAYS), _UNSHARE_GAPS, forced)
    return Isolation("none", _ALWAYS, _NONE_GAPS, forced)


def network_isolation_available() -> bool:
    """True when the child gets its own (empty) network and PID namespaces here."""
    return isolation().mechanism != "none"


def child_environment(workdir: Path) -> dict[str, str]:
    """A minimal environment: no API keys, tokens or anything else from the parent."""
    confined = isolation().mechanism == "bubblewrap"
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": WORKSPACE if confined else str(workdir),
        "TMPDIR": "/tmp" if confined else str(workdir),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "MPLBACKEND": "Agg",
    }
    env.update({k: os.environ[k] for k in INHERITED_VARIABLES if k in os.environ})
    return env


# Inside the bubblewrap sandbox, after prlimit: copy the workspace in, run the program; with
# keep_changes, under its own wall-clock limit ($1), then archive the workspace onto the archive pipe
# ($2, moved to descriptor 3, which the program never sees), every entry made readable to its owner
# first. A copy in that fails closes it: nothing is copied back.
_COPY_IN = f"cp -R -P --preserve=mode,timestamps {STAGED}/. . 2>/dev/null"
_RUN_DISCARDING = f'{_COPY_IN} || exit 125; shift 2; exec "$@"'
_RUN_KEEPING = (f'eval "exec 3>&$2 $2>&-"; {_COPY_IN} || exec 3>&-; limit=$1; shift 2; '
                'exec 4>&2 2>/dev/null; timeout -s KILL "$limit" "$@" 2>&4 3>&- 4>&-; status=$?; '
                'chmod -R u+rwX . 2>/dev/null; tar -c -f - --format=gnu . >&3; exit $status')


def _limits_args(limits: SandboxLimits, processes: bool) -> list[str]:
    args = [f"--as={limits.memory_bytes}", f"--cpu={limits.cpu_seconds}", f"--fsize={limits.file_bytes}",
            "--core=0"]
    return [*args, f"--nproc={limits.processes}"] if processes else args


def _command(python: list[str], cwd: Path, limits: SandboxLimits, readable: Sequence[Path | str],
             seccomp_fd: int, archive_fd: int | None) -> list[str]:
    """The full command line: the sandbox (or fallback), the limits, then `python`."""
    mechanism = isolation().mechanism
    prlimit = shutil.which("prlimit") or "prlimit"
    if mechanism == "bubblewrap":
        # dash takes only one-digit descriptors in redirections: bash moves the archive's
        shell, script = ("/bin/sh", _RUN_DISCARDING) if archive_fd is None else ("/bin/bash", _RUN_KEEPING)
        inside = [prlimit, *_limits_args(limits, True), "--", shell, "-c", script, "sh",
                  f"{limits.wall_seconds:g}", str(archive_fd or "-"), *python]
        quotas = bubblewrap.Quotas(limits.disk_bytes, limits.tmp_bytes, limits.shm_bytes)
        return bubblewrap.command(inside, quotas, seccomp_fd, staged=cwd, readable=readable)
    fallback = _unshare_command() if mechanism == "unshare" else []
    return [prlimit, *_limits_args(limits, False), "--", *fallback, *python]


def _open_to_sandbox(workdir: Path) -> None:
    """As root, the sandbox's uid 65534 reads the workspace it copies in: make `workdir` and what it
    holds readable and its folders enterable by all (iteratively; symlinks are not followed)."""
    pending = [str(workdir)]
    seen = 0
    while pending and seen < 100_000:
        folder = pending.pop()
        seen += 1
        with contextlib.suppress(OSError):
            os.chmod(folder, os.lstat(folder).st_mode & 0o7777 | 0o555)
            with os.scandir(folder) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        pending.append(entry.path)
                    elif entry.is_file(follow_symlinks=False):
                        with contextlib.suppress(OSError):
                            os.chmod(entry.path, entry.stat(follow_symlinks=False).st_mode & 0o7777 | 0o444)


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
    kill reaches everything that was ever in the group and is still alive (under bubblewrap: the bwrap
    processes and the PID namespace's pid 1)."""
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
    is still running. A pidfd wakes us the moment the child ends (`Popen.wait(timeout)` polls)."""
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
    """The child's status as Popen would give it: bwrap and the shell exit 128 + N when their child
    died of signal N (so, under bwrap, a child's own `exit(128 + N)` reads as that signal too)."""
    if isolation().mechanism == "bubblewrap" and 128 < returncode < 128 + 65:
        return 128 - returncode
    return returncode


class SandboxChild:
    """A sandboxed child already running (see `started_python`): `finish` lets it go on and waits."""

    def __init__(self, process: subprocess.Popen, io_dir: Path, limits: SandboxLimits, start: float,
                 cwd: Path, archive: ArchiveReader | None):
        self.process, self.io_dir, self.limits, self.start = process, io_dir, limits, start
        self.cwd, self.archive = cwd, archive

    def stop(self) -> None:
        """Kill the child and its process group now (`finish` then returns at once)."""
        _end(self.process)

    def finish(self, stdin_data: str | bytes = "") -> SandboxResult:
        """Write `stdin_data` (text is UTF-8 encoded) to the child's stdin and close it, then wait for
        the child to end (up to the wall-clock limit, counted from its start; a workspace kept gets
        `COPY_SECONDS` more to be copied) and return what it did."""
        if self.process.stdin is not None:
            data = stdin_data.encode() if isinstance(stdin_data, str) else stdin_data
            feed = threading.Thread(target=_feed, args=(self.process.stdin, data), daemon=True)
            feed.start()
        allowed = self.limits.wall_seconds + (COPY_SECONDS if self.archive else 0.0)
        try:
            ended = _wait_for_exit(self.process, max(allowed - (time.monotonic() - self.start), 0.0))
        finally:
            _end(self.process)  # also kills what is left in its group
        seconds = time.monotonic() - self.start
        returncode = _child_status(self.process.returncode) if ended else None
        # under bubblewrap a workspace kept has its own limit inside: `timeout` kills the program
        timed_out = not ended or (self.archive is not None and returncode == -signal.SIGKILL
                                  and seconds >= self.limits.wall_seconds)
        stdout, cut_out = _read_capped(self.io_dir / "stdout", self.limits.output_chars)
        stderr, cut_err = _read_capped(self.io_dir / "stderr", self.limits.output_chars)
        if returncode == 1 and stderr.startswith("bwrap: ") and isolation().mechanism == "bubblewrap":
            probe_cache.forget()  # bubblewrap's own set-up failed: the next process probes again
        return SandboxResult(
            returncode=None if timed_out else returncode,
            stdout=stdout,
            stderr=stderr,
            timed_out=timed_out,
            output_truncated=cut_out or cut_err,
            seconds=seconds,
            workspace_note=self._copy_back(),
        )

    def _copy_back(self) -> str:
        """Replace the workspace's contents with the sandbox's; why not, if they were not."""
        if self.archive is None:
            return ""
        archive = self.archive.archive(timeout=2.0)
        if archive is None:
            quota = self.limits.disk_bytes // 1024**2
            return f"the workspace grew past its {quota} MiB quota or was not archived"
        if not archive:
            return "the workspace could not be copied in or out of the sandbox"
        why = replace_contents(self.cwd, archive)
        return "" if why is None else f"the workspace could not be copied back: {why}"


@contextlib.contextmanager
def started_python(
    args: list[str],
    cwd: Path,
    limits: SandboxLimits = SandboxLimits(),
    *,
    stdin: bool = False,
    readable: Sequence[Path | str] = (),
    pass_fds: Sequence[int] = (),
    keep_changes: bool = True,
) -> Iterator[SandboxChild]:
    """Start `python -I -B *args` under `limits` now, and finish it later: a child that reads its stdin
    (`stdin=True`) waits there for `finish`. The child works in `cwd` (under bubblewrap, in a copy of it
    that replaces `cwd`'s contents at the end if `keep_changes`, else is thrown away). `readable` are
    extra paths the child may read, `pass_fds` descriptors it inherits. The child and its process group
    are killed on leaving, whatever happened (a KeyboardInterrupt included), and the child is reaped.
    SandboxError if the confinement asked for does not work here."""
    start = time.monotonic()
    confined = isolation().mechanism == "bubblewrap"
    cwd = Path(cwd)
    extra_fds: list[int] = []
    archive = ArchiveReader(limit=2 * limits.disk_bytes + (16 << 20)) if confined and keep_changes else None
    try:
        seccomp_fd = program_fd() if confined else -1
        extra_fds += [seccomp_fd] if confined else []
        if confined and os.geteuid() == 0:
            _open_to_sandbox(cwd)
        with tempfile.TemporaryDirectory(prefix="sandbox-io-") as io_dir:
            with open(Path(io_dir, "stdout"), "wb") as out, open(Path(io_dir, "stderr"), "wb") as err:
                process = _popen(args, cwd, limits, readable, seccomp_fd, archive, out, err,
                                 stdin, [*pass_fds, *extra_fds])
            for fd in extra_fds:
                os.close(fd)
            extra_fds = []
            if archive is not None:
                archive.start()
            try:
                yield SandboxChild(process, Path(io_dir), limits, start, cwd, archive)
            finally:
                _end(process)
    finally:
        for fd in extra_fds:
            os.close(fd)
        if archive is not None:
            archive.close()


def _popen(args, cwd, limits, readable, seccomp_fd, archive, out, err, stdin, pass_fds) -> subprocess.Popen:
    """Start the child (under bubblewrap with a workspace to keep, it inherits the archive's pipe)."""
    python = [sys.executable, "-I", "-B", *args]
    archive_fd = archive.child_fd if archive is not None else None
    command = _command(python, cwd, limits, readable, seccomp_fd, archive_fd)
    return subprocess.Popen(
        command,
        cwd=cwd if isolation().mechanism != "bubblewrap" else "/",
        env=child_environment(cwd),
        stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
        stdout=out,
        stderr=err,
        start_new_session=True,
        pass_fds=(*pass_fds, *([] if archive_fd is None else [archive_fd])),
    )


def run_python(
    args: list[str],
    cwd: Path,
    limits: SandboxLimits = SandboxLimits(),
    stdin_text: str | None = None,
    *,
    readable: Sequence[Path | str] = (),
    pass_fds: Sequence[int] = (),
    keep_changes: bool = True,
) -> SandboxResult:
    """Run `python -I -B *args` in `cwd` under `limits` (see `started_python`); never raises for
    anything the child does."""
    with started_python(args, cwd, limits, stdin=stdin_text is not None, readable=readable,
                        pass_fds=pass_fds, keep_changes=keep_changes) as child:
        return child.finish(stdin_text or "")
