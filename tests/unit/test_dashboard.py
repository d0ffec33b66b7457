"""Every metric the dashboard and the alarms of template.yaml read is one the code emits (docs/operations.md).

A metric in CloudWatch is its namespace, its name and its exact set of dimensions: an alarm or a widget that
differs in any of them watches a metric nobody writes, and stays quiet forever. So each metric the template reads
is checked against what the code emits:

- the names: `commerce_sync.aws.metric_names`, by which the code emits every metric the template reads; the source
  is read (its syntax tree, not text) to find where each is emitted, and that none is emitted by a literal;
- the `service` dimension Powertools adds: the POWERTOOLS_SERVICE_NAME (from the template) of a function whose code
  can reach a module emitting the metric (the import graph, as import-linter builds it);
- the other dimensions: those the metric declares, with values it can take (the receiver's platforms, HTTP
  statuses);
- AWS's own metrics (SQS, Lambda): a short list of names, each with the dimension naming a resource of the template.
"""

from __future__ import annotations

import ast
import copy
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from http import HTTPStatus
from pathlib import Path
from typing import Any

import grimp
import pytest
from cfnlint.decode import cfn_yaml
from commerce_sync.aws import metric_names
from commerce_sync.aws.metric_names import UNKNOWN_PLATFORM, Metric
from commerce_sync.platforms.registry import adapters

from tests.paths import PROJECT
from tests.unit.test_template import TEMPLATE_PATH, _plain

LAYER = PROJECT / "layers" / "commerce_sync" / "commerce_sync"
DASHBOARD = "OperationsDashboard"
# The calls that emit a metric, and the argument naming it (keyword `name`, else the first positional one).
EMITTING_CALLS = {"add_metric", "single_metric", "count_by", "tally", "record"}
# AWS's own metrics the template may read: the dimension naming the resource, its type, and the attribute the
# dimension's value is (None: the resource's Ref).
AWS_METRICS: dict[tuple[str, str], tuple[str, str, str | None]] = {
    ("AWS/SQS", "ApproximateNumberOfMessagesVisible"): ("QueueName", "AWS::SQS::Queue", "QueueName"),
    ("AWS/SQS", "ApproximateAgeOfOldestMessage"): ("QueueName", "AWS::SQS::Queue", "QueueName"),
    ("AWS/Lambda", "Errors"): ("FunctionName", "AWS::Serverless::Function", None),
    ("AWS/Lambda", "Throttles"): ("FunctionName", "AWS::Serverless::Function", None),
}
SEARCH = re.compile(r"^SEARCH\('\{(?P<schema>[^}]*)\}(?P<terms>[^']*)',\s*'(?P<stat>[\w.]+)',\s*(?P<period>\d+)\)$")
SEARCH_TERM = re.compile(r'\s*(?P<negated>NOT\s+)?(?P<key>\w+)="(?P<value>[^"]*)"')
SUBSTITUTION = re.compile(r"\$\{([^}]+)\}")
REFERENCE = re.compile(r"^\$\{(?P<resource>[A-Za-z0-9]+)(?:\.(?P<attribute>[A-Za-z]+))?\}$")


@dataclass(frozen=True)
class Ref:
    """A dimension value naming a resource of the template: its Ref, or one of its attributes."""

    resource: str
    attribute: str | None = None


@dataclass
class Read:
    """A metric the template reads. For a SEARCH, `dimensions` are its schema's, with the value it filters on (None
    when it takes every value) and `excluded` the values it leaves out."""

    where: str
    namespace: str
    name: str
    dimensions: dict[str, Any]
    excluded: dict[str, list[str]] = field(default_factory=dict)


@cache
def _template() -> dict[str, Any]:
    return dict(_plain(cfn_yaml.load(str(TEMPLATE_PATH))))


@pytest.fixture
def template() -> dict[str, Any]:
    """A copy each test may change."""
    return copy.deepcopy(_template())


# ------------------------------------------------------------------ what the template reads


def _alarm_value(value: Any) -> Any:
    if isinstance(value, dict) and "Ref" in value:
        return Ref(value["Ref"])
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        resource, attribute = value["Fn::GetAtt"]
        return Ref(resource, attribute)
    return value


def _alarm_reads(name: str, alarm: dict[str, Any]) -> Iterator[Read]:
    def read(metric: dict[str, Any]) -> Read:
        dimensions = {d["Name"]: _alarm_value(d["Value"]) for d in metric.get("Dimensions", [])}
        return Read(f"alarm {name}", metric["Namespace"], metric["MetricName"], dimensions)

    if "MetricName" in alarm:
        yield read(alarm)
    for query in alarm.get("Metrics", []):
        if "MetricStat" in query:
            yield read(query["MetricStat"]["Metric"])


def dashboard_body(template: dict[str, Any]) -> dict[str, Any]:
    """The body as CloudFormation hands it to CloudWatch, `${…}` left in place (they only ever fill a string)."""
    body = template["Resources"][DASHBOARD]["Properties"]["DashboardBody"]["Fn::Sub"]
    assert "${!" not in body, "no escaped substitution is expected in the body"
    return dict(json.loads(body))


def _dashboard_value(value: str) -> Any:
    reference = REFERENCE.match(value)
    if reference:
        return Ref(reference["resource"], reference["attribute"])
    return value


def _search_read(where: str, expression: str) -> Read | str:
    """The metric a SEARCH expression reads, or what is wrong with it: only exact matches on a full schema, so the
    search finds exactly the metric the code emits."""
    search = SEARCH.match(expression)
    if search is None:
        return f"{where}: not a SEARCH this test reads: {expression}"
    namespace, *dimension_names = [part.strip() for part in search["schema"].split(",")]
    terms, position, name = search["terms"], 0, None
    dimensions: dict[str, Any] = dict.fromkeys(dimension_names)
    excluded: dict[str, list[str]] = {}
    while position < len(terms.rstrip()):
        term = SEARCH_TERM.match(terms, position)
        if term is None:
            return f'{where}: only exact terms (key="value") are read: {terms[position:]!r}'
        position = term.end()
        key, value = term["key"], term["value"]
        if key == "MetricName" and not term["negated"]:
            name = value
        elif key not in dimensions:
            return f"{where}: the search filters on {key}, which its schema does not name"
        elif term["negated"]:
            excluded.setdefault(key, []).append(value)
        else:
            dimensions[key] = value
    if name is None:
        return f"{where}: the search names no MetricName exactly"
    return Read(where, namespace, name, dimensions, excluded)


def _dashboard_reads(template: dict[str, Any]) -> Iterator[Read | str]:
    for widget in dashboard_body(template)["widgets"]:
        if widget["type"] != "metric":
            continue
        where = f"dashboard widget {widget['properties']['title']!r}"
        for row in widget["properties"]["metrics"]:
            if isinstance(row[0], dict):
                if row[0]["expression"].startswith("SEARCH("):
                    yield _search_read(where, row[0]["expression"])
                continue
            fields = [part for part in row if not isinstance(part, dict)]
            if "." in fields or len(fields) % 2:
                yield f"{where}: a metric row this test cannot read (use full rows, no '.'): {row}"
                continue
            namespace, name, *pairs = fields
            dimensions = {pairs[i]: _dashboard_value(pairs[i + 1]) for i in range(0, len(pairs), 2)}
            yield Read(where, namespace, name, dimensions)


def reads(template: dict[str, Any]) -> list[Read | str]:
    alarms = {
        name: resource["Properties"]
        for name, resource in template["Resources"].items()
        if resource["Type"] == "AWS::CloudWatch::Alarm"
    }
    return [read for name, alarm in alarms.items() for read in _alarm_reads(name, alarm)] + list(
        _dashboard_reads(template)
    )


# ------------------------------------------------------------------ what the code emits


def registered() -> dict[str, list[Metric]]:
    """metric_names' entries by the name the code refers to them with (a family, such as the catalog counters, by
    its mapping's name)."""
    entries: dict[str, list[Metric]] = {}
    for attribute, value in vars(metric_names).items():
        if isinstance(value, Metric):
            entries[attribute] = [value]
        elif isinstance(value, dict) and value and all(isinstance(metric, Metric) for metric in value.values()):
            entries[attribute] = list(value.values())
    return entries


def _sources() -> Iterator[tuple[str, Path]]:
    """Every module that may emit a metric: the layer's (by module name) and each function's handler."""
    for path in sorted(LAYER.rglob("*.py")):
        parts = path.relative_to(LAYER.parent).with_suffix("").parts
        yield ".".join(parts[:-1] if parts[-1] == "__init__" else parts), path
    for path in sorted((PROJECT / "functions").glob("*/app.py")):
        yield f"functions/{path.parent.name}/", path


@dataclass
class Emissions:
    # metric_names entry -> the modules emitting it
    sites: dict[str, set[str]]
    # string literals found in the name of an emitted metric, with where
    literals: list[tuple[str, str]]


@cache
def emissions() -> Emissions:
    """Read once: the source does not change while the tests run (a test renaming a metric renames the entry's
    metric, not the entry the code refers to)."""
    entries = registered()
    sites: dict[str, set[str]] = {entry: set() for entry in entries}
    literals: list[tuple[str, str]] = []
    for module, path in _sources():
        for call in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(call, ast.Call):
                continue
            function = call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", None)
            if function not in EMITTING_CALLS:
                continue
            named = next((k.value for k in call.keywords if k.arg == "name"), call.args[0] if call.args else None)
            if named is None:
                continue
            for node in ast.walk(named):
                identifier = node.id if isinstance(node, ast.Name) else getattr(node, "attr", None)
                if identifier in entries:
                    sites[identifier].add(module)
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    literals.append((node.value, f"{path.relative_to(PROJECT)}:{node.lineno}"))
    return Emissions(sites, literals)


@cache
def _import_graph() -> grimp.ImportGraph:
    return grimp.build_graph("commerce_sync")


@cache
def _reach(handler: Path) -> frozenset[str]:
    """The layer's modules a function's handler imports, directly or not."""
    graph = _import_graph()
    direct: set[str] = set()
    for node in ast.walk(ast.parse(handler.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "commerce_sync":
            direct.add(node.module)
            direct.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            direct.update(alias.name for alias in node.names if alias.name.split(".")[0] == "commerce_sync")
    direct &= set(graph.modules)
    return frozenset(direct.union(*(graph.find_upstream_modules(module) for module in direct)))


def services(template: dict[str, Any]) -> dict[str, str]:
    """CodeUri -> the function's POWERTOOLS_SERVICE_NAME, which Powertools puts on its metrics as `service`."""
    return {
        resource["Properties"]["CodeUri"]: resource["Properties"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"]
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::Serverless::Function"
    }


def emitting_services(template: dict[str, Any], found: Emissions) -> dict[str, set[str]]:
    """Metric name -> the services of the functions whose code can emit it."""
    reach = {code_uri: _reach(PROJECT / code_uri / "app.py") for code_uri in services(template)}
    by_name: dict[str, set[str]] = {}
    for entry, metrics in registered().items():
        able = {
            service
            for code_uri, service in services(template).items()
            if any(module == code_uri or module in reach[code_uri] for module in found.sites[entry])
        }
        for metric in metrics:
            by_name[metric.name] = able
    return by_name


# ------------------------------------------------------------------ the check


def _valid_value(dimension: str, value: str) -> bool:
    if dimension == "platform":
        return value in set(adapters()) | {UNKNOWN_PLATFORM}
    if dimension == "status":
        return value.isdigit() and int(value) in {status.value for status in HTTPStatus}
    return bool(value)


def _check_aws(read: Read, resources: dict[str, Any]) -> list[str]:
    known = AWS_METRICS.get((read.namespace, read.name))
    if known is None:
        return [f"{read.where}: {read.namespace} {read.name} is not one of the AWS metrics this project reads"]
    dimension, resource_type, attribute = known
    if set(read.dimensions) != {dimension}:
        return [f"{read.where}: {read.name} is dimensioned by {dimension} alone, not {sorted(read.dimensions)}"]
    value = read.dimensions[dimension]
    if (
        not isinstance(value, Ref)
        or resources.get(value.resource, {}).get("Type") != resource_type
        or value.attribute != attribute
    ):
        return [f"{read.where}: {dimension} {value} does not name a {resource_type} of the template"]
    return []


def _check_ours(read: Read, able: dict[str, set[str]]) -> list[str]:
    metric = next((m for ms in registered().values() for m in ms if m.name == read.name), None)
    if metric is None:
        return [f"{read.where}: no code emits {read.name} (commerce_sync.aws.metric_names has no such metric)"]
    expected = {"service", *metric.dimensions}
    if set(read.dimensions) != expected:
        return [f"{read.where}: {read.name} is emitted with {sorted(expected)}, not {sorted(read.dimensions)}"]
    problems = []
    service = read.dimensions["service"]
    if service not in able[read.name]:
        problems.append(f"{read.where}: {read.name} is emitted by {sorted(able[read.name])}, not service {service!r}")
    for dimension, value in read.dimensions.items():
        if dimension != "service" and value is not None and not _valid_value(dimension, value):
            problems.append(f"{read.where}: {read.name} never has {dimension}={value!r}")
    for dimension, values in read.excluded.items():
        problems.extend(
            f"{read.where}: {read.name} never has {dimension}={value!r}"
            for value in values
            if not _valid_value(dimension, value)
        )
    return problems


def problems(template: dict[str, Any]) -> list[str]:
    namespace = template["Globals"]["Function"]["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"]
    able = emitting_services(template, emissions())
    found: list[str] = []
    for read in reads(template):
        if isinstance(read, str):
            found.append(read)
        elif read.namespace.startswith("AWS/"):
            found.extend(_check_aws(read, template["Resources"]))
        elif read.namespace != namespace:
            found.append(f"{read.where}: namespace {read.namespace}; the functions emit into {namespace}")
        else:
            found.extend(_check_ours(read, able))
    return found


# ------------------------------------------------------------------ tests


def test_every_metric_the_dashboard_and_the_alarms_read_is_one_the_code_emits(template: dict[str, Any]) -> None:
    assert problems(template) == []


def test_the_check_reads_the_dashboard_and_every_alarm(template: dict[str, Any]) -> None:
    read = [r for r in reads(template) if isinstance(r, Read)]
    places = {r.where.split(" ")[0] for r in read}
    assert places == {"alarm", "dashboard"}
    alarms = {name for name, res in template["Resources"].items() if res["Type"] == "AWS::CloudWatch::Alarm"}
    assert {r.where.removeprefix("alarm ") for r in read if r.where.startswith("alarm ")} == alarms
    # Every custom metric of metric_names is on the dashboard or behind an alarm (else it need not be there).
    read_names = {r.name for r in read}
    unread = {m.name for ms in registered().values() for m in ms} - read_names
    assert unread == {"CatalogProductsSeen", "CatalogProductsUnchanged"}


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        # A metric renamed in the template alone.
        ('"ReconciliationFailed"', '"ReconciliationFailures"', "no code emits"),
        ('MetricName=\\"EventOutcomes\\"', 'MetricName=\\"EventOutcome\\"', "no code emits"),
        # The right name with the wrong function, or without a dimension the code puts on it, or a value it never has.
        (
            '"CatalogProductsCreated", "service", "product_sync"',
            '"CatalogProductsCreated", "service", "cart_events"',
            "not service 'cart_events'",
        ),
        ("{CommerceSync,outcome,service}", "{CommerceSync,service}", "is emitted with"),
        ('status=\\"202\\"', 'status=\\"2O2\\"', "never has status"),
        # An AWS metric of something that is not a queue of the template, or one AWS does not publish.
        ("${CartEventsDeadLetterQueue.QueueName}", "${CartEventsDeadLetterQueue.Arn}", "does not name"),
        ('"AWS/Lambda", "Errors"', '"AWS/Lambda", "Failures"', "not one of the AWS"),
        # A partial match could find metrics the code does not emit.
        (' service=\\"cart_events\\"', " cart", "only exact terms"),
    ],
)
def test_the_check_finds_a_dashboard_metric_nobody_emits(
    template: dict[str, Any], before: str, after: str, expected: str
) -> None:
    body = template["Resources"][DASHBOARD]["Properties"]["DashboardBody"]
    assert before in body["Fn::Sub"], "the change applies to the template as it is"
    body["Fn::Sub"] = body["Fn::Sub"].replace(before, after, 1)
    assert any(expected in problem for problem in problems(template)), problems(template)


def test_the_check_finds_an_alarm_on_a_metric_nobody_emits(template: dict[str, Any]) -> None:
    alarm = template["Resources"]["ReconciliationRepairsAlarm"]["Properties"]
    alarm["MetricName"] = "ReconciliationRepair"
    stat = template["Resources"]["WebhookSignatureRefusalsAlarm"]["Properties"]["Metrics"][1]["MetricStat"]["Metric"]
    stat["Dimensions"] = [d for d in stat["Dimensions"] if d["Name"] != "platform"]
    found = problems(template)
    assert any("alarm ReconciliationRepairsAlarm: no code emits ReconciliationRepair" in p for p in found)
    assert any("alarm WebhookSignatureRefusalsAlarm: WebhookDeliveries is emitted with" in p for p in found)


def test_a_metric_renamed_in_the_code_alone_fails_the_check(
    template: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The code emits by metric_names, so renaming it there renames what every function emits.
    monkeypatch.setattr(metric_names, "RECONCILIATION_REPAIRS", Metric("ReconciliationRepaired"))
    found = problems(template)
    assert any("alarm ReconciliationRepairsAlarm: no code emits ReconciliationRepairs" in p for p in found)
    assert any("dashboard widget" in p and "no code emits ReconciliationRepairs" in p for p in found)


def test_every_named_metric_is_emitted_and_by_its_name_only() -> None:
    found = emissions()
    assert {entry for entry, modules in found.sites.items() if not modules} == set()
    names = {metric.name for metrics in registered().values() for metric in metrics}
    assert [(text, where) for text, where in found.literals if text in names] == []


def test_the_services_that_emit_are_worked_out_from_the_code(template: dict[str, Any]) -> None:
    able = emitting_services(template, emissions())
    # The nightly runs are product_sync's alone; the receiver's deliveries the webhooks function's alone.
    assert able["ReconciliationRepairs"] == {"product_sync"}
    assert able["CatalogSyncDuration"] == {"product_sync"}
    assert able["WebhookDeliveries"] == {"webhooks"}
    assert {"cart_events", "order_status", "product_sync"} <= able["EventOutcomes"]
    assert {"cart_events", "order_status", "product_sync", "key_rotation"} <= able["MailchimpUnauthorized"]


# ------------------------------------------------------------------ the dashboard and the new alarms


def test_the_dashboard_refers_only_to_the_templates_resources(template: dict[str, Any]) -> None:
    body = template["Resources"][DASHBOARD]["Properties"]["DashboardBody"]["Fn::Sub"]
    for reference in SUBSTITUTION.findall(body):
        if reference.startswith("AWS::"):
            assert reference in {"AWS::Region", "AWS::StackName"}
        else:
            assert reference.split(".")[0] in template["Resources"], reference


def test_the_dashboard_shows_every_alarm_dead_letter_queue_and_function(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    widgets = dashboard_body(template)["widgets"]
    [alarm_widget] = [w for w in widgets if w["type"] == "alarm"]
    listed = {_dashboard_value(arn).resource for arn in alarm_widget["properties"]["alarms"]}
    assert listed == {name for name, res in resources.items() if res["Type"] == "AWS::CloudWatch::Alarm"}

    shown = [r for r in reads(template) if isinstance(r, Read) and r.where.startswith("dashboard")]
    queues = {r.dimensions["QueueName"].resource for r in shown if r.name == "ApproximateNumberOfMessagesVisible"}
    assert queues == {name for name in resources if name.endswith("DeadLetterQueue")}
    functions = {r.dimensions["FunctionName"].resource for r in shown if r.name == "Errors"}
    assert functions == {name for name, res in resources.items() if res["Type"] == "AWS::Serverless::Function"}
    outcomes = {r.dimensions["service"] for r in shown if r.name == "EventOutcomes"}
    assert outcomes == {"cart_events", "order_status", "product_sync"}


def test_the_dashboards_widgets_fit_its_grid_without_overlapping(template: dict[str, Any]) -> None:
    cells: set[tuple[int, int]] = set()
    for widget in dashboard_body(template)["widgets"]:
        assert widget["x"] + widget["width"] <= 24
        area = {
            (x, y)
            for x in range(widget["x"], widget["x"] + widget["width"])
            for y in range(widget["y"], widget["y"] + widget["height"])
        }
        assert not area & cells, widget
        cells |= area


def _watched(alarm: dict[str, Any]) -> list[dict[str, Any]]:
    return [query["MetricStat"] for query in alarm["Metrics"] if "MetricStat" in query]


def test_a_mailchimp_401_anywhere_in_the_syncing_functions_raises_an_alarm(template: dict[str, Any]) -> None:
    alarm = template["Resources"]["MailchimpUnauthorizedAlarm"]["Properties"]
    watched = _watched(alarm)
    assert {(s["Metric"]["MetricName"], s["Metric"]["Dimensions"][0]["Value"]) for s in watched} == {
        ("MailchimpUnauthorized", service) for service in ("cart_events", "order_status", "product_sync")
    }
    assert {(s["Period"], s["Stat"]) for s in watched} == {(300, "Sum")}
    assert (alarm["Threshold"], alarm["ComparisonOperator"], alarm["TreatMissingData"]) == (
        0,
        "GreaterThanThreshold",
        "notBreaching",
    )


def test_a_spike_of_refused_signatures_on_any_platform_raises_an_alarm(template: dict[str, Any]) -> None:
    alarm = template["Resources"]["WebhookSignatureRefusalsAlarm"]["Properties"]
    watched = _watched(alarm)
    dimensions = [{d["Name"]: d["Value"] for d in s["Metric"]["Dimensions"]} for s in watched]
    assert {d["platform"] for d in dimensions} == set(adapters())
    assert {(d["service"], d["status"]) for d in dimensions} == {("webhooks", "401")}
    assert {(s["Period"], s["Stat"]) for s in watched} == {(300, "Sum")}
    [total] = [query for query in alarm["Metrics"] if query.get("ReturnData")]
    assert set(re.findall(r"\w+", total["Expression"])) == {"SUM", *(query["Id"] for query in alarm["Metrics"][1:])}
    assert alarm["Threshold"] == {"Ref": "SignatureRefusalAlarmThreshold"}
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert template["Parameters"]["SignatureRefusalAlarmThreshold"]["Default"] == 20


def test_the_stack_names_its_dashboard(template: dict[str, Any]) -> None:
    outputs = template["Outputs"]
    assert outputs["DashboardName"]["Value"] == {"Ref": DASHBOARD}
    assert "#dashboards/dashboard/${OperationsDashboard}" in outputs["DashboardUrl"]["Value"]["Fn::Sub"]
