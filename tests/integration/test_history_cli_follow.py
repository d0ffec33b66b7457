"""`commerce-sync backfill` and `commerce-sync reconcile` follow a run chained across invocations to its end, locally
(the handler invoked in this process, the rest through the product queue the local runner consumes) and deployed
(PRODUCT_SYNC_FUNCTION_NAME: an asynchronous invocation, then the run's checkpoint and summary followed).

Deployed, the function invoked is one in moto server's Lambda, which accepts the invocation and runs nothing; the
test plays the Lambda service: it watches the Invoke request the CLI sends (botocore's before-call and after-call
events; the request still goes to moto, unchanged) and runs what moto accepted in the local runner's function.
Not covered here: `--stack NAME` finding the function and the tables in a CloudFormation stack's outputs
(describe-stacks); the CLI takes the same path once the function's name is known."""

from __future__ import annotations

import io
import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from emulators.shopify import ShopifyEmulator
from emulators.shopify.fixtures import sample_catalog
from emulators.shopify.history import generate_history
from local_runner.runner import LocalRunner
from operator_cli.main import main
from tests.harness import MailchimpReader, PageGate, RegisteredStore, moto_lambda_function, register_store

TOKEN = "shpat_history_cli_follow"
FUNCTION = "ProductSyncFunction"
CUSTOMERS, ORDERS = 4, 8


@pytest.fixture
def shopify() -> Iterator[ShopifyEmulator]:
    with ShopifyEmulator(f"hcf-{uuid.uuid4().hex[:8]}.myshopify.com", TOKEN) as emulator:
        for product in sample_catalog():
            emulator.put_product(product)
        now = datetime.now(UTC)
        customers, orders = generate_history(
            CUSTOMERS, ORDERS, now - timedelta(hours=20), now - timedelta(hours=2), [(1001, 10011)]
        )
        emulator.history["customers"].put_many(customers)
        emulator.history["orders"].put_many(orders)
        emulator.page_size_cap = 3
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


@pytest.fixture
def backfilled(runner: LocalRunner, store: RegisteredStore) -> RegisteredStore:
    assert runner.invoke(FUNCTION, {"action": "backfill", "store_id": store.store_id})["status"] == "done"
    runner.wait_until_idle(timeout=60)
    return store


@pytest.fixture
def one_page_a_slice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECONCILE_SAFETY_MARGIN_SECONDS", "900")
    monkeypatch.setenv("RECONCILE_QUEUE_SLICE_SECONDS", "0")


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


class LambdaService:
    """Runs, in the local runner's function, each invocation the CLI makes that moto's Lambda accepted: an Event
    invocation in a thread of its own, as Lambda runs it asynchronously. `invocations`: (function, invocation
    type, payload) as the CLI sent them."""

    def __init__(self, runner: LocalRunner, function: str) -> None:
        self.runner = runner
        self.function = function
        self.invocations: list[tuple[str, str, dict[str, Any]]] = []
        self.results: list[Any] = []
        self._threads: list[threading.Thread] = []
        self._sent: tuple[str, str, dict[str, Any]] | None = None

    def __enter__(self) -> LambdaService:
        if boto3.DEFAULT_SESSION is None:
            boto3.setup_default_session()
        assert boto3.DEFAULT_SESSION is not None
        self._events = boto3.DEFAULT_SESSION.events
        self._events.register("before-call.lambda.Invoke", self._before)
        self._events.register("after-call.lambda.Invoke", self._after)
        return self

    def __exit__(self, *_: object) -> None:
        self._events.unregister("before-call.lambda.Invoke", self._before)
        self._events.unregister("after-call.lambda.Invoke", self._after)
        for thread in self._threads:
            thread.join(timeout=120)

    def _before(self, params: dict[str, Any], **_: Any) -> None:
        function = params["url_path"].split("/functions/", 1)[1].split("/", 1)[0]
        kind = str(params["headers"].get("X-Amz-Invocation-Type", "RequestResponse"))
        self._sent = (function, kind, json.loads(params["body"]))

    def _after(self, parsed: dict[str, Any], **_: Any) -> None:
        assert self._sent is not None
        self.invocations.append(self._sent)
        if parsed.get("StatusCode") == 202:
            payload = self._sent[2]
            thread = threading.Thread(target=lambda: self.results.append(self.runner.invoke(FUNCTION, payload)))
            self._threads.append(thread)
            thread.start()


@pytest.fixture
def deployed(runner: LocalRunner, store: RegisteredStore, monkeypatch: pytest.MonkeyPatch) -> Iterator[LambdaService]:
    function = moto_lambda_function(runner.aws_endpoint_url, f"product-sync-{uuid.uuid4().hex[:8]}")
    monkeypatch.setenv("PRODUCT_SYNC_FUNCTION_NAME", function)
    with LambdaService(runner, function) as service:
        yield service


def test_reconcile_follows_a_run_that_continues_through_the_queue(
    backfilled: RegisteredStore, one_page_a_slice: None
) -> None:
    store_id = backfilled.store_id

    code, out, err = cli("reconcile", "--store", store_id)

    assert code == 0, out + err
    assert f"{store_id}: the reconciliation continues through the product queue (customers)" in err
    assert f"{store_id}: reconciliation done in " in out and " (5 slices): checked 4 customers, 8 orders; " in out
    assert "repaired 0; failed 0" in out

    code, out, _ = cli("reconcile", "--store", store_id, "--json")
    (summary,) = json.loads(out)
    # This window starts an hour before the newest change the first run read: fewer pages, one a slice.
    assert code == 0 and summary["status"] == "done" and summary["repairs"] == 0
    assert summary["slices"] == summary["pages"] < 5


def test_reconcile_while_one_runs_says_so_and_starts_nothing(
    runner: LocalRunner, backfilled: RegisteredStore, shopify: ShopifyEmulator
) -> None:
    store_id = backfilled.store_id
    gate = PageGate(shopify, nth=1)
    first: dict[str, Any] = {}
    worker = threading.Thread(
        target=lambda: first.setdefault("run", runner.invoke(FUNCTION, {"action": "reconcile", "store_id": store_id}))
    )
    worker.start()
    try:
        assert gate.reached.wait(timeout=60)

        code, out, _ = cli("reconcile", "--store", store_id)

        assert code == 1
        assert f"{store_id}: a reconciliation of this store is already running (run " in out
        assert ", customers); not started again" in out
    finally:
        gate.released.set()
        worker.join(timeout=60)
    assert first["run"]["status"] == "done" and first["run"]["slices"] == 1


def test_deployed_reconcile_starts_the_run_and_follows_it_to_its_end(
    backfilled: RegisteredStore, deployed: LambdaService, one_page_a_slice: None
) -> None:
    store_id = backfilled.store_id
    function = deployed.function

    code, out, err = cli("reconcile", "--store", store_id)

    assert deployed.invocations == [
        (function, "Event", {"action": "reconcile", "store_id": store_id, "trigger": "cli"})
    ]
    assert code == 0, out + err
    assert f"{store_id}: reconciliation started in {function}" in err
    assert f"{store_id}: reconciliation done in " in out and " (5 slices): checked 4 customers, 8 orders; " in out
    # The invocation moto accepted ran one slice; the rest went through the queue.
    assert [result["status"] for result in deployed.results] == ["continued"]


def test_deployed_backfill_starts_the_run_and_follows_it_to_its_end(
    store: RegisteredStore, deployed: LambdaService, mailchimp_reader: MailchimpReader
) -> None:
    store_id = store.store_id
    function = deployed.function

    code, out, err = cli("backfill", store_id)

    assert deployed.invocations == [(function, "Event", {"action": "backfill", "store_id": store_id, "trigger": "cli"})]
    assert code == 0, out + err
    assert f"{store_id}: backfill started in {function}" in err
    assert f"{store_id}: backfill done in " in out and f"orders {ORDERS} written, 0 unchanged, 0 failed" in out
    assert f"customers {CUSTOMERS} written" in out
    found = mailchimp_reader.resource(f"/ecommerce/stores/{store_id}/orders?count=1")
    assert found is not None and found["total_items"] == ORDERS
