"""Powertools singletons shared by every function.

The template sets POWERTOOLS_SERVICE_NAME per function and the metrics namespace in Globals; the
defaults here keep a process that imported the layer before its environment was set (the CLI, the
local runner) from logging as "service_undefined" or failing to flush metrics.
"""

import functools
import os
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any, TypeVar

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

from commerce_sync.aws.metric_names import Metric

Handler = TypeVar("Handler", bound=Callable[..., Any])


class LeanFormatter(LambdaPowertoolsFormatter):
    """Powertools' JSON lines without what CloudWatch tells already: the function's name (its log group's), memory
    size and ARN, which `inject_lambda_context` puts on every line. About 170 bytes a line, an eighth of what an
    event logs (docs/cost.md); the request id and the cold-start flag stay."""

    OMITTED = ("function_name", "function_memory_size", "function_arn")

    def serialize(self, log: dict[str, Any]) -> str:  # type: ignore[override]
        for key in self.OMITTED:
            log.pop(key, None)
        return super().serialize(log)


logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "commerce-sync"), logger_formatter=LeanFormatter())
# X-Ray patches only what the layer calls out with: boto3 (botocore) and requests (Mailchimp, the platforms). By
# default Powertools patches everything the X-Ray SDK supports, which imports sqlite3 and tries a dozen libraries
# the functions never have (aiobotocore, pynamodb, mysql, psycopg, httpx...) in every cold start.
tracer = Tracer(patch_modules=("botocore", "requests"))
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "CommerceSync"))

# Counts by their own dimensions, kept until the invocation ends (`tally`, `log_metrics`).
_tallies: Counter[tuple[str, tuple[tuple[str, str], ...]]] = Counter()
_tallying = threading.Lock()


def _declared(metric: Metric, dimensions: dict[str, str]) -> None:
    if set(dimensions) != set(metric.dimensions):
        raise ValueError(f"{metric.name} is counted by {metric.dimensions}, not {tuple(dimensions)}")


def count_by(metric: Metric, **dimensions: str) -> None:
    """Counts one of `metric` with its own dimensions (exactly those it declares) besides `service`.

    Its own EMF document, printed at once: a dimension added to the shared `metrics` would go on every metric of
    the invocation and change what the alarms read. single_metric prints whatever POWERTOOLS_METRICS_DISABLED
    says, so that is checked here, as the shared buffer's flush does."""
    _declared(metric, dimensions)
    if is_metrics_disabled():
        return
    with single_metric(name=metric.name, unit=MetricUnit.Count, value=1, namespace=metrics.namespace) as single:
        for name, value in dimensions.items():
            single.add_dimension(name=name, value=value)


def tally(metric: Metric, **dimensions: str) -> None:
    """`count_by`, printed when the invocation ends (`log_metrics`): one EMF document per set of dimensions with the
    invocation's count, not one per event (a consumer's batch of ten synced events: one document, not ten)."""
    _declared(metric, dimensions)
    with _tallying:
        _tallies[(metric.name, tuple(sorted(dimensions.items())))] += 1


def flush_tallies() -> None:
    """Prints the counts `tally` kept since the last flush (nothing while metrics are off)."""
    with _tallying:
        counted = dict(_tallies)
        _tallies.clear()
    if is_metrics_disabled():
        return
    for (name, dimensions), count in counted.items():
        with single_metric(name=name, unit=MetricUnit.Count, value=count, namespace=metrics.namespace) as single:
            for dimension, value in dimensions:
                single.add_dimension(name=dimension, value=value)


def log_metrics(handler: Handler) -> Handler:
    """`metrics.log_metrics`, and the tallies printed when the invocation ends, whatever way it ends."""
    flushing = metrics.log_metrics(handler)

    @functools.wraps(handler)
    def handle(*arguments: Any, **keywords: Any) -> Any:
        try:
            return flushing(*arguments, **keywords)
        finally:
            flush_tallies()

    return handle  # type: ignore[return-value]


def record(name: str, unit: str, value: float) -> None:
    """`metrics.add_metric`, unless metrics are off (POWERTOOLS_METRICS_DISABLED; the operator CLI turns them off):
    Powertools prints the buffer to stdout by itself once a metric holds 100 values, whatever that setting says, and
    a CLI making many Mailchimp calls would find EMF documents in the middle of its output."""
    if is_metrics_disabled():
        return
    metrics.add_metric(name=name, unit=unit, value=value)
