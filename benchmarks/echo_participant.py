"""A fast participant for the orchestrator benchmarks: bare confluent_kafka, docs/protocol.md only.

It answers every command on its topic with `success`, echoing the command's value bytes as the
result (the framing carries the writer schema, so the engine decodes it as the step's result,
`result=None` gives it as a dict). Echoing is idempotent by construction: a redelivered command
id gets the same answer, which is exactly the stored-outcome rule of §4. Replies are produced
with acks=all and the murmur2 partitioner; offsets are committed only after the batch's replies
are acknowledged (§4 "commit after replying"). A record without the protocol headers cannot be
answered: it goes to the dead-letter topic (if given) with the §6 reason headers, bytes untouched.

Run one process per service (several for more throughput; they share the consumer group):

    python -m benchmarks.echo_participant --bootstrap 127.0.0.1:19092 --topic svc-a.commands
"""

from __future__ import annotations

import argparse
import json
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Message, Producer

from orchestrator.transport import header_names
from orchestrator.transport.consumer import consume_available
from orchestrator.transport.partitioning import PRODUCER_PARTITIONER

_ECHOED = (
    header_names.WORKFLOW_ID,
    header_names.COMMAND_ID,
    header_names.ATTEMPT,
    header_names.TRACEPARENT,
    header_names.TRACESTATE,
)


@dataclass
class EchoStats:
    replied: int = 0
    dead_lettered: int = 0
    cpu_seconds: float = 0.0


def header_map(msg: Message) -> dict[str, bytes]:
    """A record's headers as name -> bytes (librdkafka may give a list or a dict, str or bytes)."""
    raw = msg.headers() or []
    pairs = raw.items() if isinstance(raw, dict) else raw
    return {k: v.encode() if isinstance(v, str) else v for k, v in pairs if v is not None}


class EchoParticipant:
    """One consumer + one producer; `run` loops until `stop()` (or SIGTERM in the CLI)."""

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        group: str,
        dlq: str | None = None,
        max_batch: int = 500,
        delay_ms: float = 0.0,
        poll_ms: float = 100.0,
    ) -> None:
        self.topic, self.dlq, self.max_batch, self.delay_s = topic, dlq, max_batch, delay_ms / 1000
        self.poll_s = poll_ms / 1000  # the longest a poll waits for a first command
        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": group,
                "isolation.level": "read_committed",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
            }
        )
        self.producer = Producer(
            {
                "bootstrap.servers": bootstrap,
                "acks": "all",
                "enable.idempotence": True,
                "linger.ms": 1,
                **PRODUCER_PARTITIONER,
            }
        )
        self.stats = EchoStats()
        self._running = True
        self._failures: list[str] = []

    def stop(self) -> None:
        self._running = False

    def _on_delivery(self, err: Any, _msg: Any) -> None:
        if err is not None:
            self._failures.append(str(err))

    def _dead_letter(self, msg: Message, reason: str) -> None:
        if self.dlq is None:
            return
        self.producer.produce(
            self.dlq,
            msg.value(),
            msg.key(),
            headers=[
                *header_map(msg).items(),
                (header_names.DLQ_REASON, reason.encode()),
                (header_names.DLQ_SOURCE_TOPIC, str(msg.topic()).encode()),
                (header_names.DLQ_SOURCE_PARTITION, str(msg.partition()).encode()),
                (header_names.DLQ_SOURCE_OFFSET, str(msg.offset()).encode()),
            ],
            on_delivery=self._on_delivery,
        )
        self.stats.dead_lettered += 1

    def handle(self, msg: Message) -> None:
        """Reply to one command (or dead-letter it). Never raises on bad input."""
        got = header_map(msg)
        missing = [
            name
            for name in (header_names.WORKFLOW_ID, header_names.COMMAND_ID, header_names.REPLY_TO)
            if name not in got
        ]
        if missing:
            self._dead_letter(msg, f"missing protocol headers: {', '.join(missing)}")
            return
        reply_headers: list[tuple[str, str | bytes | None]] = [(n, got[n]) for n in _ECHOED if n in got]
        reply_headers.append((header_names.REPLY_STATUS, header_names.STATUS_SUCCESS.encode()))
        reply_to = got[header_names.REPLY_TO].decode(errors="replace")
        while True:
            try:
                self.producer.produce(
                    reply_to,
                    msg.value(),
                    got[header_names.WORKFLOW_ID],
                    headers=reply_headers,
                    on_delivery=self._on_delivery,
                )
                break
            except BufferError:
                self.producer.poll(0.01)
        self.stats.replied += 1

    def run_once(self, timeout_s: float = 0.1) -> int:
        """Consume one batch, reply, wait for acks, then commit. Returns the records handled.

        The batch is what is there once the first command arrives (as a Java consumer's poll()
        returns): `consume(n, timeout)` alone would wait out the whole timeout unless n commands
        were there, a delay no real service adds to every command below saturation."""
        batch = consume_available(self.consumer, self.max_batch, timeout_s)
        handled = 0
        for msg in batch:
            if msg.error() is not None:
                continue  # transient client errors are reported through the error callback
            if self.delay_s:
                time.sleep(self.delay_s)
            self.handle(msg)
            handled += 1
        if handled:
            self.producer.flush(30)
            if self._failures:
                raise RuntimeError(f"replies not acknowledged, not committing: {self._failures[:3]}")
            self.consumer.commit(asynchronous=False)
        return handled

    def run(self) -> EchoStats:
        self.consumer.subscribe([self.topic])
        try:
            while self._running:
                self.run_once(self.poll_s)
        finally:
            self.consumer.close()
            self.producer.flush(10)
            usage = resource.getrusage(resource.RUSAGE_SELF)
            self.stats.cpu_seconds = round(usage.ru_utime + usage.ru_stime, 3)
        return self.stats


def start_echo_processes(
    bootstrap: str,
    topic: str,
    group: str,
    count: int = 1,
    dlq: str | None = None,
    stats_dir: Path | None = None,
    poll_ms: float | None = None,
) -> list[subprocess.Popen[bytes]]:
    """Start `count` echo processes for one service topic (separate processes, like real services)."""
    procs = []
    for i in range(count):
        cmd = [
            sys.executable,
            "-m",
            "benchmarks.echo_participant",
            "--bootstrap",
            bootstrap,
            "--topic",
            topic,
            "--group",
            group,
        ]
        if dlq:
            cmd += ["--dlq", dlq]
        if stats_dir is not None:
            cmd += ["--stats-file", str(stats_dir / f"echo-{topic}-{i}.json")]
        if poll_ms is not None:
            cmd += ["--poll-ms", str(poll_ms)]
        procs.append(subprocess.Popen(cmd, cwd=Path(__file__).resolve().parent.parent))
    return procs


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True, help="the service's command topic")
    parser.add_argument("--group", help="consumer group (default: echo-<topic>)")
    parser.add_argument("--dlq", help="dead-letter topic for records without protocol headers")
    parser.add_argument("--max-batch", type=int, default=500)
    parser.add_argument("--delay-ms", type=float, default=0.0, help="simulated work per command")
    parser.add_argument(
        "--poll-ms",
        type=float,
        default=100.0,
        help="the longest a poll waits for a first command (a batch is what is there once one arrives)",
    )
    parser.add_argument("--stats-file", type=Path, help="write replied/dead-lettered/CPU seconds here on exit")
    args = parser.parse_args(argv)
    echo = EchoParticipant(
        args.bootstrap,
        args.topic,
        args.group or f"echo-{args.topic}",
        args.dlq,
        args.max_batch,
        args.delay_ms,
        args.poll_ms,
    )
    signal.signal(signal.SIGTERM, lambda *_: echo.stop())
    signal.signal(signal.SIGINT, lambda *_: echo.stop())
    stats = echo.run()
    if args.stats_file:
        args.stats_file.write_text(json.dumps(asdict(stats)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
