"""Powertools singletons shared by every function.

The template sets POWERTOOLS_SERVICE_NAME per function and the metrics namespace in Globals; the
defaults here keep a process that imported the layer before its environment was set (the CLI, the
local runner) from logging as "service_undefined" or failing to flush metrics.
"""

import os

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

from commerce_sync.aws.metric_names import Metric

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "commerce-sync"))
tracer = Tracer()
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "CommerceSync"))


def count_by(metric: Metric, **dimensions: str) -> None:
    """Counts one of `metric` with its own dimensions (exactly those it declares) besides `service`.

    Its own EMF document, printed at once: a dimension added to the shared `metrics` would go on every metric of
    the invocation and change what the alarms read. single_metric prints whatever POWERTOOLS_METRICS_DISABLED
    says, so that is checked here, as the shared buffer's flush does."""
    if set(dimensions) != set(metric.dimensions):
        raise ValueError(f"{metric.name} is counted by {metric.dimensions}, not {tuple(dimensions)}")
    if is_metrics_disabled():
        return
    with single_metric(name=metric.name, unit=MetricUnit.Count, value=1, namespace=metrics.namespace) as single:
        for name, value in dimensions.items():
            single.add_dimension(name=name, value=value)


def record(name: str, unit: str, value: float) -> None:
    """`metrics.add_metric`, unless metrics are off (POWERTOOLS_METRICS_DISABLED; the operator CLI turns them off):
    Powertools prints the buffer to stdout by itself once a metric holds 100 values, whatever that setting says, and
    a CLI making many Mailchimp calls would find EMF documents in the middle of its output."""
    if is_metrics_disabled():
        return
    metrics.add_metric(name=name, unit=unit, value=value)
