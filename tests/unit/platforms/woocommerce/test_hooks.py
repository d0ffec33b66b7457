"""The WooCommerce topics the webhook health check expects are the ones docs/woocommerce.md tells a merchant to
create, and every one is a topic the adapter handles."""

from __future__ import annotations

import re
from pathlib import Path

from commerce_sync.platforms.woocommerce.hooks import EXPECTED_TOPICS
from commerce_sync.platforms.woocommerce.promotions import COUPON_TOPICS

PROJECT = Path(__file__).resolve().parents[4]


def test_the_expected_topics_are_the_documented_ones() -> None:
    section = (PROJECT / "docs" / "woocommerce.md").read_text(encoding="utf-8").split("## 2. Create the webhooks")[1]
    section = section.split("\n## ", 1)[0]
    prose = section.split("\n\n", 2)[1]
    listed = re.findall(r"`([a-z]+\.[a-z]+)`", prose)
    loop = re.search(r"for topic in (.*?); do", section, re.DOTALL)
    assert loop is not None, "the REST API example creates every topic in a loop"
    looped = loop.group(1).replace("\\", " ").split()
    assert len(EXPECTED_TOPICS) == len(set(EXPECTED_TOPICS)) == 15
    assert listed == looped == list(EXPECTED_TOPICS)
    assert set(EXPECTED_TOPICS) >= COUPON_TOPICS
