"""Shadow mode on the real broker: a 10,000-case generated log, restarts, a SIGKILL, where to start.

The acceptance test of issue 11's discover/compare half: every injected deviation is found and
nothing else is (precision and recall 1.0 per kind), and fitness equals the test's own replay.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from examples.choreography.generated_log import DEVIATIONS, GeneratedLog, generate, publish
from orchestrator.admin.topic_specs import apply, load_topic_set
from orchestrator.config import OrchestratorSettings
from orchestrator.models.shadow import Observation
from orchestrator.shadow.building import build_report
from orchestrator.shadow.loading import Domain, load_domain
from orchestrator.shadow.mirror import CaseMirror
from orchestrator.shadow.runtime import ShadowRuntime, ensure_shadow_topics
from orchestrator.shadow.ui_report import shadow_report_source
from orchestrator.shadow.verdicts import Verdict
from orchestrator.testing.background import BackgroundRuntime
from orchestrator.transport.admin import KafkaAdmin
from orchestrator.transport.group_start import StartKind, StartPosition, start_group_at
from tests.shadow.shop import MAPPING, ROOT, independent_conformance

HOUR_MS = 3_600_000


@dataclass
class Shop:
    prefix: str
    app: str
    bootstrap: str
    state_dir: Path

    def settings(self, instance_id: str = "0", **extra: object) -> OrchestratorSettings:
        values: dict[str, object] = {
            "app": self.app,
            "bootstrap_servers": self.bootstrap,
            "instance_id": instance_id,
            "state_dir": self.state_dir / instance_id,
            "commit_interval_ms": 100,
            **extra,
        }
        return OrchestratorSettings(**values)  # type: ignore[arg-type]

    def domain(self, settings: OrchestratorSettings) -> Domain:
        return load_domain(MAPPING, settings)

    def env(self, instance_id: str = "0") -> dict[str, str]:
        return {
            "SHOP_PREFIX": self.prefix,
            "SAGABRIDGE_APP": self.app,
            "SAGABRIDGE_BOOTSTRAP_SERVERS": self.bootstrap,
            "SAGABRIDGE_INSTANCE_ID": instance_id,
            "SAGABRIDGE_STATE_DIR": str(self.state_dir / instance_id),
            "SAGABRIDGE_COMMIT_INTERVAL_MS": "100",
            "SAGABRIDGE_LOG_LEVEL": "INFO",
        }


@pytest.fixture
def shop(kafka_admin: KafkaAdmin, kafka_bootstrap: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Shop:
    prefix = f"sh-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("SHOP_PREFIX", prefix)
    apply(kafka_admin, load_topic_set(ROOT / "topics" / "shop.toml", app=prefix))
    return Shop(prefix, f"shapp-{prefix}", kafka_bootstrap, tmp_path / "state")


class ShadowThread(BackgroundRuntime[ShadowRuntime]):
    def __init__(self, settings: OrchestratorSettings, domain: Domain) -> None:
        super().__init__(ShadowRuntime(settings, domain.config, domain.shadow, stats_interval_s=1.0))


def unique_events(log: GeneratedLog) -> int:
    return len({(e.order_id, e.ce_id) for e in log.events})


def wait_until(done: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if done():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def mirror_of(tmp_path: Path) -> Iterator[Callable[[Shop], CaseMirror]]:
    opened: list[CaseMirror] = []

    def make(shop: Shop) -> CaseMirror:
        settings = shop.settings("mirror")
        domain = shop.domain(settings)
        mirror = CaseMirror(settings, domain.names, domain.serde, tmp_path / f"mirror-{len(opened)}")
        opened.append(mirror)
        return mirror

    yield make
    for mirror in opened:
        mirror.close()


def _ce_id(observation: Observation) -> str:
    return next(h.value.decode() for h in observation.headers if h.name == "ce_id")


def committed_events(mirror: CaseMirror) -> int:
    mirror.refresh()
    return sum(int(c.header.events) for c in mirror.cases())


@pytest.mark.slow
@pytest.mark.timeout(2400)
def test_ten_thousand_cases_every_injected_deviation_found_and_nothing_else(shop: Shop) -> None:
    log = generate(10_000, prefix=shop.prefix, seed=2026)
    assert all(len(log.case_ids(kind)) >= 100 for kind in DEVIATIONS)
    publish(log.events, shop.bootstrap, shop.prefix)
    settings = shop.settings("a")
    domain = shop.domain(settings)
    ensure_shadow_topics(settings, domain.names, 4)
    # Two instances in one group: the domain and the case partitions are shared between them.
    threads = [ShadowThread(shop.settings(i), domain).start() for i in ("a", "b")]
    expected = len(log.events)
    wait_until(
        lambda: sum(t.runtime.stats.applied + t.runtime.stats.duplicates for t in threads) >= expected,
        900,
        "both instances to apply every observation",
    )
    for t in threads:
        t.stop()
    stats = [t.runtime.stats for t in threads]
    assert sum(s.events for s in stats) == expected
    assert sum(s.duplicates for s in stats) == sum(1 for n in log.noise.values() if n == "duplicate")
    assert sum(s.applied for s in stats) == unique_events(log)
    assert sum(s.cases for s in stats) == 10_000
    assert sum(s.dead_lettered for s in stats) == 0
    assert all(t.runtime.stats.events > 0 for t in threads), "one instance did all the work"

    xes = shop.state_dir / "log.xes"
    report = build_report(
        shop.settings("report"),
        domain,
        workflows_module="examples.orders.workflows",
        jobs=2,
        now_ms=max(e.timestamp_ms for e in log.events) + HOUR_MS,
        xes=xes,
        mirror_dir=shop.state_dir / "report-mirror",
    )
    comparison = report.comparison
    assert comparison is not None and report.discovery.cases == 10_000
    found = {r.case_id: {d.kind.value for d in r.deviations} for r in comparison.results}
    for kind in DEVIATIONS:
        injected = log.case_ids(kind)
        flagged = {case for case, kinds in found.items() if kind in kinds}
        true_positives = len(flagged & injected)
        precision = true_positives / len(flagged) if flagged else 0.0
        recall = true_positives / len(injected)
        assert (precision, recall) == (1.0, 1.0), (kind, sorted(flagged ^ injected)[:5])
    assert not [case for case, kinds in found.items() if kinds and not log.truth[case]], "a conforming case flagged"
    assert comparison.count(Verdict.IN_PROGRESS) == comparison.count(Verdict.NOT_STARTED) == 0
    truth = independent_conformance(log)
    assert comparison.fitness == pytest.approx(sum(truth.values()) / len(truth), abs=1e-12)
    assert xes.read_text().count("<trace>") == 10_000


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_sigkilled_shadow_process_with_its_state_wiped_restores_and_counts_nothing_twice(
    shop: Shop, mirror_of: Callable[[Shop], CaseMirror], tmp_path: Path
) -> None:
    log = generate(600, prefix=shop.prefix, seed=7)
    settings = shop.settings("0")
    domain = shop.domain(settings)
    ensure_shadow_topics(settings, domain.names, 3)
    publish(log.events[:1500], shop.bootstrap, shop.prefix)
    mirror = mirror_of(shop)
    command = [sys.executable, "-m", "orchestrator.cli", "shadow", "run", "--config", str(MAPPING)]
    env = {**os.environ, **shop.env("0")}

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=(tmp_path / "shadow.log").open("ab"), stderr=subprocess.STDOUT
        )

    proc = start()
    try:
        wait_until(lambda: committed_events(mirror) > 200, 300, "the first committed cases")
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        shutil.rmtree(shop.state_dir / "0")  # the next start restores every partition from the changelog
        publish(log.events[1500:], shop.bootstrap, shop.prefix)
        proc = start()
        wait_until(lambda: committed_events(mirror) >= unique_events(log), 300, "every event in the committed cases")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    cases = {c.case_id: c for c in mirror.cases()}
    assert len(cases) == 600
    assert sum(int(c.header.duplicates) for c in cases.values()) == sum(
        1 for n in log.noise.values() if n == "duplicate"
    )
    by_case: dict[str, set[str]] = {}
    for e in log.events:
        by_case.setdefault(f"order-{e.order_id}", set()).add(e.value["eventType"] + e.ce_id)
    for case_id, case in cases.items():
        assert {e.observation.activity + _ce_id(e.observation) for e in case.events} == by_case[case_id]
    latest = max(e.timestamp_ms for e in log.events) + HOUR_MS
    judge_at = datetime.fromtimestamp(latest / 1000, tz=UTC).isoformat()
    report = subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", "shadow", "report", "--config", str(MAPPING), "--app",
         "examples.orders.workflows", "--out", str(tmp_path / "r.html"), "--json", str(tmp_path / "r.json"),
         "--now", judge_at, "--jobs", "1", "--fail-under", "1.0"],
        cwd=ROOT, env={**env, "SAGABRIDGE_INSTANCE_ID": "cli"}, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert report.returncode == 1, report.stderr  # deviations were injected: below --fail-under 1.0
    data = json.loads((tmp_path / "r.json").read_text())
    truth = independent_conformance(log)
    assert data["compare"]["fitness"] == round(sum(truth.values()) / len(truth), 6)
    assert data["discovery"]["cases"] == 600 and "<svg" in (tmp_path / "r.html").read_text()

    # The same report on the visibility web UI's Reports tab, rendered from the changelog when the page
    # is opened (here rather than at 10,000 cases: the page runs the very compare `shadow report` ran).
    source = shadow_report_source(
        settings, domain, workflows_module="examples.orders.workflows", mirror_dir=tmp_path / "ui-mirror"
    )
    page = source.render()
    assert source.slug == f"shadow-{domain.config.domain}" and page is not None
    assert "<script" not in page and "<svg" in page
    tiles = {label: figure for figure, label in re.findall(r"<b>([^<]*)</b><span>([^<]*)</span>", page)}
    assert tiles["cases"] == "600" and "fitness (conforming / judged)" in tiles
    judged = int(tiles["cases judged"]) + int(tiles["in progress (not judged)"]) + int(tiles["start never observed"])
    assert judged == 600 and int(tiles["conform"]) + int(tiles["deviate"]) == int(tiles["cases judged"])


def test_a_new_shadow_group_starts_where_asked(shop: Shop, mirror_of: Callable[[Shop], CaseMirror]) -> None:
    early = generate(40, prefix=shop.prefix, seed=1, deviation_rate=0, noise_rate=0)
    late = generate(80, prefix=shop.prefix, seed=2, deviation_rate=0, noise_rate=0, first=1000)
    settings = shop.settings("0")
    domain = shop.domain(settings)
    ensure_shadow_topics(settings, domain.names, 2)
    publish(early.events, shop.bootstrap, shop.prefix)
    runtime = ShadowRuntime(settings, domain.config, domain.shadow)
    chosen = start_group_at(shop.bootstrap, domain.names.group, runtime.source_topics, StartPosition(StartKind.LATEST))
    assert len(chosen) == 4 * 3  # every partition of the four events topics
    publish(late.events, shop.bootstrap, shop.prefix)
    thread = ShadowThread(settings, domain).start()
    try:
        mirror = mirror_of(shop)
        wait_until(lambda: committed_events(mirror) >= len(late.events), 120, "the later cases")
        assert {c.case_id for c in mirror.cases()} == set(late.truth)  # nothing from before the start
    finally:
        thread.stop()
    # A group with offsets keeps them: asking again changes nothing.
    assert (
        start_group_at(shop.bootstrap, domain.names.group, runtime.source_topics, StartPosition(StartKind.EARLIEST))
        == {}
    )
