"""The grading channel and the grader's robustness: what comes back from the child is read record by
record under this grade's key, anything malformed or forged is a failed attempt with a category (never
an exception), and the grade's directory is gone afterwards whatever the child left in it."""

import ast
import json
import os
import stat
import subprocess
import sys
import time

import numpy as np
import pytest

from task_lib.grading import grade_channel, grader
from task_lib.grading.grade_channel import ResultsPipe
from task_lib.grading.grader import (
    ProbeRun,
    grade_workspace,
    process_failure,
    read_results,
    stage_error,
    task_checks_of,
)
from task_lib.sandbox.run import SandboxResult
from task_lib.sandbox.untrusted_trees import remove_tree
from task_lib.tasks.variance_dropout import checks as task_checks
from tasks.variance_dropout.solutions import BASE, edit
from tasks.variance_dropout.task_files import SOLUTION_FILE

KEY = "k" * 32
PARAMS = {"tolerance": 0.1}


def record(kind: str, payload: bytes = b"", key: str = KEY) -> bytes:
    return f"{key} {kind} {len(payload)}\n".encode() + payload


def array_record(name: str, dtype: str, shape: list, data: bytes) -> bytes:
    return record("array", json.dumps([name, dtype, shape]).encode() + b"\n" + data)


def done_stream(report) -> bytes:
    return (record("stage", b"load") + record("stage", b"write")
            + record("report", json.dumps(report).encode()) + array_record("y", "<f8", [2], bytes(16))
            + record("done"))


def read(stream: bytes, returncode: int = 0, complete: bool = True) -> ProbeRun:
    return read_results(SandboxResult(returncode, "", "", False, False, 0.1), stream, KEY,
                        complete=complete)


# ---- reading the channel ------------------------------------------------------------------------


def test_a_sound_stream_gives_the_report_and_the_arrays():
    run = read(done_stream({"call_errors": {}}))
    assert run.report == {"call_errors": {}} and run.stage == "done" and not run.forged
    assert run.outputs["y"].dtype == np.float64 and run.outputs["y"].shape == (2,)


@pytest.mark.parametrize("forgery", [
    record("done", key="0" * 32),  # another key
    b"done\n",
    KEY.encode() + b"\n",  # no kind
    f"{KEY} done\n".encode(),  # no length
    f"{KEY} done -0\n".encode(),  # a length that is not digits
    record("teleport", b"x"),  # an unknown kind
    record("done", b"x"),  # done with a payload
    record("report", b"__import__('os')"),  # not JSON
    record("report", b"{'call_errors': {}}"),  # a Python literal, not JSON
    record("report", b"\xff\xfe"),  # not UTF-8
    array_record("y", "|O", [1], bytes(8)),  # objects
    array_record("y", "<f8", [3], bytes(16)),  # size does not match the layout
    array_record("y", "<f8", [-2], bytes(16)),
    array_record("y", "no such dtype", [2], bytes(16)),
    record("array", b"[1, 2]\n" + bytes(8)),  # a malformed layout
    record("array", bytes(8)),  # no layout
    f"{KEY} stage 999\nload".encode(),  # a record longer than the channel
    b"x" * 1000,  # no record header at all
])
def test_a_forged_or_malformed_record_spoils_the_results(forgery):
    run = read(forgery + done_stream({"call_errors": {}}))
    assert run.report is None and run.forged
    assert process_failure(run, task_checks.STAGE_WORDS)[0] == "bad_output"


def test_a_record_after_done_spoils_the_results():
    run = read(done_stream({"call_errors": {}}) + record("stage", b"load"))
    assert run.report is None and run.forged


@pytest.mark.parametrize("report", [5, [1, 2], "a report", None])
def test_a_report_that_is_not_a_mapping_is_bad_output(report):
    run = read(done_stream(report))
    assert run.report is None
    assert process_failure(run, task_checks.STAGE_WORDS)[0] == "bad_output"


def test_results_without_done_with_a_failed_exit_or_incomplete_are_not_used():
    stream = done_stream({})
    assert read(stream.rsplit(KEY.encode(), 1)[0]).report is None
    assert read(stream, returncode=1).report is None
    assert read(stream, complete=False).report is None


@pytest.mark.parametrize(("error", "category"), [
    (["syntax_error", "SyntaxError: x"], "syntax_error"), (["import_error", "boom"], "import_error"),
    ("import_error", "bad_output"), ([1, 2], "bad_output"), (["import_error"], "bad_output"),
    (["passed", "all good"], "bad_output"), ({"a": "b"}, "bad_output"),
])
def test_stage_errors_are_taken_only_in_their_own_shape(error, category):
    assert stage_error({"stage_error": error})[0] == category


@pytest.mark.parametrize("report", [
    {"call_errors": 5}, {"call_errors": {"a": 1}}, {"call_errors": ["x"]}, {"constructions": {"a": 1}},
    {"constructions": [1, 2]}, {"training_flags": 3}, {"training_flags": [[True]]}, {},
    {"training_flags": ["a\nb"] * 1000}, {"call_errors": {"mask0#0": "two\nlines"}},
])
def test_a_malformed_report_is_a_failed_attempt_never_an_exception(report):
    inputs, plan = task_checks.make_job(PARAMS, np.random.default_rng(1))
    checks = task_checks_of(task_checks, PARAMS, inputs, plan, report, {"y": np.zeros(2)})
    assert checks and not all(check.passed for check in checks)
    for check in checks:
        assert "\n" not in str(check.value) and len(str(check.value)) <= 400


# ---- what the grade leaves behind ---------------------------------------------------------------


def test_remove_tree_deletes_locked_directories_fifos_and_links_but_not_their_targets(tmp_path):
    target = tmp_path / "outside"
    target.write_text("keep me")
    tree = tmp_path / "tree"
    (tree / "locked" / "deeper").mkdir(parents=True)
    (tree / "locked" / "deeper" / "f").write_text("x")
    os.chmod(tree / "locked" / "deeper" / "f", 0)
    os.chmod(tree / "locked" / "deeper", 0)
    os.chmod(tree / "locked", stat.S_IRUSR | stat.S_IXUSR)
    os.mkfifo(tree / "fifo")
    (tree / "link").symlink_to(target)
    (tree / "dirlink").symlink_to(tmp_path)
    os.chmod(tree, stat.S_IRUSR | stat.S_IXUSR)
    remove_tree(tree)
    assert not tree.exists()
    assert target.read_text() == "keep me"
    remove_tree(tree)  # a missing tree is no error


LOCKS_ITS_DIRECTORY = BASE + '''
import os
os.makedirs("locked/deeper")
open("locked/deeper/f", "w").close()
os.chmod("locked/deeper/f", 0)
os.chmod("locked/deeper", 0)
os.chmod("locked", 0o500)
os.mkfifo("fifo")
os.chmod(".", 0o500)
'''
# Correct, and writes straight to the descriptors an earlier child used for its results.
WRITES_TO_ITS_DESCRIPTORS = edit(BASE, ("    def __call__(self, x):\n", "    def __call__(self, x):\n"
                                        "        import os\n        print('call', x.shape)\n"
                                        "        for fd in (1, 2):\n            os.write(fd, b'noise\\n')\n"))


@pytest.mark.parametrize("source", [LOCKS_ITS_DIRECTORY, WRITES_TO_ITS_DESCRIPTORS])
def test_a_correct_layer_passes_and_its_directory_is_removed(make_workspace, monkeypatch, source):
    made = []

    def recording_mkdtemp(*args, **kwargs):
        made.append(real_mkdtemp(*args, **kwargs))
        return made[-1]

    real_mkdtemp = grader.tempfile.mkdtemp
    monkeypatch.setattr(grader.tempfile, "mkdtemp", recording_mkdtemp)
    result = grade_workspace(make_workspace({SOLUTION_FILE: source}))
    assert result.passed, result.message
    assert made and not any(os.path.exists(path) for path in made)


# Raises, in every call, an error whose message holds what a hand-made encoder gets wrong.
RAISES_AWKWARD_TEXT = edit(BASE, ("    def __call__(self, x):\n", "    def __call__(self, x):\n"
                                  "        raise ValueError('quote \\' \"dq\" \\\\ nan inf '\n"
                                  "                         '\\u00e9\\u2028 \\ud800')\n"))


def test_the_report_carries_any_text_the_candidate_raises(make_workspace):
    result = grade_workspace(make_workspace({SOLUTION_FILE: RAISES_AWKWARD_TEXT}))
    assert not result.passed and result.failure == "shape_and_dtype", result.message
    assert "raised ValueError: quote ' \"dq\"" in result.message and "nan inf" in result.message


def test_the_grade_does_not_rest_on_ast(make_workspace, monkeypatch):
    """CPython 3.11's AST constructor can raise SystemError when threads parse at once (gh-106905),
    as calibration's and Inspect's concurrent grades do: the channel is JSON, read with json.loads."""
    def broken(*args, **kwargs):
        raise SystemError("AST constructor recursion depth mismatch (before=33, after=32)")

    workspace = make_workspace({SOLUTION_FILE: BASE})
    with monkeypatch.context() as patch:  # undone before pytest, which parses too, reports
        patch.setattr(ast, "parse", broken)
        patch.setattr(ast, "literal_eval", broken)
        result = grade_workspace(workspace)
    assert result.passed, result.message


def test_the_childs_directory_looks_like_the_workspace(make_workspace):
    lists_its_directory = BASE + ("\nimport os\n"
                                  "assert sorted(os.listdir('.')) == ['dropout.py', 'test_dropout.py']\n")
    result = grade_workspace(make_workspace({SOLUTION_FILE: lists_its_directory}))
    assert result.passed, result.message


# ---- the results pipe ---------------------------------------------------------------------------


def written_through(results: ResultsPipe, code: str, wait_seconds: float = 2.0) -> bytes:
    """Run `code` in a plain child holding the pipe's write end as descriptor W, and collect."""
    child = subprocess.Popen([sys.executable, "-c", f"import os\nW = {results.child_fd}\n{code}"],
                             pass_fds=[results.child_fd])
    results.start()
    child.wait(timeout=60)
    try:
        return results.collected(wait_seconds)
    finally:
        results.close()


def test_the_pipe_is_drained_while_the_child_writes_more_than_it_holds():
    results = ResultsPipe()
    stream = written_through(results, "for _ in range(64):\n    os.write(W, bytes(256 * 1024))")
    assert len(stream) == 64 * 256 * 1024 and results.complete


def test_a_child_writing_more_than_the_cap_ends_and_its_results_are_incomplete():
    results = ResultsPipe()
    chunks = grade_channel.MAX_RESULTS_BYTES // (1024 * 1024) + 2
    written_through(results, f"for _ in range({chunks}):\n    os.write(W, bytes(1024 * 1024))")
    assert not results.complete


def test_a_write_end_left_open_makes_the_results_incomplete_not_a_hang():
    results = ResultsPipe()
    holder = "import subprocess, sys\nsubprocess.Popen(['sleep', '3'], pass_fds=[W])"  # outlives its parent
    written_through(results, holder, wait_seconds=0.5)
    assert not results.complete


# Correct, and at import looks for a descriptor it could read the harness's records back from or
# overwrite them through: the results pipe's write end can be neither read nor sought.
PROBES_ITS_DESCRIPTORS = BASE + '''
import os
import stat

pipes = []
for fd in range(3, 256):
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        continue
    if stat.S_ISFIFO(mode):
        pipes.append(fd)
        for attempt in (lambda: os.lseek(fd, 0, os.SEEK_SET), lambda: os.read(fd, 1)):
            try:
                attempt()
            except OSError:
                continue
            raise RuntimeError(f"descriptor {fd} can be read or sought")
if not pipes:
    raise RuntimeError("no pipe among the descriptors")
'''


def test_the_results_pipe_can_be_neither_read_back_nor_sought_from_the_child(make_workspace):
    result = grade_workspace(make_workspace({SOLUTION_FILE: PROBES_ITS_DESCRIPTORS}))
    assert result.passed, result.message


# At import, moves the results pipe away and puts a pipe of its own at its number; in its first call,
# would read the key from what the harness wrote there since, and write a record of its own under that
# key to the real pipe (it did, before the harness checked the descriptor before every write).
SWAPS_THE_RESULTS_DESCRIPTOR = BASE + '''
import os
import stat

for fd in range(3, 256):
    try:
        if stat.S_ISFIFO(os.fstat(fd).st_mode):
            break
    except OSError:
        continue
SAVED = os.dup(fd)
MINE, theirs = os.pipe()
os.set_blocking(MINE, False)
os.dup2(theirs, fd)


def forge(self, x):
    key = os.read(MINE, 4096).split(b" ", 1)[0]
    os.write(SAVED, key + b" stage 15\\nforged with key")
    os._exit(0)


VarianceStabilizedDropout.__call__ = forge
'''


def test_a_candidate_that_swaps_the_results_descriptor_stops_the_harness_before_the_key_leaks(make_workspace):
    result = grade_workspace(make_workspace({SOLUTION_FILE: SWAPS_THE_RESULTS_DESCRIPTOR}))
    assert not result.passed and result.failure == "early_exit", result.message
    assert "the results descriptor was replaced" in result.message
    assert "forged with key" not in result.message


# ---- sparse records and the checkpoint ----------------------------------------------------------


def sparse_record(name: str, dtype: str, shape: list, where: list[int], values: list[float]) -> bytes:
    layout = json.dumps([name, dtype, shape, len(where)]).encode() + b"\n"
    payload = np.array(where, dtype="<i8").tobytes() + np.array(values, dtype=dtype).tobytes()
    return record("sparse", layout + payload)


def test_a_sparse_record_reads_as_its_dense_array():
    stream = (record("report", b"{}") + sparse_record("y", "<f4", [2, 3], [1, 5], [2.5, -1.0])
              + record("done"))
    found = grade_channel.parse_results(stream, KEY)
    assert not found.forged and found.done
    assert np.array_equal(found.outputs["y"], np.array([[0, 2.5, 0], [0, 0, -1.0]], dtype=np.float32))


@pytest.mark.parametrize(("where", "values", "shape"), [
    ([6], [1.0], [2, 3]), ([-1], [1.0], [2, 3]), ([0, 1], [1.0], [2, 3]), ([0] * 7, [1.0] * 7, [2, 3]),
])
def test_a_sparse_record_out_of_range_or_short_is_forged(where, values, shape):
    body = sparse_record("y", "<f8", shape, where, values)
    if len(where) != len(values):  # a count that does not match the bytes that follow
        body = record("sparse", json.dumps(["y", "<f8", shape, len(where)]).encode() + b"\n"
                      + np.array(where, dtype="<i8").tobytes() + np.array(values).tobytes())
    assert grade_channel.parse_results(record("report", b"{}") + body + record("done"), KEY).forged


def test_the_checkpoint_is_found_however_the_stream_is_cut():
    marker = grade_channel.checkpoint_marker(KEY)
    stream = record("report", b"{}") + array_record("y", "<f8", [2], np.ones(2).tobytes()) + marker
    for cut in range(1, len(stream)):
        pipe = ResultsPipe()
        pipe.expect(marker)
        write_end = os.dup(pipe.child_fd)  # the child's copy; start() closes ours
        pipe.start()
        with os.fdopen(write_end, "wb", buffering=0) as writer:
            writer.write(stream[:cut])
            time.sleep(0.002)
            writer.write(stream[cut:] + record("done"))
        prefix = pipe.until_marker(lambda: True)
        pipe.close()
        assert prefix == stream, cut
        assert grade_channel.parse_results(prefix, KEY).checkpoint
