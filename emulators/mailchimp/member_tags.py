"""A member's tags: `POST /lists/{list_id}/members/{subscriber_hash}/tags` and its `GET`.

- POST `{"tags": [{"name", "status": "active"|"inactive"}], "is_syncing"?: bool}` answers 204: `active` adds
  the tag (a name the audience has not used yet gets a new id), `inactive` removes it; declaring a state the
  member is already in changes nothing. 404 for a member the audience does not hold. The body is checked
  here, not against `spec/ecommerce-subset.json` (which must stay a byte-identical copy of the shared file and
  has no tag schemas); the problems read like the schema ones (`Invalid Resource`, `errors: [{field,
  message}]`).
- The member carries its tags as Mailchimp shows them, `tags: [{id, name}]` and `tags_count`; GET …/tags
  lists `{tags: [{id, name, date_added}], total_items}`.
- Like Mailchimp, tagging does not look at the member's status (an unsubscribed contact can be tagged):
  whether to touch one is the client's rule.
"""

from __future__ import annotations

from typing import Any

from .context import Call, Route
from .members import MEMBER, get_member
from .paging import page
from .problems import FieldError, invalid_resource
from .state import AudienceList, JsonDict, now_iso
from .validation import _json_type

MEMBER_TAGS = MEMBER + "/tags"
TAG_STATUSES = ("active", "inactive")
MAX_TAG_NAME = 100


def _body_errors(body: JsonDict) -> list[FieldError]:
    if "tags" not in body:
        return [FieldError("", "Required fields were not provided: tags")]
    tags = body["tags"]
    if not isinstance(tags, list):
        return [FieldError("tags", f"Schema describes array, {_json_type(tags)} found instead")]
    errors: list[FieldError] = []
    if "is_syncing" in body and not isinstance(body["is_syncing"], bool):
        errors.append(
            FieldError("is_syncing", f"Schema describes boolean, {_json_type(body['is_syncing'])} found instead")
        )
    for index, tag in enumerate(tags):
        where = f"tags.{index}"
        if not isinstance(tag, dict):
            errors.append(FieldError(where, f"Schema describes object, {_json_type(tag)} found instead"))
            continue
        missing = [name for name in ("name", "status") if name not in tag]
        if missing:
            errors.append(FieldError(where, "Required fields were not provided: " + ", ".join(missing)))
        name = tag.get("name")
        if "name" in tag and not isinstance(name, str):
            errors.append(FieldError(f"{where}.name", f"Schema describes string, {_json_type(name)} found instead"))
        elif isinstance(name, str) and not name.strip():
            errors.append(FieldError(f"{where}.name", "A tag name must not be blank"))
        elif isinstance(name, str) and len(name) > MAX_TAG_NAME:
            errors.append(FieldError(f"{where}.name", f"Value must be at most {MAX_TAG_NAME} characters long"))
        if "status" in tag and tag["status"] not in TAG_STATUSES:
            errors.append(FieldError(f"{where}.status", "Value must be one of: " + ", ".join(TAG_STATUSES)))
    return errors


def _tag_id(audience: AudienceList, name: str) -> int:
    if name not in audience.tag_ids:
        audience.tag_ids[name] = len(audience.tag_ids) + 1
    return audience.tag_ids[name]


def _show(member: JsonDict, dates: dict[str, str], audience: AudienceList) -> None:
    member["tags"] = [{"id": _tag_id(audience, name), "name": name} for name in dates]
    member["tags_count"] = len(dates)


def post_member_tags(call: Call) -> Any:
    body = call.json
    errors = _body_errors(body)
    if errors:
        raise invalid_resource(errors)
    member = get_member(call)  # 404 for a member the audience does not hold
    audience = call.state.audience(call.args["list_id"])
    dates = audience.tag_dates.setdefault(member["id"], {})
    for tag in body["tags"]:
        name = tag["name"].strip()
        if tag["status"] == "active" and name not in dates:
            _tag_id(audience, name)
            dates[name] = now_iso()
        elif tag["status"] == "inactive":
            dates.pop(name, None)
    _show(member, dates, audience)
    return None


def list_member_tags(call: Call) -> Any:
    member = get_member(call)
    audience = call.state.audience(call.args["list_id"])
    dates = audience.tag_dates.get(member["id"], {})
    tags = [{"id": _tag_id(audience, name), "name": name, "date_added": added} for name, added in dates.items()]
    return page(call.query, "tags", tags)


ROUTES = [
    Route("GET", MEMBER_TAGS, list_member_tags),
    Route("POST", MEMBER_TAGS, post_member_tags),
]
