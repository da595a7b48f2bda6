"""Small helpers shared by the benchmark scripts: a parser with --quick, timing, medians, tables."""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from task_lib.agent.backends import MAX_RETRIES, Backend
from task_lib.registry import get_task
from task_lib.task import Task

PYTHON = sys.executable
REPO = Path(__file__).resolve().parent.parent


def parser(description: str) -> argparse.ArgumentParser:
    """An argument parser with the --quick flag every benchmark has."""
    result = argparse.ArgumentParser(description=description)
    result.add_argument("--quick", action="store_true", help="a tiny run that only checks the script works")
    return result


def machine() -> str:
    """One line on where and when the figures were measured."""
    return (f"{time.strftime('%Y-%m-%d')}, {platform.machine()}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}")


def seconds(command: Sequence[str], **kwargs) -> float:
    """Wall-clock seconds to run `command` to its end (output discarded)."""
    start = time.perf_counter()
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, **kwargs)
    return time.perf_counter() - start


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def ms(value: float) -> str:
    return f"{value * 1000:.0f} ms"


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Print a Markdown table (ready to paste into the README)."""
    print("| " + " | ".join(headers) + " |")
    print("|" + "|".join("---" for _ in headers) + "|")
    for row in rows:
        print("| " + " | ".join(str(cell) for cell in row) + " |")
    print()


@contextlib.asynccontextmanager
async def offline_backend(task: Task | None = None, **server_options) -> AsyncIterator[Backend]:
    """The offline backend playing `task`'s policies (default task: variance-dropout), its server made
    with `server_options` (latency, min_cacheable_tokens, ...)."""
    import anthropic

    from task_lib.offline import OFFLINE_LABEL, OfflineServer, policies_for

    task = task or get_task()
    with OfflineServer(policies=policies_for(task), **server_options) as server:
        client = anthropic.AsyncAnthropic(api_key=server.api_key, base_url=server.base_url,
                                          max_retries=MAX_RETRIES, timeout=60.0)
        async with client:
            yield Backend("offline", client, OFFLINE_LABEL, server, task=task)
