"""Powertools singletons shared by every function.

The template sets POWERTOOLS_SERVICE_NAME per function and the metrics namespace in Globals; the
defaults here keep a process that imported the layer before its environment was set (the CLI, the
local runner) from logging as "service_undefined" or failing to flush metrics.
"""

import os

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "commerce-sync"))
tracer = Tracer()
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "CommerceSync"))
