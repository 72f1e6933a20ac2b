"""Benchmark: cost of the tracing helpers with tracing off, suppressed (replay), and on.

"off" is the default (no OTEL_* configured): every helper must short-circuit. "suppressed" is a
provider installed but the call made inside `suppressed()` (what replay does). "on" records
with a BatchSpanProcessor into an exporter that drops the batch: the SDK's own cost, without
network I/O. Each case is compared with "not calling it" (an empty call: loop + call overhead),
and a whole per-message path (consume a command, handle it, produce the reply) is measured
against the same path with no tracing calls at all. Not a test: figures depend on the machine.
Output: JSON + Markdown (benchmarks/results/tracing_overhead.{json,md}).

    .venv/bin/python benchmarks/bench_tracing_overhead.py [--ops 50000] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from orchestrator import tracing
from orchestrator.tracing import active_tracer

RUN = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-03", "sb-start-ns": "1"}
HEADERS: list[tuple[str, bytes]] = [
    ("sb-workflow-id", b"order-42"),
    ("sb-command-id", b"order-42/3"),
    ("sb-attempt", b"1"),
    ("sb-reply-to", b"orders.inbox"),
    ("traceparent", RUN["traceparent"].encode()),
]


class DropExporter(SpanExporter):
    """Accepts and discards: measures span creation + processing, not the network."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


def _handler_work() -> list[tuple[str, bytes]]:
    """What a service does per command anyway (minus the business logic): read headers, build the reply's."""
    echo = [(k, v) for k, v in HEADERS if k.startswith("sb-")]
    return [*echo, ("sb-reply-status", b"success")]


def _message_path_untraced() -> None:
    _handler_work()


def _message_path_traced() -> None:
    with tracing.process_span(
        "payments.commands", headers=HEADERS, group="payments", key=b"order-42", partition=0, offset=7
    ):
        reply = _handler_work()
        with tracing.producer_span("orders.inbox", key=b"order-42") as span:
            reply.extend(tracing.inject_headers(span))


def _deferred_attempt() -> None:
    attempt = tracing.open_step_attempt(RUN)
    tracing.close_step_attempt(
        attempt,
        step_name="charge",
        workflow_type="Order",
        workflow_id="order-42",
        topic="payments.commands",
        attempt_no=1,
        command_id="order-42/3",
        outcome="success",
    )


def _with(fn: Callable[[], Any]) -> Callable[[], None]:
    def scoped() -> None:
        with fn():
            pass

    return scoped


CASES: dict[str, Callable[[], Any]] = {
    "not called (empty call)": lambda: None,
    "inject_headers(carrier)": lambda: tracing.inject_headers(RUN),
    "extract_context(headers)": lambda: tracing.extract_context(HEADERS),
    "producer_span (enter+exit)": _with(lambda: tracing.producer_span("payments.commands", key=b"order-42")),
    "process_span(headers) (enter+exit)": _with(lambda: tracing.process_span("payments.commands", headers=HEADERS)),
    "open+close step attempt (deferred)": _deferred_attempt,
    "message path, no tracing calls": _message_path_untraced,
    "message path, traced": _message_path_traced,
}


def measure(cases: dict[str, Callable[[], Any]], ops: int, runs: int) -> dict[str, dict[str, float]]:
    """Median ops/s per case; interleaved rounds so background load skews all cases alike."""
    for fn in cases.values():
        for _ in range(min(ops, 2000)):
            fn()
    rates: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(runs):
        for name, fn in cases.items():
            start = time.perf_counter()
            for _ in range(ops):
                fn()
            rates[name].append(ops / (time.perf_counter() - start))
    return {
        name: {"median_per_s": round(statistics.median(r)), "ns_per_op": round(1e9 / statistics.median(r))}
        for name, r in rates.items()
    }


def run(ops: int, runs: int) -> dict[str, dict[str, dict[str, float]]]:
    tracing.shutdown_tracing()
    results = {"off": measure(CASES, ops, runs)}
    provider = tracing.create_tracer_provider(
        "bench", processors=[BatchSpanProcessor(DropExporter(), max_queue_size=65536)]
    )
    with tracing.using(provider):
        with active_tracer.suppressed():
            results["suppressed"] = measure(CASES, ops, runs)
        results["on"] = measure(CASES, max(ops // 5, 1000), runs)
    provider.shutdown()
    return results


def to_markdown(results: dict[str, dict[str, dict[str, float]]], meta: dict[str, Any]) -> str:
    modes = list(results)
    lines = [
        "# Tracing overhead",
        "",
        f'Python {meta["python"]}, {meta["machine"]}; {meta["ops"]} ops x {meta["runs"]} runs ("on": ops/5), '
        "median. ns/op (ops/s).",
        "",
        "| case | " + " | ".join(modes) + " |",
        "|---|" + "---|" * len(modes),
    ]
    for case in CASES:
        cells = [f"{results[m][case]['ns_per_op']:,} ns ({results[m][case]['median_per_s']:,}/s)" for m in modes]
        lines.append(f"| {case} | " + " | ".join(cells) + " |")
    off = results["off"]
    base = off["not called (empty call)"]["ns_per_op"]
    path_plain = off["message path, no tracing calls"]["ns_per_op"]
    path_off = off["message path, traced"]["ns_per_op"]
    path_on = results["on"]["message path, traced"]["ns_per_op"]
    lines += [
        "",
        f"- Off, a helper costs {min(off[c]['ns_per_op'] for c in CASES if c != 'not called (empty call)') - base:,}"
        f"-{max(off[c]['ns_per_op'] for c in CASES if not c.startswith(('not', 'message'))) - base:,} ns "
        f"over an empty call ({base} ns).",
        f"- Per message (consume, handle, reply): {path_plain:,} ns untraced, {path_off:,} ns with the tracing calls "
        f"and tracing off (+{path_off - path_plain:,} ns), {path_on:,} ns with tracing on "
        f"(+{path_on - path_plain:,} ns, two spans recorded).",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--ops", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    results = run(args.ops, args.runs)
    meta = {
        "python": platform.python_version(),
        "machine": f"{platform.machine()} {platform.system()}",
        "ops": args.ops,
        "runs": args.runs,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "tracing_overhead.json").write_text(json.dumps({"meta": meta, "results": results}, indent=2))
    markdown = to_markdown(results, meta)
    (args.out / "tracing_overhead.md").write_text(markdown)
    sys.stdout.write(markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
