"""A long job as a chain of invocations (aws.chained_runs), against a sync-state table and a queue in moto server:
slices that continue through the queue until the run ends, one slice at a time per store, a continuation of a
finished run dropped, a failed slice recorded and resumable, a run taken over by another holder stopped."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from commerce_sync.aws.chained_runs import (
    CONTINUE,
    FINISHED,
    MAX_DELAY_SECONDS,
    Chain,
    Continuations,
    Link,
    Next,
    continue_after,
    tuning_from_environment,
)
from commerce_sync.aws.sync_lock import SyncLock, new_token
from pydantic import BaseModel

from tests.harness import local_aws, new_sync_state_table


class Toy(BaseModel):
    run_id: str
    status: str = "running"
    done_units: int = 0
    slices: int = 0
    last_error: str | None = None
    failed_slice: int | None = None
    updated_at: float = 0.0


@pytest.fixture
def table(moto_endpoint: str) -> Any:
    dynamodb, name = new_sync_state_table(moto_endpoint)
    return dynamodb.Table(name)


@pytest.fixture
def queue(moto_endpoint: str) -> tuple[Any, str]:
    sqs = local_aws("sqs", moto_endpoint)
    return sqs, sqs.create_queue(QueueName=f"chain-{uuid.uuid4().hex[:8]}")["QueueUrl"]


@pytest.fixture
def chain(table: Any, queue: tuple[Any, str]) -> Chain[Toy]:
    sqs, url = queue
    return Chain(
        table,
        "s1#toy",
        checkpoint_sk="toy#run",
        lock_sk="toy#lock",
        parse=Toy.model_validate_json,
        lease_seconds=30,
        continuations=Continuations("toy", url, sqs),
    )


def messages(queue: tuple[Any, str]) -> list[dict[str, Any]]:
    sqs, url = queue
    found = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
    for message in found:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return [json.loads(message["Body"]) for message in found]


@dataclass
class Job:
    """Three units of work, one a slice; `fail` raises in the next slice's work."""

    chain: Chain[Toy]
    units: int = 3
    fail: str | None = None

    def begin(self, held: Toy | None) -> Toy:
        return held if held is not None and held.status == "running" else Toy(run_id=uuid.uuid4().hex)

    def work(self, checkpoint: Toy, link: Link[Toy]) -> Next:
        if self.fail:
            raise RuntimeError(self.fail)
        checkpoint.done_units += 1
        link.commit(checkpoint)
        return FINISHED if checkpoint.done_units >= self.units else CONTINUE

    def finish(self, checkpoint: Toy) -> dict[str, Any]:
        checkpoint.status = "done"
        self.chain.save(checkpoint)
        return {"status": "done", "run_id": checkpoint.run_id, "units": checkpoint.done_units}

    def slice(self, run_id: str | None = None) -> dict[str, Any]:
        return self.chain.run_slice(
            "s1",
            label="test",
            run_id=run_id,
            begin=self.begin,
            work=self.work,
            finish=self.finish,
            progress=lambda checkpoint: {"units": checkpoint.done_units},
        )


def test_a_run_goes_on_slice_by_slice_through_the_queue_until_it_ends(
    chain: Chain[Toy], queue: tuple[Any, str]
) -> None:
    job = Job(chain)

    first = job.slice()

    assert first == {"status": "continued", "store_id": "s1", "run_id": first["run_id"], "units": 1}
    assert chain.holder() is None, "the lock is released: the continuation finds it free"
    (continuation,) = messages(queue)
    assert continuation == {"action": "toy", "store_id": "s1", "run_id": first["run_id"], "trigger": "continuation"}
    assert job.slice(run_id=first["run_id"])["status"] == "continued" and len(messages(queue)) == 1

    last = job.slice(run_id=first["run_id"])

    assert last == {"status": "done", "run_id": first["run_id"], "units": 3}
    assert messages(queue) == [] and chain.holder() is None
    held = chain.load()
    assert held is not None and held.slices == 3 and held.status == "done"
    # A continuation of the run that has ended changes nothing.
    assert job.slice(run_id=first["run_id"]) == {"status": "superseded", "store_id": "s1", "run_id": first["run_id"]}
    assert messages(queue) == []


def test_one_slice_at_a_time_per_store(chain: Chain[Toy], queue: tuple[Any, str]) -> None:
    job = Job(chain)
    run_id = job.slice()["run_id"]
    messages(queue)
    other = new_token()
    assert chain.lock.acquire(other, 30, label="another invocation")

    assert job.slice(run_id=run_id) == {"status": "already_running", "store_id": "s1", "run_id": run_id}
    assert messages(queue) == []
    chain.lock.release(other)
    assert job.slice(run_id=run_id)["status"] == "continued"


def test_a_failed_slice_is_recorded_and_the_run_resumes_from_its_checkpoint(
    chain: Chain[Toy], queue: tuple[Any, str]
) -> None:
    job = Job(chain)
    run_id = job.slice()["run_id"]
    messages(queue)
    job.fail = "the platform refused the read of shopper@example.com"

    with pytest.raises(RuntimeError):
        job.slice(run_id=run_id)

    failed = chain.load()
    assert failed is not None and failed.status == "running" and failed.done_units == 1
    assert failed.last_error is not None and "example.com" not in failed.last_error
    assert failed.last_error.startswith("RuntimeError: the platform refused") and failed.failed_slice == 2
    assert messages(queue) == [] and chain.holder() is None, "no continuation: the queue retries the message"
    job.fail = None
    # A fresh request (no run id) resumes the unfinished run.
    assert job.slice()["run_id"] == run_id
    assert job.slice(run_id=run_id) == {"status": "done", "run_id": run_id, "units": 3}


def test_a_slice_whose_run_was_taken_over_stops_without_a_continuation(
    table: Any, chain: Chain[Toy], queue: tuple[Any, str]
) -> None:
    class TakenOver(Job):
        def work(self, checkpoint: Toy, link: Link[Toy]) -> Next:
            # Our lease ended (a long stall) and another invocation took the run.
            table.delete_item(Key={"pk": "s1#toy", "sk": "toy#lock"})
            assert SyncLock(table, "s1#toy", "toy#lock").acquire(new_token(), 30)
            return super().work(checkpoint, link)

    result = TakenOver(chain).slice()

    assert result["status"] == "lock_lost"
    assert messages(queue) == []


def test_a_continuation_waits_as_long_as_asked_within_what_sqs_allows(
    chain: Chain[Toy], queue: tuple[Any, str]
) -> None:
    class Waits(Job):
        def work(self, checkpoint: Toy, link: Link[Toy]) -> Next:
            return continue_after(2, "waiting")

    assert Waits(chain).slice()["status"] == "waiting"
    assert messages(queue) == [], "delayed"
    deadline = time.monotonic() + 10
    while not (found := messages(queue)):
        assert time.monotonic() < deadline, "the delayed continuation never came"
        time.sleep(0.2)
    assert found[0]["trigger"] == "continuation"
    assert continue_after(5000).delay_seconds == MAX_DELAY_SECONDS and continue_after(-1).delay_seconds == 0


@dataclass(frozen=True)
class Tuning:
    seconds: float = 1.5
    count: int = 4


def test_tuning_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert tuning_from_environment(Tuning, "TOY_") == Tuning()
    monkeypatch.setenv("TOY_SECONDS", "0.25")
    monkeypatch.setenv("TOY_COUNT", "9")
    monkeypatch.setenv("OTHER_COUNT", "1")
    assert tuning_from_environment(Tuning, "TOY_") == Tuning(seconds=0.25, count=9)
