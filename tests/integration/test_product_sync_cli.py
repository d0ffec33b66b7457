"""`commerce-sync sync-products` runs the product_sync function locally (as the runner loads it) and
`commerce-sync catalog-status` reports what the runs left; plus the nightly fan-out through the queue."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterator
from contextlib import redirect_stdout

import pytest

from emulators.shopify import ShopifyEmulator
from emulators.shopify.fixtures import sample_catalog
from local_runner.runner import LocalRunner
from operator_cli import catalog as catalog_cli
from operator_cli.main import main
from tests.harness import RegisteredStore, register_store

TOKEN = "shpat_cli"


@pytest.fixture
def shopify() -> Iterator[ShopifyEmulator]:
    with ShopifyEmulator(f"cli-{uuid.uuid4().hex[:8]}.myshopify.com", TOKEN) as emulator:
        for product in sample_catalog():
            emulator.put_product(product)
        yield emulator


@pytest.fixture
def store(runner: LocalRunner, shopify: ShopifyEmulator, monkeypatch: pytest.MonkeyPatch) -> RegisteredStore:
    # What `--env-file .local/runner.env` gives the CLI.
    for name, value in runner.operator_environment().items():
        monkeypatch.setenv(name, value)
    return register_store(
        "shopify",
        identity=shopify.shop_domain,
        platform_api_url=shopify.base_url,
        platform_api_credentials={"access_token": TOKEN},
    )


def cli(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    with redirect_stdout(out):
        code = main(list(argv))
    return code, out.getvalue()


def test_sync_products_runs_now_and_catalog_status_reports_it(store: RegisteredStore) -> None:
    code, out = cli("sync-products", "--store", store.store_id)

    assert code == 0, out
    assert f"{store.store_id}: done in" in out and "4 seen" in out and "4 created" in out

    code, out = cli("catalog-status", "--store", store.store_id)
    assert code == 0
    (line,) = [row for row in out.splitlines() if row.startswith(store.store_id)]
    assert line.split()[3:9] == ["4", "0", "4", "0", "0", "0"] and line.endswith("idle")

    code, out = cli("catalog-status", "--store", store.store_id, "--json")
    (status,) = json.loads(out)
    assert status["last_run"]["created"] == 4 and status["lock"] is None and status["batches_in_flight"] == 0


def test_sync_catalog_runs_products_and_promotions_or_the_parts_named(
    store: RegisteredStore, shopify: ShopifyEmulator
) -> None:
    from emulators.shopify.discounts import sample_price_rules

    for rule, codes in sample_price_rules():
        shopify.put_price_rule(rule, codes)

    code, out = cli("sync-catalog", store.store_id, "--what", "promotions")
    assert code == 0, out
    assert "promotions: rules 6 seen, 0 unchanged, 6 created" in out and "codes 7 seen" in out
    assert "1 left out (rule 507: buy X get Y" in out and " seen, 0 unchanged, 4 created" not in out

    code, out = cli("sync-catalog", "--store", store.store_id)
    assert code == 0, out
    assert "4 seen, 0 unchanged, 4 created" in out and "rules 6 seen, 6 unchanged" in out

    code, out = cli("catalog-status", "--store", store.store_id)
    assert "promotions: rules 6 seen, 6 unchanged, 0 created" in out


def test_sync_catalog_refuses_a_part_it_does_not_know(store: RegisteredStore) -> None:
    with pytest.raises(SystemExit) as exit_code:
        cli("sync-catalog", store.store_id, "--what", "products,coupons")
    assert exit_code.value.code == 2


def test_an_interrupted_run_shows_in_catalog_status(
    store: RegisteredStore, shopify: ShopifyEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    import commerce_sync.platforms.shopify.catalog as shopify_catalog

    monkeypatch.setattr(shopify_catalog, "PAGE_SIZE", 2)
    shopify.fail_when(lambda path, query: 401 if "page_info" in query else None)

    code, out = cli("sync-products", "--store", store.store_id)
    assert code == 1 and "failed" in out

    code, out = cli("catalog-status", "--store", store.store_id)
    assert "interrupted in pages; the next run resumes it" in out


def test_the_nightly_schedule_fans_out_one_sync_per_store(
    runner: LocalRunner, store: RegisteredStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Only this test's store: the registry is shared by every test of the session. The patch reaches the
    # handler only in this process, so the scheduled invocation runs here; the syncs it queues run in the
    # runner's containers.
    monkeypatch.setattr("commerce_sync.aws.store_registry.StoreRegistry.list", lambda self: [self.get(store.store_id)])
    answer = runner.in_process("ProductSyncFunction").invoke({"action": "catalog_sync", "scope": "all_stores"})
    runner.wait_until_idle(timeout=30)

    assert answer == {"status": "queued", "stores": [store.store_id]}
    summary = catalog_cli.catalog_state().last_summary(store.store_id)
    assert summary is not None and summary["created"] == 4 and summary["trigger"] == "schedule"
