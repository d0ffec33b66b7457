"""Reads template.yaml the way the local runner needs it: functions with their handlers, routes, queue
event sources and environment; queues, rules, tables, secrets and the bus; intrinsic functions
resolved against the local resources' names."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

SERVERLESS_FUNCTION = "AWS::Serverless::Function"


class _CloudFormationLoader(yaml.SafeLoader):
    """SafeLoader that reads the short-form intrinsics (!Ref, !GetAtt, !Sub, ...) as their long form."""


def _intrinsic(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if tag_suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:
        raise yaml.constructor.ConstructorError(None, None, f"unexpected node for !{tag_suffix}", node.start_mark)
    return {"Ref": value} if tag_suffix == "Ref" else {f"Fn::{tag_suffix}": value}


_CloudFormationLoader.add_multi_constructor("!", _intrinsic)


def load_template(path: Path) -> dict[str, Any]:
    template = yaml.load(path.read_text(), Loader=_CloudFormationLoader)
    if not isinstance(template, dict):
        raise ValueError(f"{path} is not a CloudFormation template (not a mapping)")
    return template


@dataclass
class SqsEventSource:
    queue: str
    batch_size: int
    maximum_concurrency: int | None
    report_batch_item_failures: bool
    # MaximumBatchingWindowInSeconds: how long the poller gathers records into one batch (0: one receive's worth).
    batching_window_seconds: float = 0.0


@dataclass
class HttpRoute:
    method: str
    path: str

    @property
    def route_key(self) -> str:
        return f"{self.method} {self.path}"

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if method.upper() != self.method:
            return None
        pattern = "^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(self.path)) + "$"
        found = re.match(pattern, path)
        return found.groupdict() if found else None


@dataclass
class FunctionSpec:
    logical_id: str
    code_uri: str
    handler: str
    environment: dict[str, Any]
    own_environment: dict[str, Any]
    timeout: int
    memory_size: int
    # ReservedConcurrentExecutions: the most invocations of this function that may run at once.
    reserved_concurrency: int | None = None
    routes: list[HttpRoute] = field(default_factory=list)
    sqs_sources: list[SqsEventSource] = field(default_factory=list)
    schedules: dict[str, dict[str, Any]] = field(default_factory=dict)


class Template:
    def __init__(self, path: Path, parameter_overrides: dict[str, str] | None = None) -> None:
        self.path = path
        self.document = load_template(path)
        self.resources: dict[str, dict[str, Any]] = self.document.get("Resources", {})
        self.parameters = {
            name: str(spec.get("Default", "")) for name, spec in self.document.get("Parameters", {}).items()
        }
        self.parameters.update(parameter_overrides or {})
        self.refs: dict[str, str] = {}
        self.attributes: dict[tuple[str, str], str] = {}
        self.pseudo = {"AWS::Region": "us-east-1", "AWS::AccountId": "123456789012", "AWS::URLSuffix": "amazonaws.com"}
        self.pseudo["AWS::StackName"] = "commerce-sync-local"

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        """The resources of a type that this deployment creates (a false Condition leaves one out)."""
        return {
            name: spec
            for name, spec in self.resources.items()
            if spec.get("Type") == resource_type and ("Condition" not in spec or self.condition(spec["Condition"]))
        }

    # ---- intrinsic functions -----------------------------------------------------------------

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            if key == "Ref":
                return self._ref(argument)
            if key == "Fn::GetAtt":
                name, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
                return self.attributes.get((name, attribute), f"{name}.{attribute}")
            if key == "Fn::Sub":
                return self._sub(argument)
            if key == "Fn::If":
                condition, when_true, when_false = argument
                return self.resolve(when_true if self.condition(condition) else when_false)
            if key == "Fn::Join":
                separator, items = argument
                return separator.join(str(self.resolve(item)) for item in items)
        return {key: self.resolve(item) for key, item in value.items()}

    def _ref(self, name: str) -> str:
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        return self.refs.get(name, name)

    def _sub(self, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else argument

        def replace(match: re.Match[str]) -> str:
            token = match.group(1)
            if token in variables:
                return str(self.resolve(variables[token]))
            if "." in token and not token.startswith("AWS::"):
                name, attribute = token.split(".", 1)
                return self.attributes.get((name, attribute), token)
            return self._ref(token)

        return re.sub(r"\$\{([^}!]+)\}", replace, text)

    def condition(self, name: str) -> bool:
        return self._evaluate(self.document.get("Conditions", {}).get(name, False))

    def _evaluate(self, expression: Any) -> bool:
        if isinstance(expression, dict) and len(expression) == 1:
            ((key, argument),) = expression.items()
            if key == "Fn::Equals":
                left, right = (self.resolve(item) for item in argument)
                return str(left) == str(right)
            if key == "Fn::Not":
                return not self._evaluate(argument[0])
            if key == "Fn::And":
                return all(self._evaluate(item) for item in argument)
            if key == "Fn::Or":
                return any(self._evaluate(item) for item in argument)
            if key == "Condition":
                return self.condition(argument)
        return bool(expression)

    # ---- functions ----------------------------------------------------------------------------

    def functions(self) -> list[FunctionSpec]:
        globals_ = self.document.get("Globals", {}).get("Function", {})
        global_env = globals_.get("Environment", {}).get("Variables", {})
        specs = []
        for logical_id, resource in self.of_type(SERVERLESS_FUNCTION).items():
            properties = resource.get("Properties", {})
            own_env = properties.get("Environment", {}).get("Variables", {})
            spec = FunctionSpec(
                logical_id=logical_id,
                code_uri=str(properties.get("CodeUri", globals_.get("CodeUri", ""))),
                handler=str(properties.get("Handler", globals_.get("Handler", "app.lambda_handler"))),
                environment={**global_env, **own_env},
                own_environment=dict(own_env),
                timeout=int(self.resolve(properties.get("Timeout", globals_.get("Timeout", 3)))),
                memory_size=int(self.resolve(properties.get("MemorySize", globals_.get("MemorySize", 128)))),
            )
            reserved = properties.get("ReservedConcurrentExecutions")
            if reserved is not None:
                spec.reserved_concurrency = int(self.resolve(reserved))
            for event_name, event in (properties.get("Events") or {}).items():
                event_properties = event.get("Properties", {})
                if event["Type"] == "HttpApi":
                    spec.routes.append(
                        HttpRoute(method=str(event_properties["Method"]).upper(), path=str(event_properties["Path"]))
                    )
                elif event["Type"] == "SQS":
                    queue = event_properties["Queue"]
                    queue_id = queue["Fn::GetAtt"][0] if isinstance(queue, dict) else str(queue)
                    scaling = event_properties.get("ScalingConfig") or {}
                    maximum = scaling.get("MaximumConcurrency")
                    spec.sqs_sources.append(
                        SqsEventSource(
                            queue=queue_id,
                            batch_size=int(self.resolve(event_properties.get("BatchSize", 10))),
                            maximum_concurrency=int(self.resolve(maximum)) if maximum is not None else None,
                            report_batch_item_failures="ReportBatchItemFailures"
                            in (event_properties.get("FunctionResponseTypes") or []),
                            batching_window_seconds=float(
                                self.resolve(event_properties.get("MaximumBatchingWindowInSeconds", 0))
                            ),
                        )
                    )
                elif event["Type"] in {"ScheduleV2", "Schedule"}:
                    spec.schedules[event_name] = event_properties
            specs.append(spec)
        return specs
