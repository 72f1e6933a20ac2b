"""One chaos run, start to verdict.

1. A private broker on free ports, the demo's topics, N orchestrator processes and the three
   services (cluster.py); the load starts once every inbox partition is owned.
2. Steady arrivals (workload.py), bad input (bad_input.py) and the faults, each at a random point
   of committed progress (faults.py). The load runs for the size's `load_s`, longer if faults are
   still due, and at least 15 s past the last fault's healing, so every recovery happens under load;
   a fault waits at least 12 s after the previous one healed, so each recovery is measured alone.
3. The load and the bad input stop; the run waits (bounded) for every workflow to finish and for
   the orchestrators to have consumed the whole inbox; then every process is stopped gracefully.
4. The committed topics are read to their end into `committed.jsonl.gz`, the broker is stopped,
   and the audit (audit.py, recovery_times.py) judges the run from that file.

Everything lives in the run's directory (`run.json`, the committed log, every process's log):
kept when the run fails or with `--keep`, so `python -m chaos audit <dir>` can judge it again.
"""

from __future__ import annotations

import logging
import os
import random
import shutil
import tempfile
import time
import traceback
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from confluent_kafka import KafkaException, TopicPartition
from rich.console import Console

from benchmarks.machine import machine_info
from chaos import committed_log
from chaos.audit import audit
from chaos.bad_input import BadInput
from chaos.cluster import REPO, WORKFLOW_TYPE, Cluster
from chaos.committed_log import TopicRole
from chaos.faults import FaultInjector, plan
from chaos.progress_tap import ProgressTap
from chaos.quiet_clients import QUIET
from chaos.recovery_times import fault_recoveries, instance_totals, read_log_lines, step_stamps
from chaos.run_record import LOGS_DIR, LoadRecord, RunRecord
from chaos.sizes import ChaosSize
from chaos.summary import ChaosReport
from chaos.workload import Workload
from orchestrator.serialization import AvroSerde, SchemaRepository, SingleObjectSerde
from orchestrator.transport.kafka_clients import new_consumer

log = logging.getLogger("chaos")
RESULTS_DIR = REPO / "chaos" / "results"
STEPS_PER_WORKFLOW = 3  # reserve, charge, ship
READY_TIMEOUT_S = 180.0
TAIL_AFTER_LAST_FAULT_S = 15.0
# A fault strikes at least this long after the previous one healed: the recovery figures of one
# (a SIGKILL's hand-over takes the 6 s session timeout and a restore) are not cut short by the next.
FAULT_SPACING_S = 12.0
STATUS_EVERY_S = 10.0


@dataclass(frozen=True)
class RunOptions:
    size: ChaosSize
    seed: int
    command: str
    workdir: Path | None = None
    keep: bool = False


def new_serde() -> AvroSerde:
    """The demo's records and the engine's, registry-less (what the services and orchestrators use)."""
    import examples.orders  # noqa: F401  (adds the demo's schema folder to the default repository)

    return SingleObjectSerde(SchemaRepository())


def run(options: RunOptions) -> tuple[RunRecord, Path]:
    """Run the chaos scenario; its record and its directory (the committed log is in it)."""
    started = datetime.now(UTC)
    run_id = started.strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:4]
    workdir = options.workdir or Path(tempfile.mkdtemp(prefix=f"sagabridge-chaos-{run_id}-"))
    workdir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(options.seed)
    app = f"chaos-{uuid.uuid4().hex[:8]}"
    size = options.size
    cluster = Cluster(workdir, size, app, random.Random(rng.getrandbits(64)))
    record = RunRecord(
        run_id=run_id,
        started_at=started.isoformat(timespec="seconds"),
        command=options.command,
        seed=options.seed,
        size=size,
        app=app,
        partitions=0,
        topics=cluster.topics,
        instances=[f"o{n}" for n in range(size.instances)],
        services=["inventory", "payments", "shipping"],
        load=LoadRecord(workflow_type=WORKFLOW_TYPE),
    )
    wall = time.monotonic()
    serde = new_serde()
    tap: ProgressTap | None = None
    log.info("chaos run %s (size %s, seed %d) in %s", run_id, size.name, options.seed, workdir)
    try:
        cluster.start()
        record.partitions = cluster.partitions
        record.machine = {**machine_info(cluster.bootstrap), "load_average_1m": round(os.getloadavg()[0], 1)}
        _wait_ready(cluster)
        tap = ProgressTap(cluster.bootstrap, app, cluster.partitions, serde, random.Random(rng.getrandbits(64))).start()
        _under_load(cluster, tap, serde, size, rng, record)
        _drain(cluster, tap, size, record)
        cluster.stop()
        log.info("reading the committed topics")
        topics = {name: TopicRole(role) for name, role in cluster.topics.items()}
        written = committed_log.write(workdir / committed_log.FILE_NAME, committed_log.dump(cluster.bootstrap, topics))
        log.info("%d committed records in %s", written, workdir / committed_log.FILE_NAME)
    except Exception as exc:  # the run could not finish: recorded, reported, non-zero exit
        record.error = f"{type(exc).__name__}: {exc}"
        log.error("the run could not finish:\n%s", traceback.format_exc())
    finally:
        if tap is not None:
            tap.stop()
        record.liveness, record.exits = cluster.liveness, cluster.exits
        cluster.stop()
        cluster.stop_broker()
        cluster.remove_broker_data()
        record.seconds = round(time.monotonic() - wall, 1)
        record.save(workdir)
    return record, workdir


def _wait_ready(cluster: Cluster) -> None:
    """Every inbox partition owned by some instance (their liveness files say which)."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    wanted = set(range(cluster.partitions))
    while time.monotonic() < deadline:
        owned = set().union(*(cluster.owned_partitions(p) for p in cluster.orchestrators.values()))
        if owned >= wanted:
            log.info("all %d partitions owned; starting the load", cluster.partitions)
            return
        time.sleep(0.5)
    raise TimeoutError(f"the orchestrators did not own all {cluster.partitions} partitions within {READY_TIMEOUT_S}s")


def _under_load(
    cluster: Cluster, tap: ProgressTap, serde: AvroSerde, size: ChaosSize, rng: random.Random, record: RunRecord
) -> None:
    load = Workload(
        cluster.bootstrap,
        cluster.app,
        WORKFLOW_TYPE,
        serde,
        size.rate_per_s,
        size.decline_fraction,
        size.cancel_fraction,
        random.Random(rng.getrandbits(64)),
    ).start()
    bad = BadInput(
        cluster.bootstrap, f"{cluster.app}.inbox", tap, size.bad_input_per_s, random.Random(rng.getrandbits(64))
    ).start()
    injector = FaultInjector(cluster, size, random.Random(rng.getrandbits(64)))
    schedule = plan(size, random.Random(rng.getrandbits(64)), int(size.rate_per_s * size.load_s * STEPS_PER_WORKFLOW))
    log.info("faults: %s", ", ".join(f"{f.kind.value}@{f.threshold}" for f in schedule))
    began = time.monotonic()
    next_status = began
    healed = began - FAULT_SPACING_S
    try:
        for fault in schedule:
            while tap.progress().steps_completed < fault.threshold or time.monotonic() < healed + FAULT_SPACING_S:
                next_status = _status(tap, load, began, next_status)
                time.sleep(0.1)
            time.sleep(rng.uniform(0.0, 1.0))  # not always right at a checkpoint boundary
            record.faults.append(injector.inject(fault.kind, tap.progress().steps_completed))
            healed = time.monotonic()
        until = max(began + size.load_s, time.monotonic() + TAIL_AFTER_LAST_FAULT_S)
        while time.monotonic() < until:
            next_status = _status(tap, load, began, next_status)
            time.sleep(0.2)
    finally:
        record.load = load.stop()
        record.load.bad_input = bad.stop()
    log.info("load stopped: %d workflows sent in %.0fs", len(record.load.started_ids), time.monotonic() - began)


def _status(tap: ProgressTap, load: Workload, began: float, next_at: float) -> float:
    now = time.monotonic()
    if now < next_at:
        return next_at
    p = tap.progress()
    log.info(
        "%4.0fs: sent %d, started %d, finished %d, parked %d, steps completed %d",
        now - began,
        load.sent,
        p.started,
        p.finished,
        p.parked,
        p.steps_completed,
    )
    return now + STATUS_EVERY_S


def _drain(cluster: Cluster, tap: ProgressTap, size: ChaosSize, record: RunRecord) -> None:
    """Wait (bounded) for every workflow sent to finish and for the whole inbox to be consumed."""
    ids = set(record.load.started_ids)
    began = time.monotonic()
    deadline = began + size.drain_timeout_s
    next_status = began + STATUS_EVERY_S
    while time.monotonic() < deadline:
        unfinished = tap.unfinished(ids)
        lag = _inbox_lag(cluster) if not unfinished else None
        if not unfinished and lag == 0:
            record.drained_s = round(time.monotonic() - began, 1)
            log.info("drained in %.1fs: every workflow finished, the inbox is consumed", record.drained_s)
            return
        if time.monotonic() >= next_status:
            next_status += STATUS_EVERY_S
            log.info("draining: %d unfinished, inbox lag %s", len(unfinished), lag)
        time.sleep(0.5)
    log.warning("not drained within %.0fs: %d workflows unfinished", size.drain_timeout_s, len(tap.unfinished(ids)))


def _inbox_lag(cluster: Cluster) -> int | None:
    """Inbox records not yet consumed by the orchestrators' group (None: cannot tell right now).

    A consumer that never subscribes reads the group's committed offsets without joining it."""
    inbox = f"{cluster.app}.inbox"
    consumer = new_consumer(cluster.bootstrap, f"{cluster.app}-orchestrator", QUIET)
    try:
        committed = consumer.committed([TopicPartition(inbox, p) for p in range(cluster.partitions)], timeout=10)
        lag = 0
        for tp in committed:
            high = consumer.get_watermark_offsets(TopicPartition(inbox, tp.partition), timeout=10)[1]
            lag += high - max(tp.offset, 0)
        return lag
    except KafkaException:
        return None
    finally:
        consumer.close()


def judge(workdir: Path) -> ChaosReport:
    """Audit a run's directory: its record, its committed log and its processes' logs."""
    run_record = RunRecord.load_from(workdir)
    serde = new_serde()
    log_path = workdir / committed_log.FILE_NAME
    entries = committed_log.read(log_path) if log_path.exists() else []
    result = audit(run_record, entries, serde)
    if not log_path.exists():
        result.passed = False
        result.violations.insert(0, f"no committed log in {workdir}: the run did not get that far")
    recoveries = fault_recoveries(
        run_record.faults,
        step_stamps(entries, serde),
        run_record.partitions,
        read_log_lines(workdir / LOGS_DIR, run_record.instances),
        run_record.liveness,
        run_record.load.started_ms,
    )
    return ChaosReport.build(run_record, result, recoveries, instance_totals(run_record.liveness))


def cleanup(workdir: Path, keep: bool, passed: bool, console: Console) -> None:
    """Remove the run's directory after a passing run unless asked to keep it."""
    if keep or not passed:
        console.print(f"run directory kept: {workdir} (re-audit: python -m chaos audit {workdir})")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
