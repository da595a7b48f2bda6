"""Running a few calls side by side in threads, for work that releases the GIL (as NumPy's array
operations do): the statistics of a grade's checked p values overlap on the machine's cores."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


def map_in_threads(function: Callable[[Item], Result], items: Sequence[Item]) -> list[Result]:
    """`[function(item) for item in items]`, each call in a thread of its own; the first exception a
    call raised (in the order of `items`) is raised here, once every call has ended."""
    results: list = [None] * len(items)
    errors: list[BaseException | None] = [None] * len(items)

    def run(index: int, item: Item) -> None:
        try:
            results[index] = function(item)
        except BaseException as exc:  # handed to the caller below
            errors[index] = exc

    threads = [threading.Thread(target=run, args=(index, item)) for index, item in enumerate(items)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for error in errors:
        if error is not None:
            raise error
    return results


def threading_result(function: Callable[[], Result]) -> Callable[[], Result]:
    """Start `function()` in a thread now; the returned callable waits for it and returns its result
    (or raises what it raised)."""
    box: list = []

    def run() -> None:
        try:
            box.append((True, function()))
        except BaseException as exc:  # handed to the caller below
            box.append((False, exc))

    thread = threading.Thread(target=run)
    thread.start()

    def result() -> Result:
        thread.join()
        ok, value = box[0]
        if not ok:
            raise value
        return value

    return result
