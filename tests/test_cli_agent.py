"""The attempt, calibrate and regrade commands: output, exit codes, bad input, Ctrl-C and resume,
and that no secret reaches the model's code."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tasks.variance_dropout.task_files import TASK

from task_lib.agent.transcript import read_transcript
from task_lib.calibration.runs import ATTEMPTS_FILE
from task_lib.cli import main

FAKE_KEY = "sk-ant-api03-fake-key-for-tests-0123456789"
SUMMARY_KEYS = {"runs", "outcomes", "pass_rate", "ci95", "verdict", "failures", "usage", "cost_usd",
                "backend", "model", "run_dir", "label"}


def cli_env(**extra):
    env = {key: value for key, value in os.environ.items() if not key.startswith("ANTHROPIC_")}
    return {**env, **extra}


def run_cli(*args, env=None, timeout=60):
    return subprocess.run([sys.executable, "-m", "task_lib", *map(str, args)], capture_output=True,
                          text=True, env=env or cli_env(), timeout=timeout)


@pytest.fixture
def no_key(monkeypatch):
    for name in [name for name in os.environ if name.startswith("ANTHROPIC_")]:
        monkeypatch.delenv(name)


def test_attempt_prints_the_transcript_turn_by_turn_then_the_grade(tmp_path, capsys, no_key):
    code = main(["attempt", "--model", "scripted:fix_power", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0 and "backend: offline (offline, scripted policies: not a model)" in out
    turns = ("→ read_file", "← result", "→ write_file", "→ run_tests", "→ submit")
    steps = [out.index(text) for text in turns]
    assert steps == sorted(steps) and "PASSED" in out and "outcome: passed" in out
    assert (tmp_path / "transcript.jsonl").is_file() and (tmp_path / "workspace" / "dropout.py").is_file()


def test_attempt_json_is_one_object_with_the_outcome(tmp_path, capsys, no_key):
    code = main(["attempt", "--model", "scripted:ramble", "--max-steps", "2", "--out", str(tmp_path),
                 "--json"])
    record = json.loads(capsys.readouterr().out)
    assert code == 1 and (record["outcome"], record["limit"], record["steps"]) == ("limit", "steps", 2)
    assert record["backend"] == "offline" and record["label"] == "offline, scripted policies: not a model"


def test_calibrate_json_is_one_summary_even_when_attempts_errored(tmp_path, capsys, no_key):
    code = main(["calibrate", "--runs", "2", "--concurrency", "2", "--model", "scripted:fault_500",
                 "--out", str(tmp_path), "--json"])
    summary = json.loads(capsys.readouterr().out)
    assert code == 0 and SUMMARY_KEYS <= set(summary)
    assert summary["outcomes"] == {"passed": 0, "failed": 0, "limit": 0, "error": 2}
    assert summary["pass_rate"] is None and summary["errors"] == {"500 api_error": 2}


def test_regrade_prints_the_same_summary_at_the_new_tolerance(tmp_path, capsys, no_key):
    main(["calibrate", "--runs", "1", "--model", "scripted:near_miss", "--out", str(tmp_path), "--json"])
    first = json.loads(capsys.readouterr().out)
    code = main(["regrade", str(tmp_path), "--tolerance", "0.2", "--json"])
    regraded = json.loads(capsys.readouterr().out)
    assert code == 0 and first["outcomes"]["failed"] == 1 and regraded["outcomes"]["passed"] == 1
    assert SUMMARY_KEYS <= set(regraded) and regraded["params"] == {"tolerance": 0.2}


def test_a_refused_key_stops_calibrate_with_a_message_naming_it(tmp_path, capsys, no_key):
    code = main(["calibrate", "--runs", "6", "--concurrency", "1", "--model", "scripted:fault_401",
                 "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and "ANTHROPIC_API_KEY" in err and "--resume" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["calibrate", "--runs", "2", "--out", "{tmp}", "--tolerance", "-0.1"],
        ["calibrate", "--runs", "2", "--out", "{tmp}", "--tolerance", "ten"],
        ["calibrate", "--runs", "0", "--out", "{tmp}"],
        ["calibrate", "--runs", "-3", "--out", "{tmp}"],
        ["calibrate", "--runs", "2", "--concurrency", "0", "--out", "{tmp}"],
        ["calibrate", "--out", "{tmp}"],
        ["calibrate", "--runs", "2", "--out", "{tmp}", "--backend", "openai"],
        ["calibrate", "--runs", "2", "--out", "{tmp}", "--model", "scripted:nonsense"],
        ["calibrate", "--runs", "2", "--out", "{tmp}", "--backend", "anthropic"],
        ["calibrate", "--runs", "2", "--out", "{tmp}", "--backend", "anthropic", "--model", "gpt-4o"],
        ["attempt", "--backend", "anthropic", "--out", "{tmp}"],
        ["attempt", "--model", "claude-haiku-4-5", "--backend", "offline", "--out", "{tmp}"],
        ["attempt", "--max-steps", "0", "--out", "{tmp}"],
        ["attempt", "--out", "{tmp}/file.txt/attempt"],
        ["calibrate", "--runs", "2", "--out", "{tmp}/file.txt"],
        ["regrade", "{tmp}/missing", "--tolerance", "0.2"],
        ["regrade", "{tmp}", "--tolerance", "0.2"],
        ["regrade", "{tmp}", "--tolerance", "1.5"],
        ["regrade", "{tmp}"],
        ["grade", "{tmp}", "--task", "no-such-task"],
        ["grade", "{tmp}", "--param", "p_max=0.5"],
        ["grade", "{tmp}", "--param", "tolerance"],
        ["setup", "{tmp}/new", "--task", "no-such-task"],
        ["calibrate", "--runs", "2", "--out", "{tmp}", "--task", "no-such-task"],
    ],
)
def test_bad_input_is_one_error_line_and_exit_2(tmp_path, capsys, no_key, argv):
    (tmp_path / "file.txt").write_text("not a directory")
    argv = [arg.replace("{tmp}", str(tmp_path)) for arg in argv]
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse rejects malformed arguments itself
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and "error:" in err


def test_bad_input_in_a_real_process_has_no_traceback(tmp_path):
    result = run_cli("calibrate", "--runs", "2", "--out", tmp_path, "--backend", "anthropic")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: ANTHROPIC_API_KEY is not set")


def test_read_secrets_policy_sees_no_api_key(tmp_path):
    result = run_cli("attempt", "--backend", "offline", "--model", "scripted:read_secrets", "--out", tmp_path,
                     env=cli_env(ANTHROPIC_API_KEY=FAKE_KEY))
    assert result.returncode == 0, result.stderr
    snoop = next(e for e in read_transcript(tmp_path / "transcript.jsonl") if e["kind"] == "tool_result")
    assert "'PATH'" in snoop["text"]  # the policy did print the environment it got
    assert FAKE_KEY not in (tmp_path / "transcript.jsonl").read_text() and FAKE_KEY not in result.stdout


def test_ctrl_c_stops_calibrate_within_seconds_and_resume_completes_it(tmp_path):
    runs, out = 8, tmp_path / "run"
    command = [sys.executable, "-m", "task_lib", "calibrate", "--backend", "offline", "--runs", str(runs),
               "--concurrency", "2", "--out", str(out), "--json"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=cli_env())
    deadline = time.monotonic() + 60
    while not (out / ATTEMPTS_FILE).is_file() or (out / ATTEMPTS_FILE).read_text().count("\n") < 2:
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    sent = time.monotonic()
    _, err = process.communicate(timeout=30)
    assert process.returncode == 130 and time.monotonic() - sent < 5
    finished = [json.loads(line)["index"] for line in (out / ATTEMPTS_FILE).read_text().splitlines()]
    assert 2 <= len(finished) < runs and "--resume" in err and "Traceback" not in err

    resumed = run_cli(*command[3:], "--resume")
    indices = [json.loads(line)["index"] for line in (out / ATTEMPTS_FILE).read_text().splitlines()]
    assert resumed.returncode == 0 and json.loads(resumed.stdout)["runs"] == runs
    assert sorted(indices) == list(range(runs)) and indices[: len(finished)] == finished


def test_importing_the_harness_does_not_import_anthropic():
    code = ("import sys, task_lib.agent.loop, task_lib.calibration.runs, task_lib.agent.backends, "
            "task_lib.agent.tools, task_lib.cli; "
            "assert 'anthropic' not in sys.modules, 'anthropic was imported'")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


HUNG_TOOL_CALL = """
import asyncio, sys
from task_lib.agent.interrupts import exit_after_interrupt, run_async
from task_lib.agent.tools import WorkspaceTools
from task_lib.agent.workspace import create_workspace

tools = WorkspaceTools(create_workspace(sys.argv[1]))

async def hung():
    print("running", flush=True)
    await asyncio.to_thread(tools.handle, "run_python", {"code": "import time\\ntime.sleep(300)"})

try:
    run_async(hung())
except KeyboardInterrupt:
    sys.exit(exit_after_interrupt())
"""


def python_descendants(root: int) -> set[tuple[int, str]]:
    """(pid, start time) of the Python processes descended from `root` (the sandboxed child among them)."""
    parents, starts, names = {}, {}, {}
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            head, fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)
        except OSError:
            continue
        parents[int(entry)], starts[int(entry)] = int(fields.split()[1]), fields.split()[19]
        names[int(entry)] = head.split("(", 1)[1]
    found = set()
    for pid in parents:
        ancestor = parents[pid]
        while ancestor > 1 and ancestor != root:
            ancestor = parents.get(ancestor, 0)
        if ancestor == root and names[pid].startswith("python"):
            found.add((pid, starts[pid]))
    return found


def still_running(processes: set[tuple[int, str]]) -> set[tuple[int, str]]:
    alive = set()
    for pid, start in processes:
        try:
            if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19] == start:
                alive.add((pid, start))
        except OSError:
            continue
    return alive


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs /proc to find the sandboxed child")
def test_ctrl_c_during_a_hung_tool_call_exits_within_seconds_and_kills_the_child(tmp_path):
    workspace = tmp_path / "project"
    process = subprocess.Popen([sys.executable, "-c", HUNG_TOOL_CALL, str(workspace)], stdout=subprocess.PIPE,
                               text=True, env=cli_env())
    assert process.stdout.readline() == "running\n"
    deadline = time.monotonic() + 10
    while not (sandboxed := python_descendants(process.pid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sandboxed, "the sandboxed child never started"
    process.send_signal(signal.SIGINT)
    sent = time.monotonic()
    assert process.wait(timeout=30) == 130 and time.monotonic() - sent < 5
    time.sleep(0.2)
    assert still_running(sandboxed) == set()


def test_a_run_of_another_task_version_is_refused_in_one_line_naming_both(tmp_path, capsys, no_key):
    assert main(["calibrate", "--runs", "1", "--model", "scripted:fix_power", "--out", str(tmp_path)]) == 0
    run_file = tmp_path / "run.json"
    config = json.loads(run_file.read_text())
    run_file.write_text(json.dumps({**config, "task_version": "000000000000"}))
    capsys.readouterr()
    for argv in (["calibrate", "--runs", "2", "--out", str(tmp_path), "--resume"],
                 ["regrade", str(tmp_path), "--tolerance", "0.2"]):
        assert main(argv) == 2
        [line] = capsys.readouterr().err.strip().splitlines()
        assert "variance-dropout version 000000000000" in line and TASK.version in line


def test_param_and_tolerance_options_are_one_parameter(tmp_path, capsys, no_key):
    assert main(["calibrate", "--runs", "1", "--model", "scripted:near_miss", "--out", str(tmp_path / "a"),
                 "--param", "tolerance=0.2", "--json"]) == 0
    by_param = json.loads(capsys.readouterr().out)
    assert main(["calibrate", "--runs", "1", "--model", "scripted:near_miss", "--out", str(tmp_path / "b"),
                 "--tolerance", "0.2", "--json"]) == 0
    by_option = json.loads(capsys.readouterr().out)
    assert by_param["params"] == by_option["params"] == {"tolerance": 0.2}
    assert by_param["outcomes"] == by_option["outcomes"] == {"passed": 1, "failed": 0, "limit": 0, "error": 0}
    assert by_param["task"] == "variance-dropout" and by_param["task_version"] == TASK.version


def test_calibrate_without_out_keeps_the_run_per_task_version(tmp_path, capsys, no_key, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["calibrate", "--runs", "1", "--model", "scripted:fix_power", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["run_dir"] == f"runs/offline-variance-dropout-{TASK.version}"
    assert (tmp_path / summary["run_dir"] / "run.json").is_file()


@pytest.mark.parametrize("command", ["attempt", "calibrate"])
def test_a_real_model_run_without_bubblewrap_exits_2_before_any_request_unless_allowed(tmp_path, command):
    """TASK_LIB_SANDBOX=none forces the weakest confinement; the anthropic backend (here the SDK talking
    to the local server through ANTHROPIC_BASE_URL) is refused before its first request."""
    from task_lib.offline import OfflineServer
    from task_lib.offline.policy_kit import policies_for

    runs = ["--runs", "1"] if command == "calibrate" else []
    with OfflineServer(policies=policies_for(TASK)) as server:
        env = cli_env(ANTHROPIC_API_KEY=server.api_key, ANTHROPIC_BASE_URL=server.base_url,
                      TASK_LIB_SANDBOX="none")
        refused = run_cli(command, "--backend", "anthropic", *runs, "--out", tmp_path / "refused", env=env)
        assert refused.returncode == 2 and server.request_count == 0, refused.stderr
        [line] = refused.stderr.strip().splitlines()
        assert "confinement 'none'" in line and "--allow-unconfined" in line and "bubblewrap" in line
        allowed = run_cli(command, "--backend", "anthropic", *runs, "--out", tmp_path / "allowed",
                          "--allow-unconfined", "--max-steps", "1", env=env, timeout=120)
        assert server.request_count >= 1, allowed.stderr
        assert "UNCONFINED" in allowed.stdout + allowed.stderr
