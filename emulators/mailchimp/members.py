"""Audience (list) members: the `/lists/{list_id}/members` routes and the customer opt-in rules.

Audiences are implicit (any list id exists), except those deleted (`state.deleted_audiences`), for which
`GET /lists/{list_id}` answers 404. A member is keyed by its subscriber hash, the MD5 of the
lowercased email; the path also accepts the email itself, as Mailchimp does.

Rules:
- PUT needs `email_address` and `status_if_new` (schema); a new member gets `status` or else `status_if_new`.
- Moving an `unsubscribed` or `cleaned` member to `subscribed` (PUT or PATCH) gives 400
  "Member In Compliance State"; moving it to `pending` (double opt-in) is allowed.
- Customer writes (see `apply_customer_opt_in`): a new email joins as `subscribed` (opt-in true) or
  `transactional` (false); true on a `transactional` member subscribes it; false never downgrades; an
  `unsubscribed` or `cleaned` member is never changed.
- `DELETE` archives a member; `POST …/actions/delete-permanent` removes it for good: the address is then
  "forgotten", and a PUT of it is refused with 400 "Forgotten Email Not Subscribed" (the contact must sign up
  again through a Mailchimp form), while a customer write no longer makes it a member.
- Tags: `member_tags.py` (the member carries `tags: [{id, name}]` and `tags_count`).
"""

from __future__ import annotations

import secrets
from typing import Any

from .context import Call, Route
from .list_webhooks import member_changed, snapshot_of
from .paging import page
from .problems import ApiProblem, invalid_field, not_found
from .state import EmulatorState, JsonDict, now_iso, subscriber_hash
from .validation import looks_like_email

COMPLIANCE_STATES = frozenset({"unsubscribed", "cleaned"})
LIST = "/lists/{list_id}"
MEMBERS = "/lists/{list_id}/members"
MEMBER = "/lists/{list_id}/members/{subscriber_hash}"
_MEMBER_FIELDS = (
    "email_type",
    "language",
    "vip",
    "location",
    "marketing_permissions",
    "ip_signup",
    "timestamp_signup",
    "ip_opt",
    "timestamp_opt",
)


def fake_email_message(email: str) -> str:
    return f"{email} looks fake or invalid, please enter a real email address."


def check_email(email: str, field_name: str = "email_address") -> None:
    if not looks_like_email(email):
        raise invalid_field(field_name, fake_email_message(email))


def compliance_problem(email: str) -> ApiProblem:
    return ApiProblem(
        400,
        "Member In Compliance State",
        f"{email} is in a compliance state due to unsubscribe, bounce, or compliance review and cannot be subscribed.",
    )


def new_member(list_id: str, email: str, status: str, source: str) -> JsonDict:
    stamp = now_iso()
    return {
        "id": subscriber_hash(email),
        "email_address": email,
        "unique_email_id": secrets.token_hex(5),
        "contact_id": secrets.token_hex(16),
        "email_type": "html",
        "status": status,
        "merge_fields": {},
        "interests": {},
        "language": "",
        "vip": False,
        "source": source,
        "timestamp_signup": "",
        "timestamp_opt": stamp if status == "subscribed" else "",
        "last_changed": stamp,
        "list_id": list_id,
        "tags": [],
        "tags_count": 0,
    }


def _set_status(member: JsonDict, status: str) -> None:
    if member["status"] != status:
        member["status"] = status
        member["last_changed"] = now_iso()
        if status == "subscribed":
            member["timestamp_opt"] = member["last_changed"]


def apply_customer_opt_in(
    state: EmulatorState, list_id: str, email: str, opt_in: bool, names: dict[str, Any] | None = None
) -> None:
    """What an e-commerce customer write does to the audience member with that email."""
    audience = state.audience(list_id)
    key = subscriber_hash(email)
    member = audience.members.get(key)
    if key in audience.forgotten:
        return
    if member is None or member["status"] == "archived":
        fresh = new_member(list_id, email, "subscribed" if opt_in else "transactional", "E-Commerce")
        if member is not None:
            fresh["unique_email_id"] = member["unique_email_id"]
            fresh["contact_id"] = member["contact_id"]
        member = audience.members[key] = fresh
        for name_field, merge_tag in (("first_name", "FNAME"), ("last_name", "LNAME")):
            if names and names.get(name_field):
                member["merge_fields"][merge_tag] = names[name_field]
        member_changed(state, list_id, member, {}, "api")
        return
    if member["status"] in COMPLIANCE_STATES:
        return
    if opt_in and member["status"] == "transactional":
        before = snapshot_of(member)
        _set_status(member, "subscribed")
        member_changed(state, list_id, member, before, "api")


def force_member_status(state: EmulatorState, list_id: str, email: str, status: str, source: str = "user") -> JsonDict:
    """Test hook: sets a status as if the contact (source "user") or the account's admin ("admin") had acted in
    Mailchimp (e.g. unsubscribed by link); the list's webhooks hear of it."""
    audience = state.audience(list_id)
    key = subscriber_hash(email)
    member = audience.members.get(key)
    before = snapshot_of(member)
    if member is None:
        member = audience.members[key] = new_member(list_id, email, status, "Admin Add")
    else:
        _set_status(member, status)
    member_changed(state, list_id, member, before, source)
    return member


def _hash_from_path(raw: str) -> str:
    return subscriber_hash(raw) if "@" in raw else raw.lower()


def _apply_fields(member: JsonDict, body: JsonDict) -> None:
    for name in _MEMBER_FIELDS:
        if name in body:
            member[name] = body[name]
    for name in ("merge_fields", "interests"):
        if isinstance(body.get(name), dict):
            member[name].update(body[name])
    member["last_changed"] = now_iso()


def _change_status(member: JsonDict, status: str | None) -> None:
    if status is None:
        return
    if status == "subscribed" and member["status"] in COMPLIANCE_STATES:
        raise compliance_problem(member["email_address"])
    _set_status(member, status)


def get_list(call: Call) -> Any:
    """The audience, with the few fields a client checks (id, name, member count)."""
    list_id = call.args["list_id"]
    if list_id in call.state.deleted_audiences:
        raise not_found()
    audience = call.state.lists.get(list_id)
    members = [m for m in audience.members.values() if m["status"] != "archived"] if audience else []
    return {
        "id": list_id,
        "name": f"Audience {list_id}",
        "stats": {"member_count": sum(1 for m in members if m["status"] == "subscribed")},
    }


def list_members(call: Call) -> Any:
    audience = call.state.audience(call.args["list_id"])
    members = [m for m in audience.members.values() if m["status"] != "archived"]
    for name in ("status", "unique_email_id"):
        wanted = call.query.get(name)
        if wanted:
            members = [m for m in members if str(m.get(name)) == wanted]
    return page(call.query, "members", members, list_id=audience.id)


def get_member(call: Call) -> Any:
    audience = call.state.audience(call.args["list_id"])
    member = audience.members.get(_hash_from_path(call.args["subscriber_hash"]))
    if member is None:
        raise not_found()
    return member


def put_member(call: Call) -> Any:
    body = call.json
    list_id = call.args["list_id"]
    key = _hash_from_path(call.args["subscriber_hash"])
    email = body["email_address"]
    check_email(email)
    if subscriber_hash(email) != key:
        raise invalid_field("email_address", "The email address does not match the subscriber hash in the URL.")
    audience = call.state.audience(list_id)
    member = audience.members.get(key)
    if member is None and key in audience.forgotten:
        raise ApiProblem(
            400,
            "Forgotten Email Not Subscribed",
            f"{email} was permanently deleted and cannot be re-imported. "
            "The contact must re-subscribe to get back on the list.",
        )
    if member is None or member["status"] == "archived":
        member = new_member(list_id, email, body.get("status") or body["status_if_new"], "API - Generic")
        _apply_fields(member, body)
        audience.members[key] = member
        member_changed(call.state, list_id, member, {}, "api")
        return member
    before = snapshot_of(member)
    _change_status(member, body.get("status"))
    _apply_fields(member, body)
    member_changed(call.state, list_id, member, before, "api")
    return member


def patch_member(call: Call) -> Any:
    body = call.json
    audience = call.state.audience(call.args["list_id"])
    key = _hash_from_path(call.args["subscriber_hash"])
    member = audience.members.get(key)
    if member is None:
        raise not_found()
    new_email = body.get("email_address")
    if new_email and subscriber_hash(new_email) != key:
        check_email(new_email)
        if subscriber_hash(new_email) in audience.members:
            raise ApiProblem(
                400,
                "Member Exists",
                f"{new_email} is already a list member. Use PUT to insert or update list members.",
            )
    before = snapshot_of(member)
    _change_status(member, body.get("status"))
    _apply_fields(member, body)
    if new_email and subscriber_hash(new_email) != key:
        del audience.members[key]
        member["email_address"] = new_email
        member["id"] = subscriber_hash(new_email)
        audience.members[member["id"]] = member
    member_changed(call.state, call.args["list_id"], member, before, "api")
    return member


def delete_member(call: Call) -> Any:
    member = get_member(call)
    _set_status(member, "archived")
    return None


def delete_member_permanently(call: Call) -> Any:
    audience = call.state.audience(call.args["list_id"])
    key = _hash_from_path(call.args["subscriber_hash"])
    if key not in audience.members:
        raise not_found()
    del audience.members[key]
    audience.forgotten.add(key)
    return None


ROUTES = [
    Route("GET", LIST, get_list),
    Route("GET", MEMBERS, list_members),
    Route("GET", MEMBER, get_member),
    Route("PUT", MEMBER, put_member),
    Route("PATCH", MEMBER, patch_member),
    Route("DELETE", MEMBER, delete_member),
    Route("POST", MEMBER + "/actions/delete-permanent", delete_member_permanently),
]
