"""What `dead-letters --store/--since/--error-type` match on: the store a letter's body names (in each of the
bodies the functions dead-letter), when it failed, and its error type; --since in each form it takes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from operator_cli.dead_letters import (
    REDRIVEN_BY_SQS,
    DeadLetterError,
    LetterFilter,
    letter_of,
    parse_since,
    store_of,
    subject_of,
)

NOW = datetime(2026, 3, 14, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2h", NOW - timedelta(hours=2)),
        ("3d", NOW - timedelta(days=3)),
        ("30m", NOW - timedelta(minutes=30)),
        ("45s", NOW - timedelta(seconds=45)),
        ("1W", NOW - timedelta(weeks=1)),
        ("2026-01-31", datetime(2026, 1, 31, tzinfo=UTC)),
        ("2026-01-31T08:30", datetime(2026, 1, 31, 8, 30, tzinfo=UTC)),
        ("2026-01-31T08:30:00Z", datetime(2026, 1, 31, 8, 30, tzinfo=UTC)),
        ("2026-01-31T10:30:00+02:00", datetime(2026, 1, 31, 8, 30, tzinfo=UTC)),
    ],
)
def test_since_takes_a_date_a_date_and_time_or_a_duration(value: str, expected: datetime) -> None:
    assert parse_since(value, now=NOW) == expected


@pytest.mark.parametrize("value", ["yesterday", "2h ago", "-3d", "2026-13-01", ""])
def test_since_refuses_anything_else_and_says_what_it_takes(value: str) -> None:
    with pytest.raises(DeadLetterError, match=r"is not a date \(2025-01-31\).*a duration back from now"):
        parse_since(value, now=NOW)


@pytest.mark.parametrize(
    ("body", "store", "subject"),
    [
        (
            {
                "detail-type": "order.updated",
                "detail": {"store_id": "shop-1", "type": "order.updated", "entity_id": "9"},
            },
            "shop-1",
            "order.updated 9",
        ),
        ({"action": "sync_product", "store_id": "shop-2", "product_id": "42"}, "shop-2", "sync_product product 42"),
        (
            {"action": "sync_promotion", "store_id": "s", "rule_id": "7", "code_id": "8"},
            "s",
            "sync_promotion rule 7 code 8",
        ),
        (
            {"action": "segment_tags", "store_id": "s", "customer_id": "0a1b2c"},
            "s",
            "segment_tags customer 0a1b2c",
        ),
        (
            {"action": "publish_event", "event": {"store_id": "shop-3", "type": "customer.updated", "entity_id": "5"}},
            "shop-3",
            "customer.updated 5",
        ),
        (
            {"detail": {"store_id": "s", "type": "customer.erased", "entity_id": "who@example.com"}},
            "s",
            "customer.erased <email>",
        ),
        (["not", "an", "object"], None, ""),
        ({"detail": {"store_id": 5}}, None, ""),
    ],
)
def test_the_store_and_subject_come_from_each_kind_of_body(body: Any, store: str | None, subject: str) -> None:
    assert store_of(body) == store
    assert subject_of(body) == subject


def message(body: Any, **attributes: str) -> dict[str, Any]:
    return {
        "MessageId": "m-1",
        "ReceiptHandle": "r-1",
        "Body": json.dumps(body),
        "MessageAttributes": {name: {"DataType": "String", "StringValue": value} for name, value in attributes.items()},
        "Attributes": {"SentTimestamp": str(int(datetime(2026, 3, 1, tzinfo=UTC).timestamp() * 1000))},
    }


def test_a_filter_matches_store_time_and_error_type_together() -> None:
    letter = letter_of(
        message(
            {"detail": {"store_id": "shop-1"}},
            error_type="MailchimpError",
            failed_at="2026-03-14T10:00:00+00:00",
            permanent="false",
            receive_count="5",
        )
    )
    assert (letter.store_id, letter.permanent, letter.receive_count) == ("shop-1", False, 5)
    assert LetterFilter().matches(letter)
    assert LetterFilter(store_id="shop-1", error_type="mailchimperror", since=NOW - timedelta(hours=2)).matches(letter)
    assert not LetterFilter(store_id="shop-2").matches(letter)
    assert not LetterFilter(error_type="OrderNotYetKnown").matches(letter)
    assert not LetterFilter(since=NOW - timedelta(hours=1)).matches(letter)


def test_a_letter_sqs_redrove_itself_goes_by_when_it_was_sent() -> None:
    letter = letter_of(message({"action": "catalog_sync", "store_id": "s"}))
    assert letter.error_type == REDRIVEN_BY_SQS
    assert letter.failed_at == datetime(2026, 3, 1, tzinfo=UTC)
    assert LetterFilter(error_type=REDRIVEN_BY_SQS, since=datetime(2026, 2, 1, tzinfo=UTC)).matches(letter)
