"""One workflow's history straight from the events topic, for `workflows show`.

Reads only the partition the workflow id maps to, from its beginning to the end offset taken when
the read starts, and returns as soon as it gets there: no waiting out a timeout, no store needed,
always as fresh as the topic. Events are folded by the same projection the store uses.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from orchestrator.errors import DecodeError
from orchestrator.serialization import AvroSerde
from orchestrator.transport.partitioning import partition_for
from orchestrator.transport.tail import TopicTail
from orchestrator.visibility.ingest import decode_event
from orchestrator.visibility.projection import Projection, TimelineEntry, WorkflowState


@dataclass(frozen=True, slots=True)
class WorkflowHistory:
    """One workflow's row and timeline as read from the topic."""

    state: WorkflowState | None
    entries: list[TimelineEntry]
    records_read: int
    undecodable: int
    complete: bool  # False: the deadline came before the end of the partition


def read_history(
    bootstrap_servers: str,
    topic: str,
    serde: AvroSerde,
    workflow_id: str,
    *,
    extra_config: Mapping[str, str] | None = None,
    timeout_s: float = 60.0,
    progress: Callable[[int, int], None] | None = None,
) -> WorkflowHistory:
    """Read `workflow_id`'s events from its partition of `topic`, up to the end offset at the start."""
    key = workflow_id.encode()
    deadline = time.monotonic() + timeout_s
    with TopicTail(bootstrap_servers, topic, extra_config, request_timeout_s=min(10.0, timeout_s)) as tail:
        partition = partition_for(key, len(tail.partitions()))
        tail.assign({}, only=[partition])
        end = tail.end_offsets()[partition]
        projection = Projection()
        state: WorkflowState | None = None
        entries: list[TimelineEntry] = []
        read = bad = 0
        position = 0
        while position < end:
            if time.monotonic() >= deadline:
                return WorkflowHistory(state, entries, read, bad, False)
            for record in tail.poll(5_000, min(0.5, max(0.0, deadline - time.monotonic()))):
                read += 1
                if record.key != key:
                    continue
                try:
                    event = decode_event(serde, record)
                except DecodeError:
                    bad += 1
                    continue
                if event is not None:
                    state, entry = projection.apply(state, event)
                    if entry is not None:
                        entries.append(entry)
            position = max(position, tail.positions().get(partition, 0))
            if progress is not None:
                progress(min(position, end), end)
        return WorkflowHistory(state, entries, read, bad, True)
