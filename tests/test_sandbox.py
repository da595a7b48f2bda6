"""The sandbox: limits stop what they should, in bounded time, and the child sees nothing secret."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from task_lib.sandbox.bubblewrap import WORKSPACE
from task_lib.sandbox.run import (
    SandboxLimits,
    child_environment,
    isolation,
    network_isolation_available,
    run_python,
    started_python,
)

NAMESPACES = pytest.mark.skipif(
    not network_isolation_available(),
    reason="no user namespaces (unshare) here: the sandbox cannot isolate the network or the PID space",
)


def run(tmp_path: Path, code: str, *args: str, **limits) -> tuple:
    (tmp_path / "child.py").write_text(code, encoding="utf-8")
    return run_python(["child.py", *args], cwd=tmp_path, limits=SandboxLimits(**limits))


def alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def processes_marked(mark: str) -> dict[int, str]:
    """Live processes on this machine whose command line contains `mark`: {pid: command line}."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if mark in cmdline and alive(int(entry.name)):
                found[int(entry.name)] = cmdline
    return found


def survivors(mark: str, role: str, seconds: float = 3.0) -> list[int]:
    """Pids of marked processes playing `role` still alive after up to `seconds`; killed if any."""
    deadline = time.monotonic() + seconds
    while True:
        left = [pid for pid, cmd in processes_marked(mark).items() if role in cmd]
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    for pid in left:  # don't leak a process we caused, whatever the verdict
        os.kill(pid, signal.SIGKILL)
    return left


# Every process carries the mark in its command line, so the test finds it from outside the sandbox's
# PID namespace (where the child's own /proc shows other numbers).
GRANDCHILDREN = '''
import os, subprocess, sys, time
code = "import os, sys, time\\n{}open(sys.argv[1], 'w').close()\\ntime.sleep(60)"
subprocess.Popen([sys.executable, "-c", code.format(""), "grandchild.started", sys.argv[1]])
subprocess.Popen([sys.executable, "-c", code.format("os.setsid()\\n"), "escaped.started", sys.argv[1]])
while not (os.path.exists("grandchild.started") and os.path.exists("escaped.started")):
    time.sleep(0.01)
while True:
    pass
'''


@pytest.fixture(scope="module")
def timed_out(tmp_path_factory):
    """A child that spawned two grandchildren (one left the process group) and then looped."""
    workdir = tmp_path_factory.mktemp("timeout")
    mark = f"sandbox-test-{os.getpid()}-{time.monotonic_ns()}"
    result = run(workdir, GRANDCHILDREN, mark, wall_seconds=2.0)
    assert (workdir / "grandchild.started").exists() and (workdir / "escaped.started").exists()
    yield result, mark
    survivors(mark, "", seconds=0)


def test_timeout_is_reported_in_bounded_time(timed_out):
    result, _ = timed_out
    assert result.timed_out and result.returncode is None
    assert result.seconds < 2.0 + 3
    assert "timed out" in result.describe_end()


def test_timeout_kills_the_child_and_its_grandchildren(timed_out):
    _, mark = timed_out
    assert survivors(mark, "child.py") == []
    assert survivors(mark, "grandchild.started") == []


@NAMESPACES
def test_timeout_kills_a_grandchild_that_left_the_process_group(timed_out):
    _, mark = timed_out
    assert survivors(mark, "escaped.started") == []


# A child that forks a grandchild; both block at once. The mark (argv[1]) names them from outside.
BLOCKING = "import os, sys, time\nos.fork()\ntime.sleep(60)\n"
RACERS, ROUNDS = 8, 20


def start_and_kill(workdir: Path, mark: str, delay: float, how: str) -> None:
    """Start a sandboxed child and kill it `delay` seconds later: by leaving `started_python`, or by a
    wall-clock limit that short."""
    workdir.mkdir()
    if how == "leave":
        with started_python(["-c", BLOCKING, mark], cwd=workdir) as child:
            time.sleep(delay)
        assert child.process.returncode is not None  # reaped: no zombie left in this process
    else:
        result = run_python(["-c", BLOCKING, mark], cwd=workdir, limits=SandboxLimits(wall_seconds=delay))
        assert result.timed_out


@pytest.mark.parametrize("how", ["leave", "wall_limit"])
@pytest.mark.parametrize("round_", range(ROUNDS))
def test_a_child_killed_during_its_start_leaves_no_process_behind(tmp_path, how, round_):
    """The kill lands anywhere in the sandbox's start (before, during and after bwrap sets it up, in
    concurrent runs): afterwards no process of any run is alive."""
    mark = f"sandbox-race-{os.getpid()}-{time.monotonic_ns()}"
    delays = [0.004 * ((round_ + i) % RACERS) for i in range(RACERS)]  # 0 to 28 ms
    with ThreadPoolExecutor(RACERS) as pool:
        runs = [pool.submit(start_and_kill, tmp_path / str(i), mark, delay, how)
                for i, delay in enumerate(delays)]
    for run_ in runs:
        run_.result()
    assert survivors(mark, "", seconds=3) == []  # a killed process may take a moment to go


SCAN_ENVIRONS = """
import glob, sys
for path in glob.glob('/proc/*/environ'):
    try:
        data = open(path, 'rb').read()
    except OSError:
        continue
    if sys.argv[1].encode() in data:
        print('FOUND', path)
print('scanned')
"""


@NAMESPACES
def test_child_cannot_read_the_environment_of_other_processes(tmp_path):
    secret = f"sk-ant-test-{time.monotonic_ns()}"
    holder = subprocess.Popen(["sleep", "30"], env={**os.environ, "ANTHROPIC_API_KEY": secret})
    try:
        scan = [sys.executable, "-c", SCAN_ENVIRONS, secret]
        outside = subprocess.run(scan, capture_output=True, text=True)
        assert "FOUND" in outside.stdout  # the scan does find the key when not sandboxed
        result = run(tmp_path, SCAN_ENVIRONS, secret)
    finally:
        holder.kill()
        holder.wait()
    assert result.returncode == 0 and "scanned" in result.stdout
    assert "FOUND" not in result.stdout


def test_memory_limit_stops_a_large_allocation(tmp_path):
    result = run(tmp_path, "x = bytearray(1024**3)\nprint('allocated')\n", memory_bytes=512 * 1024**2)
    assert result.returncode not in (0, None)
    assert "MemoryError" in result.stderr and "allocated" not in result.stdout


def test_memory_limit_leaves_room_for_ordinary_work(tmp_path):
    result = run(tmp_path, "x = bytearray(64 * 1024**2)\nprint('allocated')\n", memory_bytes=512 * 1024**2)
    assert result.returncode == 0 and result.stdout == "allocated\n"


def test_cpu_limit_stops_a_busy_loop(tmp_path):
    result = run(tmp_path, "while True:\n    pass\n", cpu_seconds=1, wall_seconds=10)
    assert not result.timed_out and result.returncode != 0
    assert result.seconds < 5


def test_output_is_capped_and_marked_truncated(tmp_path):
    result = run(tmp_path, "print('x' * 100_000)\n", output_chars=1000)
    assert result.output_truncated
    assert result.stdout == "x" * 1000


def test_short_output_is_complete(tmp_path):
    result = run(tmp_path, "import sys\nprint('out')\nprint('err', file=sys.stderr)\n")
    assert (result.stdout, result.stderr, result.output_truncated) == ("out\n", "err\n", False)


def test_a_gigabyte_of_output_ends_quickly(tmp_path):
    result = run(tmp_path, "import sys\nfor _ in range(1000):\n    sys.stdout.write('x' * 10**6)\n")
    assert result.returncode != 0 and result.output_truncated
    assert len(result.stdout) <= SandboxLimits().output_chars
    assert result.seconds < 10


def test_environment_is_scrubbed(tmp_path, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-key")
    monkeypatch.setenv("SECRET_TOKEN", "hunter2")
    result = run(tmp_path, "import json, os\nprint(json.dumps(dict(os.environ)))\n")
    seen = json.loads(result.stdout)
    assert "ANTHROPIC_API_KEY" not in seen and "SECRET_TOKEN" not in seen
    assert "sk-ant-test-key" not in result.stdout and "hunter2" not in result.stdout
    assert set(seen) <= set(child_environment(tmp_path)) | {"PWD", "SHLVL", "_", "LC_CTYPE"}


def test_child_runs_isolated_in_its_working_directory(tmp_path):
    result = run(tmp_path, "import os, sys\nprint(sys.flags.isolated, os.getcwd())\n")
    confined = isolation().mechanism == "bubblewrap"  # in a copy of it, at the same place for every run
    assert result.stdout.split() == ["1", WORKSPACE if confined else str(tmp_path)]


@NAMESPACES
def test_child_cannot_reach_the_network(tmp_path):
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            pass  # reachable from here
        code = (
            "import socket\n"
            "try:\n"
            f"    socket.create_connection(('127.0.0.1', {port}), timeout=2)\n"
            "    print('connected')\n"
            "except OSError as exc:\n"
            "    print('blocked', exc)\n"
        )
        result = run(tmp_path, code)
    assert result.stdout.startswith("blocked"), result.stdout


def test_sandbox_never_raises_for_what_the_child_does(tmp_path):
    result = run(tmp_path, "import os\nos._exit(3)\n")
    assert result.returncode == 3 and result.describe_end() == "exit code 3"
    result = run(tmp_path, "import ctypes\nctypes.string_at(0)\n")
    assert result.signal_name == "SIGSEGV"


def test_python_is_this_interpreter(tmp_path):
    result = run(tmp_path, "import sys\nprint(sys.executable)\n")
    assert result.stdout.strip() == sys.executable
