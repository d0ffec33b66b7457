"""Runs the whole function set on 127.0.0.1: moto server for AWS, the template's resources created in
it, the HTTP API on a real port, and the queues feeding the processing functions."""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from local_runner import aws_limits, moto_replays, moto_transactions
from local_runner.aws_requests import UA_APP_ID_VARIABLE, AwsRequestLog
from local_runner.aws_resources import QUEUE, provision
from local_runner.event_sources import SqsPoller
from local_runner.functions import Invocable, LocalFunction
from local_runner.http_api import HttpApi, LocalRoute
from local_runner.partner_bus import PartnerBus
from local_runner.template import FunctionSpec, SqsEventSource, Template
from local_runner.workers import FunctionPool, LogStream

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TEMPLATE = PROJECT_ROOT / "template.yaml"
LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_SESSION_TOKEN": "local"}
# A function without ReservedConcurrentExecutions (the webhook receiver, the queue consumers) runs at most
# this many invocations at once here; in AWS only the account's limit bounds it. Queue consumers stay
# within their event source's MaximumConcurrency.
DEFAULT_FUNCTION_CONCURRENCY = 10
# Lambda's SQS poller starts five batches at once when the mapping sets no MaximumConcurrency.
DEFAULT_QUEUE_CONCURRENCY = 5
# Locally Shopify's EventBridge delivery is always on (POST /_local/shopify/eventbridge), on this source.
LOCAL_SHOPIFY_PARTNER_SOURCE = "aws.partner/shopify.com/0000000/commerce-sync-local"
# Variables of this process that are not the functions' configuration: pytest's (changed per test) and
# the operator CLI's way to this runner.
PROCESS_ONLY_VARIABLES = ("PYTEST_", "LOCAL_RUNNER_URL")
log = logging.getLogger("local_runner")


def snake_case(logical_id: str) -> str:
    """CartEventsDeadLetterQueue -> cart_events_dead_letter_queue (the CLI's variable names)."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", logical_id).lower()


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


@dataclass
class RunnerConfig:
    mailchimp_api_url: str
    mailchimp_api_key: str
    host: str = "127.0.0.1"
    port: int = 0
    aws_endpoint_url: str | None = None
    template_path: Path = DEFAULT_TEMPLATE
    retry_delay_seconds: int = 1
    environment: dict[str, str] = field(default_factory=dict)
    # Mailchimp's OAuth login server (authorize, token, metadata): the emulator's root; None keeps the template's.
    mailchimp_login_url: str | None = None
    # Template parameters (e.g. OrderStatusMaxConcurrency) over their defaults.
    parameter_overrides: dict[str, str] = field(default_factory=dict)
    # At most this many invocations of one function at once (None: the template's concurrency).
    concurrency: int | None = None
    # Every invocation in this process, one at a time (today's debugging form; races cannot show).
    serial: bool = False
    # Echo the functions' log lines to the process's own stderr (captures see them either way). Its own, not
    # whatever sys.stderr is at the moment a line arrives: a line from a late delivery must not land in the
    # output a command running in this process is producing (a test capturing the operator CLI's stderr).
    echo_logs: bool = True


class LocalRunner:
    """Only one runner per process: the handlers read their configuration from os.environ."""

    def __init__(self, config: RunnerConfig) -> None:
        self.config = config
        self.template = Template(
            config.template_path,
            {
                "ShopifyPartnerEventSourceName": LOCAL_SHOPIFY_PARTNER_SOURCE,
                **config.parameter_overrides,
                "MailchimpApiUrl": config.mailchimp_api_url,
                **({"MailchimpLoginUrl": config.mailchimp_login_url} if config.mailchimp_login_url else {}),
            },
        )
        self._moto: Any = None
        self.aws_endpoint_url = config.aws_endpoint_url or ""
        self.functions: dict[str, Invocable] = {}
        self.pollers: list[SqsPoller] = []
        self.http_api: HttpApi | None = None
        self.logs = LogStream(lambda: sys.__stderr__ if config.echo_logs else None)
        self.partner_bus: PartnerBus | None = None
        # Every request the in-process moto server answers (empty with an outside aws_endpoint_url).
        self.aws_requests = AwsRequestLog()

    # ---- lifecycle --------------------------------------------------------------------------

    def start(self) -> LocalRunner:
        if not self.aws_endpoint_url:
            from moto.server import ThreadedMotoServer

            moto_transactions.install()
            moto_replays.install()
            port = free_port(self.config.host)
            # moto serves through werkzeug, whose access log would drown the functions' own logs.
            logging.getLogger("werkzeug").setLevel(logging.WARNING)
            self._moto = ThreadedMotoServer(ip_address=self.config.host, port=port, verbose=False)
            self._moto.start()
            # moto's ThreadedMotoServer has no hook for its WSGI app; its werkzeug server serves `.app` per request.
            self._moto._server.app = self.aws_requests.wrap(self._moto._server.app)
            self.aws_endpoint_url = f"http://{self.config.host}:{port}"
        os.environ.update(
            {
                **LOCAL_CREDENTIALS,
                "AWS_ENDPOINT_URL": self.aws_endpoint_url,
                "AWS_DEFAULT_REGION": self.template.pseudo["AWS::Region"],
                "AWS_REGION": self.template.pseudo["AWS::Region"],
                "POWERTOOLS_TRACE_DISABLED": "true",
            }
        )
        aws_limits.enforce()
        mailchimp_secret = {"kind": "mailchimp_api_key", "api_key": self.config.mailchimp_api_key}
        provision(
            self.template,
            self.aws_endpoint_url,
            secret_values={"MailchimpApiKeySecret": json.dumps(mailchimp_secret)},
        )
        for name, value in self.environment().items():
            # Resource names always come from this runner; Powertools settings the caller chose win.
            if name.startswith("POWERTOOLS_") and name in os.environ:
                continue
            os.environ[name] = value
        os.environ.update(self.config.environment)

        routes: list[Any] = []
        for spec in self.template.functions():
            function = self._function(spec)
            self.functions[spec.logical_id] = function
            routes.extend((route, function) for route in spec.routes)
            for source in spec.sqs_sources:
                self.pollers.append(self._poller(source, function))
        self.partner_bus = PartnerBus(
            self.template, self.functions, self.client("sqs"), self.config.retry_delay_seconds
        )
        self.http_api = HttpApi(routes, self.config.host, self.config.port, local_routes=self._local_routes())
        self.http_api.start()
        for poller in self.pollers:
            poller.start()
        log.info("local API on %s, AWS on %s", self.url, self.aws_endpoint_url)
        return self

    def stop(self) -> None:
        for poller in self.pollers:
            poller.stop()
        if self.http_api:
            self.http_api.stop()
        for function in self.functions.values():
            if isinstance(function, FunctionPool):
                function.stop()
        if self._moto:
            self._moto.stop()
        aws_limits.relax()

    def __enter__(self) -> LocalRunner:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    # ---- what users of the runner need ----------------------------------------------------------

    @property
    def url(self) -> str:
        assert self.http_api, "start() first"
        return f"http://{self.config.host}:{self.http_api.port}"

    def environment(self) -> dict[str, str]:
        """The environment every function shares (Globals), resolved."""
        globals_ = self.template.document.get("Globals", {}).get("Function", {})
        variables = globals_.get("Environment", {}).get("Variables", {})
        return {name: str(self.template.resolve(value)) for name, value in variables.items()}

    def function_environment(self, logical_id: str) -> dict[str, str]:
        """The function's own variables, without its service name: in-process functions share one logger."""
        return {
            name: str(self.template.resolve(value))
            for name, value in self._spec(logical_id).own_environment.items()
            if name != "POWERTOOLS_SERVICE_NAME"
        }

    def container_environment(self, spec: FunctionSpec) -> dict[str, str]:
        """What a container of the function starts with: this process's environment as it is now (the
        runner's settings and whatever a caller changed since), the function's own variables over it, and
        the variables the Lambda runtime sets."""
        environment = {name: value for name, value in os.environ.items() if not name.startswith(PROCESS_ONLY_VARIABLES)}
        environment.update({name: str(self.template.resolve(value)) for name, value in spec.own_environment.items()})
        environment.update(
            {
                "AWS_LAMBDA_FUNCTION_NAME": spec.logical_id,
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_size),
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.logical_id}",
                # So the runner's AWS request log knows which function sent each request.
                UA_APP_ID_VARIABLE: spec.logical_id,
            }
        )
        return environment

    def function_concurrency(self, spec: FunctionSpec) -> int:
        """How many invocations of the function may run at once: its reserved concurrency, else the
        local default, within --concurrency."""
        limit = spec.reserved_concurrency or DEFAULT_FUNCTION_CONCURRENCY
        return max(1, min(limit, self.config.concurrency or limit))

    def queue_concurrency(self, spec: FunctionSpec, source: SqsEventSource) -> int:
        """Batches in flight at once from one queue: the mapping's MaximumConcurrency (Lambda's default
        start without one), within the function's own concurrency."""
        if self.config.serial:
            return 1
        return max(1, min(source.maximum_concurrency or DEFAULT_QUEUE_CONCURRENCY, self.function_concurrency(spec)))

    def operator_environment(self) -> dict[str, str]:
        """What the operator CLI needs to work against this runner (README: 'Register a store')."""
        queues = {
            f"{snake_case(logical_id).upper()}_URL": self.queue_url(logical_id)
            for logical_id in self.template.of_type(QUEUE)
        }
        return {
            **{name: value for name, value in self.environment().items() if not name.startswith("POWERTOOLS")},
            **queues,
            "LOCAL_RUNNER_URL": self.url,
            # `commerce-sync mailchimp-app` and `connect-mailchimp` (the stack outputs when deployed).
            "MAILCHIMP_OAUTH_SECRET_ARN": self.template.refs["MailchimpOAuthAppSecret"],
            # `commerce-sync replay` (the stack output EventArchiveName when deployed).
            "EVENT_ARCHIVE_NAME": self.template.refs["EventArchive"],
            "COMMERCE_SYNC_API_URL": self.url,
            # `commerce-sync privacy export --request` reads data requests' exports there.
            "CLAIM_CHECK_BUCKET": self.template.refs["ClaimCheckBucket"],
            "AWS_ENDPOINT_URL": self.aws_endpoint_url,
            "AWS_DEFAULT_REGION": self.template.pseudo["AWS::Region"],
            **LOCAL_CREDENTIALS,
        }

    def client(self, service: str) -> Any:
        region = self.template.pseudo["AWS::Region"]
        return boto3.client(service, endpoint_url=self.aws_endpoint_url, region_name=region)  # type: ignore[call-overload]

    def queue_url(self, logical_id: str) -> str:
        return self.template.refs[logical_id]

    def queue_depths(self) -> dict[str, dict[str, int]]:
        sqs = self.client("sqs")
        depths = {}
        for logical_id in self.template.of_type(QUEUE):
            attributes = sqs.get_queue_attributes(
                QueueUrl=self.queue_url(logical_id),
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                    "ApproximateNumberOfMessagesDelayed",
                ],
            )["Attributes"]
            depths[logical_id] = {
                "visible": int(attributes["ApproximateNumberOfMessages"]),
                "in_flight": int(attributes["ApproximateNumberOfMessagesNotVisible"]),
                # Sent with a delay (a chained job's continuation waiting its turn): neither of the above yet.
                "delayed": int(attributes.get("ApproximateNumberOfMessagesDelayed", 0)),
            }
        return depths

    def status(self) -> dict[str, Any]:
        """Queue depths, invocations running per function, and whether all is idle: every source queue
        empty (dead-letter queues may hold messages) and no invocation running."""
        depths = self.queue_depths()
        sources = {poller.source.queue for poller in self.pollers}
        running = {name: function.busy for name, function in self.functions.items()}
        pending = sum(
            depths[queue]["visible"] + depths[queue]["in_flight"] + depths[queue]["delayed"] for queue in sources
        )
        busy = (
            any(poller.busy for poller in self.pollers)
            or any(running.values())
            or bool(self.partner_bus and self.partner_bus.busy)
        )
        return {"idle": pending == 0 and not busy, "queues": depths, "invocations": running}

    def wait_until_idle(self, timeout: float = 30.0) -> None:
        """Until idle (status()) for 0.2 s on end: a record between queues is never missed."""
        deadline = time.monotonic() + timeout
        quiet_since: float | None = None
        while time.monotonic() < deadline:
            if self.status()["idle"]:
                quiet_since = quiet_since or time.monotonic()
                if time.monotonic() - quiet_since > 0.2:
                    return
            else:
                quiet_since = None
            time.sleep(0.05)
        raise TimeoutError(f"queues still busy after {timeout}s: {self.queue_depths()}")

    def invoke(self, logical_id: str, event: Any) -> Any:
        """One invocation, as `lambda invoke` makes it (in a container of the function's own)."""
        return self.functions[logical_id].invoke(event)

    def _local_routes(self) -> dict[tuple[str, str], LocalRoute]:
        """The runner's own routes under /_local (no template route starts so)."""

        def status(_headers: dict[str, str], _body: bytes) -> tuple[int, Any]:
            return 200, self.status()

        routes: dict[tuple[str, str], LocalRoute] = {("GET", "/_local/status"): status}
        if self.partner_bus is not None:
            routes[("POST", "/_local/shopify/eventbridge")] = self.partner_bus.put_shopify_webhook
        return routes

    def in_process(self, logical_id: str) -> LocalFunction:
        """The function loaded into this process (one invocation at a time): for a test that must patch
        the handler's code, which a container of its own would not see."""
        return LocalFunction(self._spec(logical_id), PROJECT_ROOT, self.function_environment(logical_id))

    def _spec(self, logical_id: str) -> FunctionSpec:
        return next(spec for spec in self.template.functions() if spec.logical_id == logical_id)

    def _function(self, spec: FunctionSpec) -> Invocable:
        if self.config.serial:
            return LocalFunction(spec, PROJECT_ROOT, self.function_environment(spec.logical_id))
        return FunctionPool(
            spec,
            PROJECT_ROOT,
            lambda: self.container_environment(spec),
            self.function_concurrency(spec),
            self.logs,
        )

    def _poller(self, source: SqsEventSource, function: Invocable) -> SqsPoller:
        return SqsPoller(
            source=source,
            function=function,
            sqs=self.client("sqs"),
            queue_url=self.queue_url(source.queue),
            queue_arn=self.template.attributes[(source.queue, "Arn")],
            region=self.template.pseudo["AWS::Region"],
            retry_delay_seconds=self.config.retry_delay_seconds,
            concurrency=self.queue_concurrency(function.spec, source),
        )
