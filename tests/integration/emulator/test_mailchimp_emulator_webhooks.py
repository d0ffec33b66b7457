"""The Mailchimp emulator's audience webhooks over real HTTP: `/lists/{list_id}/webhooks` (validated, with
Mailchimp's GET check of the URL) and the form-encoded deliveries a member's change makes."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

import pytest
import requests

from emulators.mailchimp import MailchimpEmulator

API_KEY = "0123456789abcdef0123456789abcdef-us6"
LIST_ID = "list-hooks"
ALL_EVENTS = {"subscribe": True, "unsubscribe": True, "profile": True, "cleaned": True, "upemail": True}


class Receiver:
    """A tiny HTTP endpoint: answers GET with `get_status`, records POSTed forms."""

    def __init__(self) -> None:
        self.get_status = 200
        self.gets = 0
        self.forms: list[dict[str, str]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                receiver.gets += 1
                self.send_response(receiver.get_status)
                self.end_headers()

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                assert self.headers.get("Content-Type") == "application/x-www-form-urlencoded"
                receiver.forms.append(dict(parse_qsl(self.rfile.read(length).decode(), keep_blank_values=True)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *_: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook?key=abc"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def emu() -> Iterator[MailchimpEmulator]:
    with MailchimpEmulator(api_key=API_KEY, port=0).start() as emulator:
        yield emulator


@pytest.fixture
def receiver(emu: MailchimpEmulator) -> Iterator[Receiver]:
    emu.reset()
    receiver = Receiver()
    yield receiver
    receiver.server.shutdown()


def api(emu: MailchimpEmulator, method: str, path: str, body: object = None) -> requests.Response:
    return requests.request(method, f"{emu.base_url}{path}", json=body, auth=("any", API_KEY), timeout=10)


def register(emu: MailchimpEmulator, url: str, **sources: bool) -> requests.Response:
    body = {"url": url, "events": ALL_EVENTS, "sources": sources or {"user": True, "admin": True, "api": False}}
    return api(emu, "POST", f"/lists/{LIST_ID}/webhooks", body)


def test_a_webhook_is_created_after_its_url_answers_a_get_and_can_be_listed_and_deleted(
    emu: MailchimpEmulator, receiver: Receiver
) -> None:
    created = register(emu, receiver.url)
    assert created.status_code == 200, created.text
    hook = created.json()
    assert receiver.gets == 1
    assert hook["url"] == receiver.url and hook["list_id"] == LIST_ID
    assert hook["events"]["unsubscribe"] is True and hook["events"]["campaign"] is False
    assert hook["sources"] == {"user": True, "admin": True, "api": False}
    listed = api(emu, "GET", f"/lists/{LIST_ID}/webhooks").json()
    assert listed["total_items"] == 1 and listed["webhooks"][0]["id"] == hook["id"]
    assert api(emu, "GET", f"/lists/{LIST_ID}/webhooks/{hook['id']}").json()["url"] == receiver.url
    assert api(emu, "DELETE", f"/lists/{LIST_ID}/webhooks/{hook['id']}").status_code == 204
    assert api(emu, "GET", f"/lists/{LIST_ID}/webhooks/{hook['id']}").status_code == 404
    assert api(emu, "DELETE", f"/lists/{LIST_ID}/webhooks/{hook['id']}").status_code == 404


def test_a_url_that_does_not_answer_the_get_is_refused_with_mailchimps_problem(
    emu: MailchimpEmulator, receiver: Receiver
) -> None:
    receiver.get_status = 404
    refused = register(emu, receiver.url)
    assert refused.status_code == 400
    assert refused.headers["Content-Type"].startswith("application/problem+json")
    problem = refused.json()
    assert problem["title"] == "Invalid Resource" and problem["errors"][0]["field"] == "url"
    assert "404" in problem["detail"]
    assert emu.list_webhooks(LIST_ID) == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "url"),
        ({"url": "not a url"}, "url"),
        ({"url": "http://127.0.0.1/x", "events": {"unsubscribe": "yes"}}, "events.unsubscribe"),
        ({"url": "http://127.0.0.1/x", "sources": {"robot": True}}, "sources.robot"),
        ({"url": "http://127.0.0.1/x", "events": []}, "events"),
    ],
)
def test_an_invalid_body_is_refused_naming_the_field(
    emu: MailchimpEmulator, receiver: Receiver, body: dict[str, object], field: str
) -> None:
    refused = api(emu, "POST", f"/lists/{LIST_ID}/webhooks", body)
    assert refused.status_code == 400
    assert field in [error["field"] for error in refused.json()["errors"]]
    assert receiver.gets == 0


def test_a_member_unsubscribing_is_delivered_form_encoded_to_matching_webhooks(
    emu: MailchimpEmulator, receiver: Receiver
) -> None:
    assert register(emu, receiver.url).status_code == 200
    emu.set_member_status(LIST_ID, "shopper@example.com", "subscribed", source="admin")
    emu.set_member_status(LIST_ID, "shopper@example.com", "unsubscribed", source="user")
    deliveries = emu.wait_for_webhook_deliveries(2)
    assert {each["type"] for each in deliveries} == {"subscribe", "unsubscribe"}
    assert all(each["status"] == 200 for each in deliveries)
    unsubscribe = next(form for form in receiver.forms if form["type"] == "unsubscribe")
    assert unsubscribe["data[email]"] == "shopper@example.com"
    assert unsubscribe["data[list_id]"] == LIST_ID
    assert unsubscribe["data[action]"] == "unsub" and unsubscribe["data[reason]"] == "manual"
    assert unsubscribe["data[merges][EMAIL]"] == "shopper@example.com"
    assert unsubscribe["data[id]"] and len(unsubscribe["fired_at"]) == len("2009-03-26 21:40:57")


def test_api_changes_are_delivered_only_to_webhooks_that_take_the_api_source(
    emu: MailchimpEmulator, receiver: Receiver
) -> None:
    assert register(emu, receiver.url, user=True, admin=True, api=False).status_code == 200
    other = Receiver()
    try:
        assert register(emu, other.url, api=True).status_code == 200
        member = {"email_address": "api@example.com", "status_if_new": "subscribed"}
        assert api(emu, "PUT", f"/lists/{LIST_ID}/members/api@example.com", member).status_code == 200
        changed = api(emu, "PATCH", f"/lists/{LIST_ID}/members/api@example.com", {"status": "cleaned"})
        assert changed.status_code == 200
        emu.wait_for_webhook_deliveries(2)
        assert sorted(form["type"] for form in other.forms) == ["cleaned", "subscribe"]
        cleaned = next(form for form in other.forms if form["type"] == "cleaned")
        assert cleaned["data[reason]"] == "hard" and cleaned["data[email]"] == "api@example.com"
        assert receiver.forms == []
    finally:
        other.server.shutdown()


def test_an_address_change_is_an_upemail_event(emu: MailchimpEmulator, receiver: Receiver) -> None:
    assert register(emu, receiver.url, admin=True, api=True).status_code == 200
    emu.set_member_status(LIST_ID, "old@example.com", "subscribed", source="admin")
    emu.wait_for_webhook_deliveries(1)
    moved = api(emu, "PATCH", f"/lists/{LIST_ID}/members/old@example.com", {"email_address": "new@example.com"})
    assert moved.status_code == 200
    emu.wait_for_webhook_deliveries(2)
    upemail = next(form for form in receiver.forms if form["type"] == "upemail")
    assert upemail["data[old_email]"] == "old@example.com"
    assert upemail["data[new_email]"] == "new@example.com"
    assert upemail["data[list_id]"] == LIST_ID


def test_a_delivery_to_an_endpoint_that_is_gone_is_recorded_with_status_zero(
    emu: MailchimpEmulator, receiver: Receiver
) -> None:
    assert register(emu, receiver.url).status_code == 200
    receiver.server.shutdown()
    receiver.server.server_close()
    emu.set_member_status(LIST_ID, "gone@example.com", "cleaned", source="admin")
    (delivery,) = emu.wait_for_webhook_deliveries(1)
    assert delivery["type"] == "cleaned" and delivery["status"] == 0
