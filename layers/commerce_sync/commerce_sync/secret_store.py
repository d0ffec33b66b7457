"""Secrets from Secrets Manager through Powertools Parameters (cached), plus the uncached reads that
key rotation needs: Powertools' cache key ignores VersionStage, so AWSPENDING is read directly."""

from __future__ import annotations

import json
from typing import Any

import boto3
from aws_lambda_powertools.utilities.parameters import SecretsProvider


class SecretFormatError(Exception):
    """A secret is not the JSON document this project expects (the message never holds its value)."""


class SecretReader:
    def __init__(self, max_age_seconds: int = 60, client: Any | None = None) -> None:
        self._client = client or boto3.client("secretsmanager")
        self._provider = SecretsProvider(boto3_client=self._client)
        self._max_age = max_age_seconds

    def current(self, secret_id: str, refresh: bool = False) -> dict[str, Any]:
        value = self._provider.get(secret_id, transform="json", max_age=self._max_age, force_fetch=refresh)
        if not isinstance(value, dict):
            raise SecretFormatError(f"secret {secret_id} is not a JSON object")
        return value

    def staged(self, secret_id: str, stage: str) -> dict[str, Any] | None:
        """The version under `stage` (AWSPENDING, AWSPREVIOUS), uncached; None when there is none."""
        try:
            response = self._client.get_secret_value(SecretId=secret_id, VersionStage=stage)
        except self._client.exceptions.ResourceNotFoundException:
            return None
        try:
            value = json.loads(response.get("SecretString") or "null")
        except ValueError as error:
            raise SecretFormatError(f"secret {secret_id} ({stage}) is not JSON") from error
        return value if isinstance(value, dict) else None

    def mailchimp_api_key(self, secret_id: str, refresh: bool = False) -> str:
        api_key = self.current(secret_id, refresh=refresh).get("api_key")
        if not api_key:
            raise SecretFormatError(f"secret {secret_id} holds no api_key")
        return str(api_key)

    def webhook_secrets(self, secret_id: str, include_staged: bool = False) -> list[str]:
        """The signing secrets to try: AWSCURRENT, and with include_staged (after a miss) a fresh
        AWSCURRENT plus AWSPENDING, so a delivery signed by a secret mid-rotation still verifies."""
        current = self.current(secret_id, refresh=include_staged).get("webhook_secret")
        candidates = [str(current)] if current else []
        if include_staged:
            pending = self.staged(secret_id, "AWSPENDING")
            if pending and pending.get("webhook_secret") and pending["webhook_secret"] != current:
                candidates.append(str(pending["webhook_secret"]))
        return candidates
