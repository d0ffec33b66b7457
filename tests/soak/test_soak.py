"""The chaos soak: a seeded scenario of webhook deliveries across six stores of the three platforms (duplicates,
out-of-order changes, whole order lifecycles, converted carts, customers, products, coupons) while Mailchimp
answers 429s, 5xx, timeouts, committed 500s and goes down entirely for a while; then the dead letters are replayed
with the operator's command and what Mailchimp holds must be exactly the ground truth.

`make test` runs a short version (300 deliveries, a 5 s outage); `make soak` the full one (docs/soak.md). The size,
seed, outage and concurrent senders come from SOAK_DELIVERIES, SOAK_SEED, SOAK_OUTAGE_SECONDS and SOAK_SENDERS;
SOAK_REPORT names a file for the report as JSON.
"""

from __future__ import annotations

import os
from pathlib import Path

from emulators.mailchimp import MailchimpEmulator
from local_runner.runner import LocalRunner
from tests.soak.comparison import compare, report
from tests.soak.driver import FaultPlan, drive, soak_stores
from tests.soak.scenario import SoakSettings, build

SHORT_DELIVERIES = 300
# Short, to keep the short version near a minute: records still fail through it and are received again. Whether
# any exhausts its receives (MaxReceiveCount 5) and is dead-lettered depends on the timing; the full run's 30 s
# outage dead-letters some (docs/soak.md).
SHORT_OUTAGE_SECONDS = 5.0


def test_what_mailchimp_holds_after_the_chaos_is_the_ground_truth(
    runner: LocalRunner, mailchimp: MailchimpEmulator
) -> None:
    settings = SoakSettings(
        deliveries=int(os.environ.get("SOAK_DELIVERIES", SHORT_DELIVERIES)),
        seed=int(os.environ.get("SOAK_SEED", 1)),
    )
    faults = FaultPlan(
        outage_seconds=float(os.environ.get("SOAK_OUTAGE_SECONDS", SHORT_OUTAGE_SECONDS)), seed=settings.seed
    )
    scenario = build(settings)
    drain_timeout = float(os.environ.get("SOAK_DRAIN_TIMEOUT", 120 + settings.deliveries * 0.5))

    with soak_stores(scenario) as stores:
        figures = drive(
            runner,
            mailchimp,
            scenario,
            stores,
            faults,
            drain_timeout,
            senders=int(os.environ.get("SOAK_SENDERS", 4)),
            progress=lambda line: print(line, flush=True),
        )
        store_ids = {key.name: stores.store_id(key) for key in scenario.stores}
        mismatches = compare(scenario, store_ids, mailchimp)
    outcome = report(scenario, figures, faults, mailchimp, store_ids, mismatches)
    print(outcome.text())
    if target := os.environ.get("SOAK_REPORT"):
        Path(target).write_text(outcome.model_dump_json(indent=2) + "\n", encoding="utf-8")

    # The chaos happened: without it the comparison would prove nothing about faults.
    assert {"429", "500", "500_committed", "outage"} <= set(outcome.calls_answered_with_faults), outcome.text()
    assert outcome.refused_deliveries == [], outcome.text()
    assert sum(outcome.sqs_redeliveries.values()) > 0, outcome.text()
    assert outcome.replayed == outcome.dead_lettered, outcome.text()
    assert sum(outcome.left_dead_lettered.values()) == 0, outcome.text()
    assert outcome.mismatches == [], outcome.text()
