"""Least privilege, as a table (issue 17, "Security and hygiene"): each function's policies name only the tables,
queues, buses, buckets and secrets it is known to need, and no statement allows every resource except for an
action AWS offers no resource-level permission for. A new grant is a deliberate change of this table, in the same
commit as the code that needs it."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from cfnlint.decode import cfn_yaml

from tests.paths import PROJECT

STORE_SECRETS = "secret:commerce-sync/stores/*"
ACCOUNT_SECRETS = "secret:commerce-sync/mailchimp/*"

# function -> every resource its policies may name (logical ids, or secret name patterns).
GRANTS: dict[str, set[str]] = {
    "WebhooksFunction": {
        "StoresTable",
        "SyncStateTable",
        "EventBus",
        "ClaimCheckBucket",
        "PartnerEventsDeadLetterQueue",
        STORE_SECRETS,
    },
    "MailchimpConnectFunction": {
        "StoresTable",
        "SyncStateTable",
        "EventBus",
        "MailchimpApiKeySecret",
        "MailchimpOAuthAppSecret",
        ACCOUNT_SECRETS,
    },
    "CartEventsFunction": {
        "StoresTable",
        "SyncStateTable",
        "IdempotencyTable",
        "ClaimCheckBucket",
        "CartEventsDeadLetterQueue",
        "MailchimpApiKeySecret",
        ACCOUNT_SECRETS,
        STORE_SECRETS,
    },
    "OrderStatusFunction": {
        "StoresTable",
        "SyncStateTable",
        "IdempotencyTable",
        "ClaimCheckBucket",
        "OrderStatusDeadLetterQueue",
        "MailchimpApiKeySecret",
        ACCOUNT_SECRETS,
        STORE_SECRETS,
    },
    "ProductSyncFunction": {
        "StoresTable",
        "SyncStateTable",
        "IdempotencyTable",
        "ClaimCheckBucket",
        "EventBus",
        "ProductSyncQueue",
        "ProductSyncDeadLetterQueue",
        "MailchimpApiKeySecret",
        ACCOUNT_SECRETS,
        STORE_SECRETS,
    },
    "KeyRotationFunction": {"StoresTable", "MailchimpApiKeySecret", ACCOUNT_SECRETS, STORE_SECRETS},
}

# Actions without resource-level permissions (IAM's service authorization reference): only these may name "*".
UNSCOPED_ACTIONS = {"secretsmanager:GetRandomPassword"}


@pytest.fixture(scope="module")
def functions() -> dict[str, Any]:
    template = json.loads(json.dumps(cfn_yaml.load(str(PROJECT / "template.yaml"))))
    return {
        name: resource["Properties"]
        for name, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }


def named_resources(node: Any) -> set[str]:
    """The logical ids (Ref, GetAtt, ${…} in a Sub) and secret name patterns a policy names."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref":
                found.add(value)
            elif key == "Fn::GetAtt":
                found.add(value[0] if isinstance(value, list) else value.split(".")[0])
            elif key == "Fn::Sub":
                text = value if isinstance(value, str) else value[0]
                found |= {name for name in re.findall(r"\$\{([A-Za-z0-9]+)", text) if not name.startswith("AWS")}
                found |= {f"secret:{pattern}" for pattern in re.findall(r"secret:(\S+)", text)}
                if not isinstance(value, str):
                    found |= named_resources(value[1])
            else:
                found |= named_resources(value)
    elif isinstance(node, list):
        for item in node:
            found |= named_resources(item)
    return found


def statements(node: Any) -> list[dict[str, Any]]:
    if isinstance(node, dict):
        own = [node] if "Effect" in node else []
        return own + [found for value in node.values() for found in statements(value)]
    if isinstance(node, list):
        return [found for item in node for found in statements(item)]
    return []


def test_the_table_names_every_function(functions: dict[str, Any]) -> None:
    assert set(GRANTS) == set(functions)


@pytest.mark.parametrize("function", sorted(GRANTS))
def test_each_function_is_granted_only_what_it_needs(functions: dict[str, Any], function: str) -> None:
    named = named_resources(functions[function].get("Policies", []))
    assert named <= GRANTS[function], f"{function} is granted more: {sorted(named - GRANTS[function])}"
    assert named == GRANTS[function], f"the table grants {function} what it no longer uses: {GRANTS[function] - named}"


@pytest.mark.parametrize("function", sorted(GRANTS))
def test_no_statement_allows_every_resource_but_for_unscoped_actions(functions: dict[str, Any], function: str) -> None:
    for statement in statements(functions[function].get("Policies", [])):
        resources = statement.get("Resource")
        if resources == "*" or (isinstance(resources, list) and "*" in resources):
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            assert set(actions) <= UNSCOPED_ACTIONS, f"{function}: {actions} on every resource"
        actions = statement.get("Action")
        assert actions != "*" and not (isinstance(actions, list) and "*" in actions), f"{function}: every action"
