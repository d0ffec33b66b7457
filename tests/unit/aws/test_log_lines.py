"""What a function's log line carries (commerce_sync.aws.observability.LeanFormatter): the invocation's request id
and cold-start flag, not what CloudWatch tells already (the function's name, memory size and ARN)."""

from __future__ import annotations

import io
import json
import logging
from dataclasses import dataclass

from commerce_sync.aws.observability import LeanFormatter, logger


@dataclass
class Context:
    function_name: str = "CartEventsFunction"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:CartEventsFunction"
    aws_request_id: str = "request-1"


def test_a_line_carries_the_request_id_and_not_the_function_name_memory_or_arn() -> None:
    lines = io.StringIO()
    handler = logging.StreamHandler(lines)
    handler.setFormatter(logger.registered_handler.formatter)
    logging.getLogger(logger.service).addHandler(handler)

    @logger.inject_lambda_context(clear_state=True)
    def invocation(event: dict[str, str], context: Context) -> None:
        logger.info("webhook accepted", store_id="s1")

    try:
        invocation({}, Context())
    finally:
        logging.getLogger(logger.service).removeHandler(handler)

    (line,) = [json.loads(text) for text in lines.getvalue().splitlines() if "webhook accepted" in text]
    assert line["function_request_id"] == "request-1" and line["store_id"] == "s1" and "cold_start" in line
    assert not set(LeanFormatter.OMITTED) & set(line)
    assert isinstance(logger.registered_handler.formatter, LeanFormatter)
