"""The two steps of an OAuth connection (commerce_sync.accounts.oauth has the protocol): `begin` turns an
operator's invite into Mailchimp's authorize URL, `finish` turns Mailchimp's code into the store's account
(docs/mailchimp-accounts.md, "Connect with OAuth")."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from commerce_sync.accounts.connections import (
    AccountCheckFailed,
    IdentifiedAccount,
    ensure_mailchimp_store,
    identify_account,
    point_store,
    refuse_other_account,
    resume_account,
    save_account_secret,
)
from commerce_sync.accounts.health import AccountHealthBook
from commerce_sync.accounts.oauth import STATE_SECONDS, MailchimpLogin, OAuthApp, OAuthRefused
from commerce_sync.aws.observability import logger, metrics
from commerce_sync.aws.settings import Settings
from commerce_sync.aws.store_registry import Store, StoreRegistry
from commerce_sync.mailchimp.credentials import MailchimpCredentials

if TYPE_CHECKING:
    from commerce_sync.aws.bus_entries import BusMessagePublisher

# A spent state is remembered a little longer than it could be used.
SPENT_STATE_TTL_SECONDS = STATE_SECONDS + 3600


@dataclass(frozen=True)
class Connected:
    store: Store
    account: IdentifiedAccount
    uses_default: bool
    resumed: int


class OAuthConnector:
    def __init__(
        self,
        settings: Settings,
        registry: StoreRegistry,
        app_secret: Callable[[], dict[str, Any]],
        secretsmanager: Any,
        sync_state_table: Any,
        health: AccountHealthBook,
        publisher: BusMessagePublisher,
        default_account_id: Callable[[], str | None],
    ) -> None:
        self._settings = settings
        self._registry = registry
        self._app_secret = app_secret
        self._secretsmanager = secretsmanager
        self._table = sync_state_table
        self._health = health
        self._publisher = publisher
        self._default_account_id = default_account_id

    def login(self) -> MailchimpLogin:
        return MailchimpLogin(self._settings.mailchimp_login_url, OAuthApp.from_secret(self._app_secret()))

    def begin(self, store_id: str, invite: str, redirect_uri: str) -> str:
        """Mailchimp's authorize URL for the store the invite names; OAuthRefused for any other."""
        login = self.login()
        claims = login.app.verify(invite, "invite")
        if claims.get("s") != store_id:
            raise OAuthRefused("this link was made for another store")
        self._store(store_id)
        return login.authorize_url(redirect_uri, login.app.sign("state", store_id, STATE_SECONDS))

    def finish(self, code: str, state: str, redirect_uri: str) -> Connected:
        login = self.login()
        claims = login.app.verify(state, "state")
        self._spend(str(claims.get("n") or ""))
        store = self._store(str(claims.get("s") or ""))
        token = login.exchange(code, redirect_uri)
        credentials = MailchimpCredentials.oauth(token.access_token, token.datacenter)
        client = credentials.client(self._settings.mailchimp_api_url)
        account = identify_account(client, store.list_id)
        refuse_other_account(store, account)
        ensure_mailchimp_store(client, store)
        uses_default = self._default_account_id() == account.account_id
        secret_arn = None
        if not uses_default:
            secret_arn = save_account_secret(
                self._secretsmanager, self._settings.mailchimp_account_secret_prefix, account.account_id, credentials
            )
        store = point_store(self._registry, store, secret_arn, None if uses_default else account.account_id)
        resumed = resume_account(self._health, self._publisher, store.mailchimp_account)
        metrics.add_metric(name="MailchimpAccountConnected", unit="Count", value=1)
        logger.info(
            "Mailchimp account connected with OAuth",
            store_id=store.store_id,
            mailchimp_account=store.mailchimp_account,
            resumed=resumed,
        )
        return Connected(store, account, uses_default, resumed)

    def _store(self, store_id: str) -> Store:
        store = self._registry.get(store_id) if store_id else None
        if store is None:
            raise AccountCheckFailed(f"store {store_id} is not registered")
        return store

    def _spend(self, nonce: str) -> None:
        """A state is good for one connection: a replayed callback (a reload, a stolen URL) is refused."""
        if not nonce:
            raise OAuthRefused("the connection attempt carries no nonce")
        try:
            self._table.put_item(
                Item={
                    "pk": f"oauth-state#{nonce}",
                    "sk": "spent",
                    "expires_at": int(time.time() + SPENT_STATE_TTL_SECONDS),
                },
                ConditionExpression="attribute_not_exists(pk)",
            )
        except self._table.meta.client.exceptions.ConditionalCheckFailedException as error:
            raise OAuthRefused("this connection attempt was used already; start again from the link") from error
