"""map_in_threads: the results of every call in order, each call in its own thread, and a call's
exception raised to the caller once every call has ended."""

import threading
import time

import pytest

from task_lib.grading.threads import map_in_threads


def test_results_come_back_in_the_order_of_the_items_whatever_order_the_calls_end_in():
    def slow_for_small(n):
        time.sleep(0.05 / n)
        return n * n, threading.get_ident()

    found = map_in_threads(slow_for_small, [1, 2, 3, 4])
    assert [square for square, _ in found] == [1, 4, 9, 16]
    assert len({thread for _, thread in found}) == 4 and threading.get_ident() not in {t for _, t in found}


def test_the_first_exception_in_item_order_is_raised_after_every_call_has_ended():
    ended = []

    def call(n):
        time.sleep(0.02 * n)
        ended.append(n)
        if n in (2, 3):
            raise ValueError(f"item {n}")
        return n

    with pytest.raises(ValueError, match="item 2"):
        map_in_threads(call, [1, 2, 3, 4])
    assert sorted(ended) == [1, 2, 3, 4]


def test_no_items_no_calls():
    assert map_in_threads(lambda item: 1 / 0, []) == []
