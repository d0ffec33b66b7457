"""Static checks of template.yaml against the names contract (docs/architecture.md).

No AWS calls: the template is parsed with cfn-lint's loader, which turns the short intrinsic tags
(!Ref, !GetAtt, !Sub, ...) into their long JSON forms. `sam validate --lint` runs separately in CI.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from cfnlint.decode import cfn_yaml
from commerce_sync.aws.event_bus import CLAIM_CHECK_PREFIX
from commerce_sync.aws.privacy_exports import EXPORT_PREFIX

from tests.paths import PROJECT

ROOT = PROJECT
TEMPLATE_PATH = ROOT / "template.yaml"
EVENTS = ROOT / "events"

MAILCHIMP_CONNECTION_LIMIT = 10

# logical id -> folder under functions/, which is also its POWERTOOLS_SERVICE_NAME
FUNCTIONS = {
    "WebhooksFunction": "webhooks",
    "CartEventsFunction": "cart_events",
    "OrderStatusFunction": "order_status",
    "ProductSyncFunction": "product_sync",
    "KeyRotationFunction": "key_rotation",
    "MailchimpConnectFunction": "mailchimp_connect",
}

# queue -> (function consuming it, parameter capping its event source, rule feeding it, prefixes)
QUEUES = {
    # A store's erasure goes with the shoppers' privacy requests (docs/privacy.md).
    "CartEventsQueue": (
        "CartEventsFunction",
        "CartEventsMaxConcurrency",
        "CartEventsRule",
        [{"prefix": "cart."}, {"prefix": "customer."}, "store.erased"],
    ),
    # A store's canonical import closes through the order queue (docs/canonical-events.md#history).
    "OrderStatusQueue": (
        "OrderStatusFunction",
        "OrderStatusMaxConcurrency",
        "OrderStatusRule",
        [{"prefix": "order."}, "store.sync_started", "store.sync_finished"],
    ),
    "ProductSyncQueue": (
        "ProductSyncFunction",
        "ProductSyncQueueMaxConcurrency",
        "ProductSyncRule",
        [{"prefix": "product."}, {"prefix": "promotion."}],
    ),
}

GLOBAL_ENVIRONMENT = {
    "STORES_TABLE": {"Ref": "StoresTable"},
    "IDEMPOTENCY_TABLE": {"Ref": "IdempotencyTable"},
    "SYNC_STATE_TABLE": {"Ref": "SyncStateTable"},
    "EVENT_BUS_NAME": {"Ref": "EventBus"},
    "MAILCHIMP_SECRET_ARN": {"Ref": "MailchimpApiKeySecret"},
    "MAILCHIMP_API_URL": {"Ref": "MailchimpApiUrl"},
    "POWERTOOLS_METRICS_NAMESPACE": "CommerceSync",
    "POWERTOOLS_LOG_LEVEL": {"Ref": "LogLevel"},
    "STORE_SECRET_PREFIX": "commerce-sync/stores/",
    "WEBHOOK_SECRET_PREVIOUS_GRACE_SECONDS": {"Ref": "WebhookSecretPreviousGraceSeconds"},
    "MAILCHIMP_ACCOUNT_SECRET_PREFIX": "commerce-sync/mailchimp/",
    "MAILCHIMP_CONNECTIONS_PER_ACCOUNT": {"Ref": "MailchimpConnectionsPerAccount"},
    "MAILCHIMP_BULK_CONNECTIONS": {"Ref": "MailchimpBulkConnections"},
    "PYDANTIC_DISABLE_PLUGINS": "1",
}

SAMPLE_EVENTS = {
    "WebhooksFunction": "webhooks_shopify_checkouts_update.json",
    "CartEventsFunction": "cart_events_sqs.json",
    "OrderStatusFunction": "order_status_sqs.json",
    "ProductSyncFunction": "product_sync_schedule.json",
    "KeyRotationFunction": "key_rotation_create_secret.json",
    "MailchimpConnectFunction": "mailchimp_connect_start.json",
}


def _plain(node: Any) -> Any:
    """cfn-lint's node classes compare like dicts/strs but carry line marks; JSON round-trip drops them."""
    return json.loads(json.dumps(node))


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return _plain(cfn_yaml.load(str(TEMPLATE_PATH)))


@pytest.fixture(scope="module")
def resources(template: dict[str, Any]) -> dict[str, Any]:
    return template["Resources"]


@pytest.fixture(scope="module")
def function_globals(template: dict[str, Any]) -> dict[str, Any]:
    return template["Globals"]["Function"]


def _of_type(resources: dict[str, Any], type_name: str) -> dict[str, Any]:
    return {name: res for name, res in resources.items() if res["Type"] == type_name}


def _default(template: dict[str, Any], parameter: str) -> int:
    return int(template["Parameters"][parameter]["Default"])


def _events(resources: dict[str, Any], function: str, event_type: str) -> list[dict[str, Any]]:
    events = resources[function]["Properties"].get("Events", {})
    return [event["Properties"] for event in events.values() if event["Type"] == event_type]


def _dead_letter_queues(resources: dict[str, Any]) -> set[str]:
    return {name for name in _of_type(resources, "AWS::SQS::Queue") if name.endswith("DeadLetterQueue")}


# ------------------------------------------------------------------ functions and packaging


def test_the_template_uses_the_sam_transform(template: dict[str, Any]) -> None:
    assert template["Transform"] == "AWS::Serverless-2016-10-31"


def test_exactly_the_contract_functions_exist(resources: dict[str, Any]) -> None:
    assert set(_of_type(resources, "AWS::Serverless::Function")) == set(FUNCTIONS)


@pytest.mark.parametrize(("logical_id", "folder"), FUNCTIONS.items())
def test_function_code_and_handler_exist(
    resources: dict[str, Any], function_globals: dict[str, Any], logical_id: str, folder: str
) -> None:
    properties = resources[logical_id]["Properties"]
    assert properties["CodeUri"] == f"functions/{folder}/"
    handler = properties.get("Handler", function_globals.get("Handler"))
    assert handler == "app.lambda_handler"
    module, _, _ = handler.partition(".")
    assert (ROOT / "functions" / folder / f"{module}.py").is_file()


@pytest.mark.parametrize(("logical_id", "service"), FUNCTIONS.items())
def test_each_function_names_its_own_powertools_service(
    resources: dict[str, Any], logical_id: str, service: str
) -> None:
    variables = resources[logical_id]["Properties"]["Environment"]["Variables"]
    assert variables["POWERTOOLS_SERVICE_NAME"] == service
    assert not set(variables) & set(GLOBAL_ENVIRONMENT), "per-function values must not shadow Globals"


def test_global_environment_matches_the_contract(function_globals: dict[str, Any]) -> None:
    assert function_globals["Environment"]["Variables"] == GLOBAL_ENVIRONMENT


def test_every_function_is_traced_and_runs_python_313_on_arm64(
    template: dict[str, Any], resources: dict[str, Any], function_globals: dict[str, Any]
) -> None:
    assert function_globals["Tracing"] == {"Ref": "Tracing"}
    assert template["Parameters"]["Tracing"]["Default"] == "Active", "sampled by default (Lambda's fixed rule)"
    assert function_globals["Runtime"] == "python3.13"
    assert function_globals["Architectures"] == ["arm64"]
    for name in FUNCTIONS:
        properties = resources[name]["Properties"]
        assert "Tracing" not in properties, name
        assert "Runtime" not in properties, name
        assert "Architectures" not in properties, name


def test_functions_get_powertools_then_our_layer(function_globals: dict[str, Any]) -> None:
    assert function_globals["Layers"] == [{"Ref": "PowertoolsLayerArn"}, {"Ref": "CommerceSyncLayer"}]


def test_powertools_layer_comes_from_the_pinned_public_parameter(template: dict[str, Any]) -> None:
    parameter = template["Parameters"]["PowertoolsLayerArn"]
    assert parameter["Type"] == "AWS::SSM::Parameter::Value<String>"
    assert parameter["Default"] == "/aws/service/powertools/python/arm64/python3.13/3.37.0"
    pinned = (ROOT / "pyproject.toml").read_text()
    assert "aws-lambda-powertools[all]==3.37.0" in pinned, "layer and local Powertools must match"


def test_commerce_sync_layer_is_built_for_python_313(resources: dict[str, Any]) -> None:
    layer = resources["CommerceSyncLayer"]
    assert layer["Type"] == "AWS::Serverless::LayerVersion"
    assert layer["Properties"]["ContentUri"] == "layers/commerce_sync/"
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.13"]
    assert layer["Metadata"]["BuildMethod"] == "python3.13"
    assert layer["Metadata"]["BuildArchitecture"] == "arm64"
    assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]
    assert (ROOT / "layers" / "commerce_sync" / "commerce_sync" / "__init__.py").is_file()


# ------------------------------------------------------------------ Mailchimp concurrency budget


def test_each_accounts_budget_and_the_rotation_fit_in_ten(template: dict[str, Any]) -> None:
    """The functions' connections per account are capped by the account's slots (docs/mailchimp-accounts.md),
    whatever the consumers' concurrency; the rotation function pings outside them."""
    per_account = _default(template, "MailchimpConnectionsPerAccount")
    assert per_account + _default(template, "KeyRotationReservedConcurrency") <= MAILCHIMP_CONNECTION_LIMIT
    assert 0 < _default(template, "MailchimpBulkConnections") < per_account
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["MAILCHIMP_CONNECTIONS_PER_ACCOUNT"] == {"Ref": "MailchimpConnectionsPerAccount"}
    assert variables["MAILCHIMP_BULK_CONNECTIONS"] == {"Ref": "MailchimpBulkConnections"}


def test_product_queue_concurrency_fits_inside_the_reserved_concurrency(template: dict[str, Any]) -> None:
    assert _default(template, "ProductSyncQueueMaxConcurrency") <= _default(template, "ProductSyncReservedConcurrency")


def test_concurrency_parameters_are_wired_where_the_budget_assumes(resources: dict[str, Any]) -> None:
    for queue, (function, parameter, _, _) in QUEUES.items():
        (event,) = _events(resources, function, "SQS")
        assert event["Queue"] == {"Fn::GetAtt": [queue, "Arn"]}
        assert event["ScalingConfig"]["MaximumConcurrency"] == {"Ref": parameter}
    reserved = {
        name: res["Properties"].get("ReservedConcurrentExecutions")
        for name, res in resources.items()
        if name in FUNCTIONS
    }
    assert reserved == {
        "WebhooksFunction": None,
        "CartEventsFunction": None,
        "OrderStatusFunction": None,
        "ProductSyncFunction": {"Ref": "ProductSyncReservedConcurrency"},
        "MailchimpConnectFunction": None,
        "KeyRotationFunction": {"Ref": "KeyRotationReservedConcurrency"},
    }


def test_scaling_config_minimum_is_allowed_by_lambda(template: dict[str, Any]) -> None:
    for _, parameter, _, _ in QUEUES.values():
        assert int(template["Parameters"][parameter]["MinValue"]) >= 2, parameter


# ------------------------------------------------------------------ queues and event sources


def test_every_sqs_event_reports_batch_item_failures_and_is_capped(resources: dict[str, Any]) -> None:
    events = [event for name in FUNCTIONS for event in _events(resources, name, "SQS")]
    assert len(events) == len(QUEUES)
    for event in events:
        assert event["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert "MaximumConcurrency" in event["ScalingConfig"]
        assert 1 <= event["BatchSize"] <= 10


def test_every_queue_redrives_to_a_dead_letter_queue(template: dict[str, Any], resources: dict[str, Any]) -> None:
    queues = _of_type(resources, "AWS::SQS::Queue")
    dead_letter_queues = _dead_letter_queues(resources)
    assert set(QUEUES) == set(queues) - dead_letter_queues
    for name in QUEUES:
        redrive = queues[name]["Properties"]["RedrivePolicy"]
        target = redrive["deadLetterTargetArn"]["Fn::GetAtt"]
        assert target == [f"{name.removesuffix('Queue')}DeadLetterQueue", "Arn"]
        assert target[0] in dead_letter_queues
        # One parameter feeds both the redrive policy and the functions' own last-attempt check.
        assert redrive["maxReceiveCount"] == {"Ref": "MaxReceiveCount"}
    assert int(template["Parameters"]["MaxReceiveCount"]["Default"]) == 5  # docs/architecture.md
    assert int(template["Parameters"]["MaxReceiveCount"]["MinValue"]) >= 2
    for function in ("CartEventsFunction", "OrderStatusFunction", "ProductSyncFunction"):
        variables = resources[function]["Properties"]["Environment"]["Variables"]
        assert variables["MAX_RECEIVE_COUNT"] == {"Ref": "MaxReceiveCount"}
        assert variables["DEAD_LETTER_QUEUE_URL"] == {"Ref": function.replace("Function", "DeadLetterQueue")}


def test_queues_are_encrypted_and_dead_letters_kept_fourteen_days(resources: dict[str, Any]) -> None:
    queues = _of_type(resources, "AWS::SQS::Queue")
    for name, queue in queues.items():
        assert queue["Properties"]["SqsManagedSseEnabled"] is True, name
    for name in _dead_letter_queues(resources):
        assert int(queues[name]["Properties"]["MessageRetentionPeriod"]) == 14 * 24 * 3600, name


def test_visibility_timeout_is_six_times_the_consumer_timeout(
    resources: dict[str, Any], function_globals: dict[str, Any]
) -> None:
    for queue, (function, _, _, _) in QUEUES.items():
        timeout = int(resources[function]["Properties"].get("Timeout", function_globals["Timeout"]))
        visibility = int(resources[queue]["Properties"]["VisibilityTimeout"])
        assert visibility >= 6 * timeout, queue


@pytest.mark.parametrize("queue", QUEUES)
def test_each_rule_targets_its_queue(resources: dict[str, Any], queue: str) -> None:
    _, _, rule_name, patterns = QUEUES[queue]
    rule = resources[rule_name]
    assert rule["Type"] == "AWS::Events::Rule"
    properties = rule["Properties"]
    assert properties["EventBusName"] == {"Ref": "EventBus"}
    assert properties["EventPattern"] == {"detail-type": patterns}
    assert [target["Arn"] for target in properties["Targets"]] == [{"Fn::GetAtt": [queue, "Arn"]}]


def test_every_event_type_goes_to_exactly_one_queue() -> None:
    from commerce_sync.canonical.model import EventType

    def matches(pattern: Any, detail_type: str) -> bool:
        return detail_type.startswith(pattern["prefix"]) if isinstance(pattern, dict) else detail_type == pattern

    for event_type in EventType:
        queues = [
            name for name, (*_, patterns) in QUEUES.items() if any(matches(p, event_type.value) for p in patterns)
        ]
        assert len(queues) == 1, (event_type.value, queues)


@pytest.mark.parametrize("queue", QUEUES)
def test_only_its_rule_may_send_to_each_queue(resources: dict[str, Any], queue: str) -> None:
    _, _, rule_name, _ = QUEUES[queue]
    policies = [
        res["Properties"]
        for res in _of_type(resources, "AWS::SQS::QueuePolicy").values()
        if res["Properties"]["Queues"] == [{"Ref": queue}]
    ]
    assert len(policies) == 1
    rule, replays = policies[0]["PolicyDocument"]["Statement"]
    for statement in (rule, replays):
        assert statement["Effect"] == "Allow"
        assert statement["Principal"] == {"Service": "events.amazonaws.com"}
        assert statement["Action"] == "sqs:SendMessage"
        assert statement["Resource"] == {"Fn::GetAtt": [queue, "Arn"]}
    assert rule["Condition"] == {"ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": [rule_name, "Arn"]}}}
    # Besides its rule, only the temporary rules of an archive replay on the same bus (commerce-sync replay).
    assert replays["Condition"] == {
        "ArnLike": {
            "aws:SourceArn": {
                "Fn::Sub": "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:rule/${EventBusName}/"
                "commerce-sync-replay-*"
            }
        }
    }


def test_bus_is_named_by_parameter_and_archived(template: dict[str, Any], resources: dict[str, Any]) -> None:
    assert template["Parameters"]["EventBusName"]["Default"] == "commerce-sync"
    assert resources["EventBus"]["Properties"]["Name"] == {"Ref": "EventBusName"}
    archive = resources["EventArchive"]
    assert archive["Type"] == "AWS::Events::Archive"
    assert archive["Properties"]["SourceArn"] == {"Fn::GetAtt": ["EventBus", "Arn"]}
    # The archive holds shoppers' addresses: kept a week unless the operator says otherwise (docs/privacy.md).
    assert archive["Properties"]["RetentionDays"] == {"Ref": "EventArchiveRetentionDays"}
    retention = template["Parameters"]["EventArchiveRetentionDays"]
    assert (int(retention["Default"]), int(retention["MinValue"]), int(retention["MaxValue"])) == (7, 1, 30)


# ------------------------------------------------------------------ claim-check bucket

CLAIM_CHECK_WRITERS = {"WebhooksFunction"}
CLAIM_CHECK_READERS = {"CartEventsFunction", "OrderStatusFunction", "ProductSyncFunction"}
# Consumers that also put events on the bus: product_sync hosts the history backfill and reconciliation.
BUS_PUBLISHING_CONSUMERS = {"ProductSyncFunction"}
# The prefix the publisher writes under (commerce_sync.aws.event_bus) is the one the policies name.
CLAIM_CHECK_OBJECTS = {"Fn::Sub": f"${{ClaimCheckBucket.Arn}}/{CLAIM_CHECK_PREFIX}*"}
# Data requests' exports (commerce_sync.aws.privacy_exports): the applier of customer.* events writes them, nobody
# else touches them (the operator reads them with their own credentials).
PRIVACY_EXPORT_WRITERS = {"CartEventsFunction"}
PRIVACY_EXPORT_OBJECTS = {"Fn::Sub": f"${{ClaimCheckBucket.Arn}}/{EXPORT_PREFIX}*"}


def _statements(resources: dict[str, Any], function: str) -> list[dict[str, Any]]:
    return [
        statement
        for policy in resources[function]["Properties"].get("Policies", [])
        if isinstance(policy, dict) and "Statement" in policy
        for statement in policy["Statement"]
    ]


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


def _names_the_bucket(value: Any) -> bool:
    return "ClaimCheckBucket" in json.dumps(value)


def test_claim_check_bucket_is_private_and_encrypted(resources: dict[str, Any]) -> None:
    bucket = resources["ClaimCheckBucket"]
    assert bucket["Type"] == "AWS::S3::Bucket"
    properties = bucket["Properties"]
    assert "BucketName" not in properties, "a generated name: bucket names are global"
    assert properties["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    (encryption,) = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    assert properties["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]


def test_claim_check_bucket_refuses_anything_but_tls(resources: dict[str, Any]) -> None:
    policies = [
        res["Properties"]
        for res in _of_type(resources, "AWS::S3::BucketPolicy").values()
        if res["Properties"]["Bucket"] == {"Ref": "ClaimCheckBucket"}
    ]
    assert len(policies) == 1
    (statement,) = policies[0]["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Deny"
    assert statement["Principal"] == "*"
    assert statement["Action"] == "s3:*"
    assert statement["Resource"] == [
        {"Fn::GetAtt": ["ClaimCheckBucket", "Arn"]},
        {"Fn::Sub": "${ClaimCheckBucket.Arn}/*"},
    ]
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_claim_checks_outlive_every_reference_the_archive_or_a_dead_letter_queue_keeps(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    (rule,) = resources["ClaimCheckBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    assert rule["Status"] == "Enabled"
    assert "Prefix" not in rule and "Filter" not in rule, "every object expires"
    archive_days = int(template["Parameters"]["EventArchiveRetentionDays"]["MaxValue"])
    queues = _of_type(resources, "AWS::SQS::Queue")
    dead_letter_days = max(
        int(queues[name]["Properties"]["MessageRetentionPeriod"]) // (24 * 3600)
        for name in _dead_letter_queues(resources)
    )
    # A reference replayed from the archive on its last day can then wait out a dead-letter queue.
    assert int(rule["ExpirationInDays"]) > archive_days + dead_letter_days


def _writes_exports(statement: dict[str, Any]) -> bool:
    return statement.get("Resource") == PRIVACY_EXPORT_OBJECTS


def test_only_the_receiver_writes_claim_checks_and_only_the_consumers_read_them(resources: dict[str, Any]) -> None:
    for name in FUNCTIONS:
        touching = [
            statement
            for statement in _statements(resources, name)
            if _names_the_bucket(statement) and not _writes_exports(statement)
        ]
        if name in CLAIM_CHECK_WRITERS:
            expected = ["s3:PutObject"]
        elif name in CLAIM_CHECK_READERS and name in BUS_PUBLISHING_CONSUMERS:
            # Reads references, and publishes events (a replayed history write, docs/history.md).
            expected = ["s3:GetObject", "s3:PutObject"]
        elif name in CLAIM_CHECK_READERS:
            expected = ["s3:GetObject"]
        else:
            expected = []
        assert [action for statement in touching for action in _actions(statement)] == expected, name
        for statement in touching:
            assert statement["Effect"] == "Allow", name
            assert statement["Resource"] == CLAIM_CHECK_OBJECTS, name
        # No managed S3 policy template (they grant more than one action) and no wildcard S3 action.
        templates = [policy for policy in resources[name]["Properties"].get("Policies", []) if isinstance(policy, dict)]
        assert not [policy for policy in templates if any(key.startswith("S3") for key in policy)], name
        for statement in _statements(resources, name):
            assert not [action for action in _actions(statement) if action.startswith("s3:") and "*" in action], name


def test_only_cart_events_writes_privacy_exports_and_may_do_nothing_else_with_them(resources: dict[str, Any]) -> None:
    for name in FUNCTIONS:
        exports = [statement for statement in _statements(resources, name) if _writes_exports(statement)]
        expected = [["s3:PutObject"]] if name in PRIVACY_EXPORT_WRITERS else []
        assert [_actions(statement) for statement in exports] == expected, name
        for statement in exports:
            assert statement["Effect"] == "Allow", name
        mentions = [statement for statement in _statements(resources, name) if EXPORT_PREFIX in json.dumps(statement)]
        assert mentions == exports, f"{name}: {EXPORT_PREFIX} only in the one write statement"


def test_functions_that_use_the_claim_check_bucket_are_told_its_name(resources: dict[str, Any]) -> None:
    for name in FUNCTIONS:
        variables = resources[name]["Properties"]["Environment"]["Variables"]
        if name in CLAIM_CHECK_WRITERS | CLAIM_CHECK_READERS:
            assert variables["CLAIM_CHECK_BUCKET"] == {"Ref": "ClaimCheckBucket"}, name
        else:
            assert "CLAIM_CHECK_BUCKET" not in variables, name


def _schedule(resources: dict[str, Any], name: str) -> dict[str, Any]:
    event = resources["ProductSyncFunction"]["Properties"]["Events"][name]
    assert event["Type"] == "ScheduleV2"
    return dict(event["Properties"])


def test_product_sync_has_exactly_the_two_nightly_schedules_and_the_import_timeouts(
    resources: dict[str, Any],
) -> None:
    assert len(_events(resources, "ProductSyncFunction", "ScheduleV2")) == 3
    assert _schedule(resources, "NightlyCatalogSync") and _schedule(resources, "NightlyReconciliation")
    assert _schedule(resources, "ImportTimeouts")


def test_import_timeouts_are_looked_at_every_quarter_hour(template: dict[str, Any], resources: dict[str, Any]) -> None:
    schedule = _schedule(resources, "ImportTimeouts")
    assert schedule["ScheduleExpression"] == {"Ref": "ImportTimeoutScheduleExpression"}
    assert template["Parameters"]["ImportTimeoutScheduleExpression"]["Default"] == "rate(15 minutes)"
    assert json.loads(schedule["Input"]) == json.loads((EVENTS / "product_sync_import_timeouts.json").read_text())
    assert schedule["RetryPolicy"]["MaximumRetryAttempts"] >= 1
    assert schedule["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0] in _dead_letter_queues(resources)


def test_the_receiver_touches_only_import_and_backfill_items_of_the_sync_state(resources: dict[str, Any]) -> None:
    statements = [
        statement
        for policy in resources["WebhooksFunction"]["Properties"]["Policies"]
        if isinstance(policy, dict) and "Statement" in policy
        for statement in policy["Statement"]
        if statement["Resource"] == {"Fn::GetAtt": ["SyncStateTable", "Arn"]}
    ]
    statement, deliveries = statements
    assert set(statement["Action"]) == {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"}
    assert statement["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["*#import", "*#history"]}}
    # The replay guard of Mailchimp's audience webhooks (docs/consent.md): claimed, or given back.
    assert set(deliveries["Action"]) == {"dynamodb:PutItem", "dynamodb:DeleteItem"}
    assert deliveries["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["*#mailchimp-deliveries"]}}


def test_nightly_catalog_sync_schedule(resources: dict[str, Any]) -> None:
    schedule = _schedule(resources, "NightlyCatalogSync")
    assert schedule["ScheduleExpression"] == {"Ref": "ProductSyncScheduleExpression"}
    assert schedule["ScheduleExpressionTimezone"] == {"Ref": "ProductSyncScheduleTimezone"}
    assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert json.loads(schedule["Input"]) == json.loads((EVENTS / "product_sync_schedule.json").read_text())
    assert schedule["RetryPolicy"]["MaximumRetryAttempts"] >= 1
    dead_letter = schedule["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]
    assert dead_letter in _dead_letter_queues(resources)


def test_nightly_reconciliation_schedule_runs_an_hour_after_the_catalog_sync(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    schedule = _schedule(resources, "NightlyReconciliation")
    assert schedule["ScheduleExpression"] == {"Ref": "ReconciliationScheduleExpression"}
    assert schedule["ScheduleExpressionTimezone"] == {"Ref": "ProductSyncScheduleTimezone"}
    assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert json.loads(schedule["Input"]) == json.loads((EVENTS / "product_sync_reconcile.json").read_text())
    assert schedule["RetryPolicy"]["MaximumRetryAttempts"] >= 1
    assert schedule["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0] in _dead_letter_queues(resources)
    parameters = template["Parameters"]
    catalog = parameters["ProductSyncScheduleExpression"]["Default"].split()
    reconcile = parameters["ReconciliationScheduleExpression"]["Default"].split()
    # cron(M H ...): the same minute and the rest, one hour later.
    assert reconcile[0] == catalog[0] and reconcile[2:] == catalog[2:]
    assert int(reconcile[1]) == int(catalog[1]) + 1


def test_reconciliation_repairs_raise_an_alarm(resources: dict[str, Any]) -> None:
    alarm = resources["ReconciliationRepairsAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("CommerceSync", "ReconciliationRepairs")
    assert alarm["Dimensions"] == [{"Name": "service", "Value": "product_sync"}]
    assert (alarm["Statistic"], alarm["Threshold"], alarm["ComparisonOperator"]) == ("Sum", 0, "GreaterThanThreshold")
    assert alarm["TreatMissingData"] == "notBreaching"


def test_webhooks_found_disabled_or_missing_raise_an_alarm(resources: dict[str, Any]) -> None:
    alarm = resources["WebhookHealthAlarm"]["Properties"]
    watched = {
        (query["MetricStat"]["Metric"]["MetricName"], query["MetricStat"]["Metric"]["Dimensions"][0]["Value"])
        for query in alarm["Metrics"]
        if "MetricStat" in query
    }
    assert watched == {("WebhooksReactivated", "product_sync"), ("WebhooksMissing", "product_sync")}
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (0, "GreaterThanThreshold")


# ------------------------------------------------------------------ HTTP API


def test_webhook_route_is_post_webhooks_platform(resources: dict[str, Any]) -> None:
    assert resources["WebhookApi"]["Type"] == "AWS::Serverless::HttpApi"
    routes = [
        (event["ApiId"], event["Method"], event["Path"], event.get("PayloadFormatVersion", "2.0"))
        for name in FUNCTIONS
        for event in _events(resources, name, "HttpApi")
    ]
    assert routes == [
        ({"Ref": "WebhookApi"}, "POST", "/webhooks/{platform}", "2.0"),
        # Mailchimp's audience webhooks (docs/consent.md): its GET check of the URL, and the deliveries.
        ({"Ref": "WebhookApi"}, "GET", "/webhooks/mailchimp/{store_id}", "2.0"),
        ({"Ref": "WebhookApi"}, "POST", "/webhooks/mailchimp/{store_id}", "2.0"),
        ({"Ref": "WebhookApi"}, "GET", "/connect/mailchimp/{store_id}", "2.0"),
        ({"Ref": "WebhookApi"}, "GET", "/connect/mailchimp-callback", "2.0"),
    ]
    assert _events(resources, "WebhooksFunction", "HttpApi"), "the route belongs to the receiver"
    assert len(_events(resources, "MailchimpConnectFunction", "HttpApi")) == 2, "the connect routes are their own"


def test_receiver_answers_well_inside_shopifys_five_seconds(resources: dict[str, Any]) -> None:
    assert int(resources["WebhooksFunction"]["Properties"]["Timeout"]) <= 10


# ------------------------------------------------------------------ secrets and rotation


def test_rotation_schedule_waits_for_the_invoke_permission(resources: dict[str, Any]) -> None:
    schedule = resources["MailchimpApiKeyRotation"]
    assert schedule["Type"] == "AWS::SecretsManager::RotationSchedule"
    depends_on = schedule["DependsOn"]
    assert "KeyRotationPermission" in ([depends_on] if isinstance(depends_on, str) else depends_on)
    properties = schedule["Properties"]
    assert properties["SecretId"] == {"Ref": "MailchimpApiKeySecret"}
    assert properties["RotationLambdaARN"] == {"Fn::GetAtt": ["KeyRotationFunction", "Arn"]}
    assert properties["RotateImmediatelyOnUpdate"] is False
    assert properties["RotationRules"]["ScheduleExpression"] == {"Ref": "KeyRotationScheduleExpression"}


def test_secrets_manager_may_invoke_the_rotation_function(resources: dict[str, Any]) -> None:
    permission = resources["KeyRotationPermission"]["Properties"]
    assert permission["FunctionName"] == {"Fn::GetAtt": ["KeyRotationFunction", "Arn"]}
    assert permission["Action"] == "lambda:InvokeFunction"
    assert permission["Principal"] == "secretsmanager.amazonaws.com"
    assert permission["SourceAccount"] == {"Ref": "AWS::AccountId"}


def test_mailchimp_secret_shape(template: dict[str, Any], resources: dict[str, Any]) -> None:
    assert template["Parameters"]["MailchimpApiKey"]["NoEcho"] is True
    secret = resources["MailchimpApiKeySecret"]["Properties"]
    rendered = secret["SecretString"]["Fn::Sub"].replace("${MailchimpApiKey}", "0123abcd-us21")
    assert json.loads(rendered) == {"kind": "mailchimp_api_key", "api_key": "0123abcd-us21"}
    assert {"Key": "kind", "Value": "mailchimp_api_key"} in secret["Tags"]


def test_rotation_function_may_only_touch_our_secrets(resources: dict[str, Any]) -> None:
    statements = [
        statement
        for policy in resources["KeyRotationFunction"]["Properties"]["Policies"]
        if isinstance(policy, dict) and "Statement" in policy
        for statement in policy["Statement"]
    ]
    writes = [s for s in statements if "secretsmanager:PutSecretValue" in s["Action"]]
    assert len(writes) == 1
    assert {"Ref": "MailchimpApiKeySecret"} in writes[0]["Resource"]
    assert any("secret:commerce-sync/stores/*" in json.dumps(r) for r in writes[0]["Resource"])
    wildcard = [s for s in statements if s["Resource"] == "*"]
    assert [s["Action"] for s in wildcard] == ["secretsmanager:GetRandomPassword"]


# ------------------------------------------------------------------ tables


def _keys(table: dict[str, Any]) -> dict[str, str]:
    return {key["KeyType"]: key["AttributeName"] for key in table["KeySchema"]}


def test_tables_match_the_contract(resources: dict[str, Any]) -> None:
    stores = resources["StoresTable"]["Properties"]
    idempotency = resources["IdempotencyTable"]["Properties"]
    sync_state = resources["SyncStateTable"]["Properties"]
    assert _keys(stores) == {"HASH": "store_id"}
    (index,) = stores["GlobalSecondaryIndexes"]
    assert index["IndexName"] == "platform_identity-index"
    assert _keys(index) == {"HASH": "platform_identity"}
    assert index["Projection"]["ProjectionType"] == "ALL"
    assert _keys(idempotency) == {"HASH": "id"}
    assert idempotency["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}
    assert _keys(sync_state) == {"HASH": "pk", "RANGE": "sk"}
    (segments,) = sync_state["GlobalSecondaryIndexes"]
    # The segment aggregates of a store, listed by the nightly pass and `commerce-sync segments` (docs/segments.md).
    assert segments["IndexName"] == "segments-index"
    assert _keys(segments) == {"HASH": "segment_shard", "RANGE": "segment_customer"}
    assert set(segments["Projection"]["NonKeyAttributes"]) >= {"aggregate", "revision", "written_tags", "skipped"}
    assert sync_state["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}


def test_tables_are_on_demand_recoverable_and_encrypted(resources: dict[str, Any]) -> None:
    for name, table in _of_type(resources, "AWS::DynamoDB::Table").items():
        properties = table["Properties"]
        assert properties["BillingMode"] == "PAY_PER_REQUEST", name
        assert properties["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True, name
        assert properties["SSESpecification"]["SSEEnabled"] is True, name
        for attribute in properties["AttributeDefinitions"]:
            assert attribute["AttributeType"] == "S", name


# ------------------------------------------------------------------ alarms and outputs


def _alarms(resources: dict[str, Any]) -> list[dict[str, Any]]:
    return [res["Properties"] for res in _of_type(resources, "AWS::CloudWatch::Alarm").values()]


def test_there_is_an_alarm_per_dead_letter_queue(resources: dict[str, Any]) -> None:
    watched = {
        alarm["Dimensions"][0]["Value"]["Fn::GetAtt"][0]
        for alarm in _alarms(resources)
        if alarm.get("MetricName") == "ApproximateNumberOfMessagesVisible"
        and alarm["Threshold"] == 0
        and alarm["ComparisonOperator"] == "GreaterThanThreshold"
    }
    assert watched == _dead_letter_queues(resources)


def test_there_is_an_errors_alarm_per_function(resources: dict[str, Any]) -> None:
    watched = {
        alarm["Dimensions"][0]["Value"]["Ref"]
        for alarm in _alarms(resources)
        if alarm.get("Namespace") == "AWS/Lambda" and alarm.get("MetricName") == "Errors"
    }
    assert watched == set(FUNCTIONS)


def test_alarm_actions_only_when_a_topic_is_given(template: dict[str, Any], resources: dict[str, Any]) -> None:
    assert template["Parameters"]["AlarmTopicArn"]["Default"] == ""
    for alarm in _alarms(resources):
        assert alarm["AlarmActions"] == {
            "Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]
        }


def test_outputs_for_operators_and_the_cli(template: dict[str, Any]) -> None:
    outputs = template["Outputs"]
    expected = {
        "WebhookUrl",
        "EventBusName",
        "EventBusArn",
        "StoresTableName",
        "IdempotencyTableName",
        "SyncStateTableName",
        "CartEventsQueueUrl",
        "CartEventsDeadLetterQueueUrl",
        "OrderStatusQueueUrl",
        "OrderStatusDeadLetterQueueUrl",
        "ProductSyncQueueUrl",
        "ProductSyncDeadLetterQueueUrl",
        "MailchimpApiKeySecretArn",
        "ClaimCheckBucketName",
    }
    assert expected <= set(outputs)
    assert outputs["WebhookUrl"]["Value"]["Fn::Sub"].endswith("/webhooks/{platform}")


# ------------------------------------------------------------------ sample events (events/)


def _load_event(name: str) -> Any:
    return json.loads((EVENTS / name).read_text())


def test_there_is_a_sample_event_for_every_function() -> None:
    assert set(SAMPLE_EVENTS) == set(FUNCTIONS)
    for name in SAMPLE_EVENTS.values():
        _load_event(name)


def test_webhook_sample_is_an_http_api_v2_event_for_the_route(resources: dict[str, Any]) -> None:
    event = _load_event(SAMPLE_EVENTS["WebhooksFunction"])
    route, *_audience_webhook_routes = _events(resources, "WebhooksFunction", "HttpApi")
    assert event["version"] == "2.0"
    assert event["routeKey"] == f"{route['Method']} {route['Path']}"
    assert event["requestContext"]["http"]["method"] == "POST"
    assert event["pathParameters"] == {"platform": "shopify"}
    assert event["isBase64Encoded"] is False
    assert all(header == header.lower() for header in event["headers"])
    assert event["headers"]["x-shopify-topic"] == "checkouts/update"
    assert event["headers"]["content-length"] == str(len(event["body"].encode()))
    assert json.loads(event["body"]) == _load_event("shopify_checkout_update_body.json")


# The product function's sample is the schedule input (checked above); its queue carries the same envelope.
@pytest.mark.parametrize("queue", ["CartEventsQueue", "OrderStatusQueue"])
def test_sqs_samples_carry_canonical_events_the_rules_route_to_that_queue(queue: str) -> None:
    from commerce_sync.canonical.model import DATA_MODELS, CanonicalEvent

    function, _, _, patterns = QUEUES[queue]
    records = _load_event(SAMPLE_EVENTS[function])["Records"]
    assert records
    for record in records:
        assert record["eventSource"] == "aws:sqs"
        bus_event = json.loads(record["body"])
        detail_type = bus_event["detail-type"]
        assert any(
            detail_type.startswith(p["prefix"]) if isinstance(p, dict) else detail_type == p for p in patterns
        ), detail_type
        canonical = CanonicalEvent.model_validate(bus_event["detail"])
        assert canonical.type == bus_event["detail-type"]
        DATA_MODELS[canonical.type].model_validate(canonical.data)


def test_rotation_sample_is_a_secrets_manager_step() -> None:
    event = _load_event(SAMPLE_EVENTS["KeyRotationFunction"])
    assert set(event) == {"Step", "SecretId", "ClientRequestToken"}
    assert event["Step"] in {"createSecret", "setSecret", "testSecret", "finishSecret"}


def test_a_paused_mailchimp_account_raises_an_alarm_whichever_consumer_saw_it(resources: dict[str, Any]) -> None:
    alarm = resources["MailchimpAccountPausedAlarm"]["Properties"]
    watched = {
        (query["MetricStat"]["Metric"]["MetricName"], query["MetricStat"]["Metric"]["Dimensions"][0]["Value"])
        for query in alarm["Metrics"]
        if "MetricStat" in query
    }
    assert watched == {
        ("MailchimpAccountPaused", service) for service in ("cart_events", "order_status", "product_sync")
    }
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (0, "GreaterThanThreshold")
