"""A store's audience webhook in Mailchimp (docs/consent.md): what it should be, what Mailchimp has, and making it
so. The webhook is registered in the store's audience, in the Mailchimp account the store writes to, at
`<ApiUrl>/webhooks/mailchimp/<store>?key=<the key of the store's current signing secret>`.

Its events: subscribe, unsubscribe, cleaned, upemail and profile (not campaign); its sources: the contact (`user`)
and the account's admins (`admin`), not the API: commerce-sync's own writes through the API must not come back as
deliveries. A webhook of the store at another key (a rotated secret) or another address is ours but stale; `ensure`
deletes it once the right one is made."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict

from commerce_sync.aws.store_registry import Store
from commerce_sync.consent.keys import ROUTE_PREFIX, audience_webhook_key, audience_webhook_url, without_key
from commerce_sync.mailchimp.client import MailchimpClient


class WebhookEvents(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    subscribe: bool = True
    unsubscribe: bool = True
    profile: bool = True
    cleaned: bool = True
    upemail: bool = True
    campaign: bool = False


class WebhookSources(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    user: bool = True
    admin: bool = True
    api: bool = False


class AudienceWebhookBody(BaseModel):
    """`POST /lists/{list_id}/webhooks`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str
    events: WebhookEvents = WebhookEvents()
    sources: WebhookSources = WebhookSources()


Status = Literal["registered", "missing", "stale"]


@dataclass(frozen=True)
class AudienceWebhookState:
    store_id: str
    list_id: str
    status: Status
    webhook_id: str | None = None
    # The address as it may be shown: the key masked.
    address: str = ""
    stale_ids: list[str] = field(default_factory=list)
    created: bool = False
    deleted: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "store_id": self.store_id,
            "list_id": self.list_id,
            "status": self.status,
            "webhook_id": self.webhook_id,
            "address": self.address,
            "stale_webhook_ids": self.stale_ids,
            "created": self.created,
            "deleted": self.deleted,
        }


def _ours(hook: Mapping[str, Any], store_id: str) -> bool:
    path = urlsplit(str(hook.get("url") or "")).path
    return path.rstrip("/").endswith(f"{ROUTE_PREFIX}/{store_id}")


def registered_api_url(hooks: list[dict[str, Any]], store_id: str) -> str | None:
    """The API's base URL a webhook of the store was registered at (the part before /webhooks/mailchimp/<store>),
    or None when the store has none: what a rotation follows without being told the stack's ApiUrl."""
    for hook in hooks:
        if _ours(hook, store_id):
            url = str(hook.get("url") or "")
            return url[: url.find(ROUTE_PREFIX + "/")]
    return None


class AudienceWebhooks:
    def __init__(self, client: MailchimpClient, api_url: str) -> None:
        self._client = client
        self._api_url = api_url.rstrip("/")

    def url(self, store: Store, webhook_secret: str) -> str:
        return audience_webhook_url(self._api_url, store.store_id, audience_webhook_key(webhook_secret, store.store_id))

    def state(self, store: Store, webhook_secret: str) -> AudienceWebhookState:
        wanted = self.url(store, webhook_secret)
        ours = [hook for hook in self._client.list_webhooks(store.list_id) if _ours(hook, store.store_id)]
        right = next((hook for hook in ours if hook.get("url") == wanted), None)
        stale = [str(hook.get("id")) for hook in ours if hook is not right]
        status: Status = "registered" if right is not None else ("stale" if stale else "missing")
        return AudienceWebhookState(
            store.store_id,
            store.list_id,
            status,
            str(right.get("id")) if right else None,
            without_key(wanted),
            stale,
        )

    def ensure(self, store: Store, webhook_secret: str) -> AudienceWebhookState:
        """Registers the webhook at the current key (Mailchimp checks the URL first) and then deletes the stale
        ones, so deliveries never stop in between."""
        found = self.state(store, webhook_secret)
        created = False
        webhook_id = found.webhook_id
        if webhook_id is None:
            body = AudienceWebhookBody(url=self.url(store, webhook_secret)).model_dump()
            webhook_id = str(self._client.create_list_webhook(store.list_id, body).get("id"))
            created = True
        deleted = sum(self._client.delete_list_webhook(store.list_id, stale) for stale in found.stale_ids)
        return AudienceWebhookState(
            store.store_id, store.list_id, "registered", webhook_id, found.address, [], created, deleted
        )

    def remove(self, store: Store, webhook_secret: str) -> AudienceWebhookState:
        found = self.state(store, webhook_secret)
        ids = [*([found.webhook_id] if found.webhook_id else []), *found.stale_ids]
        deleted = sum(self._client.delete_list_webhook(store.list_id, webhook_id) for webhook_id in ids)
        return AudienceWebhookState(store.store_id, store.list_id, "missing", None, found.address, [], False, deleted)
