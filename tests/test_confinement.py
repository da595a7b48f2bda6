"""Confinement against the real sandbox: code run through `run_python` and the tools cannot read the
pack, write outside its working directory, reach any socket of the host, outlive its run, exceed the
process limit or see the harness's secrets. Each attack is also shown to work outside the sandbox."""

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anthropic
import pytest

import task_lib
from task_lib.agent.backends import Backend
from task_lib.agent.loop import TRANSCRIPT_FILE, run_attempt
from task_lib.agent.tools import WorkspaceTools
from task_lib.agent.transcript import read_transcript
from task_lib.agent.workspace import create_workspace
from task_lib.offline import OFFLINE_LABEL, OfflineServer
from task_lib.offline.policy_kit import sandbox_escape
from task_lib.registry import get_task
from task_lib.sandbox.run import SandboxLimits, isolation, run_python, started_python

PACKAGE = Path(task_lib.__file__).resolve().parent
REFERENCE = PACKAGE / "tasks" / "variance_dropout" / "reference" / "dropout.py"
BUBBLEWRAP = pytest.mark.skipif(isolation().mechanism != "bubblewrap",
                                reason=f"bubblewrap is missing or unusable here (isolation: "
                                       f"{isolation().mechanism}): the confinement cannot be tested")

ATTEMPT = """\
try:
    {attack}
    print("ESCAPED")
except OSError as exc:
    print("BLOCKED", exc)
"""


def attack(what: str) -> str:
    return ATTEMPT.format(attack=what)


def inside(workdir: Path, code: str, **limits) -> str:
    result = run_python(["-c", code], cwd=workdir, limits=SandboxLimits(**limits))
    return result.stdout + result.stderr


def outside(workdir: Path, code: str, env: dict | None = None) -> str:
    done = subprocess.run([sys.executable, "-c", code], cwd=workdir, capture_output=True, text=True,
                          timeout=30, env=env)
    return done.stdout + done.stderr


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A workspace with a sibling workspace next to it holding a secret."""
    (tmp_path / "sibling").mkdir()
    (tmp_path / "sibling" / "dropout.py").write_text("SIBLING SECRET\n")
    return create_workspace(tmp_path / "project")


def a_file_in_root() -> Path | None:
    for path in sorted(Path("/root").iterdir()) if os.access("/root", os.R_OK) else []:
        if path.is_file() and not path.is_symlink():
            return path
    return None


@pytest.fixture
def a_file_in_home():
    """A file in the home directory of the user running the tests (as an ordinary user's ~/.ssh)."""
    try:
        with tempfile.NamedTemporaryFile(dir=Path.home(), prefix=".confinement-probe-") as probe:
            probe.write(b"secret")
            probe.flush()
            yield Path(probe.name)
    except OSError:
        yield None


@BUBBLEWRAP
@pytest.mark.parametrize("target", ["source", "reference", "tests", "sibling", "root", "home"])
def test_the_pack_and_other_directories_cannot_be_read(workspace, target, a_file_in_home):
    paths = {"source": PACKAGE / "sandbox" / "run.py", "reference": REFERENCE,
             "tests": Path(__file__).resolve(), "sibling": workspace.parent / "sibling" / "dropout.py",
             "root": a_file_in_root(), "home": a_file_in_home}
    path = paths[target]
    if path is None:
        pytest.skip(f"no regular file to try in {'/root' if target == 'root' else 'the home directory'}")
    code = attack(f"open({str(path)!r}, 'rb').read()")
    assert outside(workspace, code).startswith("ESCAPED")
    assert inside(workspace, code).startswith("BLOCKED")
    assert WorkspaceTools(workspace).run_python(code).text.split("--- stdout ---\n")[1].startswith("BLOCKED")


@BUBBLEWRAP
def test_a_readable_path_below_tmp_is_not_hidden_by_the_private_tmp(workspace, tmp_path):
    """A checkout (its venv and interpreter) may live below /tmp, as CI's can: binds land on the tmpfs."""
    shared = tmp_path / "shared.txt"
    shared.write_text("visible\n")
    shared.chmod(0o644)
    result = run_python(["-c", f"print(open({str(shared)!r}).read().strip())"], workspace, readable=[shared])
    assert (result.returncode, result.stdout.strip()) == (0, "visible"), result.stderr


@BUBBLEWRAP
def test_only_the_parents_of_bound_paths_are_listed_in_root(workspace):
    listing = inside(workspace, "import os\nprint(sorted(os.listdir('/root')))")
    assert set(eval(listing)) <= {".pyenv"}  # a directory leading to the interpreter, nothing else


@BUBBLEWRAP
@pytest.mark.parametrize("target", ["package", "host_tmp", "root_dir"])
def test_nothing_outside_the_working_directory_can_be_written(workspace, target):
    name = f"escaped-{os.getpid()}-{time.monotonic_ns()}"
    path = {"package": PACKAGE / name, "host_tmp": Path("/tmp") / name, "root_dir": Path("/") / name}[target]
    code = f"open({str(path)!r}, 'w').write('x')\nprint('WROTE')"
    output = inside(workspace, code)
    assert not path.exists(), output
    if target != "host_tmp":  # the child's /tmp is its own: writing there succeeds, and stays there
        assert "WROTE" not in output
    assert "WROTE" in inside(workspace, "open('mine.txt', 'w').write('x')\nprint('WROTE')")
    assert (workspace / "mine.txt").exists()


@BUBBLEWRAP
def test_a_unix_socket_of_the_host_cannot_be_reached(workspace, tmp_path):
    path = str(tmp_path / "host.sock")
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(path)
        server.listen()
        code = attack(f"import socket; socket.socket(socket.AF_UNIX).connect({path!r})")
        assert outside(workspace, code).startswith("ESCAPED")
        assert inside(workspace, code).startswith("BLOCKED")


@BUBBLEWRAP
def test_an_abstract_unix_socket_of_the_host_cannot_be_reached(workspace):
    name = f"\0confinement-{os.getpid()}-{time.monotonic_ns()}"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(name)
        server.listen()
        code = attack(f"import socket; socket.socket(socket.AF_UNIX).connect({name!r})")
        assert outside(workspace, code).startswith("ESCAPED")
        assert inside(workspace, code).startswith("BLOCKED")


@BUBBLEWRAP
def test_an_ip_server_on_the_host_cannot_be_reached(workspace):
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        code = attack(f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=2)")
        assert outside(workspace, code).startswith("ESCAPED")
        assert inside(workspace, code).startswith("BLOCKED")


FORK_BOMB = """\
import os, sys, time
count = 0
try:
    while count < 1000:
        if os.fork() == 0:
            time.sleep(2)
            os._exit(0)
        count += 1
except OSError as exc:
    print("STOPPED", count, exc.errno)
"""


@BUBBLEWRAP
def test_a_fork_bomb_is_stopped_at_the_process_limit_and_the_host_is_fine(workspace):
    mark = f"fork-bomb-{time.monotonic_ns()}"
    output = inside(workspace, f"# {mark}\n" + FORK_BOMB, processes=32, wall_seconds=10)
    stopped = output.split()
    assert stopped[0] == "STOPPED" and int(stopped[1]) < 32 and stopped[2] == "11", output  # EAGAIN
    assert subprocess.run(["true"]).returncode == 0
    assert "still here" in inside(workspace, "print('still here')")
    deadline = time.monotonic() + 5
    while alive_with(mark) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert alive_with(mark) == []


def stat_fields(pid: int) -> list[str]:
    """/proc/<pid>/stat after the command name: state, ppid, pgrp, session, ... (empty once gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return []


def children_of(pid: int) -> list[int]:
    pids = [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()]
    return [child for child in pids if stat_fields(child)[1:2] == [str(pid)]]


def is_python(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/comm").read_text().startswith("python")
    except OSError:
        return False


@BUBBLEWRAP
def test_the_sandboxs_processes_outside_its_pid_namespace_stay_in_bwraps_process_group(workspace):
    """What lets a kill at any moment reach the whole sandbox: bwrap's child (the PID namespace's pid 1,
    which starts the child's program) never leaves bwrap's process group, a session of its own."""
    mark = f"group-mark-{time.monotonic_ns()}"
    with started_python(["-c", "import sys\nsys.stdin.read()", mark], cwd=workspace, stdin=True) as child:
        bwrap = child.process.pid
        deadline = time.monotonic() + 10
        while not any(map(is_python, alive_with(mark))):
            assert time.monotonic() < deadline, "the sandboxed program never started"
            time.sleep(0.01)
        inner = children_of(bwrap)
        assert len(inner) == 1 and children_of(inner[0])  # pid 1, running the program
        assert stat_fields(bwrap)[2:4] == [str(bwrap), str(bwrap)]  # leads its own group and session
        assert stat_fields(inner[0])[2:4] == [str(bwrap), str(bwrap)]


DETACHED = """\
import os, sys, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        time.sleep(1)
        open(sys.argv[1], "w").write("outlived")
        os._exit(0)
    os._exit(0)
time.sleep(0.1)
print("parent done")
"""


@BUBBLEWRAP
def test_a_detached_grandchild_does_not_outlive_the_run(workspace, tmp_path):
    marker = workspace / "outlived.txt"
    script = workspace / "detach.py"
    script.write_text(DETACHED)
    free = tmp_path / "free"
    free.mkdir()
    subprocess.run([sys.executable, str(script), str(free / "outlived.txt")], check=True)
    result = run_python([script.name, str(marker)], cwd=workspace)
    assert result.stdout == "parent done\n"
    time.sleep(2)
    assert (free / "outlived.txt").exists()  # outside the sandbox it does outlive its parent
    assert not marker.exists()


SNOOP = """\
import glob, os
seen = repr(dict(os.environ))
for path in ["/proc/1/environ", "/proc/self/environ", *glob.glob("/proc/*/environ")]:
    try:
        seen += open(path, "rb").read().decode(errors="replace")
    except OSError:
        pass
print("FOUND" if SECRET in seen else "CLEAN")
"""


@BUBBLEWRAP
def test_the_parents_environment_cannot_be_read(workspace, monkeypatch):
    secret = f"sk-ant-confinement-{time.monotonic_ns()}"
    monkeypatch.setenv("ANTHROPIC_API_KEY", secret)
    code = f"SECRET = {secret!r}\n" + SNOOP
    assert outside(workspace, code, env=dict(os.environ)).strip() == "FOUND"
    assert inside(workspace, code).strip() == "CLEAN"
    assert "CLEAN" in WorkspaceTools(workspace).run_python(code).text


IDENTITY = """\
import os
status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines())
print(os.getuid(), os.getgid(), os.getgroups(), int(status["CapEff"], 16), int(status["CapBnd"], 16),
      status["NoNewPrivs"].strip())
"""


@BUBBLEWRAP
def test_the_child_is_an_ordinary_uid_without_capabilities_and_with_no_new_privs(workspace):
    """uid 65534 when the harness is root, else the harness's own uid, in a user namespace of its own."""
    uid, gid = (65534, 65534) if os.geteuid() == 0 else (os.getuid(), os.getgid())
    assert inside(workspace, IDENTITY).split() == [str(uid), str(gid), f"[{gid}]" if os.geteuid() else "[]",
                                                   "0", "0", "1"]


@BUBBLEWRAP
def test_numpy_imports_inside(workspace):
    assert inside(workspace, "import numpy\nprint(numpy.ones(3).sum())").strip() == "3.0"


def test_ci_runs_under_bubblewrap():
    if not os.environ.get("CI"):
        pytest.skip("CI is not set: this machine may lack bubblewrap")
    assert isolation().mechanism == "bubblewrap", isolation()


def pack_state() -> dict[str, tuple[int, int]]:
    files = sorted(p for p in PACKAGE.rglob("*") if p.is_file())
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in files}


def alive_with(mark: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and mark.encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


@BUBBLEWRAP
def test_a_hostile_policy_through_the_real_sdk_escapes_nothing(tmp_path):
    mark = f"confinement-mark-{time.monotonic_ns()}"
    before = pack_state()
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(tmp_path / "host.sock"))
        server.listen()
        policy = sandbox_escape(get_task(), str(REFERENCE), str(PACKAGE), str(tmp_path / "host.sock"), mark)

        async def attempt():
            with OfflineServer(policies={policy.name: policy}) as offline:
                client = anthropic.AsyncAnthropic(api_key=offline.api_key, base_url=offline.base_url)
                return await run_attempt(Backend("offline", client, OFFLINE_LABEL, offline), policy.model,
                                         tmp_path / "attempt")

        record = asyncio.run(attempt())
    results = [e["text"] for e in read_transcript(tmp_path / "attempt" / TRANSCRIPT_FILE)
               if e["kind"] == "tool_result"]
    assert all("BLOCKED" in text and "ESCAPED" not in text for text in results[:3]), results
    assert "detached a grandchild" in results[3]
    assert (record.outcome, record.failure) == ("failed", "variance_ratio")
    assert record.isolation == record.grade["isolation"] == "bubblewrap"
    deadline = time.monotonic() + 3
    while alive_with(mark) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert alive_with(mark) == []
    assert pack_state() == before and not (PACKAGE / "escaped.txt").exists()
