"""Drives a scenario through the local runner under Mailchimp faults: registers the stores, sends every delivery
signed as its platform signs it (tests/e2e's senders), puts each BigCommerce change on the store's emulator
before its delivery, starts Mailchimp's outage half way, waits for the queues to drain, replays the dead letters
with the operator's own command (`commerce-sync dead-letters FN --store STORE --replay`) and waits again."""

from __future__ import annotations

import contextlib
import functools
import io
import json
import logging
import os
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from pydantic import BaseModel, ConfigDict

from emulators.bigcommerce import BigCommerceEmulator
from emulators.mailchimp import MailchimpEmulator
from local_runner.runner import LocalRunner
from local_runner.senders import send_shopify
from operator_cli import dead_letters
from operator_cli import main as operator_main
from tests.e2e.test_bigcommerce_webhooks import ACCESS_TOKEN, register_bigcommerce, sample
from tests.e2e.test_bigcommerce_webhooks import deliver as deliver_bigcommerce
from tests.e2e.test_woocommerce_orders import deliver as deliver_woocommerce
from tests.harness import RegisteredStore, register_store
from tests.soak.scenario import Delivery, Scenario, StoreKey

# The functions whose queues have dead-letter queues the operator replays (docs/operator.md#dead-letters).
REPLAYED_FUNCTIONS = ("cart_events", "order_status", "product_sync")


class FaultPlan(BaseModel):
    """What Mailchimp does meanwhile: shares of /3.0 requests answered with each fault, and the outage."""

    model_config = ConfigDict(frozen=True)

    rate_429: float = 0.10
    rate_500: float = 0.03
    rate_timeout: float = 0.01
    rate_500_committed: float = 0.01
    # Above the functions' read timeout (MAILCHIMP_READ_TIMEOUT, 2 s in the tests): the client gives up first.
    timeout_s: float = 2.5
    outage_seconds: float = 30.0
    seed: int = 1


class RunFigures(BaseModel):
    """What the run observed, for the report."""

    answers: dict[str, int]  # webhook answers by HTTP status
    refused: list[str]  # deliveries answered other than 202 (accepted) or 200 (acknowledged, ignored)
    send_seconds: float
    drain_seconds: float
    replay_seconds: float
    wall_seconds: float
    outage_started_after: int  # deliveries sent when the outage started
    dead_lettered: dict[str, int]  # by function, before the replay
    replayed: dict[str, int]  # by function, as the CLI reported it
    left_dead_lettered: dict[str, int]  # by function, after the replay and the second drain
    dead_letter_reasons: dict[str, int]  # error type -> letters, before the replay
    sqs_redeliveries: dict[str, int]  # records that failed and went back to their queue, by queue
    first_request: int  # index of the run's first record in the emulator's request log


class FailedRecords(logging.Handler):
    """Counts the records the local SQS event source saw fail, by queue: each goes back to its queue and is received
    again (or dead-lettered by its function on its last receive), as Lambda's event source does."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.by_queue: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        # local_runner.event_sources logs "%d of %d records failed in %s" and "function %s failed on a batch of %d".
        if record.msg == "%d of %d records failed in %s":
            failed, _, queue = record.args  # type: ignore[misc]
            self.by_queue[str(queue)] += int(str(failed))
        elif record.msg == "function %s failed on a batch of %d: %s":
            function, size, _ = record.args  # type: ignore[misc]
            self.by_queue[f"{function} (whole batch)"] += int(str(size))

    @contextlib.contextmanager
    def watching(self) -> Iterator[FailedRecords]:
        source = logging.getLogger("local_runner.event_sources")
        source.addHandler(self)
        try:
            yield self
        finally:
            source.removeHandler(self)


class SoakStores:
    """The six registered stores and the BigCommerce emulators behind theirs."""

    def __init__(self) -> None:
        self.registered: dict[str, RegisteredStore] = {}
        self.bigcommerce: dict[str, BigCommerceEmulator] = {}

    def store_id(self, key: StoreKey) -> str:
        return self.registered[key.name].store_id


@contextlib.contextmanager
def soak_stores(scenario: Scenario) -> Iterator[SoakStores]:
    stores = SoakStores()
    with contextlib.ExitStack() as stack:
        for key in scenario.stores:
            if key.platform == "shopify":
                stores.registered[key.name] = register_store("shopify")
            elif key.platform == "woocommerce":
                identity = f"https://soak-{uuid.uuid4().hex[:10]}.example.com/"
                stores.registered[key.name] = register_store("woocommerce", identity=identity)
            else:
                emulator = stack.enter_context(BigCommerceEmulator(f"soak{uuid.uuid4().hex[:10]}", ACCESS_TOKEN))
                # The carts' shopper (the sample cart's customer 42) with their newsletter consent.
                shopper = sample("bigcommerce_customer.json")["data"][0]
                emulator.put_customer(shopper)
                emulator.put_subscriber({"email": shopper["email"], "consents": ["marketing_newsletter"]})
                stores.bigcommerce[key.name] = emulator
                stores.registered[key.name] = register_bigcommerce(emulator)
        yield stores


@contextlib.contextmanager
def operator_environment(runner: LocalRunner) -> Iterator[None]:
    """The settings the operator CLI reads (what `.local/runner.env` holds), for the CLI run in this process."""
    settings = runner.operator_environment()
    saved = {name: os.environ.get(name) for name in settings}
    os.environ.update(settings)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class Sender:
    """Sends deliveries; a duplicate is the same bytes (and for Shopify the same event id) as the first send."""

    def __init__(self, runner: LocalRunner, stores: SoakStores) -> None:
        self.runner = runner
        self.stores = stores
        self._shopify_event_ids: dict[int, str] = {}
        self._bigcommerce_bodies: dict[int, dict[str, Any]] = {}
        self._applied_step: dict[tuple[str, str, str], int] = {}
        self.lock = threading.Lock()

    def send(self, delivery: Delivery) -> int:
        store = self.stores.registered[delivery.store.name]
        if delivery.store.platform == "shopify":
            with self.lock:
                event_id = self._shopify_event_ids.setdefault(delivery.number, str(uuid.uuid4()))
            raw = json.dumps(delivery.body).encode()
            answer = send_shopify(self.runner.url, store.webhook_secret, delivery.topic, store.identity, raw, event_id)
        elif delivery.store.platform == "woocommerce":
            answer = deliver_woocommerce(self.runner, store, delivery.topic, delivery.body)
        else:
            self._apply_bigcommerce_state(delivery)
            with self.lock:
                body = self._bigcommerce_bodies.setdefault(delivery.number, self._thin(delivery))
            answer = deliver_bigcommerce(self.runner, body, store.webhook_secret)
        return answer.status_code

    def _thin(self, delivery: Delivery) -> dict[str, Any]:
        """The delivery as BigCommerce sends it (tests/e2e/test_bigcommerce_webhooks.thin's shape)."""
        emulator = self.stores.bigcommerce[delivery.store.name]
        return {
            "scope": delivery.topic,
            "store_id": "1025646",
            "data": delivery.body,
            "hash": uuid.uuid4().hex + "0" * 8,
            "created_at": int(time.time()),
            "producer": f"stores/{emulator.store_hash}",
        }

    def _apply_bigcommerce_state(self, delivery: Delivery) -> None:
        """The store holds the newest state of the entity any delivery sent so far announced: a change that
        overtook an earlier one was made before it, and a duplicate sent later finds today's state."""
        key = (delivery.store.name, delivery.kind, delivery.entity_id)
        with self.lock:
            if self._applied_step.get(key, -1) >= delivery.step or delivery.platform_state is None:
                return
            self._applied_step[key] = delivery.step
            self._put_bigcommerce_state(delivery)

    def _put_bigcommerce_state(self, delivery: Delivery) -> None:
        assert delivery.platform_state is not None
        emulator = self.stores.bigcommerce[delivery.store.name]
        state = delivery.platform_state
        if delivery.kind == "order":
            emulator.put_order(
                state["order"],
                products=sample("bigcommerce_order_products.json"),
                shipments=state["shipments"],
                coupons=sample("bigcommerce_order_coupons.json"),
                refunds=state["refunds"],
            )
        elif delivery.kind == "cart":
            if state["cart"] is None:
                emulator.delete_cart(delivery.entity_id)
            else:
                emulator.put_cart(state["cart"])
        elif delivery.kind == "customer":
            emulator.put_customer(state["customer"])
        elif delivery.kind == "product":
            emulator.put_product(state["product"])


def replay_dead_letters(runner: LocalRunner, store_ids: list[str]) -> dict[str, int]:
    """`commerce-sync dead-letters FN --store STORE --replay --json` for each function and store, as an operator
    runs it (docs/operator.md); how many letters each function's replays sent back."""
    sent: Counter[str] = Counter()
    with operator_environment(runner):
        for function in REPLAYED_FUNCTIONS:
            for store_id in store_ids:
                output = io.StringIO()
                with contextlib.redirect_stdout(output):
                    code = operator_main.main(["dead-letters", function, "--store", store_id, "--replay", "--json"])
                if code != 0:
                    raise RuntimeError(f"dead-letters {function} --store {store_id} --replay exited {code}")
                sent[function] += int(json.loads(output.getvalue())["sent"])
    return dict(sent)


def count_dead_letters(runner: LocalRunner, store_ids: list[str]) -> tuple[dict[str, int], dict[str, int]]:
    """The run's stores' letters in each function's dead-letter queue, and their error types."""
    by_function: Counter[str] = Counter()
    by_reason: Counter[str] = Counter()
    with operator_environment(runner):
        for function in REPLAYED_FUNCTIONS:
            for letter in dead_letters.peek(function, limit=1_000_000):
                if letter.store_id in store_ids:
                    by_function[function] += 1
                    by_reason[letter.error_type or "unknown"] += 1
    return {function: by_function[function] for function in REPLAYED_FUNCTIONS}, dict(by_reason)


def drive(
    runner: LocalRunner,
    mailchimp: MailchimpEmulator,
    scenario: Scenario,
    stores: SoakStores,
    faults: FaultPlan,
    drain_timeout: float,
    senders: int = 1,
    progress: Callable[[str], None] | None = None,
) -> RunFigures:
    """`senders` deliveries are sent at a time, started in the schedule's order (as a platform's workers send
    them: two deliveries close in the schedule may arrive the other way round)."""
    started = time.monotonic()
    first_request = len(mailchimp.recorded_requests)
    store_ids = [stores.store_id(key) for key in scenario.stores]
    sender = Sender(runner, stores)
    answers: Counter[str] = Counter()
    refused: list[str] = []
    outage_at = len(scenario.schedule) // 2
    mailchimp.set_faults(
        rate_429=faults.rate_429,
        rate_500=faults.rate_500,
        rate_timeout=faults.rate_timeout,
        rate_500_committed=faults.rate_500_committed,
        timeout_s=faults.timeout_s,
        timeout_commits=True,
        seed=faults.seed,
    )
    window = threading.BoundedSemaphore(senders)

    def answered(delivery: Delivery, future: Future[int]) -> None:
        window.release()
        try:
            status: int | str = future.result()
        except Exception as error:  # a delivery that got no answer at all is reported, not lost
            status = type(error).__name__
        with sender.lock:
            answers[str(status)] += 1
            # 200: acknowledged and ignored (a BigCommerce cart read after its conversion is gone); anything else
            # is a refusal.
            if status not in (200, 202):
                refused.append(
                    f"{delivery.store.name} {delivery.topic} {delivery.entity_id} step {delivery.step}: {status}"
                )

    failed_records = FailedRecords()
    try:
        with failed_records.watching(), ThreadPoolExecutor(max_workers=senders) as pool:
            for sent, send in enumerate(scenario.schedule):
                if sent == outage_at and faults.outage_seconds > 0:
                    mailchimp.start_outage(faults.outage_seconds)
                delivery = scenario.deliveries[send.delivery]
                window.acquire()
                future = pool.submit(sender.send, delivery)
                future.add_done_callback(functools.partial(answered, delivery))
                if progress and sent % 500 == 0:
                    progress(f"sent {sent}/{len(scenario.schedule)}")
            send_seconds = time.monotonic() - started
            runner.wait_until_idle(timeout=drain_timeout)
    finally:
        mailchimp.set_faults()
        mailchimp.end_outage()
    drained = time.monotonic()
    dead_lettered, reasons = count_dead_letters(runner, store_ids)
    with failed_records.watching():
        replayed = replay_dead_letters(runner, store_ids)
        runner.wait_until_idle(timeout=drain_timeout)
    left, _ = count_dead_letters(runner, store_ids)
    finished = time.monotonic()
    return RunFigures(
        answers=dict(answers),
        refused=refused,
        send_seconds=round(send_seconds, 1),
        drain_seconds=round(drained - started - send_seconds, 1),
        replay_seconds=round(finished - drained, 1),
        wall_seconds=round(finished - started, 1),
        outage_started_after=outage_at,
        dead_lettered=dead_lettered,
        replayed={function: replayed.get(function, 0) for function in REPLAYED_FUNCTIONS},
        left_dead_lettered=left,
        dead_letter_reasons=reasons,
        sqs_redeliveries=dict(failed_records.by_queue),
        first_request=first_request,
    )
