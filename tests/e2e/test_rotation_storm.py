"""A Shopify store's signing secret rotated while signed deliveries keep arriving through real HTTP.

The merchant has made a new client secret in Shopify and the operator has staged it. While four threads
post 200 signed checkouts/update deliveries to the local API, the rotation is stepped through as Secrets
Manager would (every step twice): before createSecret Shopify signs with the old secret; once the new
one is AWSPENDING, and after it is AWSCURRENT, deliveries come signed with either (Shopify keeps signing
with the oldest secret until the merchant revokes it). None may be refused. Deliveries signed with a
random secret, mixed in, must all be refused. After the grace period the old secret is refused too.
"""

from __future__ import annotations

import io
import json
import random
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import requests
from commerce_sync.aws.secret_store import AWSCURRENT, AWSPREVIOUS, PROMOTED_AT_TAG
from commerce_sync.rotation.key_rotation import STEPS

from local_runner.runner import LocalRunner
from local_runner.senders import send_shopify
from operator_cli import rotation as rotation_cli
from operator_cli.stores import generate_webhook_secret
from tests.harness import register_store

SAMPLE = Path(__file__).resolve().parents[2] / "events" / "shopify_checkout_update_body.json"
SIGNED_DELIVERIES = 200
FORGED_DELIVERIES = 40
THREADS = 4


def checkout_body() -> bytes:
    body = json.loads(SAMPLE.read_text())
    body["token"] = uuid.uuid4().hex
    body["cart_token"] = uuid.uuid4().hex
    return json.dumps(body).encode()


class Storm:
    """Threads posting deliveries; the signer is chosen from what Shopify may sign with in the current phase."""

    def __init__(self, runner: LocalRunner, shop: str, old: str, new: str) -> None:
        self.runner, self.shop, self.old, self.new = runner, shop, old, new
        self.phase = "before"
        self.lock = threading.Lock()
        self.sent = 0
        self.results: list[tuple[str, str, int]] = []  # (phase, signer, status)
        self.forged: list[int] = []
        self.body = checkout_body()  # one cart, updated again and again

    def signer(self, rng: random.Random) -> tuple[str, str]:
        if self.phase == "before":
            return "old", self.old
        return ("new", self.new) if rng.random() < 0.5 else ("old", self.old)

    def worker(self, seed: int, count: int, forged: int) -> None:
        rng = random.Random(seed)
        plan = ["signed"] * count + ["forged"] * forged
        rng.shuffle(plan)
        with requests.Session():
            for kind in plan:
                if kind == "forged":
                    response = send_shopify(
                        self.runner.url, generate_webhook_secret(), "checkouts/update", self.shop, self.body
                    )
                    with self.lock:
                        self.forged.append(response.status_code)
                    continue
                phase = self.phase
                label, secret = self.signer(rng)
                response = send_shopify(self.runner.url, secret, "checkouts/update", self.shop, self.body)
                with self.lock:
                    self.results.append((phase, label, response.status_code))
                    self.sent += 1

    def wait_for(self, count: int, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if self.sent >= count:
                    return
            time.sleep(0.01)
        raise TimeoutError(f"only {self.sent} deliveries sent")


def step(runner: LocalRunner, name: str, secret_id: str, token: str) -> None:
    runner.invoke("KeyRotationFunction", {"Step": name, "SecretId": secret_id, "ClientRequestToken": token})


def test_no_signed_delivery_is_refused_while_the_secret_rotates(
    runner: LocalRunner, captured_logs: io.StringIO
) -> None:
    store = register_store("shopify")
    secret_id = store.store.secret_id
    old, new = store.webhook_secret, generate_webhook_secret()
    client = runner.client("secretsmanager")
    rotation_cli.stage_webhook_secret(client, secret_id, new)  # `commerce-sync rotate shopify-secret` does this
    token = rotation_cli.start_local_rotation(client, secret_id)

    storm = Storm(runner, store.identity, old, new)
    per_thread = SIGNED_DELIVERIES // THREADS
    threads = [
        threading.Thread(target=storm.worker, args=(seed, per_thread, FORGED_DELIVERIES // THREADS))
        for seed in range(THREADS)
    ]
    for thread in threads:
        thread.start()

    storm.wait_for(SIGNED_DELIVERIES // 5)
    for name in ("createSecret", "setSecret"):
        step(runner, name, secret_id, token)
        step(runner, name, secret_id, token)
    storm.phase = "pending"  # the new secret is AWSPENDING: Shopify may now sign with it
    storm.wait_for(SIGNED_DELIVERIES * 2 // 5)
    step(runner, "testSecret", secret_id, token)
    step(runner, "testSecret", secret_id, token)
    storm.wait_for(SIGNED_DELIVERIES * 3 // 5)
    step(runner, "finishSecret", secret_id, token)
    step(runner, "finishSecret", secret_id, token)
    storm.phase = "finished"
    for thread in threads:
        thread.join(timeout=300)

    refused = [result for result in storm.results if result[2] != 202]
    assert refused == []
    assert len(storm.results) == SIGNED_DELIVERIES
    by_phase = {(phase, label) for phase, label, _ in storm.results}
    assert {
        ("before", "old"),
        ("pending", "new"),
        ("pending", "old"),
        ("finished", "new"),
        ("finished", "old"),
    } <= by_phase
    assert storm.forged == [401] * FORGED_DELIVERIES

    current = json.loads(client.get_secret_value(SecretId=secret_id, VersionStage=AWSCURRENT)["SecretString"])
    previous = json.loads(client.get_secret_value(SecretId=secret_id, VersionStage=AWSPREVIOUS)["SecretString"])
    assert (current["webhook_secret"], previous["webhook_secret"]) == (new, old)
    assert current["origin"] == "operator"

    # The grace period ends (as if an hour had passed): the old secret is refused, the new one accepted.
    # The receiver's cached keyring knows when the grace ends; moving the promotion time back is seen at
    # the next signature miss (any refused delivery re-checks the secret), here a forged one.
    client.tag_resource(SecretId=secret_id, Tags=[{"Key": PROMOTED_AT_TAG, "Value": "2020-01-01T00:00:00Z"}])
    body = checkout_body()
    assert (
        send_shopify(runner.url, generate_webhook_secret(), "checkouts/update", store.identity, body).status_code == 401
    )
    assert send_shopify(runner.url, old, "checkouts/update", store.identity, body).status_code == 401
    assert send_shopify(runner.url, new, "checkouts/update", store.identity, body).status_code == 202

    logs = captured_logs.getvalue()
    assert old not in logs and new not in logs
    assert '"secret_label":"pending"' in logs and '"secret_label":"previous"' in logs
    runner.wait_until_idle(timeout=180)


def test_a_staged_secret_is_required_for_shopify(runner: LocalRunner) -> None:
    store = register_store("shopify")
    client = runner.client("secretsmanager")
    token = rotation_cli.start_local_rotation(client, store.store.secret_id)
    try:
        step(runner, STEPS[0], store.store.secret_id, token)
    except Exception as error:  # the function's own error, as Secrets Manager would record it
        assert "commerce-sync rotate shopify-secret" in str(error)
    else:
        raise AssertionError("createSecret should refuse to invent a Shopify client secret")
    current: dict[str, Any] = json.loads(
        client.get_secret_value(SecretId=store.store.secret_id, VersionStage=AWSCURRENT)["SecretString"]
    )
    assert current["webhook_secret"] == store.webhook_secret
    assert (
        send_shopify(runner.url, store.webhook_secret, "checkouts/update", store.identity, checkout_body()).status_code
        == 202
    )
