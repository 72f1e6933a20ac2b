"""A live read_committed view of the run: committed progress, finished workflows, replies to replay.

The fault schedule is in committed progress (step completions on the events topic), not in wall
time: on a loaded machine a time-based fault could hit an idle system, or all faults one burst.
The same reader keeps samples of the inbox's replies and starts for the bad-input injector,
and knows which workflows have finished (for late replies, and to know when the drain is over).
"""

from __future__ import annotations

import random
import threading
import uuid
from dataclasses import dataclass

from confluent_kafka import OFFSET_BEGINNING, KafkaException, TopicPartition

from chaos.audit import INJECTED_HEADER, TERMINAL
from chaos.quiet_clients import QUIET
from orchestrator.errors import SagaBridgeError
from orchestrator.serialization import AvroSerde
from orchestrator.transport import header_names
from orchestrator.transport.consumer import to_inbound
from orchestrator.transport.kafka_clients import new_consumer
from orchestrator.transport.records import InboundRecord

RESERVOIR = 2_000
_EVENTS = "sagabridge.events."


@dataclass
class Progress:
    """What the tap has seen so far (a copy: safe to read while the tap runs)."""

    steps_completed: int
    started: int
    finished: int
    parked: int


class ProgressTap:
    """One consumer over the events and inbox topics, on a thread of its own."""

    def __init__(self, bootstrap: str, app: str, partitions: int, serde: AvroSerde, rng: random.Random) -> None:
        self.serde = serde
        self.rng = rng
        self._events, self._inbox = f"{app}.events", f"{app}.inbox"
        self._consumer = new_consumer(bootstrap, f"chaos-tap-{uuid.uuid4().hex}", QUIET)
        self._consumer.assign(
            [TopicPartition(t, p, OFFSET_BEGINNING) for t in (self._events, self._inbox) for p in range(partitions)]
        )
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._steps = 0
        self.started: set[str] = set()
        self.finished: dict[str, str] = {}
        self.parked: set[str] = set()
        self._replies: list[InboundRecord] = []
        self._starts: list[InboundRecord] = []
        self._seen_replies = 0
        self._seen_starts = 0
        self._thread = threading.Thread(target=self._run, name="chaos-tap", daemon=True)

    def start(self) -> ProgressTap:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)
        self._consumer.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                messages = self._consumer.consume(1000, 0.2)
            except KafkaException:  # the broker is down (a fault): keep reading when it is back
                continue
            for msg in messages:
                if msg.error() is None:
                    record = to_inbound(msg)
                    if record.topic == self._events:
                        self._event(record)
                    else:
                        self._inbox_record(record)

    def _event(self, record: InboundRecord) -> None:
        try:
            decoded = self.serde.decode(record.value or b"")
        except SagaBridgeError:
            return
        kind = decoded.schema_name.removeprefix(_EVENTS)
        wf = decoded.value.get("workflow_id")
        if not isinstance(wf, str):
            return
        with self._lock:
            if kind == "StepCompleted":
                self._steps += 1
            elif kind == "WorkflowStarted":
                self.started.add(wf)
            elif kind in TERMINAL:
                self.finished.setdefault(wf, kind)
                self.parked.discard(wf)
            elif kind == "WorkflowParked":
                self.parked.add(wf)

    def _inbox_record(self, record: InboundRecord) -> None:
        if record.header(INJECTED_HEADER) is not None:
            return  # only genuine traffic is replayed
        with self._lock:
            if record.header(header_names.REPLY_STATUS) is not None:
                self._seen_replies += 1
                _keep(self._replies, record, self._seen_replies, self.rng)
            elif record.header(header_names.TRACEPARENT) is not None or record.value is not None:
                self._seen_starts += 1
                _keep(self._starts, record, self._seen_starts, self.rng)

    # --- readers (any thread) ---------------------------------------------------------------
    def progress(self) -> Progress:
        with self._lock:
            return Progress(self._steps, len(self.started), len(self.finished), len(self.parked))

    def sample_reply(self, finished: bool | None = None) -> InboundRecord | None:
        """A genuine reply seen on the inbox; `finished`: only of a workflow that has (not) ended."""
        with self._lock:
            candidates = self._replies
            if finished is not None:
                candidates = [
                    r for r in candidates if (r.header(header_names.WORKFLOW_ID) in self.finished) == finished
                ]
            return self.rng.choice(candidates) if candidates else None

    def sample_control(self) -> InboundRecord | None:
        """A genuine start (or cancel) record seen on the inbox."""
        with self._lock:
            return self.rng.choice(self._starts) if self._starts else None

    def unfinished(self, ids: set[str]) -> set[str]:
        """Of `ids`, those that have neither ended nor parked."""
        with self._lock:
            return {i for i in ids if i not in self.finished and i not in self.parked}


def _keep(reservoir: list[InboundRecord], record: InboundRecord, seen: int, rng: random.Random) -> None:
    """Reservoir sampling: every record seen so far is equally likely to be kept."""
    if len(reservoir) < RESERVOIR:
        reservoir.append(record)
    else:
        slot = rng.randrange(seen)
        if slot < RESERVOIR:
            reservoir[slot] = record
