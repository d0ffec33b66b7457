"""The Mailchimp accounts one emulator serves, each a full peer of the others.

An account has its own data (`EmulatorState`), handlers (`ApiEnv`, `Dispatcher`), batch worker (`BatchRunner`,
so its batches and their result downloads are its own) and connection budget (`ConcurrencyLimiter`):
Mailchimp's 10 simultaneous connections are counted per account (per user), so one account past its limit
gets 429s while another account's requests still go through.

The emulator's request log is the one exception: it is emulator-wide (each entry names its account) and
lives in the primary account's state, where it always was.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from .batches import BatchRunner
from .context import ApiEnv
from .dispatch import Dispatcher
from .state import Account, BatchResult, EmulatorState, JsonDict
from .validation import SpecValidator


class ConcurrencyLimiter:
    """Counts requests in flight; `try_acquire` refuses once `limit` are already running. `peak` is the
    most that ran at once since the last `reset_peak` (what a benchmark checks against the limit)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._in_flight = 0
        self.peak = 0

    def reset_peak(self) -> None:
        with self._lock:
            self.peak = self._in_flight

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def try_acquire(self) -> bool:
        with self._lock:
            if self._in_flight >= self.limit:
                return False
            self._in_flight += 1
            self.peak = max(self.peak, self._in_flight)
            return True

    def release(self) -> None:
        with self._lock:
            self._in_flight -= 1


@dataclass(frozen=True)
class BatchSettings:
    """How every account's batch worker behaves (the emulator's constructor options)."""

    start_delay_s: float = 0.0
    op_delay_s: float = 0.0
    results_per_file: int = 1
    url_ttl_s: float = 600.0


@dataclass
class EmulatedAccount:
    """One Mailchimp account and everything that serves it."""

    profile: Account
    state: EmulatorState
    env: ApiEnv
    dispatcher: Dispatcher
    batches: BatchRunner
    limiter: ConcurrencyLimiter

    @property
    def account_id(self) -> str:
        return self.profile.account_id

    @classmethod
    def create(
        cls,
        profile: Account,
        validator: SpecValidator,
        *,
        max_concurrent: int,
        batch_settings: BatchSettings,
        run_operation: Callable[[EmulatedAccount, JsonDict], BatchResult],
        url_root: Callable[[], str],
        state: EmulatorState | None = None,
    ) -> EmulatedAccount:
        """`run_operation(account, operation)` runs one batch operation as this account (the app records it)."""
        state = state or EmulatorState()
        env = ApiEnv(state, profile, validator)
        holder: list[EmulatedAccount] = []
        runner = BatchRunner(
            state,
            # The runner exists before the account does; the operation is run as the account once it does.
            lambda operation: run_operation(holder[0], operation),
            url_root,
            start_delay_s=batch_settings.start_delay_s,
            op_delay_s=batch_settings.op_delay_s,
            results_per_file=batch_settings.results_per_file,
            url_ttl_s=batch_settings.url_ttl_s,
            name=f"mailchimp-emulator-batches-{profile.account_id}",
        )
        env.batches = runner
        account = cls(profile, state, env, Dispatcher(env), runner, ConcurrencyLimiter(max_concurrent))
        holder.append(account)
        return account
