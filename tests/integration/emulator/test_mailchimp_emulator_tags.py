"""The emulator's member tags over real HTTP: POST …/tags adds and removes, GET member and GET …/tags show them,
bad bodies are 400 problems naming the field, an unknown member is 404."""

from __future__ import annotations

import hashlib

from tests.integration.emulator import test_mailchimp_emulator as base
from tests.integration.emulator.test_mailchimp_emulator import LIST_ID, Api, assert_problem, field_messages

# The module's own emulator, reset before each test, as in test_mailchimp_emulator.
emu = base.emu
_fresh = base._fresh
api = base.api

EMAIL = "tagged@shop.test"
MEMBER = f"/lists/{LIST_ID}/members/{hashlib.md5(EMAIL.encode()).hexdigest()}"


def _member(api: Api) -> None:
    api.ok("PUT", MEMBER, {"email_address": EMAIL, "status_if_new": "transactional"})


def test_tags_are_added_and_removed_and_shown_on_the_member(api: Api) -> None:
    _member(api)
    assert api.ok("GET", MEMBER)["tags"] == [] and api.ok("GET", MEMBER)["tags_count"] == 0

    response = api("POST", MEMBER + "/tags", {"tags": [{"name": "VIP", "status": "active"}], "is_syncing": True})
    assert response.status_code == 204 and not response.content
    api.ok("POST", MEMBER + "/tags", {"tags": [{"name": "Advocate", "status": "active"}]})

    member = api.ok("GET", MEMBER)
    assert [tag["name"] for tag in member["tags"]] == ["VIP", "Advocate"]
    assert all(isinstance(tag["id"], int) for tag in member["tags"]) and member["tags_count"] == 2
    listed = api.ok("GET", MEMBER + "/tags")
    assert listed["total_items"] == 2
    assert [tag["name"] for tag in listed["tags"]] == ["VIP", "Advocate"]
    assert all(tag["date_added"] for tag in listed["tags"])

    # Declaring an active tag again keeps it (and its date); inactive removes it; removing an absent one is fine.
    first_date = listed["tags"][0]["date_added"]
    body = {"tags": [{"name": "VIP", "status": "active"}, {"name": "Advocate", "status": "inactive"}]}
    api.ok("POST", MEMBER + "/tags", body)
    api.ok("POST", MEMBER + "/tags", {"tags": [{"name": "Never had", "status": "inactive"}]})
    listed = api.ok("GET", MEMBER + "/tags")
    assert [(tag["name"], tag["date_added"]) for tag in listed["tags"]] == [("VIP", first_date)]
    assert api.ok("GET", MEMBER)["tags_count"] == 1


def test_the_same_tag_name_has_one_id_across_members(api: Api) -> None:
    _member(api)
    other = f"/lists/{LIST_ID}/members/{hashlib.md5(b'other@shop.test').hexdigest()}"
    api.ok("PUT", other, {"email_address": "other@shop.test", "status_if_new": "subscribed"})
    for path in (MEMBER, other):
        api.ok("POST", path + "/tags", {"tags": [{"name": "VIP", "status": "active"}]})
    assert api.ok("GET", MEMBER)["tags"] == api.ok("GET", other)["tags"]


def test_an_unknown_member_is_404(api: Api) -> None:
    assert_problem(
        api("POST", MEMBER + "/tags", {"tags": [{"name": "VIP", "status": "active"}]}), 404, "Resource Not Found"
    )
    assert_problem(api("GET", MEMBER + "/tags"), 404, "Resource Not Found")


def test_bad_bodies_are_400s_naming_the_field(api: Api) -> None:
    _member(api)
    cases = [
        ({}, "", "Required fields were not provided: tags"),
        ({"tags": "VIP"}, "tags", "Schema describes array, string found instead"),
        ({"tags": [{"name": "VIP"}]}, "tags.0", "Required fields were not provided: status"),
        ({"tags": [{"name": "VIP", "status": "on"}]}, "tags.0.status", "Value must be one of: active, inactive"),
        ({"tags": [{"name": 5, "status": "active"}]}, "tags.0.name", "Schema describes string, integer found instead"),
        (
            {"tags": [{"name": "x" * 101, "status": "active"}]},
            "tags.0.name",
            "Value must be at most 100 characters long",
        ),
        ({"tags": [], "is_syncing": "yes"}, "is_syncing", "Schema describes boolean, string found instead"),
    ]
    for body, field, message in cases:
        problem = assert_problem(api("POST", MEMBER + "/tags", body), 400, "Invalid Resource")
        assert field_messages(problem) == {field: message}, body
    assert api.ok("GET", MEMBER)["tags_count"] == 0
