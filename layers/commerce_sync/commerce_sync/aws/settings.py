"""Runtime configuration, read from the environment the template (or the local runner) sets."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    stores_table: str
    idempotency_table: str
    sync_state_table: str
    event_bus_name: str
    mailchimp_secret_arn: str
    mailchimp_api_url: str | None
    store_secret_prefix: str
    secret_max_age_seconds: int
    store_cache_seconds: float
    previous_secret_grace_seconds: int
    mailchimp_retries: int
    mailchimp_backoff_factor: float
    mailchimp_read_timeout: float
    # Where events too large for the bus are checked in (commerce_sync.aws.event_bus); unset in the CLI.
    claim_check_bucket: str | None = None
    # Mailchimp accounts (docs/mailchimp-accounts.md): each account's connection budget shared by every
    # container (the bulk share is the part a catalog sync or backfill may hold), where account secrets live,
    # and the OAuth app's secret and Mailchimp's login server.
    mailchimp_connections_per_account: int = 9
    mailchimp_bulk_connections: int = 4
    mailchimp_account_secret_prefix: str = "commerce-sync/mailchimp/"
    mailchimp_oauth_secret_arn: str | None = None
    mailchimp_login_url: str = "https://login.mailchimp.com"
    # Records of one SQS batch a queue consumer applies at once (commerce_sync.processing.batch_lanes).
    consumer_lanes: int = 2

    @classmethod
    def from_environment(cls) -> Settings:
        env = os.environ
        return cls(
            stores_table=env.get("STORES_TABLE", "commerce-sync-stores"),
            idempotency_table=env.get("IDEMPOTENCY_TABLE", "commerce-sync-idempotency"),
            sync_state_table=env.get("SYNC_STATE_TABLE", "commerce-sync-sync-state"),
            event_bus_name=env.get("EVENT_BUS_NAME", "commerce-sync"),
            mailchimp_secret_arn=env.get("MAILCHIMP_SECRET_ARN", ""),
            mailchimp_api_url=env.get("MAILCHIMP_API_URL") or None,
            store_secret_prefix=env.get("STORE_SECRET_PREFIX", "commerce-sync/stores/"),
            secret_max_age_seconds=int(env.get("SECRET_MAX_AGE_SECONDS", "60")),
            store_cache_seconds=float(env.get("STORE_CACHE_SECONDS", "30")),
            previous_secret_grace_seconds=int(env.get("WEBHOOK_SECRET_PREVIOUS_GRACE_SECONDS", "3600")),
            mailchimp_retries=int(env.get("MAILCHIMP_RETRIES", "5")),
            mailchimp_backoff_factor=float(env.get("MAILCHIMP_BACKOFF_FACTOR", "0.5")),
            mailchimp_read_timeout=float(env.get("MAILCHIMP_READ_TIMEOUT", "20")),
            claim_check_bucket=env.get("CLAIM_CHECK_BUCKET") or None,
            mailchimp_connections_per_account=int(env.get("MAILCHIMP_CONNECTIONS_PER_ACCOUNT", "9")),
            mailchimp_bulk_connections=int(env.get("MAILCHIMP_BULK_CONNECTIONS", "4")),
            mailchimp_account_secret_prefix=env.get("MAILCHIMP_ACCOUNT_SECRET_PREFIX", "commerce-sync/mailchimp/"),
            mailchimp_oauth_secret_arn=env.get("MAILCHIMP_OAUTH_SECRET_ARN") or None,
            mailchimp_login_url=(env.get("MAILCHIMP_LOGIN_URL") or "https://login.mailchimp.com").rstrip("/"),
            consumer_lanes=max(1, int(env.get("CONSUMER_LANES", "2"))),
        )
