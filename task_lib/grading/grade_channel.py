"""The grader's two byte streams with its child, trusted side (the child's side is grade_child.py).

- The job, on the child's stdin after its program: one JSON header line (this grade's key, the
  results pipe's descriptor, the plan, each input array's name, dtype, shape and size in bytes), then
  each array's raw bytes in that order.
- The results, on a pipe the child inherits (its write end only): records `<key> <kind> <length>\\n`
  followed by that many bytes, kinds `stage`, `report` (JSON), `array` (a JSON layout, a newline, the
  raw bytes), `sparse` (a mostly-zero float array: a JSON layout with the count of nonzero elements,
  a newline, their flat indices as little-endian int64, then their values), `checkpoint` (empty:
  everything of the calls is sent; the parent may start its checks while the child re-checks its
  inputs) and `done`. A pipe, not a file: what the harness wrote cannot be read back, sought to or
  overwritten by anything the candidate leaves running; bytes it writes itself lack the key (or break
  the framing) and spoil the whole stream.

`parse_results` never raises: a stream with anything but records of this grade, in order and within
bounds, is marked forged.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import select
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

MAX_RESULTS_BYTES = 40 * 1024**2  # ours are about 10 MiB of arrays
MAX_RECORD_HEADER = 120
MAX_REPORT_BYTES = 1024**2
MAX_LAYOUT_BYTES = 4096
MAX_ARRAY_BYTES = 64 * 1024**2
MAX_ARRAY_DIMENSIONS = 32
PIPE_BYTES = 1024**2  # asked for (Linux caps it at /proc/sys/fs/pipe-max-size): fewer wake-ups


def job_bytes(key: str, results_fd: int, plan: dict, inputs: dict[str, np.ndarray]) -> bytes:
    """The job as the child reads it (see the module docstring)."""
    layout = [[name, array.dtype.str, list(array.shape), array.nbytes] for name, array in inputs.items()]
    header = {"key": key, "results_fd": results_fd, "plan": plan, "arrays": layout}
    return b"".join([json.dumps(header).encode("utf-8") + b"\n", *(a.tobytes() for a in inputs.values())])


class ResultsPipe:
    """A pipe whose write end the child inherits (`child_fd`) and whose read end a thread drains from
    `start` (called once the child has been started) until every write end is closed."""

    def __init__(self) -> None:
        self._read_fd, self.child_fd = os.pipe()  # child_fd: the write end, at this number in the child
        self._write_fd = self.child_fd  # our copy, until `start`
        with contextlib.suppress(OSError):
            fcntl.fcntl(self.child_fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        self._chunks: list[bytes] = []
        self._size = 0
        self._ended = False
        self._overflowed = False
        self._stop = threading.Event()
        self._marker = b""
        self._marker_end = -1  # where the marker's record ends in the stream, once seen
        self._tail = b""  # the stream's last bytes, as many as the marker has
        self._marked = threading.Event()  # the marker came, or the stream ended
        self._thread = threading.Thread(target=self._drain, daemon=True)

    def start(self) -> None:
        """Close our copy of the write end (the child holds its own) and start draining."""
        os.close(self._write_fd)
        self._write_fd = -1
        self._thread.start()

    def expect(self, marker: bytes) -> None:
        """Watch the stream for `marker` (a record header under this grade's key); call before the child
        can send it."""
        self._marker = marker

    def _drain(self) -> None:
        try:
            self._drain_until_end()
        finally:
            self._marked.set()

    def _drain_until_end(self) -> None:
        poller = select.poll()
        poller.register(self._read_fd, select.POLLIN)
        while not self._stop.is_set():
            if not poller.poll(50):
                continue
            data = os.read(self._read_fd, PIPE_BYTES)
            if not data:
                self._ended = True
                return
            if self._size + len(data) > MAX_RESULTS_BYTES:
                self._overflowed = True  # drained all the same, so that the child never blocks on us
                continue
            if self._marker and self._marker_end < 0:
                found = (self._tail + data).find(self._marker)
                if found >= 0:
                    self._marker_end = self._size - len(self._tail) + found + len(self._marker)
                self._tail = (self._tail + data[-len(self._marker):])[-len(self._marker):]
            self._chunks.append(data)
            self._size += len(data)
            if self._marker_end >= 0:
                self._marked.set()

    def until_marker(self, still_running) -> bytes | None:
        """The stream up to the end of the expected marker, once it has come; None if the stream ended,
        or `still_running()` turned false, before it did."""
        while not self._marked.wait(0.01):
            if not still_running():
                break
        if self._marker_end < 0:
            return None
        return b"".join(self._chunks)[: self._marker_end]

    @property
    def complete(self) -> bool:
        """Every write end was closed, and no more than MAX_RESULTS_BYTES came."""
        return self._ended and not self._overflowed

    def collected(self, wait_seconds: float = 2.0) -> bytes:
        """What the child wrote; call once it has ended (the sandbox ends all of its processes, which
        closes every write end). If a write end is still open after `wait_seconds`, draining stops
        there and the results are not `complete`."""
        if self._thread.is_alive():
            self._thread.join(wait_seconds)
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        return b"".join(self._chunks)

    def close(self) -> None:
        """Stop draining and close both ends we still hold."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        for fd in (self._read_fd, self._write_fd):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._read_fd = self._write_fd = -1


@dataclass
class Results:
    """What the stream held: the last stage the child reached and, if it ended soundly, its report
    and arrays."""

    stage: str = "starting"
    report: Any = None
    outputs: dict[str, np.ndarray] = field(default_factory=dict)
    checkpoint: bool = False
    done: bool = False
    forged: bool = False  # bytes that were not a record of this grade, or too many of them


def _records(stream: bytes, key: str) -> Iterator[tuple[bytes, memoryview]]:
    """(kind, payload) of each record, in order; ValueError at the first stretch that is not a record
    under `key` (nothing after it is read)."""
    expected, data, position = key.encode("ascii"), memoryview(stream), 0
    while position < len(stream):
        end = stream.find(b"\n", position, position + MAX_RECORD_HEADER)
        fields = stream[position:end].split(b" ") if end >= 0 else []
        if len(fields) != 3 or fields[0] != expected or not fields[2].isdigit():
            raise ValueError("not a record of this grade")
        start, length = end + 1, int(fields[2])
        if start + length > len(stream):
            raise ValueError("a record longer than the stream")
        position = start + length
        yield fields[1], data[start:position]


def _layout(payload: memoryview, fields: int) -> tuple[list, memoryview]:
    """An array record's JSON layout (name, dtype, shape and `fields - 3` counts) and the bytes after it;
    ValueError unless it is sound and bounded (a non-object dtype, at most MAX_ARRAY_BYTES of it)."""
    import numpy as np

    split = bytes(payload[:MAX_LAYOUT_BYTES]).find(b"\n")
    if split < 0:
        raise ValueError("an array record without a layout")
    layout = json.loads(bytes(payload[:split]).decode("utf-8"))
    if not (isinstance(layout, list) and len(layout) == fields):
        raise ValueError("malformed array layout")
    name, dtype, shape, *counts = layout
    if not (isinstance(name, str) and isinstance(dtype, str) and isinstance(shape, list)
            and len(shape) <= MAX_ARRAY_DIMENSIONS
            and all(type(n) is int and n >= 0 for n in [*shape, *counts])):
        raise ValueError("malformed array layout")
    dtype = np.dtype(dtype)
    if dtype.hasobject or dtype.itemsize == 0 or math.prod(shape) * dtype.itemsize > MAX_ARRAY_BYTES:
        raise ValueError(f"unsupported dtype {dtype} or size")
    return [name, dtype, shape, *counts], payload[split + 1:]


def _array(payload: memoryview) -> tuple[str, np.ndarray]:
    """One array record's payload; ValueError unless it is a sound, bounded, non-object array."""
    import numpy as np

    (name, dtype, shape), data = _layout(payload, 3)
    if len(data) != math.prod(shape) * dtype.itemsize:
        raise ValueError("array size does not match its layout")
    return name, np.frombuffer(data, dtype=dtype).reshape(shape)


def _sparse(payload: memoryview) -> tuple[str, np.ndarray]:
    """One sparse record's payload as the dense array; ValueError unless its indices are in range."""
    import numpy as np

    (name, dtype, shape, count), data = _layout(payload, 4)
    size = math.prod(shape)
    if count > size or len(data) != count * (8 + dtype.itemsize):
        raise ValueError("sparse array size does not match its layout")
    where = np.frombuffer(data[: 8 * count], dtype="<i8")
    if count and (where.min() < 0 or where.max() >= size):
        raise ValueError("sparse array index out of range")
    dense = np.zeros(size, dtype=dtype)
    dense[where] = np.frombuffer(data[8 * count:], dtype=dtype)
    return name, dense.reshape(shape)


def checkpoint_marker(key: str) -> bytes:
    """The bytes of a `checkpoint` record under `key`."""
    return f"{key} checkpoint 0\n".encode("ascii")


def parse_results(stream: bytes, key: str) -> Results:
    """The records of `stream` under `key`: stages, the report, the arrays, a checkpoint, `done` last."""
    found = Results()
    try:
        for kind, payload in _records(stream, key):
            if found.done:
                raise ValueError("a record after done")
            if kind == b"stage":
                found.stage = bytes(payload[:200]).decode("utf-8", errors="replace")
            elif kind == b"report" and len(payload) <= MAX_REPORT_BYTES:
                found.report = json.loads(bytes(payload).decode("utf-8"))
            elif kind in (b"array", b"sparse"):
                name, array = (_array if kind == b"array" else _sparse)(payload)
                found.outputs[name] = array
            elif kind == b"checkpoint" and not payload and not found.checkpoint:
                found.checkpoint = True
            elif kind == b"done" and not payload:
                found.done = True
            else:
                raise ValueError("an unknown record")
    except (ValueError, TypeError, MemoryError, RecursionError):
        found.forged = True
    return found
