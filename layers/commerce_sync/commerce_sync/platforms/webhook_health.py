"""Webhook health (issue 11, the nightly reconciliation): does each topic commerce-sync needs from a store have a
subscription of ours, and is it active? Platforms switch hooks off on their own: WooCommerce disables a webhook
after more than 5 consecutive failed deliveries (`status: disabled`; a merchant can also pause one), BigCommerce
deactivates a hook whose deliveries keep failing (`is_active: false`), Shopify deletes a subscription made through
its Admin API whose deliveries keep failing (it retries a failed delivery 8 times over 4 hours). An inactive
subscription of ours is set active again. A missing one is subscribed again only where commerce-sync made the
store's subscriptions and knows where they point (a Shopify store whose registration says so); otherwise it is
reported: the merchant or operator made them (docs/woocommerce.md), so commerce-sync does not know on the store's
behalf where they should point or which topics the merchant chose to leave out.

Each platform's `hooks` module lists its subscriptions and reactivates or recreates one; `assess` decides per
expected topic, and `platforms.hooks.PlatformHooks.check_and_repair` picks the platform. Reports name topics, hook
ids, states and the platform's error message, never a hook's secret or headers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from commerce_sync.platforms.http import PlatformApiError

MISSING_DETAIL = "no active or inactive webhook of ours has this topic; commerce-sync does not create webhooks"


class WebhookHealthUnavailable(Exception):
    """The store's webhooks could not be read (no credentials, an API URL that cannot be read, the platform
    refusing or failing the listing, a platform without a webhook API we read). Nothing was changed."""


class HookState(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"  # WooCommerce: paused by someone
    DISABLED = "disabled"  # WooCommerce: disabled after failed deliveries
    INACTIVE = "inactive"  # BigCommerce: is_active false
    MISSING = "missing"


class HealthAction(StrEnum):
    NONE = "none"  # active: nothing to do
    REACTIVATED = "reactivated"
    REACTIVATION_FAILED = "reactivation_failed"
    RECREATED = "recreated"  # missing, and subscribed again (Shopify, subscriptions made through its Admin API)
    RECREATION_FAILED = "recreation_failed"
    REPORTED = "reported"  # missing (and not recreated), or inactive while repairs are off: nothing changed


@dataclass(frozen=True)
class ObservedHook:
    """One subscription of ours as the platform lists it."""

    id: str
    topic: str
    state: HookState


@dataclass(frozen=True)
class TopicHealth:
    topic: str
    state_before: HookState
    action: HealthAction
    hook_id: str | None = None
    detail: str | None = None


@dataclass(frozen=True)
class WebhookHealth:
    platform: str
    store_id: str
    topics: tuple[TopicHealth, ...]

    @property
    def healthy(self) -> bool:
        """Every expected topic was active before the check."""
        return all(topic.state_before is HookState.ACTIVE for topic in self.topics)

    def with_action(self, action: HealthAction) -> list[TopicHealth]:
        return [topic for topic in self.topics if topic.action is action]

    @property
    def missing(self) -> list[TopicHealth]:
        return [topic for topic in self.topics if topic.state_before is HookState.MISSING]

    def summary(self) -> dict[str, int]:
        """Counts for a log line or a metric: topics, and how many per action."""
        counts = {"topics": len(self.topics)}
        for action in HealthAction:
            counts[action.value] = len(self.with_action(action))
        return counts


class HealthCheckedWebhooks(Protocol):
    platform: str

    def check_and_repair(self, store_id: str, repair: bool = True) -> WebhookHealth: ...


def assess(
    platform: str,
    store_id: str,
    expected: Sequence[str],
    hooks: Sequence[ObservedHook],
    covers: Callable[[str, str], bool],
    reactivate: Callable[[ObservedHook], None] | None,
    recreate: Callable[[str], str] | None = None,
    missing_detail: Callable[[str], str] = lambda topic: MISSING_DETAIL,
) -> WebhookHealth:
    """Each expected topic's state and what was done: active when any hook of ours covering it is active; else
    the first one covering it is reactivated (when `reactivate` is given; a hook covering several topics, a
    BigCommerce wildcard, once); missing when none covers it, then subscribed again when `recreate` is given
    (`recreate(topic)` returns the new hook's id), else reported with `missing_detail(topic)`.
    `covers(hook topic, expected topic)`."""
    done: dict[str, TopicHealth] = {}
    topics: list[TopicHealth] = []
    for topic in expected:
        matching = [hook for hook in hooks if covers(hook.topic, topic)]
        active = next((hook for hook in matching if hook.state is HookState.ACTIVE), None)
        if active is not None:
            topics.append(TopicHealth(topic, HookState.ACTIVE, HealthAction.NONE, active.id))
            continue
        if not matching:
            topics.append(_missing(topic, recreate, missing_detail))
            continue
        hook = matching[0]
        if reactivate is None:
            topics.append(TopicHealth(topic, hook.state, HealthAction.REPORTED, hook.id))
            continue
        if hook.id not in done:
            try:
                reactivate(hook)
                done[hook.id] = TopicHealth(topic, hook.state, HealthAction.REACTIVATED, hook.id)
            except PlatformApiError as error:
                failed = HealthAction.REACTIVATION_FAILED
                done[hook.id] = TopicHealth(topic, hook.state, failed, hook.id, str(error)[:300])
        outcome = done[hook.id]
        topics.append(TopicHealth(topic, hook.state, outcome.action, hook.id, outcome.detail))
    return WebhookHealth(platform=platform, store_id=store_id, topics=tuple(topics))


def _missing(topic: str, recreate: Callable[[str], str] | None, detail: Callable[[str], str]) -> TopicHealth:
    if recreate is None:
        return TopicHealth(topic, HookState.MISSING, HealthAction.REPORTED, None, detail(topic))
    try:
        return TopicHealth(topic, HookState.MISSING, HealthAction.RECREATED, recreate(topic))
    except PlatformApiError as error:
        return TopicHealth(topic, HookState.MISSING, HealthAction.RECREATION_FAILED, None, str(error)[:300])
