"""Run untrusted Python in a child process: `python -I -B`, scrubbed environment, wall-clock timeout,
CPU / address-space / file-size limits, no network where the machine allows it, output capped.

Every piece of code the model wrote (its tests, its snippets, its `dropout.py` under the grader) runs
through `run_python`; nothing of it is ever imported into this process.
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
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# Variables a child may inherit: none of them can carry a secret. OPENBLAS_* are set on some
# machines because older OpenBLAS builds crash or compute wrongly without them.
INHERITED_VARIABLES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


@dataclass(frozen=True)
class SandboxLimits:
    """Resource limits for one child process."""

    wall_seconds: float = 20.0
    cpu_seconds: int = 20
    memory_bytes: int = 2 * 1024**3
    file_bytes: int = 64 * 1024**2
    output_chars: int = 16_000


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


@functools.cache
def network_isolation_available() -> bool:
    """True when `unshare` can give a child its own (empty) network and PID namespaces here."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return False
    try:
        probe = subprocess.run([unshare, *_UNSHARE_FLAGS, "true"], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


def isolation_name() -> str:
    """Which confinement the children get here: "unshare" or "none"."""
    return "unshare" if network_isolation_available() else "none"


# Own network (none), PID and mount namespaces; a fresh /proc shows the child only its own processes,
# so /proc/<pid>/environ of the harness (which holds the API key) is out of reach.
_UNSHARE_FLAGS = ("--net", "--pid", "--fork", "--kill-child", "--mount", "--mount-proc")


def child_environment(workdir: Path) -> dict[str, str]:
    """A minimal environment: no API keys, tokens or anything else from the parent."""
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(workdir),
        "TMPDIR": str(workdir),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "MPLBACKEND": "Agg",
    }
    env.update({k: os.environ[k] for k in INHERITED_VARIABLES if k in os.environ})
    return env


def _command(args: list[str], limits: SandboxLimits) -> list[str]:
    python = [sys.executable, "-I", "-B", *args]
    if network_isolation_available():
        python = [shutil.which("unshare"), *_UNSHARE_FLAGS, *python]
    prlimit = shutil.which("prlimit")
    if prlimit is None:
        return python  # limits are then applied by _set_limits in the child
    return [
        prlimit,
        f"--as={limits.memory_bytes}",
        f"--cpu={limits.cpu_seconds}",
        f"--fsize={limits.file_bytes}",
        "--core=0",
        "--",
        *python,
    ]


def _set_limits(limits: SandboxLimits) -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _read_capped(path: Path, limit: int) -> tuple[str, bool]:
    with open(path, "rb") as handle:
        data = handle.read(limit * 4 + 4)
    text = data.decode("utf-8", errors="replace")
    if len(text) > limit or path.stat().st_size > len(data):
        return text[:limit], True
    return text, False


def _kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _feed(pipe, data: bytes) -> None:
    """Write `data` to the child's stdin and close it (in a thread, so a child that never reads
    cannot block the parent past its wall-clock limit)."""
    try:
        with pipe:
            pipe.write(data)
    except OSError:  # the child ended, or closed its stdin, without reading everything
        pass


def _wait_for_exit(process: subprocess.Popen, timeout: float) -> bool:
    """Wait up to `timeout` seconds for `process` to end and reap it; False if it is still running.

    A pidfd wakes us the moment the child ends; `Popen.wait(timeout)` would poll with sleeps of up
    to 50 ms, adding that much to every sandboxed run. Without pidfds (not Linux 5.3+) it polls.
    """
    try:
        pidfd = os.pidfd_open(process.pid)
    except (AttributeError, OSError):
        try:
            process.wait(timeout)
            return True
        except subprocess.TimeoutExpired:
            return False
    try:
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        ended = bool(poller.poll(timeout * 1000))
    finally:
        os.close(pidfd)
    if ended:
        process.wait()
    return ended


class SandboxChild:
    """A sandboxed child already running (see `started_python`): `finish` lets it go on and waits."""

    def __init__(self, process: subprocess.Popen, io_dir: Path, limits: SandboxLimits, start: float):
        self.process, self.io_dir, self.limits, self.start = process, io_dir, limits, start

    def finish(self, stdin_text: str = "") -> SandboxResult:
        """Write `stdin_text` to the child's stdin and close it, then wait for the child to end (up to
        the wall-clock limit, counted from its start) and return what it did."""
        if self.process.stdin is not None:
            feed = threading.Thread(target=_feed, args=(self.process.stdin, stdin_text.encode()), daemon=True)
            feed.start()
        left = self.limits.wall_seconds - (time.monotonic() - self.start)
        try:
            timed_out = not _wait_for_exit(self.process, max(left, 0.0))
        finally:
            _kill_group(self.process)  # also reaps grandchildren left in the group
            self.process.wait()
        stdout, cut_out = _read_capped(self.io_dir / "stdout", self.limits.output_chars)
        stderr, cut_err = _read_capped(self.io_dir / "stderr", self.limits.output_chars)
        return SandboxResult(
            returncode=None if timed_out else self.process.returncode,
            stdout=stdout,
            stderr=stderr,
            timed_out=timed_out,
            output_truncated=cut_out or cut_err,
            seconds=time.monotonic() - self.start,
        )


@contextlib.contextmanager
def started_python(
    args: list[str], cwd: Path, limits: SandboxLimits = SandboxLimits(), *, stdin: bool = False
) -> Iterator[SandboxChild]:
    """Start `python -I -B *args` in `cwd` under `limits` now, and finish it later: a child that
    reads its stdin (`stdin=True`) waits there for `finish`, e.g. while the caller writes its input
    files. The child and its process group are killed on leaving, whatever happened."""
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="sandbox-io-") as io_dir:
        with open(Path(io_dir, "stdout"), "wb") as out, open(Path(io_dir, "stderr"), "wb") as err:
            process = subprocess.Popen(
                _command(args, limits),
                cwd=cwd,
                env=child_environment(Path(cwd)),
                stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
                preexec_fn=None if shutil.which("prlimit") else functools.partial(_set_limits, limits),
            )
        try:
            yield SandboxChild(process, Path(io_dir), limits, start)
        finally:
            _kill_group(process)
            process.wait()


def run_python(
    args: list[str],
    cwd: Path,
    limits: SandboxLimits = SandboxLimits(),
    stdin_text: str | None = None,
) -> SandboxResult:
    """Run `python -I -B *args` in `cwd` under `limits`; never raises for anything the child does."""
    with started_python(args, cwd, limits, stdin=stdin_text is not None) as child:
        return child.finish(stdin_text or "")
