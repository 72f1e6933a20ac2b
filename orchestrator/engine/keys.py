"""Store key layout (docs/architecture.md, "Store keys").

Keys are ASCII bytes whose lexicographic order is the order the engine scans in: history by
seq, timers by due time, retention by finish time. Workflow ids are escaped ("%" and "/")
so one id's prefix can never match another id's keys (``h/a/`` vs ``h/a/b/...``).
"""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.errors import StoreKeyError

HEADER = b"w/"
HISTORY = b"h/"
STEP = b"s/"
TIMER = b"t/"
RETENTION = b"r/"

_SEQ_WIDTH = 10
_MS_WIDTH = 15
_MAX_MS = 10**_MS_WIDTH - 1


def escape_id(workflow_id: str) -> str:
    """Escape the separator so ids containing "/" stay unambiguous; plain ids are unchanged."""
    return workflow_id.replace("%", "%25").replace("/", "%2F")


def unescape_id(escaped: str) -> str:
    return escaped.replace("%2F", "/").replace("%25", "%")


def _ms(value: int) -> str:
    return f"{min(max(value, 0), _MAX_MS):0{_MS_WIDTH}d}"


def _seq(value: int) -> str:
    return f"{value:0{_SEQ_WIDTH}d}"


def header_key(workflow_id: str) -> bytes:
    return HEADER + escape_id(workflow_id).encode()


def history_key(workflow_id: str, seq: int) -> bytes:
    return HISTORY + f"{escape_id(workflow_id)}/{_seq(seq)}".encode()


def history_range(workflow_id: str) -> tuple[bytes, bytes]:
    """[start, end) covering every history key of one workflow ("0" sorts right after "/")."""
    prefix = HISTORY + escape_id(workflow_id).encode()
    return prefix + b"/", prefix + b"0"


def step_key(workflow_id: str, seq: int) -> bytes:
    return STEP + f"{escape_id(workflow_id)}/{_seq(seq)}".encode()


def step_range(workflow_id: str) -> tuple[bytes, bytes]:
    prefix = STEP + escape_id(workflow_id).encode()
    return prefix + b"/", prefix + b"0"


def timer_key(due_ms: int, workflow_id: str, seq: int) -> bytes:
    return TIMER + f"{_ms(due_ms)}/{escape_id(workflow_id)}/{_seq(seq)}".encode()


def timers_due_range(now_ms: int) -> tuple[bytes, bytes]:
    """Every timer key with due <= now_ms."""
    return TIMER, TIMER + _ms(now_ms + 1).encode()


def retention_key(finished_ms: int, workflow_id: str) -> bytes:
    return RETENTION + f"{_ms(finished_ms)}/{escape_id(workflow_id)}".encode()


def retention_range(finished_before_or_at_ms: int) -> tuple[bytes, bytes]:
    return RETENTION, RETENTION + _ms(finished_before_or_at_ms + 1).encode()


def prefix_end(prefix: bytes) -> bytes:
    """Smallest key greater than every key starting with ``prefix`` (prefix is ASCII, never 0xFF)."""
    return prefix[:-1] + bytes([prefix[-1] + 1])


@dataclass(frozen=True, slots=True)
class TimerKey:
    due_ms: int
    workflow_id: str
    seq: int


@dataclass(frozen=True, slots=True)
class RetentionKey:
    finished_ms: int
    workflow_id: str


def parse_timer_key(key: bytes) -> TimerKey:
    try:
        due, wf, seq = key[len(TIMER) :].decode().split("/")
        if not key.startswith(TIMER):
            raise ValueError("not a timer key")
        return TimerKey(int(due), unescape_id(wf), int(seq))
    except ValueError as exc:
        raise StoreKeyError(key, "timer") from exc


def parse_retention_key(key: bytes) -> RetentionKey:
    try:
        finished, wf = key[len(RETENTION) :].decode().split("/")
        if not key.startswith(RETENTION):
            raise ValueError("not a retention key")
        return RetentionKey(int(finished), unescape_id(wf))
    except ValueError as exc:
        raise StoreKeyError(key, "retention") from exc


def parse_seq_suffix(key: bytes) -> int:
    """The trailing seq of a history or step key."""
    try:
        return int(key.rsplit(b"/", 1)[1])
    except (IndexError, ValueError) as exc:
        raise StoreKeyError(key, "history/step") from exc
