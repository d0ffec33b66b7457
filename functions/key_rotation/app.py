"""Secrets Manager rotation (createSecret, setSecret, testSecret, finishSecret) for the Mailchimp API key
secret and the per-store webhook secrets; the steps are in commerce_sync.rotation.key_rotation.

A failed step raises: Secrets Manager marks the rotation failed (and retries it), the Errors alarm
fires, and AWSCURRENT is left exactly as it was. The event carries no secret, and nothing logged here
ever holds one.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from commerce_sync.aws.observability import log_metrics, logger, tracer
from commerce_sync.rotation.key_rotation import KeyRotation, RotationError


@cache
def rotation() -> KeyRotation:
    return KeyRotation.from_environment()


@logger.inject_lambda_context(clear_state=True)
@log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> None:
    # The event's fields read as they are: Powertools' SecretsManagerEvent (the same three keys) would import its
    # whole data_classes package, every event source's class, about 11 ms of this function's cold start.
    try:
        # RotationToken (cross-account rotation, 2025) is passed on to PutSecretValue when present.
        rotation().rotate(event["Step"], event["SecretId"], event["ClientRequestToken"], event.get("RotationToken"))
    except RotationError as error:
        logger.error(
            "rotation step failed; AWSCURRENT is unchanged", reason=str(error), error_type=type(error).__name__
        )
        raise
