"""The reconciliation as a chain of invocations of the product_sync function: forced to one page a slice, it goes
on through the product queue to its end with exact counts, repairs an order the platform has and no webhook
brought, and moves the watermarks only at the end; one run per store at a time; a run killed mid-way (its
container killed, as Lambda kills one at its timeout) is resumed from its checkpoint once its lease is over; a
run requested while a backfill of the store works waits for it. A Shopify stand-in with paged history, moto via
the local runner (the bus, the queues, the consumers), the Mailchimp emulator."""

from __future__ import annotations

import contextlib
import json
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from commerce_sync.aws.settings import Settings
from commerce_sync.history.reconcile_state import ReconcileRecords
from commerce_sync.history.state import HistoryState

from emulators.mailchimp import MailchimpEmulator
from emulators.mailchimp.batch_faults import hold_batches
from emulators.shopify import ShopifyEmulator
from emulators.shopify.fixtures import sample_catalog
from emulators.shopify.history import generate_history, history_order, parse_time, stamp
from local_runner.runner import PROJECT_ROOT, LocalRunner
from local_runner.workers import Container, FunctionError
from operator_cli.main import main
from tests.harness import HISTORY_PAGES, MailchimpReader, PageGate, RegisteredStore, on_page_reads, register_store

TOKEN = "shpat_reconcile_chain"
FUNCTION = "ProductSyncFunction"
CUSTOMERS, ORDERS, PAGE = 4, 8, 3


@pytest.fixture
def shopify() -> Iterator[ShopifyEmulator]:
    with ShopifyEmulator(f"rcc-{uuid.uuid4().hex[:8]}.myshopify.com", TOKEN) as emulator:
        for product in sample_catalog():
            emulator.put_product(product)
        now = datetime.now(UTC)
        # Changed within the last day: what the first run (no watermark yet) reads.
        customers, orders = generate_history(
            CUSTOMERS, ORDERS, now - timedelta(hours=20), now - timedelta(hours=2), [(1001, 10011)]
        )
        emulator.history["customers"].put_many(customers)
        emulator.history["orders"].put_many(orders)
        emulator.page_size_cap = PAGE
        yield emulator


@pytest.fixture
def store(runner: LocalRunner, shopify: ShopifyEmulator, monkeypatch: pytest.MonkeyPatch) -> RegisteredStore:
    monkeypatch.setenv("BACKFILL_POLL_INITIAL_SECONDS", "0.05")
    return register_store(
        "shopify",
        identity=shopify.shop_domain,
        platform_api_url=shopify.base_url,
        platform_api_credentials={"access_token": TOKEN},
    )


@pytest.fixture
def backfilled(runner: LocalRunner, store: RegisteredStore) -> RegisteredStore:
    """Everything the platform holds is in Mailchimp, as the live webhooks (here: a backfill) left it."""
    assert runner.invoke(FUNCTION, {"action": "backfill", "store_id": store.store_id})["status"] == "done"
    runner.wait_until_idle(timeout=60)
    return store


@pytest.fixture
def one_page_a_slice(monkeypatch: pytest.MonkeyPatch) -> None:
    # A direct invocation's budget is the time left less this margin (nothing left: one page); a queue slice's
    # is this.
    monkeypatch.setenv("RECONCILE_SAFETY_MARGIN_SECONDS", "900")
    monkeypatch.setenv("RECONCILE_QUEUE_SLICE_SECONDS", "0")


def history_state() -> HistoryState:
    return HistoryState(boto3.resource("dynamodb").Table(Settings.from_environment().sync_state_table))


def records() -> ReconcileRecords:
    return ReconcileRecords(history_state().table)


def watermarks(store_id: str) -> dict[str, str]:
    return dict(history_state().reconcile_state(store_id).get("watermarks") or {})


def reconcile_to_the_end(runner: LocalRunner, store_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The first slice's answer, and the summary the run ends with (after its continuations)."""
    first: dict[str, Any] = runner.invoke(FUNCTION, {"action": "reconcile", "store_id": store_id})
    runner.wait_until_idle(timeout=120)
    summary = records().last_summary(store_id)
    assert summary is not None, first
    return first, summary


def page_reads(shopify: ShopifyEmulator) -> list[dict[str, Any]]:
    return [r for r in shopify.requests if r["path"].endswith(HISTORY_PAGES)]


def store_requests(mailchimp: MailchimpEmulator, store_id: str) -> list[tuple[str, str]]:
    prefix = f"/3.0/ecommerce/stores/{store_id}"
    return [
        (r["method"], r["path"])
        for r in mailchimp.requests
        if r["path"] == prefix or r["path"].startswith(prefix + "/")
    ]


def test_a_run_cut_into_slices_goes_on_through_the_queue_and_moves_the_watermarks_at_its_end(
    runner: LocalRunner,
    backfilled: RegisteredStore,
    shopify: ShopifyEmulator,
    mailchimp: MailchimpEmulator,
    mailchimp_reader: MailchimpReader,
    one_page_a_slice: None,
) -> None:
    store_id = backfilled.store_id
    # An order placed on the platform whose webhook never came, among the orders of the third page of the window.
    orders = shopify.history["orders"]
    seventh = orders.get(900_006)
    assert seventh is not None
    placed = stamp(parse_time(seventh["updated_at"]) + timedelta(minutes=1))
    orders.put(history_order(900_100, shopify.history["customers"].get(500_001) or {}, placed))
    # What the watermarks were at every page read of the run.
    state = history_state()
    seen: list[dict[str, str]] = []
    on_page_reads(shopify, lambda _: seen.append(dict(state.reconcile_state(store_id).get("watermarks") or {})))
    shopify.clear_requests()

    first, summary = reconcile_to_the_end(runner, store_id)

    assert first["status"] == "continued" and first["pages"] == 1, first
    assert summary["status"] == "done" and summary["run_id"] == first["run_id"], summary
    assert summary["checked"] == {"customers": CUSTOMERS, "orders": ORDERS + 1}
    assert summary["repaired"] == {"orders_missing": 1} and summary["repairs"] == 1 and summary["failed"] == 0
    # Customers on 2 pages, orders on 3 (the third: the 7th order, the missed one, the 8th); one page a slice.
    assert summary["pages"] == summary["slices"] == 5
    reads = page_reads(shopify)
    assert [r["path"].rsplit("/", 1)[1] for r in reads] == ["customers.json"] * 2 + ["orders.json"] * 3
    repaired = mailchimp_reader.resource(f"/ecommerce/stores/{store_id}/orders/900100")
    assert repaired is not None and repaired["financial_status"] == "paid"
    # The watermarks did not move while the run was under way, and moved to the newest change read at its end.
    assert seen == [{}] * 5
    assert watermarks(store_id) == summary["watermarks"]
    assert summary["watermarks"]["orders"] == orders.get(900_007)["updated_at"]  # type: ignore[index]

    shopify.fail_when(None)
    before = len(store_requests(mailchimp, store_id))
    again_first, again = reconcile_to_the_end(runner, store_id)

    assert again["run_id"] == again_first["run_id"] != summary["run_id"]
    assert again["status"] == "done" and again["repairs"] == 0 and again["slices"] > 1
    assert again["windows"]["orders"] == (parse_time(summary["watermarks"]["orders"]) - timedelta(hours=1)).isoformat()
    assert len(store_requests(mailchimp, store_id)) == before, "nothing missed: not one Mailchimp request"


def test_two_requests_at_once_one_runs_and_the_other_answers_already_running(
    runner: LocalRunner, backfilled: RegisteredStore, shopify: ShopifyEmulator
) -> None:
    store_id = backfilled.store_id
    gate = PageGate(shopify, nth=1)
    answers: dict[str, Any] = {}
    worker = threading.Thread(
        target=lambda: answers.setdefault(
            "first", runner.invoke(FUNCTION, {"action": "reconcile", "store_id": store_id})
        )
    )
    worker.start()
    try:
        assert gate.reached.wait(timeout=60), "the first run never read a page"

        second = runner.invoke(FUNCTION, {"action": "reconcile", "store_id": store_id, "trigger": "cli"})

        running = records().load(store_id)
        assert running is not None
        assert second == {"status": "already_running", "store_id": store_id, "run_id": running.run_id}
    finally:
        gate.released.set()
        worker.join(timeout=60)
    first = answers["first"]
    assert first["status"] == "done" and first["run_id"] == running.run_id and first["slices"] == 1
    assert first["checked"] == {"customers": CUSTOMERS, "orders": ORDERS}


def test_a_killed_run_is_resumed_from_its_checkpoint_once_its_lease_is_over(
    runner: LocalRunner, backfilled: RegisteredStore, shopify: ShopifyEmulator
) -> None:
    store_id = backfilled.store_id
    spec = next(spec for spec in runner.template.functions() if spec.logical_id == FUNCTION)
    # A container of the function's own, as the runner starts one, so that the test can kill it mid-run; a short
    # lease for it alone (the runner's containers stay warm, so the request below is answered at once).
    environment = {**runner.container_environment(spec), "RECONCILE_LEASE_SECONDS": "6"}
    container = Container(spec, PROJECT_ROOT, environment, runner.logs)
    gate = PageGate(shopify, nth=3)

    def run_until_killed() -> None:
        with contextlib.suppress(FunctionError):  # "the container exited": what Lambda reports of a killed one
            container.invoke({"action": "reconcile", "store_id": store_id}, "killed")

    worker = threading.Thread(target=run_until_killed, daemon=True)
    try:
        worker.start()
        assert gate.reached.wait(timeout=60), "the run never reached its third page"
        container.kill()
    finally:
        gate.released.set()
    worker.join(timeout=10)
    chain = records().chain(store_id)
    killed = chain.load()
    assert killed is not None and killed.status == "running" and killed.pages == 2 and killed.phase == "orders"
    # The dead invocation's lease still runs: a request now is refused, not run alongside.
    assert chain.holder() is not None
    assert runner.invoke(FUNCTION, {"action": "reconcile", "store_id": store_id})["status"] == "already_running"
    lease_over = threading.Event()
    while chain.holder() is not None:
        lease_over.wait(0.2)
    shopify.clear_requests()

    resumed = runner.invoke(FUNCTION, {"action": "reconcile", "store_id": store_id})

    assert resumed["status"] == "done" and resumed["run_id"] == killed.run_id, resumed
    assert resumed["checked"] == {"customers": CUSTOMERS, "orders": ORDERS} and resumed["repairs"] == 0
    assert resumed["slices"] == 2 and resumed["pages"] == 5
    # From the page the killed slice was reading: orders' first page again, then the rest of the orders.
    assert [r["path"].rsplit("/", 1)[1] for r in page_reads(shopify)] == ["orders.json"] * 3


def test_a_run_requested_while_a_backfill_works_waits_for_it(
    runner: LocalRunner,
    store: RegisteredStore,
    mailchimp: MailchimpEmulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store_id = store.store_id
    monkeypatch.setenv("RECONCILE_BACKFILL_WAIT_SECONDS", "1")
    held = hold_batches(mailchimp)
    backfill: dict[str, Any] = {}
    worker = threading.Thread(
        target=lambda: backfill.setdefault("run", runner.invoke(FUNCTION, {"action": "backfill", "store_id": store_id}))
    )
    try:
        worker.start()
        state = history_state()
        waited = threading.Event()
        while not ((cp := state.load(store_id)) and cp.phase in ("customers", "orders") and cp.batches):
            assert not waited.wait(0.05) and worker.is_alive(), "the backfill never submitted a batch"

        answer = runner.invoke(FUNCTION, {"action": "reconcile", "store_id": store_id})

        assert answer["status"] == "waiting" and answer["waiting_for"] == cp.run_id, answer
        assert answer["pages"] == 0 and answer["checked"] == {}, "a waiting run reads nothing"
    finally:
        held.remove()
        worker.join(timeout=120)
    assert backfill["run"]["status"] == "done"
    runner.wait_until_idle(timeout=120)
    summary = records().last_summary(store_id)
    assert summary is not None and summary["run_id"] == answer["run_id"] and summary["status"] == "done"
    # Its window ends where it started, within the backfill's: everything in it was written by the backfill.
    assert summary["checked"] == {"customers": CUSTOMERS, "orders": ORDERS} and summary["repairs"] == 0


def test_the_command_without_wait_returns_after_the_first_slice_and_the_run_goes_on(
    runner: LocalRunner,
    backfilled: RegisteredStore,
    one_page_a_slice: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, value in runner.operator_environment().items():
        monkeypatch.setenv(name, value)
    store_id = backfilled.store_id
    capsys.readouterr()

    code = main(["reconcile", "--store", store_id, "--no-wait", "--json"])

    out = capsys.readouterr().out
    (result,) = json.loads(out)
    assert code == 0 and result["store_id"] == store_id and result["status"] == "continued", out
    runner.wait_until_idle(timeout=120)
    summary = records().last_summary(store_id)
    assert summary is not None and summary["run_id"] == result["run_id"] and summary["status"] == "done"

    code = main(["reconcile", "--store", store_id, "--no-wait"])
    out = capsys.readouterr().out
    assert code == 0 and f"{store_id}: the reconciliation continues through the product queue (" in out, out
    runner.wait_until_idle(timeout=120)
