"""Shadow mode's figures: ingest events/s beside a raw consume of the same log, and report time.

- **shadow ingest**: `size.shadow_cases` generated shop orders (examples/choreography/
  generated_log.py: ~4.2 JSON events per order on four topics, CloudEvents headers, injected
  deviations) are published up front; one `ShadowRuntime` (in this process) reads them, re-keys
  each by case onto the observations topic, folds them into cases in RocksDB and commits the
  changelog with both topics' offsets, one transaction per commit interval. Clock: the first
  domain event consumed -> the last observation applied and committed. Beside it, the same four
  topics read by a bare assign-only read_committed consumer in the same run.
- **report for `size.shadow_report_cases` cases**: a case store of that many generated orders is
  written to a shadow changelog (by the case store code itself: the ingest is the figure above),
  then `build_report` as `orchestrator shadow report` runs it: restore into a fresh mirror, the
  directly-follows graph, variants and stalls, the HTML page (SVG graph) and the XES export.
- **compare**: cases/s of the real workflow dry-run in the sandbox, one process, on
  `size.shadow_compare_cases` of those cases.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import timedelta
from pathlib import Path

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from benchmarks.errors import BenchmarkError
from benchmarks.in_process import run_until
from benchmarks.model import BenchContext, Measurement
from examples.choreography.generated_log import GeneratedLog, generate, publish
from examples.orders.workflows import registry
from orchestrator.admin.topic_specs import apply, load_topic_set
from orchestrator.config import OrchestratorSettings
from orchestrator.models.shadow import Observation
from orchestrator.serialization import SingleObjectSerde
from orchestrator.shadow.building import build_report
from orchestrator.shadow.case_store import CaseStore
from orchestrator.shadow.compare import compare_cases
from orchestrator.shadow.loading import Domain, load_domain
from orchestrator.shadow.mirror import CaseMirror
from orchestrator.shadow.observe import Observer
from orchestrator.shadow.runtime import ShadowRuntime, ensure_shadow_topics
from orchestrator.shadow.sandbox import Sandbox
from orchestrator.shadow.stats import ShadowStats
from orchestrator.state import PartitionStore, partition_path
from orchestrator.transport.kafka_clients import consumer_config
from orchestrator.transport.partitioning import partition_for
from orchestrator.transport.plain_producer import send_all
from orchestrator.transport.records import InboundRecord, make_headers

ROOT = Path(__file__).resolve().parents[1]
MAPPING = ROOT / "connectors" / "shop.toml"
SHOP_TOPICS = ("orders", "inventory", "payments", "shipping")
CHECKPOINT = 5_000  # observations per checkpoint while writing the report's changelog


def _domain(ctx: BenchContext, prefix: str, app: str) -> tuple[OrchestratorSettings, Domain]:
    import os

    os.environ["SHOP_PREFIX"] = prefix
    settings = OrchestratorSettings(
        app=app,
        bootstrap_servers=ctx.bootstrap,
        commit_interval_ms=ctx.commit_interval_ms,
        instance_id="bench",
        state_dir=ctx.workdir / app,
    )
    return settings, load_domain(MAPPING, settings)


def _shop_topics(ctx: BenchContext, prefix: str) -> None:
    topic_set = load_topic_set(ROOT / "topics" / "shop.toml", app=prefix)
    apply(ctx.admin, topic_set)
    ctx.created_topics.extend(t.name for t in topic_set.topics)


def _raw_consume(ctx: BenchContext, topics: list[str], count: int) -> float:
    consumer = Consumer(consumer_config(ctx.bootstrap, group_id=ctx.name("shadow-raw")))
    parts = []
    for topic in topics:
        meta = consumer.list_topics(topic, timeout=10).topics[topic]
        parts += [TopicPartition(topic, p, OFFSET_BEGINNING) for p in meta.partitions]
    consumer.assign(parts)
    seen, started = 0, None
    deadline = time.monotonic() + 300
    try:
        while seen < count and time.monotonic() < deadline:
            for msg in consumer.consume(1_000, 1.0):
                if msg.error() is None:
                    started = started or time.perf_counter()
                    seen += 1
    finally:
        consumer.close()
    if seen < count or started is None:
        raise BenchmarkError(f"raw consume of the shadow log: {seen}/{count} records")
    return count / max(time.perf_counter() - started, 1e-9)


def shadow_ingest(ctx: BenchContext) -> list[Measurement]:
    cases = ctx.size.shadow_cases
    prefix, app = ctx.name("shadowlog"), ctx.name("shadow")
    _shop_topics(ctx, prefix)
    log = generate(cases, prefix=prefix, seed=2026)
    events = publish(log.events, ctx.bootstrap, prefix)
    raw_rate = _raw_consume(ctx, [f"{prefix}.{t}.events" for t in SHOP_TOPICS], events)
    settings, domain = _domain(ctx, prefix, app)
    partitions = ctx.size.partitions
    ensure_shadow_topics(settings, domain.names, partitions)
    ctx.created_topics.extend([domain.names.observations, domain.names.changelog, domain.names.dlq])
    runtime = ShadowRuntime(settings, domain.config, domain.shadow, stats_interval_s=3600)
    seconds, cpu = run_until(
        runtime, lambda: runtime.stats.applied + runtime.stats.duplicates >= events, 1800, "shadow ingest"
    )
    rate = events / max(seconds, 1e-9)
    stats = runtime.stats
    return [
        Measurement(
            "shadow ingest",
            "shadow ingest events",
            rate,
            "events/s",
            settings={
                "cases": cases,
                "events": events,
                "topics": "4 x 3 partitions",
                "case_partitions": partitions,
                "commit_interval_ms": ctx.commit_interval_ms,
                "raw_consume_same_log_events_per_s": round(raw_rate),
                "ratio_to_raw_consume_same_log": round(rate / raw_rate, 3),
                "duplicates": stats.duplicates,
                "out_of_order": stats.out_of_order,
                "transactions": runtime.commits,
            },
            note="decode + correlate + re-key (observations) + fold into RocksDB cases + changelog, exactly once; "
            "ratio vs the ceiling's raw consume",
            compare_to="raw consume",
        ),
        Measurement(
            "shadow ingest",
            "shadow CPU per event",
            1000 * cpu / events,
            "CPU ms/event",
            settings={"events": events, "cpu_s": round(cpu, 3)},
            note="this process, both stages (librdkafka threads included)",
        ),
    ]


def _write_changelog(ctx: BenchContext, domain: Domain, log: GeneratedLog, partitions: int) -> int:
    """Cases folded by the case store itself into RocksDB, their changelog written as `shadow run`
    writes it: per checkpoint of `CHECKPOINT` observations, the transaction's records, then apply."""
    config, settings = domain.config, domain.shadow
    observer = Observer(config, settings, domain.repo, domain.serde, "obs", "dlq")
    root = ctx.workdir / f"{domain.names.app}-fold"
    stores = [PartitionStore.open(partition_path(root, "cases", p), p) for p in range(partitions)]
    txns = [store.begin() for store in stores]
    cases = [CaseStore(txn, domain.serde) for txn in txns]
    stats = ShadowStats()
    grace_ms = int(settings.grace / timedelta(milliseconds=1))
    written = pending = 0

    def checkpoint() -> int:
        batch = []
        for p, store in enumerate(stores):
            cases[p].flush()
            batch += txns[p].changelog_records(domain.names.changelog, p)
            store.apply(txns[p], None)
            txns[p] = store.begin()
            cases[p] = CaseStore(txns[p], domain.serde)
        send_all(ctx.bootstrap, batch, timeout_s=300)
        return len(batch)

    try:
        for offset, event in enumerate(log.events):
            headers = make_headers([(k, v or "") for k, v in event.headers()])
            record = InboundRecord(
                f"{log_prefix(log)}.{event.service}.events", 0, offset, event.order_id.encode(),
                json.dumps(event.value).encode(), headers, event.timestamp_ms,
            )  # fmt: skip
            for out in observer.observe(record, stats):
                assert out.value is not None and out.key is not None
                value = domain.serde.decode(out.value, Observation.avro_schema_name).value
                cases[partition_for(out.key, partitions)].apply(Observation.from_avro(value), grace_ms, out.value)
                pending += 1
            if pending >= CHECKPOINT:
                written += checkpoint()
                pending = 0
        written += checkpoint()
    finally:
        for store in stores:
            store.close()
    return written


def log_prefix(log: GeneratedLog) -> str:
    return log.events[0].order_id.rsplit("-", 1)[0]


def shadow_report(ctx: BenchContext) -> list[Measurement]:
    cases = ctx.size.shadow_report_cases
    prefix, app = ctx.name("shadowrep"), ctx.name("shadowrep")
    settings, domain = _domain(ctx, prefix, app)
    partitions = ctx.size.partitions
    ensure_shadow_topics(settings, domain.names, partitions)
    ctx.created_topics.extend([domain.names.observations, domain.names.changelog, domain.names.dlq])
    log = generate(cases, prefix=prefix, seed=7)
    records = _write_changelog(ctx, domain, log, partitions)
    xes = ctx.workdir / f"{app}.xes"
    started = time.perf_counter()
    report = build_report(
        settings, domain, stall_after=timedelta(minutes=30), xes=xes, mirror_dir=ctx.workdir / f"{app}-mirror"
    )
    html = report.html()
    seconds = time.perf_counter() - started
    (ctx.workdir / f"{app}.html").write_text(html)
    if report.discovery.cases != cases:
        raise BenchmarkError(f"report saw {report.discovery.cases}/{cases} cases")
    figures = [
        Measurement(
            "shadow report",
            f"shadow report for {cases:,} cases",
            seconds,
            "s",
            settings={
                "cases": cases,
                "events": report.discovery.events,
                "changelog_records": records,
                "variants": len(report.discovery.variants),
                "html_kib": round(len(html) / 1024),
                "xes_mib": round(xes.stat().st_size / 2**20, 1),
            },
            note="restore the changelog into a fresh mirror, directly-follows graph, variants, stalls, HTML with "
            "the SVG graph, XES export (no compare)",
        )
    ]
    # Logged at once: the compare figure below re-reads the changelog, and a failure there must
    # not lose this one (the harness prints a case's figures only when the whole case returns).
    logging.getLogger("benchmarks").info("  shadow report for %d cases: %.1f s %s", cases, seconds, figures[0].settings)
    figures.append(_compare(settings, domain, ctx.size.shadow_compare_cases, ctx.workdir / f"{app}-mirror"))
    return figures


def _compare(settings: OrchestratorSettings, domain: Domain, count: int, mirror_dir: Path) -> Measurement:
    sandbox = Sandbox(domain.config, registry, domain.repo, SingleObjectSerde(domain.repo))
    with CaseMirror(settings, domain.names, domain.serde, mirror_dir) as mirror:
        mirror.refresh()
        subset = []
        for case in mirror.cases():
            subset.append(case)
            if len(subset) >= count:
                break
        started = time.perf_counter()
        comparison = compare_cases(
            subset, workflow_type="order-fulfilment", settings=domain.shadow, now_ms=2**62, sandbox=sandbox
        )
        seconds = time.perf_counter() - started
    return Measurement(
        "shadow compare",
        "shadow compare",
        len(subset) / max(seconds, 1e-9),
        "cases/s",
        settings={"cases": len(subset), "jobs": 1, "fitness": round(comparison.fitness, 4)},
        note="each case's events through the bridge mapping into the real workflow in WorkflowEnvironment, "
        "one process; `shadow report --jobs N` spreads cases over N processes",
    )


__all__ = ["shadow_ingest", "shadow_report"]
