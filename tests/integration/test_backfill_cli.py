"""`commerce-sync backfill` runs the product_sync function locally (as the runner loads it) with progress and a
summary, refuses a second run of a store while one holds the lock, and `commerce-sync status` resets an
is_syncing flag a killed run left on. Shopify stand-in, moto via the local runner, the Mailchimp emulator."""

from __future__ import annotations

import io
import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from datetime import UTC, datetime, timedelta

import pytest
import requests
from commerce_sync.history.state import BackfillCheckpoint, partition

from emulators.mailchimp import MailchimpEmulator
from emulators.mailchimp.batch_faults import hold_batches
from emulators.shopify import ShopifyEmulator
from emulators.shopify.fixtures import sample_catalog
from emulators.shopify.history import generate_history
from local_runner.runner import LocalRunner
from operator_cli.history import history_state
from operator_cli.main import main
from tests.harness import API_KEY, MailchimpReader, RegisteredStore, register_store

TOKEN = "shpat_backfill_cli"
CUSTOMERS, ORDERS = 6, 15


@pytest.fixture
def shopify() -> Iterator[ShopifyEmulator]:
    with ShopifyEmulator(f"bf-{uuid.uuid4().hex[:8]}.myshopify.com", TOKEN) as emulator:
        for product in sample_catalog():
            emulator.put_product(product)
        now = datetime.now(UTC)
        customers, orders = generate_history(CUSTOMERS, ORDERS, now - timedelta(days=90), now - timedelta(days=1))
        emulator.history["customers"].put_many(customers)
        emulator.history["orders"].put_many(orders)
        emulator.page_size_cap = 4
        yield emulator


@pytest.fixture
def store(runner: LocalRunner, shopify: ShopifyEmulator, monkeypatch: pytest.MonkeyPatch) -> RegisteredStore:
    # What `--env-file .local/runner.env` gives the CLI.
    for name, value in runner.operator_environment().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("BACKFILL_POLL_INITIAL_SECONDS", "0.05")
    return register_store(
        "shopify",
        identity=shopify.shop_domain,
        platform_api_url=shopify.base_url,
        platform_api_credentials={"access_token": TOKEN},
    )


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def total(reader: MailchimpReader, store_id: str, collection: str) -> int:
    found = reader.resource(f"/ecommerce/stores/{store_id}/{collection}?count=1")
    assert found is not None
    return int(found["total_items"])


def test_backfill_shows_progress_and_a_summary(
    store: RegisteredStore, mailchimp_reader: MailchimpReader, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("operator_cli.history.PROGRESS_INTERVAL_SECONDS", 0.05)
    code, out, err = cli("backfill", store.store_id)

    assert code == 0, out + err
    assert f"{store.store_id}: backfill done in" in out
    assert "products 4 written" in out and f"customers {CUSTOMERS} written" in out
    assert f"orders {ORDERS} written, 0 unchanged, 0 failed" in out
    # Progress lines per resource, read from the checkpoint while the run worked.
    assert f"{store.store_id} orders: " in err and f"/{ORDERS} (" in err, err
    assert total(mailchimp_reader, store.store_id, "orders") == ORDERS
    assert total(mailchimp_reader, store.store_id, "customers") == CUSTOMERS
    assert mailchimp_reader.resource(f"/ecommerce/stores/{store.store_id}")["is_syncing"] is False  # type: ignore[index]

    code, out, _ = cli("backfill", store.store_id, "--resources", "orders", "--since", "2020-01-01", "--json")
    summary = json.loads(out)
    assert code == 0 and summary["status"] == "done" and summary["resources"] == ["orders"]
    assert summary["since"].startswith("2020-01-01")
    assert summary["progress"]["orders"]["unchanged"] == ORDERS and summary["progress"]["orders"]["written"] == 0


def test_bad_arguments_are_refused_before_anything_runs(store: RegisteredStore) -> None:
    code, _, err = cli("backfill", store.store_id, "--resources", "orders,carts")
    assert code == 2 and "unknown resources: carts" in err
    code, _, err = cli("backfill", store.store_id, "--since", "June")
    assert code == 2 and "not a date" in err
    assert history_state().load(store.store_id) is None


def test_a_second_backfill_while_one_runs_says_so(
    store: RegisteredStore, mailchimp: MailchimpEmulator, mailchimp_reader: MailchimpReader
) -> None:
    held = hold_batches(mailchimp)
    first: dict[str, tuple[int, str, str]] = {}
    worker = threading.Thread(target=lambda: first.setdefault("run", cli("backfill", store.store_id)))
    try:
        worker.start()
        state = history_state()
        deadline = time.monotonic() + 30
        while not ((cp := state.load(store.store_id)) and cp.phase in ("customers", "orders") and cp.batches):
            assert time.monotonic() < deadline, "the first backfill never submitted a batch"
            time.sleep(0.05)

        code, out, _ = cli("backfill", store.store_id)

        assert code == 1
        assert f"{store.store_id}: a backfill of this store is already running (run {cp.run_id}, " in out
    finally:
        held.remove()
        worker.join(timeout=60)
    code, out, _ = first["run"]
    assert code == 0 and f"orders {ORDERS} written" in out
    assert total(mailchimp_reader, store.store_id, "orders") == ORDERS


def test_status_resets_a_flag_a_killed_backfill_left_on(
    store: RegisteredStore, mailchimp: MailchimpEmulator, mailchimp_reader: MailchimpReader
) -> None:
    # A run killed outright mid-way: is_syncing on in Mailchimp, its checkpoint running and still for an hour,
    # no lock held.
    store_path = f"{mailchimp.base_url}/ecommerce/stores/{store.store_id}"
    answer = requests.patch(store_path, json={"is_syncing": True}, auth=("x", API_KEY), timeout=10)
    assert answer.ok and answer.json()["is_syncing"] is True
    state = history_state()
    killed = BackfillCheckpoint(
        run_id="killed-run",
        since="2026-01-01T00:00:00+00:00",
        until="2026-06-01T00:00:00+00:00",
        resources=["customers", "orders"],
        phase="orders",
        syncing=True,
        started_at=time.time() - 7200,
        updated_at=time.time() - 3600,
    )
    state.table.put_item(
        Item={"pk": partition(store.store_id), "sk": "backfill", "status": "running", "doc": killed.model_dump_json()}
    )

    # With STORE the exit code is that store's alone (other tests' dead letters share the runner). The reset is the
    # global part's, made for every store; the run it leaves unfinished needs attention (exit code 1).
    code, out, _ = cli("status", store.store_id)

    assert code == 1, out
    assert f"attention: the last backfill was interrupted: `commerce-sync backfill {store.store_id}` resumes it" in out
    assert f"reset: store {store.store_id}: is_syncing left on by backfill run killed-run" in out
    assert mailchimp_reader.resource(f"/ecommerce/stores/{store.store_id}")["is_syncing"] is False  # type: ignore[index]
    checkpoint = state.load(store.store_id)
    assert checkpoint is not None and checkpoint.syncing is False and checkpoint.flag_reset

    # Said once: the next status has nothing to reset.
    code, out, _ = cli("status", store.store_id)
    assert code == 1 and "reset:" not in out


def test_reconcile_now_repairs_what_a_lost_webhook_left_behind(
    runner: LocalRunner, store: RegisteredStore, shopify: ShopifyEmulator, mailchimp_reader: MailchimpReader
) -> None:
    assert cli("backfill", store.store_id)[0] == 0
    order = shopify.history["orders"].get(900_003)
    assert order is not None
    moment = (datetime.now(UTC) - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    shopify.history["orders"].put(order | {"cancelled_at": moment, "updated_at": moment})

    code, out, _ = cli("reconcile", "--store", store.store_id)
    runner.wait_until_idle(timeout=60)

    assert code == 0, out
    assert f"{store.store_id}: reconciliation done in" in out and "repaired 1 (1 orders outdated); failed 0" in out
    assert "webhooks not checked: " in out and "a shopify store: commerce-sync does not check its webhooks" in out
    repaired = mailchimp_reader.resource(f"/ecommerce/stores/{store.store_id}/orders/900003")
    assert repaired is not None and repaired["financial_status"] == "cancelled"

    code, out, _ = cli("reconcile", "--store", store.store_id, "--json")
    (result,) = json.loads(out)
    assert code == 0 and result["repairs"] == 0
