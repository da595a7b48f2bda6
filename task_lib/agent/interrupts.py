"""Running the harness's coroutines from the command line so that Ctrl-C stops them within seconds:
the task is cancelled, abandoned sandboxed children are killed, and busy threads do not hold up exit.

Contract: `run_async(coroutine)` returns the coroutine's result or raises KeyboardInterrupt after
SIGINT; `exit_after_interrupt()` returns EXIT_INTERRUPTED (130), leaving at once if threads are busy.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

INTERRUPT_GRACE_SECONDS = 3.0
EXIT_INTERRUPTED = 130  # the shell's code for a SIGINT death


def run_async(coroutine):
    """Run `coroutine` to its end; Ctrl-C cancels it and raises KeyboardInterrupt within a few seconds
    (tool calls and grades still running in threads get INTERRUPT_GRACE_SECONDS to finish)."""
    loop = asyncio.new_event_loop()
    executor = ThreadPoolExecutor(thread_name_prefix="task_lib")
    loop.set_default_executor(executor)
    task = loop.create_task(coroutine)
    interrupted = False

    def interrupt() -> None:
        nonlocal interrupted
        interrupted = True
        task.cancel()

    try:
        loop.add_signal_handler(signal.SIGINT, interrupt)
    except (ValueError, RuntimeError, NotImplementedError):  # not the main thread: keep the default
        pass
    try:
        return loop.run_until_complete(task)
    except asyncio.CancelledError:
        if interrupted:
            raise KeyboardInterrupt from None
        raise
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        executor.shutdown(wait=not interrupted, cancel_futures=True)
        if interrupted:
            kill_child_process_groups()
        deadline = time.monotonic() + INTERRUPT_GRACE_SECONDS
        while interrupted and busy_threads() and time.monotonic() < deadline:
            time.sleep(0.05)
        loop.remove_signal_handler(signal.SIGINT)
        loop.close()


def kill_child_process_groups() -> None:
    """SIGKILL every child of this process that leads its own process group: the sandboxed runs
    (tool calls, grades) an interrupted run abandons. Linux only; elsewhere nothing happens."""

    me = os.getpid()
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as handle:
                parent = int(handle.read().rsplit(")", 1)[1].split()[1])
            if entry.isdigit() and parent == me:
                os.killpg(int(entry), signal.SIGKILL)  # only a group its pid leads: never our own
        except (OSError, ValueError, IndexError):
            continue


def busy_threads() -> list:
    """Threads that would hold up the interpreter's exit (tool calls or grades still running)."""

    return [t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon]


def exit_after_interrupt() -> int:
    """Exit code 130; if tool or grading threads are still busy, leave now without waiting for them."""

    if busy_threads():
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(EXIT_INTERRUPTED)
    return EXIT_INTERRUPTED
