"""The composition root of one Lambda container: builds the shared services once from Settings.

Handlers call `Services.from_environment()` lazily (on first use, not at import), so the local
runner and the tests can point the environment at moto and the Mailchimp emulator first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import boto3

from commerce_sync.aws.bus_entries import BusMessagePublisher
from commerce_sync.aws.secret_store import SecretFormatError, SecretReader
from commerce_sync.aws.settings import Settings
from commerce_sync.aws.store_activity import StoreActivity
from commerce_sync.aws.store_cache import StoreCache
from commerce_sync.aws.store_registry import Store, StoreRegistry
from commerce_sync.aws.sync_state import SyncState

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig

    # Imported where the service is first built, not with this module: every function imports Services, and
    # most use a few of its services (the webhooks function none of these: no Mailchimp client, account or
    # privacy record), so their modules (the Mailchimp models with the client, the accounts' OAuth) would be
    # cold-start time for nothing (docs/performance.md). The event bus's publisher brings the canonical model,
    # which the connect function never needs: it only puts parked messages back (`bus_messages`).
    from commerce_sync.accounts.budget import AccountBudget
    from commerce_sync.accounts.health import AccountHealthBook
    from commerce_sync.accounts.oauth_connect import OAuthConnector
    from commerce_sync.aws.consent_records import ConsentWithdrawals
    from commerce_sync.aws.event_bus import ClaimChecks, EventPublisher
    from commerce_sync.aws.privacy_audit import PrivacyAudit
    from commerce_sync.aws.privacy_exports import PrivacyExports
    from commerce_sync.aws.store_sweep import StoreSweep
    from commerce_sync.aws.tombstones import Tombstones
    from commerce_sync.mailchimp.client import MailchimpClient

# Shopify retries for 4 hours and BigCommerce for 48; a day of dedupe covers every platform's
# redelivery of the same event without keeping records forever.
IDEMPOTENCY_TTL_SECONDS = 24 * 3600


@dataclass
class Services:
    settings: Settings
    # One client per Mailchimp secret (the default account's and each store account's), built on first use.
    _mailchimp: dict[str, MailchimpClient] = field(default_factory=dict, init=False, repr=False)

    @classmethod
    def from_environment(cls) -> Services:
        return cls(Settings.from_environment())

    def for_lane(self) -> Services:
        """Services for another lane of a queue consumer (commerce_sync.processing.batch_lanes): its own AWS
        objects, kept writes, leases and connection slots; the container's secrets (read once, whichever lane
        reads them) and its activity counts (written once per invocation) are shared."""
        lane = Services(self.settings)
        lane.__dict__["secrets"] = self.secrets
        lane.__dict__["store_activity"] = self.store_activity
        return lane

    @cached_property
    def registry(self) -> StoreRegistry:
        return StoreRegistry(self.settings.stores_table, boto3.resource("dynamodb"))

    @cached_property
    def stores(self) -> StoreCache:
        """The registry as the hot paths read it (webhooks, queued events): a store read moments ago is not read
        again (commerce_sync.aws.store_cache). Whatever changes a store, or must see its change at once, reads
        `registry`."""
        return StoreCache(self.registry, self.settings.store_cache_seconds)

    @cached_property
    def sync_state(self) -> SyncState:
        return SyncState(self.settings.sync_state_table, boto3.resource("dynamodb"))

    @cached_property
    def tombstones(self) -> Tombstones:
        from commerce_sync.aws.tombstones import Tombstones  # deferred: see TYPE_CHECKING above

        return Tombstones(self.sync_state.table, self.sync_state.dynamodb, self.sync_state.read_ahead)

    @cached_property
    def consent_withdrawals(self) -> ConsentWithdrawals:
        """Contacts whose consent Mailchimp withdrew (docs/consent.md): never sent as opted in meanwhile."""
        from commerce_sync.aws.consent_records import ConsentWithdrawals  # deferred: see TYPE_CHECKING above

        return ConsentWithdrawals(self.sync_state.table, self.tombstones, self.sync_state.read_ahead)

    @cached_property
    def store_activity(self) -> StoreActivity:
        """Each store's deliveries and outcomes per hour, for `commerce-sync status` (one UpdateItem each)."""
        return StoreActivity(self.sync_state.table)

    @cached_property
    def privacy_audit(self) -> PrivacyAudit:
        from commerce_sync.aws.privacy_audit import PrivacyAudit  # deferred: see TYPE_CHECKING above

        return PrivacyAudit(self.sync_state.table)

    @cached_property
    def budget(self) -> AccountBudget:
        from commerce_sync.accounts.budget import AccountBudget  # deferred: see TYPE_CHECKING above

        return AccountBudget(
            self.sync_state.table,
            self.settings.mailchimp_connections_per_account,
            self.settings.mailchimp_bulk_connections,
        )

    @cached_property
    def account_health(self) -> AccountHealthBook:
        from commerce_sync.accounts.health import AccountHealthBook  # deferred: see TYPE_CHECKING above

        return AccountHealthBook(self.sync_state.table)

    @cached_property
    def secrets(self) -> SecretReader:
        return SecretReader(self.settings.secret_max_age_seconds)

    @cached_property
    def secrets_manager(self) -> Any:
        """A Secrets Manager client, for what the reader does not do (deleting an erased store's secret)."""
        return boto3.client("secretsmanager")

    @cached_property
    def store_sweep(self) -> StoreSweep:
        from commerce_sync.aws.store_sweep import StoreSweep  # deferred: see TYPE_CHECKING above

        return StoreSweep(self.sync_state.table)

    @cached_property
    def claim_checks(self) -> ClaimChecks:
        from commerce_sync.aws.event_bus import ClaimChecks  # deferred: see TYPE_CHECKING above

        return ClaimChecks(self.settings.claim_check_bucket)

    @cached_property
    def privacy_exports(self) -> PrivacyExports:
        """Data requests' exports, kept in the claim-check bucket (commerce_sync.aws.privacy_exports)."""
        from commerce_sync.aws.privacy_exports import PrivacyExports  # deferred: see TYPE_CHECKING above

        return PrivacyExports(self.settings.claim_check_bucket)

    @cached_property
    def publisher(self) -> EventPublisher:
        from commerce_sync.aws.event_bus import EventPublisher  # deferred: see TYPE_CHECKING above

        return EventPublisher(self.settings.event_bus_name, claim_checks=self.claim_checks)

    @cached_property
    def bus_messages(self) -> BusMessagePublisher:
        """Puts bus messages back as they were (a paused account's parked events), without the canonical model
        `publisher` needs (the connect function's only use of the bus)."""
        return BusMessagePublisher(self.settings.event_bus_name)

    @cached_property
    def idempotency_store(self) -> DynamoDBPersistenceLayer:
        # Imported here, not with the module: the webhooks, rotation and connect functions never use it, and it is
        # one of the larger imports of their cold start (docs/performance.md).
        from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

        return DynamoDBPersistenceLayer(table_name=self.settings.idempotency_table)

    def idempotency_config(self, key_path: str = "[store_id, event_id]") -> IdempotencyConfig:
        """Keyed by store and event id: platforms' own ids (a WooCommerce resource id and date, a
        BigCommerce hash) are unique within one store only."""
        from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig

        return IdempotencyConfig(event_key_jmespath=key_path, expires_after_seconds=IDEMPOTENCY_TTL_SECONDS)

    @cached_property
    def oauth_connector(self) -> OAuthConnector:
        # Deferred: see TYPE_CHECKING above.
        from commerce_sync.accounts.oauth import OAuthRefused
        from commerce_sync.accounts.oauth_connect import OAuthConnector
        from commerce_sync.mailchimp.credentials import CredentialsError
        from commerce_sync.mailchimp.errors import MailchimpError

        settings = self.settings

        def app_secret() -> dict[str, Any]:
            if not settings.mailchimp_oauth_secret_arn:
                raise OAuthRefused("this deployment has no Mailchimp OAuth app (MAILCHIMP_OAUTH_SECRET_ARN is unset)")
            return self.secrets.current(settings.mailchimp_oauth_secret_arn, refresh=True)

        def default_account_id() -> str | None:
            try:
                return str(self.mailchimp(None).account().get("account_id") or "") or None
            except (CredentialsError, MailchimpError, SecretFormatError, ValueError):
                return None

        return OAuthConnector(
            settings,
            self.registry,
            app_secret,
            boto3.client("secretsmanager"),
            self.sync_state.table,
            self.account_health,
            self.bus_messages,
            default_account_id,
        )

    def mailchimp_secret_id(self, store: Store | None) -> str:
        """The secret holding the Mailchimp credentials `store` writes with: its account's, else the default."""
        return (store.mailchimp_secret_id if store is not None else None) or self.settings.mailchimp_secret_arn

    def mailchimp(self, store: Store | None = None, refresh_key: bool = False) -> MailchimpClient:
        """The client of `store`'s Mailchimp account (the deployment's default account without a store); no
        other account's credentials can reach it. `refresh_key` re-reads them after a 401 (a key rotated or
        an account reconnected while this container was warm)."""
        # Deferred: see TYPE_CHECKING above.
        from commerce_sync.mailchimp.client import RetryPolicy
        from commerce_sync.mailchimp.credentials import MailchimpCredentials

        secret_id = self.mailchimp_secret_id(store)
        client = self._mailchimp.get(secret_id)
        if client is None or refresh_key:
            value = self.secrets.current(secret_id, refresh=refresh_key)
            client = MailchimpCredentials.from_secret(secret_id, value).client(
                self.settings.mailchimp_api_url,
                read_timeout=self.settings.mailchimp_read_timeout,
                retry=RetryPolicy(
                    total=self.settings.mailchimp_retries, backoff_factor=self.settings.mailchimp_backoff_factor
                ),
            )
            self._mailchimp[secret_id] = client
        return client
