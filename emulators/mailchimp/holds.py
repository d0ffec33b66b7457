"""Holds: requests that match wait mid-flight until the test releases them. A test uses one to stop a
writer between its read and its write, and to act while it waits (a controlled interleaving), where
timing alone would make the race happen only now and then.

    with emulator.hold(lambda method, path, body: method == "PATCH" and "/orders/1001" in path) as hold:
        ...start the first writer...
        assert hold.wait_for_requests(1)
        ...start the second...
    # leaving the block releases whatever is held

A hold matches requests of any account unless it names one (`account_id`): then only requests carrying
that account's credential are held, e.g. to keep one account's connections busy while another's go on.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

Matcher = Callable[[str, str, Any], bool]


class Hold:
    def __init__(
        self,
        matches: Matcher,
        limit: int | None = None,
        max_hold_seconds: float = 30.0,
        account_id: str | None = None,
    ) -> None:
        self._matches = matches
        self.account_id = account_id
        self._limit = limit
        self._max_hold = max_hold_seconds
        self._released = threading.Event()
        self._arrived = threading.Condition()
        self.held = 0

    def take(self, method: str, path: str, body: Any, account_id: str | None = None) -> bool:
        """Whether this request is held (the first `limit` matching ones are)."""
        if self._released.is_set():
            return False
        if self.account_id is not None and account_id != self.account_id:
            return False
        if not self._matches(method, path, body):
            return False
        with self._arrived:
            if self._limit is not None and self.held >= self._limit:
                return False
            self.held += 1
            self._arrived.notify_all()
        return True

    def wait(self) -> None:
        # Bounded: a test that forgets to release must not hang the emulator for good.
        self._released.wait(self._max_hold)

    def wait_for_requests(self, count: int, timeout: float = 30.0) -> bool:
        """Until `count` requests are held; False on timeout."""
        with self._arrived:
            return self._arrived.wait_for(lambda: self.held >= count, timeout)

    def release(self) -> None:
        self._released.set()


class Holds:
    def __init__(self) -> None:
        self._holds: list[Hold] = []
        self._lock = threading.Lock()

    def add(self, hold: Hold) -> None:
        with self._lock:
            self._holds.append(hold)

    def remove(self, hold: Hold) -> None:
        hold.release()
        with self._lock:
            if hold in self._holds:
                self._holds.remove(hold)

    def pause_if_held(self, method: str, path: str, body: Any, account_id: str | None = None) -> None:
        with self._lock:
            holds = list(self._holds)
        for hold in holds:
            if hold.take(method, path, body, account_id):
                hold.wait()
