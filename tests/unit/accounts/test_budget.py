"""Each Mailchimp account's connection slots in a sync-state table (moto server), shared by every holder as
Lambda containers share them: never more holders than slots, bulk work never past its share while live work
still finds room, other accounts untouched, a lapsed lease reclaimed, a paused account refused at once."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from commerce_sync.accounts.budget import AccountBudget, AccountBusy, AccountPaused, Share
from commerce_sync.accounts.health import AccountHealthBook

from tests.harness import new_sync_state_table


@pytest.fixture
def table(moto_endpoint: str) -> Any:
    dynamodb, name = new_sync_state_table(moto_endpoint)
    return dynamodb.Table(name)


class Gauge:
    """How many holders are inside at once, per (account, share), and the most there ever were."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.now: dict[tuple[str, str], int] = {}
        self.peak: dict[tuple[str, str], int] = {}
        self.account_peak: dict[str, int] = {}

    def hold(self, budget: AccountBudget, account: str, share: Share, seconds: float) -> None:
        with budget.holding(account, share):
            with self._lock:
                key = (account, share)
                self.now[key] = self.now.get(key, 0) + 1
                self.peak[key] = max(self.peak.get(key, 0), self.now[key])
                inside = sum(count for (name, _), count in self.now.items() if name == account)
                self.account_peak[account] = max(self.account_peak.get(account, 0), inside)
            time.sleep(seconds)
            with self._lock:
                self.now[key] -= 1


def run_all(targets: list[threading.Thread]) -> None:
    for thread in targets:
        thread.start()
    for thread in targets:
        thread.join(60)


def warm(budget: AccountBudget, account: str) -> AccountBudget:
    """A budget that has found the account healthy (as a warm container's has): it tries a slot before reading."""
    with budget.holding(account, "live"):
        pass
    return budget


@pytest.mark.parametrize("containers", ["cold", "warm"])
def test_no_more_holders_than_slots_and_bulk_never_past_its_share(table: Any, containers: str) -> None:
    gauge = Gauge()
    budget = AccountBudget(table, connections=4, bulk_connections=2)
    budgets = [AccountBudget(table, 4, 2) for _ in range(16)]
    if containers == "warm":
        budgets = [warm(each, "acc-a") for each in budgets]
    threads = [
        threading.Thread(target=gauge.hold, args=(each, "acc-a", share, 0.15))
        for each, share in zip(budgets, ["bulk"] * 8 + ["live"] * 8, strict=True)
    ]
    run_all(threads)

    # Never more than the slots (how many overlapped at most depends on the machine's load).
    assert 1 <= gauge.account_peak["acc-a"] <= 4
    assert gauge.peak[("acc-a", "bulk")] <= 2
    assert gauge.now == {("acc-a", "bulk"): 0, ("acc-a", "live"): 0}
    assert budget.in_use("acc-a") == 0


def test_live_work_finds_room_while_bulk_work_holds_all_it_may(table: Any) -> None:
    budget = AccountBudget(table, connections=3, bulk_connections=2)
    release = threading.Event()
    holding = threading.Barrier(3)

    def bulk() -> None:
        with AccountBudget(table, 3, 2).holding("acc-a", "bulk"):
            holding.wait(10)
            release.wait(10)

    workers = [threading.Thread(target=bulk) for _ in range(2)]
    for worker in workers:
        worker.start()
    holding.wait(10)
    try:
        with pytest.raises(AccountBusy), AccountBudget(table, 3, 2).holding("acc-a", "bulk", time_left=0.6):
            pass
        started = time.monotonic()
        with budget.holding("acc-a", "live", time_left=0.6):
            assert time.monotonic() - started < 0.5
    finally:
        release.set()
        for worker in workers:
            worker.join(10)


def test_one_accounts_full_budget_leaves_another_account_untouched(table: Any) -> None:
    release = threading.Event()
    ready = threading.Barrier(3)

    def occupy() -> None:
        with AccountBudget(table, 2, 1).holding("acc-a", "live"):
            ready.wait(10)
            release.wait(10)

    workers = [threading.Thread(target=occupy) for _ in range(2)]
    for worker in workers:
        worker.start()
    ready.wait(10)
    try:
        with pytest.raises(AccountBusy), AccountBudget(table, 2, 1).holding("acc-a", "live", time_left=0.6):
            pass
        with AccountBudget(table, 2, 1).holding("acc-b", "live", time_left=0.6):
            assert AccountBudget(table, 2, 1).in_use("acc-b") == 1
    finally:
        release.set()
        for worker in workers:
            worker.join(10)


def test_a_lapsed_lease_is_taken_over(table: Any) -> None:
    clock = [1000.0]
    dead = AccountBudget(table, connections=1, bulk_connections=1, clock=lambda: clock[0])
    holder = dead.holding("acc-a", "live", time_left=10)
    holder.__enter__()  # a container killed at its timeout never gives its slot back

    clock[0] += 10 + 5 + 1  # its lease (time left + margin) has ended
    with AccountBudget(table, 1, 1, clock=lambda: clock[0]).holding("acc-a", "live", time_left=1):
        pass


def test_a_paused_account_is_refused_before_any_slot_is_taken(table: Any) -> None:
    AccountHealthBook(table).pause("acc-a", "401 API Key Invalid", "store-1")

    with pytest.raises(AccountPaused, match="401 API Key Invalid"), AccountBudget(table).holding("acc-a", "live"):
        pass
    assert AccountBudget(table).in_use("acc-a") == 0
    AccountHealthBook(table).clear("acc-a")
    with AccountBudget(table).holding("acc-a", "live"):
        assert AccountBudget(table).in_use("acc-a") == 1


class CountingTable:
    """The table, counting the Queries that read an account's partition."""

    def __init__(self, table: Any) -> None:
        self._table = table
        self.queries = 0

    def query(self, **arguments: Any) -> Any:
        self.queries += 1
        return self._table.query(**arguments)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._table, name)


def test_an_account_found_healthy_lately_takes_a_free_slot_without_reading_its_partition(table: Any) -> None:
    clock = [1000.0]
    counting = CountingTable(table)
    budget = AccountBudget(counting, connections=3, bulk_connections=1, clock=lambda: clock[0])

    with budget.holding("acc-a", "live"):
        assert counting.queries == 1, "an account not seen yet is read first"
    with budget.holding("acc-a", "live"), budget.holding("acc-b", "live"):
        assert counting.queries == 2, "acc-a's slot taken directly; acc-b, never seen, read"
        assert AccountBudget(table, 3, 1, clock=lambda: clock[0]).in_use("acc-a") == 1
    clock[0] += 61
    with budget.holding("acc-a", "live"):
        assert counting.queries == 3, "health is trusted for a minute only"


def test_a_warm_budget_whose_first_choice_is_taken_reads_the_partition_and_takes_another(table: Any) -> None:
    counting = CountingTable(table)
    budget = warm(AccountBudget(counting, connections=2, bulk_connections=1), "acc-a")
    before = counting.queries

    with AccountBudget(table, 2, 1).holding("acc-a", "live"), budget.holding("acc-a", "live", time_left=0.6):
        assert counting.queries == before + 1
        assert AccountBudget(table, 2, 1).in_use("acc-a") == 2


def test_a_pause_is_never_remembered_and_health_only_for_a_minute(table: Any) -> None:
    clock = [1000.0]
    budget = AccountBudget(table, clock=lambda: clock[0])
    AccountHealthBook(table).pause("acc-a", "401 API Key Invalid", "store-1")
    with pytest.raises(AccountPaused), budget.holding("acc-a", "live"):
        pass
    AccountHealthBook(table).clear("acc-a")
    with budget.holding("acc-a", "live"):
        pass  # reconnected: written to at once

    # Paused by another container: this one finds out from Mailchimp's next 401 until its minute is over.
    AccountHealthBook(table).pause("acc-a", "401 API Key Invalid", "store-1")
    with budget.holding("acc-a", "live"):
        pass
    clock[0] += 61
    with pytest.raises(AccountPaused), budget.holding("acc-a", "live"):
        pass
