"""Duplicate, late and garbage input on the inbox, at a steady rate, through every fault.

Each record carries `chaos-injected: <kind>` (the engine ignores unknown headers, and the DLQ keeps
them) so the audit can say where each kind went. What the engine must do with each kind:

| kind | what it is | must |
|---|---|---|
| replayed-reply | a genuine reply, byte for byte, again | be recorded (ReplyIgnored) or settle, once |
| late-reply | a genuine reply of a workflow that has finished | be recorded as ReplyIgnored |
| replayed-start | a genuine start again | change nothing (a start is idempotent on its id) |
| garbage | random bytes (or none), no headers | go to the DLQ |
| wrong-key | a genuine reply keyed by another workflow's id | go to the DLQ (key != sb-workflow-id) |
| missing-headers | a genuine reply without sb-command-id, sb-attempt or sb-workflow-id (or all) | go to the DLQ |
| unknown-workflow | a genuine reply rewritten for a workflow id that never existed | go to the DLQ (unmatched) |
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from enum import StrEnum

from chaos.audit import INJECTED_HEADER
from chaos.progress_tap import ProgressTap
from chaos.quiet_clients import QUIET
from orchestrator.transport import header_names
from orchestrator.transport.kafka_clients import new_producer
from orchestrator.transport.records import Headers

log = logging.getLogger("chaos")


class BadInputKind(StrEnum):
    REPLAYED_REPLY = "replayed-reply"
    LATE_REPLY = "late-reply"
    REPLAYED_START = "replayed-start"
    GARBAGE = "garbage"
    WRONG_KEY = "wrong-key"
    MISSING_HEADERS = "missing-headers"
    UNKNOWN_WORKFLOW = "unknown-workflow"


# Duplicates and late replies are what a real system sees most: weighted up.
WEIGHTS = {
    BadInputKind.REPLAYED_REPLY: 4,
    BadInputKind.LATE_REPLY: 3,
    BadInputKind.REPLAYED_START: 1,
    BadInputKind.GARBAGE: 1,
    BadInputKind.WRONG_KEY: 1,
    BadInputKind.MISSING_HEADERS: 1,
    BadInputKind.UNKNOWN_WORKFLOW: 1,
}
Built = tuple[bytes | None, bytes | None, Headers]  # key, value, headers


class BadInput:
    """Produces bad input to the inbox at `rate_per_s` on a thread of its own until `stop()`."""

    def __init__(self, bootstrap: str, inbox: str, tap: ProgressTap, rate_per_s: float, rng: random.Random) -> None:
        self.inbox = inbox
        self.tap = tap
        self.rate = rate_per_s
        self.rng = rng
        self.sent: Counter[str] = Counter()
        self._producer = new_producer(bootstrap, QUIET)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chaos-bad-input", daemon=True)
        self._builders: dict[BadInputKind, Callable[[], Built | None]] = {
            BadInputKind.REPLAYED_REPLY: self._replayed_reply,
            BadInputKind.LATE_REPLY: self._late_reply,
            BadInputKind.REPLAYED_START: self._replayed_start,
            BadInputKind.GARBAGE: self._garbage,
            BadInputKind.WRONG_KEY: self._wrong_key,
            BadInputKind.MISSING_HEADERS: self._missing_headers,
            BadInputKind.UNKNOWN_WORKFLOW: self._unknown_workflow,
        }

    def start(self) -> BadInput:
        if self.rate > 0:
            self._thread.start()
        return self

    def stop(self, flush_timeout_s: float = 120.0) -> dict[str, int]:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(30)
        remaining = self._producer.flush(flush_timeout_s)
        if remaining:
            log.warning("%d bad-input records not acknowledged within %.0fs", remaining, flush_timeout_s)
        return dict(self.sent)

    def _run(self) -> None:
        began = time.monotonic()
        done = 0
        kinds, weights = list(WEIGHTS), list(WEIGHTS.values())
        while not self._stop.wait(0.05):
            due = int((time.monotonic() - began) * self.rate)
            while done < due:
                done += 1
                kind = self.rng.choices(kinds, weights)[0]
                built = self._builders[kind]()
                if built is not None:
                    self._produce(kind, *built)
            self._producer.poll(0)

    def _produce(self, kind: BadInputKind, key: bytes | None, value: bytes | None, headers: Headers) -> None:
        tagged: list[tuple[str, str | bytes | None]] = [*headers, (INJECTED_HEADER, kind.value.encode())]
        while not self._stop.is_set():
            try:
                self._producer.produce(self.inbox, value=value, key=key, headers=tagged)
                self.sent[kind.value] += 1
                return
            except BufferError:  # the broker is down and the queue is full: wait for it
                self._producer.poll(0.5)

    # --- the kinds --------------------------------------------------------------------------
    def _replayed_reply(self) -> Built | None:
        reply = self.tap.sample_reply()
        return None if reply is None else (reply.key, reply.value, reply.headers)

    def _late_reply(self) -> Built | None:
        reply = self.tap.sample_reply(finished=True)
        return None if reply is None else (reply.key, reply.value, reply.headers)

    def _replayed_start(self) -> Built | None:
        start = self.tap.sample_control()
        return None if start is None else (start.key, start.value, start.headers)

    def _garbage(self) -> Built:
        value: bytes | None = self.rng.randbytes(self.rng.randint(0, 64))
        roll = self.rng.random()
        if roll < 0.3:
            value = b"\xc3\x01" + (value or b"")  # a single-object frame marker with a fingerprint nobody knows
        elif roll < 0.4:
            value = None  # a tombstone
        key = self.rng.choice([None, self.rng.randbytes(8), b"order-00001"])
        return key, value, ()

    def _wrong_key(self) -> Built | None:
        reply, other = self.tap.sample_reply(), self.tap.sample_reply()
        if reply is None or other is None or reply.key == other.key:
            return None
        return other.key, reply.value, reply.headers

    def _missing_headers(self) -> Built | None:
        reply = self.tap.sample_reply()
        if reply is None:
            return None
        if self.rng.random() < 0.25:
            return reply.key, reply.value, ()
        dropped = self.rng.choice([header_names.COMMAND_ID, header_names.ATTEMPT, header_names.WORKFLOW_ID])
        return reply.key, reply.value, tuple(h for h in reply.headers if h[0] != dropped)

    def _unknown_workflow(self) -> Built | None:
        reply = self.tap.sample_reply()
        if reply is None:
            return None
        wf, cid = reply.header(header_names.WORKFLOW_ID) or "", reply.header(header_names.COMMAND_ID) or ""
        ghost = f"ghost-{self.rng.getrandbits(32):08x}"
        rewritten = {header_names.WORKFLOW_ID: ghost, header_names.COMMAND_ID: cid.replace(wf, ghost, 1)}
        headers = tuple((n, rewritten[n].encode()) if n in rewritten else (n, v) for n, v in reply.headers)
        return ghost.encode(), reply.value, headers
