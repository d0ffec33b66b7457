"""The local runner's moto transactions (local_runner/moto_transactions.py): a cancelled transaction leaves
every item as it was, as DynamoDB does, now that moto no longer copies whole tables for its rollback."""

from __future__ import annotations

from commerce_sync.aws.sync_state import SyncState

from tests.harness import new_sync_state_table

V1 = "2026-12-04T10:00:00.000000Z"
V2 = "2026-12-04T11:00:00.000000Z"


def test_a_cancelled_transaction_writes_nothing(moto_endpoint: str) -> None:
    dynamodb, table = new_sync_state_table(moto_endpoint)
    state = SyncState(table, dynamodb)
    state.record_applied("s1", "order", "kept", V1, order="before")
    state.record_applied("s1", "order", "newer", V2)
    items = [
        ("fresh", {"Put": {"TableName": table, "Item": {"pk": "s1#order#fresh", "sk": "state", "v": "1"}}}),
        (
            "kept",
            {
                "Update": {
                    "TableName": table,
                    "Key": {"pk": "s1#order#kept", "sk": "state"},
                    "UpdateExpression": "SET #order = :order",
                    "ExpressionAttributeNames": {"#order": "order"},
                    "ExpressionAttributeValues": {":order": "after"},
                }
            },
        ),
        (
            "newer",
            {
                "Update": {
                    "TableName": table,
                    "Key": {"pk": "s1#order#newer", "sk": "state"},
                    "UpdateExpression": "SET applied_version = :v",
                    "ConditionExpression": "applied_version < :v",
                    "ExpressionAttributeValues": {":v": V1},
                }
            },
        ),
    ]
    client = dynamodb.meta.client

    try:
        client.transact_write_items(TransactItems=[item for _, item in items])
    except client.exceptions.TransactionCanceledException:
        pass
    else:  # pragma: no cover - the condition above must fail
        raise AssertionError("the transaction should have been cancelled")

    assert dynamodb.Table(table).get_item(Key={"pk": "s1#order#fresh", "sk": "state"}).get("Item") is None
    assert (state.applied("s1", "order", "kept") or {})["order"] == "before"
    assert (state.applied("s1", "order", "newer") or {})["applied_version"] == V2
