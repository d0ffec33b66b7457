"""`commerce-sync --env-file … backfill STORE` typed as an operator types it (a process of its own, settings from
the file the local runner writes) against the local runner, a Shopify stand-in with months of paged history and
the Mailchimp emulator: Mailchimp then holds exactly the history, quietly, and the summary says so."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from emulators.mailchimp import MailchimpEmulator
from emulators.shopify import ShopifyEmulator
from emulators.shopify.fixtures import sample_catalog
from emulators.shopify.history import generate_history
from local_runner.main import write_env_file
from local_runner.runner import LocalRunner
from tests.harness import MailchimpReader, RegisteredStore, register_store
from tests.paths import PROJECT

TOKEN = "shpat_backfill_e2e"
CUSTOMERS, ORDERS, OLD_ORDERS = 20, 60, 5
COMMAND = str(PROJECT / ".venv" / "bin" / "commerce-sync")


@pytest.fixture
def shopify() -> Iterator[ShopifyEmulator]:
    with ShopifyEmulator(f"bfe-{uuid.uuid4().hex[:8]}.myshopify.com", TOKEN) as emulator:
        for product in sample_catalog():
            emulator.put_product(product)
        now = datetime.now(UTC)
        customers, orders = generate_history(
            CUSTOMERS, ORDERS, now - timedelta(days=170), now - timedelta(hours=2), [(1001, 10011), (1003, 10031)]
        )
        emulator.history["customers"].put_many(customers)
        emulator.history["orders"].put_many(orders)
        # A year old: outside `--since`.
        _, old = generate_history(1, OLD_ORDERS, now - timedelta(days=400), now - timedelta(days=360), first_order_id=1)
        emulator.history["orders"].put_many(old)
        emulator.page_size_cap = 9
        yield emulator


@pytest.fixture
def store(runner: LocalRunner, shopify: ShopifyEmulator) -> RegisteredStore:
    return register_store(
        "shopify",
        identity=shopify.shop_domain,
        platform_api_url=shopify.base_url,
        platform_api_credentials={"access_token": TOKEN},
    )


def typed(env_file: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    environment = {name: os.environ[name] for name in ("PATH", "HOME", "LANG", "TMPDIR") if name in os.environ}
    return subprocess.run(
        [COMMAND, "--env-file", str(env_file), *arguments],
        cwd=PROJECT,
        env={**environment, "PYTHONUNBUFFERED": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def total(reader: MailchimpReader, store_id: str, collection: str) -> int:
    found = reader.resource(f"/ecommerce/stores/{store_id}/{collection}?count=1")
    assert found is not None
    return int(found["total_items"])


def test_backfill_typed_against_the_local_runner_brings_the_history(
    runner: LocalRunner,
    store: RegisteredStore,
    mailchimp: MailchimpEmulator,
    mailchimp_reader: MailchimpReader,
    tmp_path: Path,
) -> None:
    env_file = write_env_file(runner, tmp_path / "runner.env")
    since = (datetime.now(UTC) - timedelta(days=180)).date().isoformat()

    done = typed(env_file, "backfill", store.store_id, "--since", since, "--json")

    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads(done.stdout)  # stdout holds the summary alone (the function's logs go to stderr)
    assert summary["status"] == "done" and summary["since"].startswith(since)
    orders, customers = summary["progress"]["orders"], summary["progress"]["customers"]
    assert orders["total"] == orders["read"] == orders["written"] == ORDERS and orders["failed"] == 0
    assert customers["total"] == customers["written"] == CUSTOMERS
    assert f"{store.store_id} orders: {ORDERS}/{ORDERS} (100%)" in done.stderr, done.stderr
    assert TOKEN not in done.stdout + done.stderr
    # Mailchimp's own counts: exactly the window, nothing older, the flag off again.
    assert total(mailchimp_reader, store.store_id, "orders") == ORDERS
    assert total(mailchimp_reader, store.store_id, "customers") == CUSTOMERS
    assert total(mailchimp_reader, store.store_id, "products") == len(sample_catalog())
    assert mailchimp_reader.resource(f"/ecommerce/stores/{store.store_id}")["is_syncing"] is False  # type: ignore[index]
    # Every order written once, while the store was syncing: no notification.
    for n in range(ORDERS):
        events = mailchimp.order_status_events(store.store_id, str(900_000 + n))
        assert [e.store_is_syncing for e in events] == [True], n

    again = typed(env_file, "backfill", store.store_id, "--resources", "orders", "--since", since)
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"orders 0 written, {ORDERS} unchanged, 0 failed" in again.stdout
