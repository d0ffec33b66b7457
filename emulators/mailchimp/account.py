"""`GET /ping` and the API root `GET /` (the account the key belongs to)."""

from __future__ import annotations

from typing import Any

from .context import Call, Route


def ping(call: Call) -> Any:
    return {"health_status": "Everything's Chimpy!"}


def root(call: Call) -> Any:
    account = call.env.account
    subscribed = sum(
        1
        for audience in call.state.lists.values()
        for member in audience.members.values()
        if member["status"] == "subscribed"
    )
    return {
        "account_id": account.account_id,
        "login_id": account.login_id,
        "account_name": account.account_name,
        "email": account.email,
        "first_name": "Emulated",
        "last_name": "Owner",
        "username": account.login_id,
        "role": account.role,
        "member_since": "2020-01-01T00:00:00+00:00",
        "pricing_plan_type": "monthly",
        "account_timezone": "UTC",
        "account_industry": "eCommerce",
        "pro_enabled": False,
        "total_subscribers": subscribed,
    }


ROUTES = [Route("GET", "/ping", ping), Route("GET", "/", root)]
