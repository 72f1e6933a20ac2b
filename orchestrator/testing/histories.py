"""Recorded workflow histories: read from a partition store, written to and read from an export file.

Histories are what the engine keeps per workflow (`h/<wf>/<seq>` keys, docs/design.md §4), decoded with
the application's serde. An export is JSON Lines so it diffs, greps and streams: a header line,
then one workflow per line (docs/testing.md, "The history export format"):

    {"format": "sagabridge-history-export", "version": 1, "app": "orders", "exported_at_ms": 1700000000000}
    {"workflow_id": "order-7", "workflow_type": "order-fulfilment", "status": "running",
     "events": [{"seq": 0, "kind": "started", "at_ms": 1700000000000, "data": {...}}, ...]}

Event ``data`` is the engine's own history JSON: Avro values JSON cannot hold (bytes, decimals,
datetimes, UUIDs) are one-key tagged objects such as ``{"__sb_bytes__": "<base64>"}``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from orchestrator.engine import jsonvalue, keys
from orchestrator.engine.state_records import StateCodec
from orchestrator.engine.state_txn import StateTxn
from orchestrator.engine.workflow_store import WorkflowStore
from orchestrator.errors import HistoryExportError
from orchestrator.serialization import AvroSerde
from orchestrator.state import PartitionStore
from orchestrator.workflow import HistoryEvent

EXPORT_FORMAT = "sagabridge-history-export"
EXPORT_VERSION = 1


@dataclass(frozen=True)
class RecordedHistory:
    """One workflow's history as recorded by an orchestrator."""

    workflow_id: str
    workflow_type: str
    status: str
    events: tuple[HistoryEvent, ...]


def histories_in_store(view: StateTxn, serde: AvroSerde) -> Iterator[RecordedHistory]:
    """Every workflow of one partition store (through a txn view), in workflow-id key order."""
    store = WorkflowStore(view, StateCodec(serde))
    for _key, raw in view.scan(keys.HEADER, keys.prefix_end(keys.HEADER)):
        header = store.codec.decode_header(raw)
        events = tuple(store.history(header.workflow_id, header.run_first_seq))
        yield RecordedHistory(header.workflow_id, header.workflow_type, header.status, events)


def partition_dirs(state_dir: Path, group: str | None = None) -> list[tuple[Path, int]]:
    """The partition stores under ``<state_dir>/<group>/<partition>/`` (every group if None)."""
    groups = [state_dir / group] if group is not None else sorted(p for p in state_dir.iterdir() if p.is_dir())
    found: list[tuple[Path, int]] = []
    for group_dir in groups:
        if not group_dir.is_dir():
            continue
        for part in sorted(group_dir.iterdir(), key=lambda p: p.name):
            if part.is_dir() and part.name.isdigit():
                found.append((part, int(part.name)))
    return found


def histories_in_state_dir(state_dir: Path, serde: AvroSerde, group: str | None = None) -> list[RecordedHistory]:
    """Every history in the RocksDB stores of a state dir. The stores must not be open elsewhere
    (stop the orchestrator, or read its changelog instead)."""
    out: list[RecordedHistory] = []
    for path, partition in partition_dirs(state_dir, group):
        with PartitionStore.open(path, partition) as store:
            out.extend(histories_in_store(store.begin(), serde))
    return out


# --- export files -----------------------------------------------------------------------------


def _event_json(event: HistoryEvent) -> dict[str, Any]:
    return {"seq": event.seq, "kind": event.kind, "at_ms": event.at_ms, "data": event.data}


def write_export(out: IO[str], histories: Iterable[RecordedHistory], *, app: str, exported_at_ms: int) -> int:
    """Write the export format to a text stream; returns how many workflows were written."""
    header = {"format": EXPORT_FORMAT, "version": EXPORT_VERSION, "app": app, "exported_at_ms": exported_at_ms}
    out.write(json.dumps(header) + "\n")
    count = 0
    for history in histories:
        line = {
            "workflow_id": history.workflow_id,
            "workflow_type": history.workflow_type,
            "status": history.status,
            "events": [_event_json(e) for e in history.events],
        }
        out.write(jsonvalue.dumps(line).decode("utf-8") + "\n")
        count += 1
    return count


def read_export(path: Path) -> list[RecordedHistory]:
    """Read an export file; any line that is not what `write_export` writes is an error naming it."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise HistoryExportError(str(path), 0, f"cannot read the file ({exc})") from exc
    if not lines:
        raise HistoryExportError(str(path), 1, "the file is empty (no header line)")
    header = _line(path, 1, lines[0])
    if header.get("format") != EXPORT_FORMAT:
        raise HistoryExportError(str(path), 1, f"not a SagaBridge history export (format {header.get('format')!r})")
    if header.get("version") != EXPORT_VERSION:
        raise HistoryExportError(
            str(path), 1, f"export version {header.get('version')!r}; this release reads version {EXPORT_VERSION}"
        )
    histories = []
    for number, text in enumerate(lines[1:], start=2):
        if not text.strip():
            continue
        row = _line(path, number, text)
        try:
            events = tuple(
                HistoryEvent(int(e["seq"]), str(e["kind"]), int(e["at_ms"]), dict(e["data"])) for e in row["events"]
            )
            histories.append(
                RecordedHistory(str(row["workflow_id"]), str(row["workflow_type"]), str(row["status"]), events)
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise HistoryExportError(str(path), number, f"a workflow line lacks or mistypes {exc}") from exc
    return histories


def _line(path: Path, number: int, text: str) -> dict[str, Any]:
    try:
        return jsonvalue.loads(text.encode("utf-8"))
    except ValueError as exc:
        raise HistoryExportError(str(path), number, f"not a JSON object ({exc})") from exc
