"""Setting a store's webhook secret on its platform, for the platforms whose API allows it (WooCommerce
webhooks, BigCommerce hooks; Shopify's secret is the app's, set by the merchant), and checking that its webhooks
are there and active (WooCommerce, BigCommerce, and Shopify stores whose subscriptions are made through the Admin
API: platforms.shopify.hooks).

A push is "set to X", so repeating it (Secrets Manager may run setSecret again) changes nothing. When
one hook fails, the hooks already changed are set back to the current secret before the error is
raised, so a failed rotation leaves the platform signing with the secret that is still AWSCURRENT.
Nothing here logs or raises a secret value, nor a request body.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from commerce_sync.aws.observability import logger
from commerce_sync.aws.store_registry import Store
from commerce_sync.platforms.connection import PlatformApiUrlError
from commerce_sync.platforms.http import HttpPolicy, PlatformApiError, platform_session
from commerce_sync.platforms.secret_push import (
    ROTATION_HTTP_POLICY,
    HookPushError,
    PlatformWebhooks,
    PushResult,
)
from commerce_sync.platforms.webhook_health import HealthCheckedWebhooks, WebhookHealth, WebhookHealthUnavailable

if TYPE_CHECKING:
    # Each platform's API and hooks modules are imported where a store of that platform is first handled: the
    # rotation, reconciliation and CLI that import this module handle the stores of one platform at a time, and
    # importing every platform's (their API models, BigCommerce's and the canonical ones) was most of what the key
    # rotation function's cold start spent on modules of ours.
    from commerce_sync.platforms.api2cart.hooks import Api2CartWebhooks
    from commerce_sync.platforms.bigcommerce.hooks import BigCommerceWebhooks
    from commerce_sync.platforms.shopify.hooks import ShopifyWebhooks
    from commerce_sync.platforms.woocommerce.hooks import WooCommerceWebhooks

PUSHABLE_PLATFORMS = frozenset({"woocommerce", "bigcommerce", "api2cart"})
# Platforms whose deliveries may be signed with a key apart from the webhook secret: BigCommerce signs
# Standard Webhooks with the app's client secret, kept as the store secret's `client_secret`.
CLIENT_SECRET_PLATFORMS = frozenset({"bigcommerce"})


class PlatformHooks:
    """Finds a store's webhooks on its platform, sets their secret, checks that they are there and active."""

    def __init__(self, policy: HttpPolicy = ROTATION_HTTP_POLICY) -> None:
        self._policy = policy

    def webhooks(self, store: Store, credentials: Mapping[str, Any]) -> PlatformWebhooks:
        try:
            return self._webhooks(store, credentials)
        except PlatformApiUrlError as error:
            raise HookPushError(f"store {store.store_id}: {error}, so its webhooks cannot be updated") from error

    def _webhooks(
        self, store: Store, credentials: Mapping[str, Any]
    ) -> WooCommerceWebhooks | BigCommerceWebhooks | Api2CartWebhooks:
        session = platform_session(self._policy)
        if store.platform == "api2cart":
            return self.api2cart(store, credentials)
        if store.platform == "woocommerce":
            from commerce_sync.platforms.woocommerce.api import key_pair as woocommerce_key_pair
            from commerce_sync.platforms.woocommerce.api import rest_root as woocommerce_api_root
            from commerce_sync.platforms.woocommerce.hooks import WooCommerceWebhooks

            pair = woocommerce_key_pair(credentials)
            if pair is None:
                raise HookPushError(
                    f"store {store.store_id} has no WooCommerce REST API key "
                    "(platform_api_credentials.consumer_key and consumer_secret), so its webhooks cannot be updated"
                )
            return WooCommerceWebhooks(woocommerce_api_root(store), *pair, session)
        if store.platform == "bigcommerce":
            from commerce_sync.platforms.bigcommerce.api import access_token as bigcommerce_access_token
            from commerce_sync.platforms.bigcommerce.api import api_root as bigcommerce_api_root
            from commerce_sync.platforms.bigcommerce.hooks import BigCommerceWebhooks

            token = bigcommerce_access_token(credentials)
            if not token:
                raise HookPushError(
                    f"store {store.store_id} has no BigCommerce access token (platform_api_credentials.access_token), "
                    "so its hooks cannot be updated"
                )
            return BigCommerceWebhooks(bigcommerce_api_root(store), token, session)
        raise HookPushError(f"{store.platform} offers no API to set a webhook secret")

    def api2cart(
        self, store: Store, credentials: Mapping[str, Any], address: str | None = None, token: str | None = None
    ) -> Api2CartWebhooks:
        """A store's API2Cart webhooks; `address` and `token` (the webhook secret) let missing ones be created."""
        from commerce_sync.platforms.api2cart.api import client_for as api2cart_client
        from commerce_sync.platforms.api2cart.hooks import Api2CartWebhooks

        client = api2cart_client(store, credentials, platform_session(self._policy))
        if client is None:
            raise HookPushError(
                f"store {store.store_id} has no API2Cart keys (platform_api_credentials.api_key and store_key), "
                "so its webhooks cannot be read or updated"
            )
        return Api2CartWebhooks(client, store.store_id, address, token)

    def shopify(self, store: Store, credentials: Mapping[str, Any], address: str | None) -> ShopifyWebhooks:
        """A Shopify store's subscriptions made through the Admin API, against the topics commerce-sync needs at
        `address`. WebhookHealthUnavailable without an access token or with an API URL that cannot be read."""
        from commerce_sync.platforms.shopify.api import access_token as shopify_access_token
        from commerce_sync.platforms.shopify.api import api_root as shopify_api_root
        from commerce_sync.platforms.shopify.hooks import ShopifyWebhooks

        token = shopify_access_token(credentials)
        if not token:
            raise WebhookHealthUnavailable(
                f"store {store.store_id} has no Shopify access token (platform_api_credentials.access_token), so its "
                "webhooks cannot be checked"
            )
        try:
            root = shopify_api_root(store)
        except PlatformApiUrlError as error:
            raise WebhookHealthUnavailable(f"store {store.store_id}: {error}") from error
        # Imported here: the topics live with Shopify's normaliser (its orders, catalog and checkout models), which
        # the nightly sync and the cart and order functions that import this module would otherwise load at init.
        from commerce_sync.platforms.shopify.webhooks import SUBSCRIBED_TOPICS as SHOPIFY_TOPICS

        return ShopifyWebhooks(root, token, platform_session(self._policy), SHOPIFY_TOPICS, address)

    def check_and_repair(self, store: Store, credentials: Mapping[str, Any], repair: bool = True) -> WebhookHealth:
        """Each topic commerce-sync needs from the store, its webhook's state and what was done
        (platforms.webhook_health): an inactive webhook of ours is set active again when `repair`; a missing one is
        subscribed again for a Shopify store whose registration says commerce-sync makes its subscriptions through
        the Admin API and where (platforms.shopify.hooks), else reported. WebhookHealthUnavailable when the webhooks
        are not checked or cannot be read (nothing changed)."""
        try:
            api = self._checked(store, credentials)
            health = api.check_and_repair(store.store_id, repair)
        except PlatformApiUrlError as error:
            raise WebhookHealthUnavailable(f"store {store.store_id}: {error}") from error
        except HookPushError as error:
            raise WebhookHealthUnavailable(str(error)) from error
        except PlatformApiError as error:
            raise WebhookHealthUnavailable(
                f"could not list the {store.platform} webhooks of store {store.store_id}: {error}"
            ) from error
        logger.info(
            "webhook health checked",
            extra={"platform": health.platform, "store_id": store.store_id, **health.summary()},
        )
        return health

    def _checked(self, store: Store, credentials: Mapping[str, Any]) -> HealthCheckedWebhooks:
        if store.platform == "shopify":
            from commerce_sync.platforms.shopify.hooks import not_checked_reason

            reason = not_checked_reason(store)
            if reason is not None:
                raise WebhookHealthUnavailable(reason)
            return self.shopify(store, credentials, store.webhook_address)
        if store.platform not in PUSHABLE_PLATFORMS:
            raise WebhookHealthUnavailable(
                f"store {store.store_id} is a {store.platform} store: commerce-sync does not check its webhooks"
            )
        return self._webhooks(store, credentials)

    def push(self, store: Store, credentials: Mapping[str, Any], new: str, current: str | None) -> PushResult:
        """Sets `new` on every webhook of ours; on a failure, sets `current` back on those already changed."""
        api = self.webhooks(store, credentials)
        try:
            hooks, skipped = api.ours(current, new)
        except PlatformApiError as error:
            raise HookPushError(
                f"could not list the {api.platform} webhooks of store {store.store_id}: {error}"
            ) from error
        changed: list[dict[str, Any]] = []
        for hook in hooks:
            try:
                api.set_secret(hook, new)
            except PlatformApiError as error:
                restored = self._restore(api, changed, current)
                raise HookPushError(
                    f"{api.platform} webhook {hook.get('id')} of store {store.store_id} did not take the new secret "
                    f"({error}); {restored} of {len(changed)} already updated set back to the current secret"
                ) from error
            changed.append(hook)
        logger.info(
            "webhook secret pushed to the platform", platform=api.platform, hooks_updated=len(changed), skipped=skipped
        )
        return PushResult(platform=api.platform, updated=len(changed), skipped=skipped)

    def verify(self, store: Store, credentials: Mapping[str, Any], new: str, current: str | None) -> bool | None:
        """True when every webhook of ours holds `new`; None when the platform cannot tell."""
        api = self.webhooks(store, credentials)
        hooks, _ = api.ours(current, new)
        answers = [api.holds(hook, new) for hook in hooks]
        if not hooks or any(answer is None for answer in answers):
            return None
        return all(answers)

    @staticmethod
    def _restore(api: PlatformWebhooks, changed: list[dict[str, Any]], current: str | None) -> int:
        if not current:
            return 0
        restored = 0
        for hook in changed:
            try:
                api.set_secret(hook, current)
                restored += 1
            except PlatformApiError as error:
                logger.error(
                    "could not set a webhook back to the current secret", hook_id=hook.get("id"), error=str(error)
                )
        return restored
