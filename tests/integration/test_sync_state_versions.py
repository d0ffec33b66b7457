"""Sync state against DynamoDB (moto server): an impossible version recorded before versions were bounded
(a forged far-future time) no longer freezes its entity; real versions still order changes."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import boto3
import pytest
from commerce_sync.sync_state import SyncState
from moto.server import ThreadedMotoServer

from local_runner.runner import free_port

POISONED = "9999-12-31T23:59:59.000000Z"


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def state(moto_endpoint: str) -> SyncState:
    resource = boto3.resource(
        "dynamodb",
        endpoint_url=moto_endpoint,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    table = f"sync-state-{uuid.uuid4().hex[:8]}"
    resource.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    return SyncState(table, resource)


def test_an_impossible_recorded_version_yields_to_the_next_real_change(state: SyncState) -> None:
    state.mark("s1", "customer", "c1", applied_version=POISONED, removed="deleted")

    assert not state.is_stale("s1", "customer", "c1", "2026-12-04T10:00:00.000000Z")
    assert state.record_applied("s1", "customer", "c1", "2026-12-04T10:00:00.000000Z")

    item = state.applied("s1", "customer", "c1")
    assert item is not None and item["applied_version"] == "2026-12-04T10:00:00.000000Z"
    assert item["removed"] == "deleted", "other attributes of the item are kept"


def test_real_versions_still_order_changes(state: SyncState) -> None:
    assert state.record_applied("s1", "order", "o1", "2026-12-04T10:00:00.000000Z")
    assert not state.record_applied("s1", "order", "o1", "2026-12-04T09:00:00.000000Z")
    assert state.is_stale("s1", "order", "o1", "2026-12-04T09:59:59.000000Z")
    assert state.record_applied("s1", "order", "o1", "2026-12-04T11:00:00.000000Z")
