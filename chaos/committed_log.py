"""The committed topics of a run, read to their end (read_committed) and kept as one file.

The audit reads this file, never the broker: it can run again on a kept run (`python -m chaos
audit <dir>`), and a test can doctor the file to prove that the audit fails when it should.
One JSON object a line, gzip-compressed; key, value and header values base64 (they are bytes).
"""

from __future__ import annotations

import base64
import gzip
import json
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from confluent_kafka import OFFSET_BEGINNING, TopicPartition

from chaos.quiet_clients import QUIET
from orchestrator.errors import SagaBridgeError
from orchestrator.transport.consumer import to_inbound
from orchestrator.transport.kafka_clients import new_consumer
from orchestrator.transport.records import InboundRecord

FILE_NAME = "committed.jsonl.gz"


class TopicRole(StrEnum):
    """What a topic is to the audit (its name depends on the run's app)."""

    INBOX = "inbox"
    EVENTS = "events"
    DLQ = "dlq"
    COMMANDS = "commands"


class CommittedLogError(SagaBridgeError):
    """The committed topics could not be read to their end within the bound."""


@dataclass(frozen=True, slots=True)
class LoggedRecord:
    """One committed record and the role of the topic it was read from."""

    role: TopicRole
    record: InboundRecord


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode()


def _unb64(text: str | None) -> bytes | None:
    return None if text is None else base64.b64decode(text)


def _to_json(entry: LoggedRecord) -> str:
    r = entry.record
    return json.dumps(
        {
            "role": entry.role.value,
            "topic": r.topic,
            "p": r.partition,
            "o": r.offset,
            "ts": r.timestamp_ms,
            "k": _b64(r.key),
            "v": _b64(r.value),
            "h": [[name, _b64(value)] for name, value in r.headers],
        },
        separators=(",", ":"),
    )


def _from_json(line: str) -> LoggedRecord:
    d = json.loads(line)
    headers = tuple((str(name), _unb64(value) or b"") for name, value in d["h"])
    record = InboundRecord(d["topic"], int(d["p"]), int(d["o"]), _unb64(d["k"]), _unb64(d["v"]), headers, int(d["ts"]))
    return LoggedRecord(TopicRole(d["role"]), record)


def write(path: Path, entries: Iterable[LoggedRecord]) -> int:
    """Write `entries` to `path`; the number written."""
    count = 0
    with gzip.open(path, "wt", encoding="utf-8") as out:
        for entry in entries:
            out.write(_to_json(entry) + "\n")
            count += 1
    return count


def read(path: Path) -> list[LoggedRecord]:
    """Every record of a committed-log file, in file order."""
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [_from_json(line) for line in f if line.strip()]


def dump(bootstrap: str, topics: dict[str, TopicRole], timeout_s: float = 120.0) -> Iterator[LoggedRecord]:
    """Read every partition of `topics` from the start to its end, read_committed.

    The end is each partition's last stable offset taken when reading starts (nothing is being
    written any more when the run dumps); positions, not record offsets, are compared, because
    transaction markers take offsets too."""
    consumer = new_consumer(bootstrap, f"chaos-dump-{uuid.uuid4().hex}", QUIET)
    try:
        ends: dict[tuple[str, int], int] = {}
        for topic in topics:
            meta = consumer.list_topics(topic, timeout=10).topics[topic]
            for p in meta.partitions:
                ends[(topic, p)] = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
        pending = {tp for tp, end in ends.items() if end > 0}
        consumer.assign([TopicPartition(t, p, OFFSET_BEGINNING) for t, p in pending])
        deadline = time.monotonic() + timeout_s
        while pending:
            if time.monotonic() > deadline:
                raise CommittedLogError(f"committed topics not read to their end within {timeout_s:.0f}s: {pending}")
            for msg in consumer.consume(2000, 0.5):
                if msg.error() is None:
                    record = to_inbound(msg)
                    yield LoggedRecord(topics[record.topic], record)
            positions = consumer.position([TopicPartition(t, p) for t, p in pending])
            pending -= {(tp.topic, tp.partition) for tp in positions if tp.offset >= ends[(tp.topic, tp.partition)]}
    finally:
        consumer.close()
