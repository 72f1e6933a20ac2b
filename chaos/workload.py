"""The saga workload: orders arriving at a steady rate, some declined, some cancelled in flight.

Orders are the demo's (`order-fulfilment`: reserve, charge, ship; undone in reverse). A declined
customer's payment fails permanently, so its saga compensates; a cancelled order is cancelled a
random moment after its start, wherever it is by then. Arrivals keep their rate through every
fault: records the broker cannot take yet stay queued in the client and are retried by it
(`flush` errors are counted, not fatal).
"""

from __future__ import annotations

import functools
import heapq
import logging
import random
import threading
import time
from collections.abc import Callable

from chaos.quiet_clients import QUIET
from chaos.run_record import LoadRecord
from examples.orders.models.orders import OrderPlaced
from examples.orders.services import DECLINED_CUSTOMER_PREFIX
from orchestrator.client import WorkflowClient
from orchestrator.errors import DeliveryError
from orchestrator.serialization import AvroSerde

log = logging.getLogger("chaos")
CANCEL_AFTER_S = (0.2, 6.0)


def order(i: int, declined: bool) -> OrderPlaced:
    return OrderPlaced(
        order_id=f"order-{i:05d}",
        customer_id=f"{DECLINED_CUSTOMER_PREFIX}{i}" if declined else f"customer-{i % 41}",
        sku=f"sku-{i % 13}",
        quantity=1 + i % 3,
        amount_cents=1_000 + i,
        currency="EUR",
    )


class Workload:
    """Starts workflows at `rate_per_s` on a thread of its own until `stop()`."""

    def __init__(
        self,
        bootstrap: str,
        app: str,
        workflow_type: str,
        serde: AvroSerde,
        rate_per_s: float,
        decline_fraction: float,
        cancel_fraction: float,
        rng: random.Random,
    ) -> None:
        self.client = WorkflowClient(bootstrap, app, serde, QUIET)
        # cancel() flushes (up to 30 s while the broker is down): its own client, on its own thread
        self._cancel_client = WorkflowClient(bootstrap, app, serde, QUIET)
        self.rate = rate_per_s
        self.decline_fraction, self.cancel_fraction = decline_fraction, cancel_fraction
        self.rng = rng
        self.record = LoadRecord(workflow_type=workflow_type)
        self._cancels: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="chaos-load", daemon=True)
        self._canceller = threading.Thread(target=self._cancel_due, name="chaos-cancel", daemon=True)

    def start(self) -> Workload:
        self.record.started_ms = int(time.time() * 1000)
        self._thread.start()
        self._canceller.start()
        return self

    def stop(self, flush_timeout_s: float = 120.0) -> LoadRecord:
        """Stop arrivals, send the cancels already due, and wait until the broker has every record."""
        self._stop.set()
        self._thread.join(30)
        self._canceller.join(60)
        self.record.ended_ms = int(time.time() * 1000)
        deadline = time.monotonic() + flush_timeout_s
        while time.monotonic() < deadline:
            try:
                self.client.flush(10)
                self._cancel_client.flush(10)
                break
            except DeliveryError:
                self.record.flush_errors += 1
        return self.record

    @property
    def sent(self) -> int:
        return len(self.record.started_ids)

    def _run(self) -> None:
        began = time.monotonic()
        next_flush = began + 1.0
        while not self._stop.wait(0.05):
            now = time.monotonic()
            due = int((now - began) * self.rate) + 1
            while self.sent < due:
                self._start_one(now)
            if now >= next_flush:
                next_flush = now + 1.0
                try:
                    self.client.flush(0.5)
                except DeliveryError:
                    self.record.flush_errors += 1  # still queued; retried by the producer

    def _start_one(self, now: float) -> None:
        i = self.sent
        declined = self.rng.random() < self.decline_fraction
        wf_id = f"order-{i:05d}"
        self._send(lambda: self.client.start(self.record.workflow_type, order(i, declined), wf_id, flush=False))
        self.record.started_ids.append(wf_id)
        if self.rng.random() < self.cancel_fraction:
            with self._lock:
                heapq.heappush(self._cancels, (now + self.rng.uniform(*CANCEL_AFTER_S), wf_id))

    def _cancel_due(self) -> None:
        """Send each cancel when it is due (the ones due after the load stopped are dropped)."""
        while not self._stop.wait(0.1):
            with self._lock:
                due = []
                while self._cancels and self._cancels[0][0] <= time.monotonic():
                    due.append(heapq.heappop(self._cancels)[1])
            for wf_id in due:
                self._send(functools.partial(self._cancel_client.cancel, wf_id, "chaos: cancelled in flight"))
                self.record.cancel_requested.append(wf_id)

    def _send(self, produce: Callable[[], object]) -> None:
        """Produce, waiting while the client's queue is full (the broker is down)."""
        while True:
            try:
                produce()
                return
            except BufferError:
                try:
                    self.client.flush(1)
                except DeliveryError:
                    self.record.flush_errors += 1
            except DeliveryError:  # cancel() flushes: its record is queued, that is enough
                self.record.flush_errors += 1
                return
