"""The boundaries the kernel enforces around every sandbox, crossed from `run_python` (the tools' code)
and from the grader's child (a candidate's `dropout.py`), each also shown to be crossable outside: the
seccomp filter (keyrings, memfd, ptrace and process_vm_readv, new user namespaces, IP sockets), the
size-capped filesystems (workspace quota, /dev/shm, /dev), and the process budget, which is each
sandbox's own."""

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from task_lib.agent.workspace import create_workspace
from task_lib.grading.grader import grade_workspace
from task_lib.registry import get_task
from task_lib.sandbox.run import SandboxLimits, isolation, run_python

BUBBLEWRAP = pytest.mark.skipif(isolation().mechanism != "bubblewrap" or os.uname().machine != "x86_64",
                                reason=f"bubblewrap is missing or unusable here (isolation: "
                                       f"{isolation().mechanism}), or not x86_64 (the probes' system "
                                       "call numbers)")
TASK = get_task("variance-dropout")

# Each probe prints one word per crossing: OPEN (it worked) or SHUT (the kernel refused it).
PROBES = {
    "keyring": """
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
key = libc.syscall(248, b"user", b"confinement-probe", b"secret", 6, -4)  # add_key to the user keyring
result = "OPEN" if key >= 0 else "SHUT"
""",
    "memfd": """
import os
try:
    os.close(os.memfd_create("probe"))
    result = "OPEN"
except OSError:
    result = "SHUT"
""",
    "process_vm_readv": """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
class IoVec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("length", ctypes.c_size_t)]
source, target = ctypes.create_string_buffer(b"abcdefgh"), ctypes.create_string_buffer(8)
local, remote = IoVec(ctypes.cast(target, ctypes.c_void_p), 8), IoVec(ctypes.cast(source, ctypes.c_void_p), 8)
read = libc.syscall(ctypes.c_long(310), ctypes.c_long(os.getpid()), ctypes.byref(local), ctypes.c_ulong(1),
                    ctypes.byref(remote), ctypes.c_ulong(1), ctypes.c_ulong(0))
result = "OPEN" if read == 8 else "SHUT"
""",
    "user_namespace": """
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
result = "OPEN" if libc.unshare(0x10000000) == 0 else "SHUT"  # CLONE_NEWUSER
""",
    "ip_socket": """
import socket
try:
    socket.socket(socket.AF_INET, socket.SOCK_DGRAM).close()
    result = "OPEN"
except OSError:
    result = "SHUT"
""",
    "shm_over_64_mib": """
chunk = b"x" * (1 << 20)
try:
    for part in range(2):  # two files of 40 MiB: each below the file-size limit
        with open(f"/dev/shm/probe-{part}", "wb") as handle:
            for _ in range(40):
                handle.write(chunk)
                handle.flush()
    result = "OPEN"
except OSError:
    result = "SHUT"
""",
}
PRINTED = "\nprint(result)\n"


def outside(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    return done.stdout.strip()


@BUBBLEWRAP
@pytest.mark.parametrize("probe", sorted(PROBES))
def test_the_kernel_refuses_it_to_run_python_and_allows_it_outside(tmp_path, probe):
    code = PROBES[probe] + PRINTED
    if probe == "shm_over_64_mib":  # the host's /dev/shm: write, then clean up
        mine = f"/dev/shm/confinement-{os.getpid()}"
        code = code.replace("/dev/shm/probe", mine)
        assert outside(code + f"import os\nfor part in range(2): os.unlink(f'{mine}-{{part}}')") == "OPEN"
    else:
        assert outside(code) == "OPEN"
    result = run_python(["-c", PROBES[probe] + PRINTED], tmp_path)
    assert result.stdout.strip() == "SHUT", result


# A dropout.py that runs the probe in a process of its own, started by `_posixsubprocess.fork_exec`
# (Python 3.11's signature), which raises no audit event: the grader's in-process audit hook is a
# tripwire, and the kernel has to refuse the probe whatever the candidate's process tree does. It
# reports in the one channel a grade shows whatever the candidate does: its import error's message.
CANDIDATE = """
import _posixsubprocess, os, sys
out_read, out_write = os.pipe()
err_read, err_write = os.pipe()
pid = _posixsubprocess.fork_exec([sys.executable, "-I", "-c", {code!r}], [os.fsencode(sys.executable)],
                                 True, (out_write,), None, None, -1, -1, -1, out_write, -1, -1, err_read,
                                 err_write, False, False, -1, None, None, None, -1, None, False)
os.close(out_write)
os.close(err_write)
result = os.read(out_read, 100).decode().strip() or "NOTHING"
os.waitpid(pid, 0)
raise ImportError("PROBE " + result)
"""


@BUBBLEWRAP
@pytest.mark.parametrize("probe", sorted(PROBES))
def test_the_kernel_refuses_it_to_the_graders_child(tmp_path, probe):
    workspace = create_workspace(tmp_path / "ws", TASK)
    (workspace / "dropout.py").write_text(CANDIDATE.format(code=PROBES[probe] + PRINTED))
    verdict = grade_workspace(workspace, TASK)
    assert any("PROBE SHUT" in str(check.value) for check in verdict.checks), verdict


FILL = """
import os
chunk = b"x" * (1 << 20)
written = 0
try:
    for index in range({files}):
        with open(f"big-{{index}}.bin", "wb") as handle:
            for _ in range(48):
                handle.write(chunk)
                written += len(chunk)
except OSError as exc:
    print("STOPPED", written >> 20, exc.errno)
else:
    print("WROTE", written >> 20)
"""


def tree_bytes(path: Path) -> int:
    return sum(entry.stat().st_size for entry in path.rglob("*") if entry.is_file())


@BUBBLEWRAP
def test_the_workspace_cannot_grow_past_its_quota_and_nothing_of_it_reaches_the_host(tmp_path):
    """30 files of 48 MiB (each below the file-size limit, 1.4 GiB in all) stop at the 64 MiB quota, and
    the host directory keeps what it had."""
    (tmp_path / "kept.txt").write_text("kept\n")
    result = run_python(["-c", FILL.format(files=30)], tmp_path)
    stopped = result.stdout.split()
    assert stopped[0] == "STOPPED" and int(stopped[1]) <= 64 and stopped[2] == "28", result  # ENOSPC
    assert tree_bytes(tmp_path) < 64 << 20
    assert (tmp_path / "kept.txt").read_text() == "kept\n"


@BUBBLEWRAP
def test_a_workspace_within_its_quota_is_copied_back(tmp_path):
    result = run_python(["-c", FILL.format(files=1) + "open('note.txt', 'w').write('hello')\n"], tmp_path)
    assert result.stdout.split() == ["WROTE", "48"] and not result.workspace_note, result
    assert (tmp_path / "note.txt").read_text() == "hello"
    assert (tmp_path / "big-0.bin").stat().st_size == 48 << 20


@BUBBLEWRAP
def test_dev_is_read_only(tmp_path):
    code = "try:\n    open('/dev/probe', 'w')\n    print('OPEN')\nexcept OSError:\n    print('SHUT')\n"
    assert run_python(["-c", code], tmp_path).stdout.strip() == "SHUT"


HOLD_PROCESSES = """
import os, sys, time
count = 0
try:
    while count < 60:
        if os.fork() == 0:
            time.sleep(8)
            os._exit(0)
        count += 1
except OSError:
    pass
print("HELD", count, flush=True)
time.sleep(8)
"""


@BUBBLEWRAP
def test_one_sandbox_at_its_process_limit_leaves_the_others_their_own(tmp_path):
    """Sandboxes do not share a process budget: while one holds all of its processes, another still
    starts as many of its own."""
    limits = SandboxLimits(processes=24, wall_seconds=15)
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    held: list = []
    holder = threading.Thread(target=lambda: held.append(run_python(["-c", HOLD_PROCESSES], first, limits)))
    holder.start()
    time.sleep(3)  # the first sandbox is at its limit by now, and holds it for 8 s more
    other = run_python(["-c", HOLD_PROCESSES], second, limits)
    holder.join()
    first_count, other_count = int(held[0].stdout.split()[1]), int(other.stdout.split()[1])
    assert 15 <= first_count < 24 and 15 <= other_count < 24, (held[0], other)


ODD_ENTRIES = """
import os
os.mkfifo("pipe")
os.symlink("/etc/passwd", "out")
os.symlink("kept.txt", "in")
os.mkdir("locked")
open("locked/inner.txt", "w").write("inner")
os.chmod("locked", 0)
open("kept.txt", "w").write("kept")
os.chmod("kept.txt", 0)
"""


@BUBBLEWRAP
def test_the_copy_back_keeps_plain_files_and_links_inside_only(tmp_path):
    result = run_python(["-c", ODD_ENTRIES], tmp_path)
    assert result.returncode == 0 and not result.workspace_note, result
    assert sorted(path.name for path in tmp_path.iterdir()) == ["in", "kept.txt", "locked"]
    assert (tmp_path / "in").resolve() == (tmp_path / "kept.txt").resolve()
    assert (tmp_path / "kept.txt").read_text() == "kept"  # readable again: plain permissions
    assert (tmp_path / "locked" / "inner.txt").read_text() == "inner"
