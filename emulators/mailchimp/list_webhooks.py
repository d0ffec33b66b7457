"""Audience webhooks: the `/lists/{list_id}/webhooks` routes, and their deliveries.

Rules (the spec's `Add_Webhook`, Events and Sources; Mailchimp's behaviour):
- POST needs `url` (an absolute http(s) URL); `events` and `sources` are objects of booleans naming only the
  spec's keys (events: subscribe, unsubscribe, profile, cleaned, upemail, campaign; sources: user, admin, api).
  A key left out is false, as Mailchimp stores it. Before the webhook is kept, the emulator validates the URL as
  Mailchimp does: a GET to it must answer 2xx within VALIDATION_TIMEOUT_S, else 400 Invalid Resource naming
  `url` (nothing is stored).
- GET lists the list's webhooks (`webhooks`, `list_id`, `total_items`); GET/DELETE one by id (404 when
  unknown); DELETE answers 204.

Deliveries: a member's change fires the matching event (`member_changed`, called by members.py):
status → subscribed: `subscribe`; → unsubscribed: `unsubscribe`; → cleaned: `cleaned`; a new address:
`upemail`; merge fields changed: `profile`. Its source is `api` for an API call, and what the admin route
(`POST /_emulator/members`, `emu.set_member_status`) names (`user` unless told). Every webhook of the list
whose `events[type]` and `sources[source]` are true gets a form-encoded POST (`type`, `fired_at`, `data[...]`,
as Mailchimp sends them) from a background thread, after the change; each attempt is recorded in
`state.webhook_deliveries` (status 0: no answer), and `state.deliveries_changed` is notified.
"""

from __future__ import annotations

import secrets
import threading
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests

from .context import Call, Route, lookup
from .problems import FieldError, invalid_field, invalid_resource
from .state import EmulatorState, JsonDict

WEBHOOKS = "/lists/{list_id}/webhooks"
WEBHOOK = "/lists/{list_id}/webhooks/{webhook_id}"
EVENTS = ("subscribe", "unsubscribe", "profile", "cleaned", "upemail", "campaign")
SOURCES = ("user", "admin", "api")
VALIDATION_TIMEOUT_S = 5.0
DELIVERY_TIMEOUT_S = 10.0


def fired_at() -> str:
    """Mailchimp's `fired_at`: `YYYY-MM-DD HH:MM:SS`, in UTC."""
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _flags(body: JsonDict, name: str, allowed: tuple[str, ...]) -> dict[str, bool]:
    given = body.get(name, {})
    if not isinstance(given, dict):
        raise invalid_resource([FieldError(name, f"Schema describes object, {type(given).__name__} found instead")])
    errors = [
        FieldError(f"{name}.{key}", "Schema describes boolean")
        for key, value in given.items()
        if key in allowed and not isinstance(value, bool)
    ]
    errors += [
        FieldError(f"{name}.{key}", f"{key} is not one of {', '.join(allowed)}") for key in given if key not in allowed
    ]
    if errors:
        raise invalid_resource(errors)
    return {key: bool(given.get(key, False)) for key in allowed}


def _check_url(url: Any) -> str:
    if not isinstance(url, str) or not url.strip():
        raise invalid_resource([FieldError("url", "Required fields were not provided: url")])
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise invalid_field("url", "The URL must be an absolute http or https address.")
    return url.strip()


def _validate_reachable(url: str) -> None:
    """Mailchimp's check of a new webhook: a GET that must answer 2xx."""
    try:
        answer = requests.get(url, timeout=VALIDATION_TIMEOUT_S, allow_redirects=False)
    except requests.RequestException:
        raise invalid_field("url", "We couldn't verify the webhook URL: it did not respond.") from None
    if not 200 <= answer.status_code < 300:
        raise invalid_field(
            "url", f"We couldn't verify the webhook URL: it answered {answer.status_code} to our GET request."
        )


def _public(list_id: str, hook: JsonDict) -> JsonDict:
    return {
        "id": hook["id"],
        "url": hook["url"],
        "events": dict(hook["events"]),
        "sources": dict(hook["sources"]),
        "list_id": list_id,
    }


def create_webhook(call: Call) -> Any:
    body = call.json
    list_id = call.args["list_id"]
    url = _check_url(body.get("url"))
    events = _flags(body, "events", EVENTS)
    sources = _flags(body, "sources", SOURCES)
    _validate_reachable(url)
    hook = {"id": secrets.token_hex(5), "url": url, "events": events, "sources": sources}
    call.state.audience(list_id).webhooks[hook["id"]] = hook
    return _public(list_id, hook)


def list_webhooks(call: Call) -> Any:
    list_id = call.args["list_id"]
    hooks = [_public(list_id, hook) for hook in call.state.audience(list_id).webhooks.values()]
    return {"webhooks": hooks, "list_id": list_id, "total_items": len(hooks)}


def get_webhook(call: Call) -> Any:
    list_id = call.args["list_id"]
    return _public(list_id, lookup(call.state.audience(list_id).webhooks, call.args["webhook_id"]))


def delete_webhook(call: Call) -> Any:
    hooks = call.state.audience(call.args["list_id"]).webhooks
    lookup(hooks, call.args["webhook_id"])
    del hooks[call.args["webhook_id"]]
    return None


# ----- deliveries -------------------------------------------------------------------------------------------


def _flatten(prefix: str, value: Any, into: list[tuple[str, str]]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten(f"{prefix}[{key}]", item, into)
    else:
        into.append((prefix, "" if value is None else str(value)))


def form_body(event_type: str, data: JsonDict, when: str | None = None) -> str:
    """`type=…&fired_at=…&data[key]=…&data[merges][EMAIL]=…`, as Mailchimp posts it."""
    pairs: list[tuple[str, str]] = [("type", event_type), ("fired_at", when or fired_at())]
    _flatten("data", data, pairs)
    return urlencode(pairs)


def member_data(list_id: str, member: JsonDict) -> JsonDict:
    """The `data[...]` of a subscribe, unsubscribe or profile event for the member."""
    merges = {"EMAIL": member["email_address"], **{str(k): v for k, v in member.get("merge_fields", {}).items()}}
    return {
        "id": member.get("unique_email_id", ""),
        "list_id": list_id,
        "email": member["email_address"],
        "email_type": member.get("email_type", "html"),
        "merges": merges,
        "ip_opt": member.get("ip_opt", ""),
        "web_id": member.get("web_id", ""),
    }


def deliver(state: EmulatorState, list_id: str, event_type: str, source: str, data: JsonDict) -> int:
    """Posts the event to every matching webhook of the list, each from a thread of its own; how many."""
    if event_type not in EVENTS or source not in SOURCES:
        raise ValueError(f"no such webhook event or source: {event_type} / {source}")
    with state.lock:
        hooks = [
            dict(hook)
            for hook in state.audience(list_id).webhooks.values()
            if hook["events"].get(event_type) and hook["sources"].get(source)
        ]
    body = form_body(event_type, data)
    for hook in hooks:
        threading.Thread(
            target=_post, args=(state, list_id, hook, event_type, body), name="mailchimp-webhook", daemon=True
        ).start()
    return len(hooks)


def _post(state: EmulatorState, list_id: str, hook: JsonDict, event_type: str, body: str) -> None:
    try:
        answer = requests.post(
            hook["url"],
            data=body,
            headers={"Content-Type": "application/x-www-form-urlencoded", "User-Agent": "MailChimp"},
            timeout=DELIVERY_TIMEOUT_S,
        )
        status, text = answer.status_code, answer.text[:2000]
    except requests.RequestException as error:
        status, text = 0, type(error).__name__
    with state.deliveries_changed:
        state.webhook_deliveries.append(
            {
                "list_id": list_id,
                "webhook_id": hook["id"],
                "type": event_type,
                "body": body,
                "status": status,
                "response": text,
            }
        )
        state.deliveries_changed.notify_all()


def member_changed(state: EmulatorState, list_id: str, member: JsonDict, before: JsonDict, source: str) -> None:
    """Fires what a member's change means to the list's webhooks (`before`: its status, email and merges)."""
    status = member["status"]
    if before.get("email_address") and before["email_address"].lower() != member["email_address"].lower():
        deliver(
            state,
            list_id,
            "upemail",
            source,
            {
                "list_id": list_id,
                "new_id": member.get("unique_email_id", ""),
                "new_email": member["email_address"],
                "old_email": before["email_address"],
            },
        )
    if before.get("status") != status:
        if status == "subscribed":
            deliver(state, list_id, "subscribe", source, member_data(list_id, member))
        elif status == "unsubscribed":
            data = {"action": "unsub", "reason": "manual", **member_data(list_id, member)}
            deliver(state, list_id, "unsubscribe", source, data)
        elif status == "cleaned":
            data = {"list_id": list_id, "campaign_id": "", "reason": "hard", "email": member["email_address"]}
            deliver(state, list_id, "cleaned", source, data)
    elif status == "subscribed" and before.get("merge_fields") != member.get("merge_fields"):
        deliver(state, list_id, "profile", source, member_data(list_id, member))


def snapshot_of(member: JsonDict | None) -> JsonDict:
    """What `member_changed` compares against, taken before a change."""
    if member is None:
        return {}
    return {
        "status": member["status"],
        "email_address": member["email_address"],
        "merge_fields": dict(member.get("merge_fields", {})),
    }


ROUTES = [
    Route("POST", WEBHOOKS, create_webhook),
    Route("GET", WEBHOOKS, list_webhooks),
    Route("GET", WEBHOOK, get_webhook),
    Route("DELETE", WEBHOOK, delete_webhook),
]
