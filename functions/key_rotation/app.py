"""Secrets Manager rotation (createSecret, setSecret, testSecret, finishSecret). Not implemented yet
(issue: key rotation). Failing loudly makes Secrets Manager mark the rotation failed and leaves
AWSCURRENT exactly as it was, which is the safe outcome."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from commerce_sync.observability import logger

NOT_IMPLEMENTED = "key_rotation is not implemented yet; AWSCURRENT is left unchanged"


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> None:
    logger.error(NOT_IMPLEMENTED, step=event.get("Step"))
    raise NotImplementedError(NOT_IMPLEMENTED)
