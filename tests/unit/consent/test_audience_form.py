"""Reading a Mailchimp audience webhook's form into the model and the canonical events it makes (docs/consent.md)."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest
from commerce_sync.aws.secret_store import SigningSecret
from commerce_sync.canonical.emails import subscriber_hash
from commerce_sync.canonical.errors import BadRequest
from commerce_sync.canonical.model import EventType
from commerce_sync.consent.audience_form import AudienceEventType, events_of, parse_form
from commerce_sync.consent.keys import audience_webhook_key, audience_webhook_url, matching_label, without_key

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
# Mailchimp's own example of an unsubscribe (its audience webhooks guide), with a fired_at of today, form-encoded as
# it travels (the guide shows it decoded).
UNSUBSCRIBE = urlencode(
    [
        ("type", "unsubscribe"),
        ("fired_at", "2026-12-05 11:40:57"),
        ("data[action]", "unsub"),
        ("data[reason]", "manual"),
        ("data[id]", "8a25ff1d98"),
        ("data[list_id]", "a6b5da1054"),
        ("data[email]", "api+unsub@mailchimp.com"),
        ("data[email_type]", "html"),
        ("data[merges][EMAIL]", "api+unsub@mailchimp.com"),
        ("data[merges][FNAME]", "Mailchimp"),
        ("data[merges][LNAME]", "API"),
        ("data[merges][INTERESTS]", "Group1,Group2"),
        ("data[ip_opt]", "10.20.10.30"),
        ("data[campaign_id]", "cb398d21d2"),
    ]
).encode()


def body(event_type: str, **data: str) -> bytes:
    fields = {"type": event_type, "fired_at": "2026-12-05 11:40:57", "data[list_id]": "a6b5da1054"}
    fields.update({f"data[{name}]": value for name, value in data.items()})
    return urlencode(fields).encode()


def test_mailchimps_unsubscribe_example_withdraws_consent() -> None:
    form = parse_form(UNSUBSCRIBE)
    assert form.type is AudienceEventType.UNSUBSCRIBE
    assert form.fired_at == datetime(2026, 12, 5, 11, 40, 57, tzinfo=UTC)
    assert form.data.email == "api+unsub@mailchimp.com" and form.data.id == "8a25ff1d98"
    (event,) = events_of("my-shop", form, NOW)
    assert event.type is EventType.CUSTOMER_CONSENT_WITHDRAWN
    assert event.store_id == "my-shop" and event.platform == "mailchimp"
    change = event.consent_change()
    assert change.email == "api+unsub@mailchimp.com" and change.reason == "unsubscribe: manual"
    assert event.entity_id == subscriber_hash("api+unsub@mailchimp.com")
    # The address as Mailchimp may spell it, in another case: the same contact.
    (same,) = events_of("my-shop", parse_form(body("unsubscribe", email="API+Unsub@Mailchimp.com", id="8a")), NOW)
    assert same.consent_change().email == "api+unsub@mailchimp.com"


def test_the_event_id_is_the_deliverys_and_the_stores() -> None:
    form = parse_form(body("unsubscribe", email="a@example.com", id="x1", reason="manual"))
    (first,) = events_of("store-a", form, NOW)
    (again,) = events_of(
        "store-a", parse_form(body("unsubscribe", email="a@example.com", id="x1", reason="manual")), NOW
    )
    (other,) = events_of("store-b", form, NOW)
    assert first.event_id == again.event_id != other.event_id
    assert first.consent_change().reason == "unsubscribe: manual"


@pytest.mark.parametrize(
    ("event_type", "data", "expected"),
    [
        ("cleaned", {"email": "c@example.com", "reason": "hard"}, EventType.CUSTOMER_CONSENT_WITHDRAWN),
        ("subscribe", {"email": "s@example.com", "id": "s1"}, EventType.CUSTOMER_CONSENT_GRANTED),
        ("upemail", {"old_email": "o@example.com", "new_email": "n@example.com"}, EventType.CUSTOMER_EMAIL_CHANGED),
    ],
)
def test_each_type_makes_its_event(event_type: str, data: dict[str, str], expected: EventType) -> None:
    (event,) = events_of("s", parse_form(body(event_type, **data)), NOW)
    assert event.type is expected


def test_profile_and_campaign_make_no_event() -> None:
    assert events_of("s", parse_form(body("profile", email="p@example.com")), NOW) == []
    assert events_of("s", parse_form(body("campaign", id="c1")), NOW) == []


@pytest.mark.parametrize(
    ("raw", "named"),
    [
        (body("explode", email="a@example.com"), "type"),
        (body("unsubscribe"), "data[email]"),
        (body("cleaned", email="not an address"), "data[email]"),
        (body("upemail", old_email="o@example.com"), "data[new_email]"),
        (b"type=unsubscribe&fired_at=tomorrow&data[list_id]=l&data[email]=a%40example.com", "fired_at"),
        (b"type=unsubscribe&fired_at=2026-12-05 11:40:57&data[email]=a%40example.com", "data[list_id]"),
        (b"\xff\xfe", "form"),
        (b"%%%&&&==", "form"),
    ],
)
def test_bad_input_is_a_bad_request_naming_the_problem(raw: bytes, named: str) -> None:
    with pytest.raises(BadRequest) as refused:
        parse_form(raw)
    assert named in str(refused.value)
    assert "a@example.com" not in str(refused.value)


def test_the_key_of_any_usable_secret_matches_and_is_masked_when_shown() -> None:
    current, previous = SigningSecret("current", "new-secret"), SigningSecret("previous", "old-secret")
    key = audience_webhook_key("old-secret", "my-shop")
    assert matching_label([current, previous], "my-shop", key) == "previous"
    assert matching_label([current], "my-shop", key) is None
    assert matching_label([current, previous], "other-shop", key) is None
    url = audience_webhook_url("https://api.example.com/", "my-shop", key)
    assert url == f"https://api.example.com/webhooks/mailchimp/my-shop?key={key}"
    assert key not in without_key(url) and without_key(url).endswith("key=…")
