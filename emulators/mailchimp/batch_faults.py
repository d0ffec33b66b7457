"""Batch faults for tests: failed operations inside a batch, and results URLs that have expired.

Batch operations never draw the HTTP faults (`set_faults`): on Mailchimp they fail one by one inside a
finished batch (`errored_operations`, a status ≥ 400 in the results), which is what these inject.

    handle = fail_batch_operations(emu, lambda op: op["operation_id"].endswith(":x"), status=500)
    expire_batch_downloads(emu, count=1)   # the next download answers 403, as an expired pre-signed URL
    shuffle_batch_operations(emu, seed=7)  # operations run in a shuffled order, as Mailchimp may run them
    held = hold_batches(emu)               # batches start but run no operation until held.remove()
    handle.remove()                         # back to normal

Each wraps one part of the batch runners (the operation runner, the archive lookup, the order of
operations) and leaves everything else as it is. Like the HTTP faults they apply to every account (each has
its batch runner) that exists when they are installed, or to one account with `account_id=`.
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .batches import BatchRunner
from .emulator import MailchimpEmulator
from .state import BatchResult

OperationMatch = Callable[[dict[str, Any]], bool]

PROBLEMS = {
    400: ("Invalid Resource", "The resource submitted could not be validated."),
    429: ("Too Many Requests", "You have exceeded the limit of 10 simultaneous connections."),
    500: ("Internal Server Error", "An unexpected internal error has occurred."),
    503: ("Service Unavailable", "The service is temporarily unavailable."),
}


@dataclass
class BatchFault:
    emulator: MailchimpEmulator
    attribute: str
    # Each wrapped runner with the attribute's value before the fault.
    originals: list[tuple[BatchRunner, Any]] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    on_remove: Callable[[], None] | None = None

    def remove(self) -> None:
        for runner, original in self.originals:
            setattr(runner, self.attribute, original)
        if self.on_remove is not None:
            self.on_remove()


def _runners(emulator: MailchimpEmulator, account_id: str | None) -> list[BatchRunner]:
    if account_id is not None:
        return [emulator.app.account(account_id).batches]
    return [account.batches for account in emulator.app.all_accounts()]


def fail_batch_operations(
    emulator: MailchimpEmulator,
    match: OperationMatch,
    status: int = 500,
    once: bool = True,
    *,
    account_id: str | None = None,
) -> BatchFault:
    """Operations for which `match(operation)` is true answer `status` without being applied. With `once`,
    each operation id fails only the first time it is run (a retry succeeds)."""
    seen: set[str] = set()
    lock = threading.Lock()
    fault = BatchFault(emulator, "run_operation")
    title, detail = PROBLEMS.get(status, ("Error", "The operation failed."))
    problem = {
        "type": "https://mailchimp.com/developer/marketing/docs/errors/",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": "",
    }

    def wrap(original: Callable[[dict[str, Any]], BatchResult]) -> Callable[[dict[str, Any]], BatchResult]:
        def run(operation: dict[str, Any]) -> BatchResult:
            operation_id = str(operation.get("operation_id") or "")
            with lock:
                hit = match(operation) and not (once and operation_id in seen)
                if hit:
                    seen.add(operation_id)
                    fault.failed.append(operation_id)
            if not hit:
                return original(operation)
            return BatchResult(status, operation.get("operation_id"), json.dumps(problem))

        return run

    for runner in _runners(emulator, account_id):
        fault.originals.append((runner, runner.run_operation))
        runner.run_operation = wrap(runner.run_operation)
    return fault


def expire_batch_downloads(emulator: MailchimpEmulator, count: int = 1, *, account_id: str | None = None) -> BatchFault:
    """The next `count` results downloads answer 403 (an expired URL); later ones work. The count is shared
    by the accounts the fault covers."""
    remaining = [count]
    lock = threading.Lock()
    fault = BatchFault(emulator, "archive_for")

    def wrap(
        original: Callable[[str, str], tuple[int, bytes | None]],
    ) -> Callable[[str, str], tuple[int, bytes | None]]:
        def archive_for(batch_id: str, token: str) -> tuple[int, bytes | None]:
            with lock:
                if remaining[0] > 0:
                    remaining[0] -= 1
                    fault.failed.append(batch_id)
                    return 403, None
            return original(batch_id, token)

        return archive_for

    for runner in _runners(emulator, account_id):
        fault.originals.append((runner, runner.archive_for))
        runner.archive_for = wrap(runner.archive_for)  # type: ignore[method-assign,assignment]
    return fault


def shuffle_batch_operations(
    emulator: MailchimpEmulator, seed: int = 0, *, account_id: str | None = None
) -> BatchFault:
    """Every batch runs its operations in a shuffled order (seeded), rather than as submitted."""
    shuffler = random.Random(seed)
    fault = BatchFault(emulator, "reorder")
    for runner in _runners(emulator, account_id):
        fault.originals.append((runner, runner.reorder))
        runner.reorder = lambda operations: shuffler.sample(operations, len(operations))
    return fault


def hold_batches(emulator: MailchimpEmulator, *, account_id: str | None = None) -> BatchFault:
    """Batches start but run no operation (they stay `started`) until `remove()`, which lets them go on.
    An account's batches run one at a time, so a held one also keeps every later one of that account
    `pending`."""
    released = threading.Event()
    fault = BatchFault(emulator, "run_operation", on_remove=released.set)

    def wrap(original: Callable[[dict[str, Any]], BatchResult]) -> Callable[[dict[str, Any]], BatchResult]:
        def run(operation: dict[str, Any]) -> BatchResult:
            released.wait()
            return original(operation)

        return run

    for runner in _runners(emulator, account_id):
        fault.originals.append((runner, runner.run_operation))
        runner.run_operation = wrap(runner.run_operation)
    return fault
