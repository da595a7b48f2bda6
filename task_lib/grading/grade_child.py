"""The harness's half of the grader's child program; runs inside the sandbox, never imported.

The child runs `python -I -B -c BOOTSTRAP`; the bootstrap reads this program (a task's `driver.py`
followed by this file) from its stdin and executes it in a private namespace with its own copy of the
builtins, so nothing in `__main__`, `builtins` or any module the candidate can reach holds the
harness's state. Everything below runs before the candidate is imported:

- its libraries (the driver's NumPy) load while the grader draws the inputs; then it reads the rest
  of its stdin: a JSON header line (a fresh random key, the results pipe's descriptor, the plan, the
  array layout) and each input array's raw bytes (task_lib/grading/grade_channel.py has both formats). Nothing
  of the grade is ever written into the working directory;
- the results go on the write end of a pipe the child inherited; fd 1 points to an anonymous file
  (the candidate's prints are dropped) and fd 0 to /dev/null, as in an ordinary `run_tests` run.
  Every record the child sends (`<key> <kind> <length>\n` and that many bytes) starts with the key,
  which lives only in a local of the running harness frame, so bytes a candidate writes there without
  first digging the key out of this process's memory (it can guess the descriptor number) are
  recognised and the grade fails; nothing it leaves running can read, seek to or overwrite a record
  once sent. Before every write the child checks that the descriptor still refers to the pipe it
  inherited (a candidate that put a pipe of its own at that number would read the records, key
  included): if not, it stops and the grade fails. Like the hook below, these catch careless
  forgeries, not a determined one;
- a PEP 578 audit hook refuses the obvious ways to the harness's frames, objects and descriptors (frame
  access, except by the few standard-library readers that hand back only text or a module name, such
  as `traceback.format_stack`, which torch calls whenever it is seeded; tracing and profiling, `gc`
  walks, `ctypes`, new audit hooks, signal handlers, symlinks, `/proc` and `/dev/fd`, starting
  processes). It is a tripwire, not a boundary: audit hooks are not a security mechanism (PEP 578),
  and the candidate runs in this very process, so it can reach anything here by other routes (raw
  memory through NumPy, `_posixsubprocess`, `dir_fd` opens). What confines the candidate is the
  kernel (task_lib/sandbox/run.py); what keeps the verdict right is that the grader computes every
  statistic from the raw arrays, so whatever this process sends is the candidate's behaviour.

The driver's `drive(plan, inputs, report, outputs, progress)` then loads the candidate and makes the
calls; the child sends the report (plain data as JSON) and every output array (its layout, then its
raw bytes), then a checkpoint (the grader starts its checks there), then runs what `drive` returned
for after it, if anything (a late re-check of the inputs), and sends the arrays that added. It
computes no statistic, and ends with `os._exit` so the candidate's exit handlers never run.
docs/grader.md names what this cannot stop.
"""

import sys as _sys
import traceback as _traceback_module
import typing as _typing
from _json import encode_basestring_ascii as _encode_string
from json import loads as _json_loads
from os import O_RDONLY as _O_RDONLY
from os import O_TMPFILE as _O_TMPFILE
from os import O_WRONLY as _O_WRONLY
from os import _exit as _exit_now
from os import close as _close
from os import devnull as _devnull
from os import dup2 as _dup2
from os import fstat as _fstat
from os import open as _open
from os import write as _write
from os.path import abspath as _abspath
from sys import _getframe as _frame_at
from sys import addaudithook as _addaudithook

from numpy import array as _np_array
from numpy import count_nonzero as _np_count_nonzero
from numpy import flatnonzero as _np_flatnonzero
from numpy import frombuffer as _np_frombuffer
from numpy import uint8 as _np_uint8

# A float array of at least SPARSE_MIN_SIZE elements, at most 1 / SPARSE_FRACTION of them nonzero, goes
# as a `sparse` record: where its nonzero elements are and their values (grade_channel.py).
SPARSE_MIN_SIZE, SPARSE_FRACTION = 1 << 16, 8
_BLOCKED_EVENTS = frozenset({
    "sys._getframe", "sys._current_frames", "sys._current_exceptions", "sys.settrace", "sys.setprofile",
    "sys.addaudithook", "sys.monitoring.register_callback", "gc.get_objects", "gc.get_referrers",
    "gc.get_referents", "os.symlink", "os.link", "os.fork", "os.forkpty", "os.system", "os.exec",
    "os.posix_spawn", "os.spawn", "subprocess.Popen", "pty.spawn", "signal.signal",
})
# Standard-library functions that call sys._getframe but return only text or a name, never a frame:
# torch formats a stack whenever it is seeded, typing names the module defining a TypeVar.
_FRAME_READERS = frozenset({_traceback_module.extract_stack.__code__, _traceback_module.format_stack.__code__,
                            _traceback_module.print_stack.__code__, _typing._caller.__code__})
_looking = []  # non-empty while the hook itself looks at a caller (its own sys._getframe call)
_FRAME_ATTRIBUTES = frozenset({"tb_frame", "gi_frame", "cr_frame", "ag_frame", "f_back"})
_BLOCKED_IMPORTS = frozenset({"signal", "_signal", "ctypes", "_ctypes", "cffi", "_cffi_backend"})
_BLOCKED_PATHS = ("/proc", "/dev/fd", "/dev/std")
_PATH_EVENTS = frozenset({"open", "os.listdir", "os.scandir", "os.chdir", "os.readlink"})


def _called_by_a_frame_reader():
    """True when the code calling sys._getframe is one of _FRAME_READERS (or the hook itself)."""
    if _looking:
        return True
    _looking.append(True)
    try:  # 0: this function, 1: _audit, 2: the Python code that called sys._getframe
        return _frame_at(2).f_code in _FRAME_READERS
    finally:
        _looking.pop()


def _audit(event, args):
    """Refuse every operation that could reach the harness (see the module docstring)."""
    if event == "sys._getframe":
        blocked = not _called_by_a_frame_reader()
    elif event in _BLOCKED_EVENTS or event.startswith("ctypes."):
        blocked = True
    elif event == "object.__getattr__":
        blocked = args[1] in _FRAME_ATTRIBUTES
    elif event == "import":
        blocked = args[0].split(".")[0] in _BLOCKED_IMPORTS
    elif event in _PATH_EVENTS and args and isinstance(args[0], str | bytes):
        path = args[0].decode("utf-8", "replace") if isinstance(args[0], bytes) else args[0]
        blocked = _abspath(path).startswith(_BLOCKED_PATHS)
    else:
        blocked = False
    if blocked:  # a ValueError, so that library fallbacks (typing, enum, namedtuple) still work
        raise ValueError(f"{event} is not available here")


def _json_text(value, depth=0):
    """`value` as JSON text if it is plain data (None, bool, int, finite float, str, list, tuple, dict),
    else its description; built here from C-level pieces (`repr` of numbers, `_json`'s string
    encoder), so the candidate cannot patch it, and read by the grader with `json.loads`."""
    kind = type(value)
    if depth > 20:
        return '"nested too deeply"'
    if value is None:
        return "null"
    if kind is bool:
        return "true" if value else "false"
    if kind is int or (kind is float and value - value == 0):  # a finite float
        return repr(value)
    if kind is str:
        return _encode_string(value)
    if kind is list or kind is tuple:
        return "[" + ",".join([_json_text(item, depth + 1) for item in value]) + "]"
    if kind is dict:
        items = [_encode_string(key if type(key) is str else repr(key) if type(key) is int else
                                f"<{type(key).__name__}>") + ":" + _json_text(item, depth + 1)
                 for key, item in value.items()]
        return "{" + ",".join(items) + "}"
    return _encode_string(repr(value) if kind is float else f"<{kind.__name__}>")


def _raw_bytes(plain):
    """The bytes of a C-ordered array, without a copy where a byte view of it can be taken."""
    try:
        return memoryview(plain.reshape(-1).view(_np_uint8))
    except Exception:  # a dtype with no byte view (of size 0, say)
        return plain.tobytes()


def _pipe_identity(fd):
    """(device, inode) of what `fd` refers to: the results pipe keeps it for the grade's whole life."""
    info = _fstat(fd)
    return info.st_dev, info.st_ino


def _read_job(stdin):
    """The header and the input arrays the grader sent on stdin."""
    header = _json_loads(stdin.readline())
    inputs = {}
    for name, dtype, shape, size in header["arrays"]:
        inputs[name] = _np_frombuffer(stdin.read(size), dtype=dtype).reshape(shape).copy()
    return header, inputs


def _main(stdin):
    header, inputs = _read_job(stdin)
    key = header["key"].encode("ascii")
    channel = header["results_fd"]
    _dup2(_open(_devnull, _O_RDONLY), 0)  # stdin as in an ordinary run: /dev/null
    try:  # the candidate's prints go to an anonymous file, as an ordinary run's go to a file
        _dup2(_open(".", _O_TMPFILE | _O_WRONLY, 0o600), 1)
    except OSError:
        _dup2(2, 1)

    pipe = _pipe_identity(channel)

    def send(kind, *parts):
        size = 0
        for part in parts:
            size += len(part)
        for data in (key + b" " + kind + b" " + str(size).encode("ascii") + b"\n", *parts):
            data = memoryview(data)
            while data:
                if _pipe_identity(channel) != pipe:  # the candidate put a descriptor of its own there
                    raise OSError("the results descriptor was replaced")
                data = data[_write(channel, data):]

    def progress(stage):
        send(b"stage", stage.encode("utf-8"))

    def send_arrays(names):
        for name in names:
            # a plain C-ordered array; copied only if it is not one (the driver's outputs are its own)
            plain = _np_array(outputs[name], copy=None, subok=False, order="C")
            layout = [str(name), plain.dtype.str, list(plain.shape)]
            if plain.size >= SPARSE_MIN_SIZE and plain.dtype.kind == "f" \
                    and _np_count_nonzero(plain) * SPARSE_FRACTION <= plain.size:
                at = _np_flatnonzero(plain)
                layout.append(int(at.size))
                send(b"sparse", _json_text(layout).encode("utf-8") + b"\n", _raw_bytes(at.astype("<i8")),
                     _raw_bytes(plain.reshape(-1)[at]))
            else:
                send(b"array", _json_text(layout).encode("utf-8") + b"\n", _raw_bytes(plain))

    _addaudithook(_audit)
    report, outputs = {}, {}
    progress("load")
    later = drive(header["plan"], inputs, report, outputs, progress)  # noqa: F821 (the task's driver, above)
    progress("write")
    send(b"report", _json_text(report).encode("utf-8"))
    sent = list(outputs)
    send_arrays(sent)
    send(b"checkpoint")
    if later is not None:  # the driver's work after the checkpoint, e.g. a late re-check of the inputs
        later(outputs)
        send_arrays([name for name in outputs if name not in sent])
    send(b"done")
    _close(channel)  # the grader sees the stream end now, not only once the sandbox is torn down


def _run_and_exit():
    """Run `_main` and end the process at once, with the status a normal exit would have had."""
    stderr = _sys.stderr
    try:
        _main(_sys.stdin.buffer)
        status = 0
    except SystemExit as exc:  # sys.exit() inside a call
        status = exc.code if type(exc.code) is int else 0 if exc.code is None else 1
    except BaseException as exc:
        try:
            print(f"{type(exc).__name__}: {exc}"[:300], file=stderr)
        except BaseException:
            pass
        status = 1
    for stream in (_sys.stdout, stderr):
        try:
            stream.flush()
        except BaseException:
            pass
    _exit_now(status)


_sys.modules.pop("_signal", None)  # its handlers would receive the harness's frames
_run_and_exit()
