"""Shadow mode without a broker: the case store, discovery, the renderings, compare and its verdicts."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from examples.choreography.generated_log import DEVIATIONS, Event, generate
from examples.orders.workflows import registry
from orchestrator.bridge import parse_connector_config
from orchestrator.bridge.errors import MappingConfigError
from orchestrator.models.shadow import CutoverAction, CutoverPlan, Observation
from orchestrator.serialization import SchemaRepository, SingleObjectSerde
from orchestrator.shadow.case_store import Applied, CaseStore
from orchestrator.shadow.compare import summarise
from orchestrator.shadow.discovery import Trace, discover, percentile
from orchestrator.shadow.graph_svg import render_svg
from orchestrator.shadow.mermaid import to_mermaid
from orchestrator.shadow.report import ShadowReport, attention_edges
from orchestrator.shadow.routing import PlanHistory, bucket, routes_live, share_bp
from orchestrator.shadow.sandbox import Sandbox
from orchestrator.shadow.settings import shadow_settings
from orchestrator.shadow.verdicts import DeviationKind, Verdict
from orchestrator.shadow.xes import write_xes
from orchestrator.testing.memory_store import MemoryStore
from tests.shadow.shop import DECLINED, HAPPY, InMemoryShadow, independent_conformance, record_of

serde = SingleObjectSerde(SchemaRepository())


def observation(case: str, activity: str, at: int, message_id: str | None = None) -> Observation:
    return Observation(
        case_id=case,
        activity=activity,
        timestamp_ms=at,
        source_topic="t",
        source_partition=0,
        source_offset=at,
        message_id=message_id or f"{activity}-{at}",
    )


# -- the case store ---------------------------------------------------------------------------


def test_duplicates_are_dropped_and_counted_out_of_order_kept_in_time_order() -> None:
    store = CaseStore(MemoryStore().begin(), serde)
    assert store.apply(observation("c", "B", 200), 60_000).applied is Applied.NEW_CASE
    early = store.apply(observation("c", "A", 100), 60_000)
    assert early.applied is Applied.APPENDED and early.out_of_order
    assert store.apply(observation("c", "A", 100), 60_000).applied is Applied.DUPLICATE
    case = store.case("c")
    assert case is not None
    assert [e.observation.activity for e in case.events] == ["A", "B"]
    assert (case.header.events, case.header.duplicates, case.header.out_of_order) == (2, 1, 1)
    assert (case.header.first_ms, case.header.last_ms) == (100, 200)


def test_late_means_behind_the_partitions_stream_time_by_more_than_grace() -> None:
    store = CaseStore(MemoryStore().begin(), serde)
    store.apply(observation("a", "X", 1_000_000), 60_000)
    assert not store.apply(observation("b", "X", 1_000_000 - 59_000), 60_000).late
    late = store.apply(observation("c", "X", 1_000_000 - 61_000), 60_000)
    assert late.late and late.applied is Applied.NEW_CASE
    assert store.clock().stream_time_ms == 1_000_000


def test_case_ids_with_separators_stay_apart() -> None:
    store = CaseStore(MemoryStore().begin(), serde)
    for case in ("a", "a/b", "a%2Fb", "a-b"):
        store.apply(observation(case, "X", 1), 1000)
    assert sorted(c.case_id for c in store.cases()) == ["a", "a%2Fb", "a-b", "a/b"]


@settings(max_examples=40, deadline=None)
@given(st.permutations(list(range(8))), st.lists(st.integers(0, 7), max_size=5))
def test_any_arrival_order_and_repeats_give_the_same_case(order: list[int], repeats: list[int]) -> None:
    """Property: the stored case is its events in time order, whatever order they arrive in and
    however often one is re-published."""
    store = CaseStore(MemoryStore().begin(), serde)
    for i in [*order, *repeats]:
        store.apply(observation("c", f"A{i}", 1000 + i, f"m{i}"), 10)
    case = store.case("c")
    assert case is not None
    assert [e.observation.activity for e in case.events] == [f"A{i}" for i in range(8)]
    assert case.header.duplicates == len(repeats)


# -- observe ------------------------------------------------------------------------------------


def test_observe_groups_by_the_mappings_correlation_and_counts_what_it_cannot_read() -> None:
    shadow = InMemoryShadow("u1")
    placed = Event("orders", {"eventType": "OrderPlaced", "orderId": "A-1"}, 1000)
    unknown = Event("orders", {"eventType": "Audited", "orderId": "A-1"}, 1001)
    reserved = Event("inventory", {"eventType": "StockReserved", "orderId": "A-1", "reservationId": "h"}, 1002)
    bad = record_of(placed, "u1", 99)
    bad = type(bad)(bad.topic, 0, 99, b"A-1", b"{not json", bad.headers, 1003)
    shadow.feed([record_of(placed, "u1", 1), record_of(unknown, "u1", 2), record_of(reserved, "u1", 3), bad])
    [case] = shadow.cases()
    assert case.case_id == "order-A-1"
    assert [e.observation.activity for e in case.events] == ["OrderPlaced", "StockReserved"]
    assert case.events[0].observation.producer == "/shop/orders"
    assert case.events[1].observation.matched_by == ["stock-reserved"]
    assert (shadow.stats.filtered, shadow.stats.dead_lettered, shadow.dead_letters) == (1, 1, ["malformed"])


def test_a_shadow_case_rule_adds_events_the_workflow_does_not_read() -> None:
    shadow = InMemoryShadow("u2")
    rule = {
        "case": [
            {
                "name": "audit",
                "topics": ["u2.orders.events"],
                "event": "Audited",
                "correlation": "order-{value.orderId}",
            }
        ]
    }
    config = shadow.config.model_copy(update={"shadow": rule})
    shadow = InMemoryShadow("u2", shadow_settings(config))
    shadow.feed([record_of(Event("orders", {"eventType": "Audited", "orderId": "A-2"}, 5), "u2", 1)])
    [case] = shadow.cases()
    assert case.events[0].observation.matched_by == ["audit"]


def test_shadow_settings_fail_fast_naming_the_setting() -> None:
    config = InMemoryShadow("u3").config
    with pytest.raises(MappingConfigError, match=r"shadow\.stall_after"):
        shadow_settings(config.model_copy(update={"shadow": {"stall_after": "soon"}}))
    with pytest.raises(MappingConfigError, match=r"shadow\.case\[x\]\.topics"):
        shadow_settings(
            config.model_copy(update={"shadow": {"case": [{"name": "x", "topics": ["nope"], "correlation": "{key}"}]}})
        )
    with pytest.raises(MappingConfigError, match=r"shadow\.allow"):
        shadow_settings(config.model_copy(update={"shadow": {"allow": [{"kind": "typo"}]}}))
    assert parse_connector_config({"domain": "d"}).shadow == {}


# -- discovery --------------------------------------------------------------------------------


def test_discovery_graph_variants_ends_and_stalls() -> None:
    traces = [
        Trace("c1", HAPPY, (0, 100, 300, 600)),
        Trace("c2", HAPPY, (0, 200, 400, 1000)),
        Trace("c3", DECLINED, (0, 50, 60, 70)),
        Trace("c4", ("OrderPlaced", "StockReserved"), (0, 10)),  # stuck after the reservation
    ]
    d = discover(traces, stall_after=timedelta(milliseconds=500), now_ms=2000)
    assert (d.cases, d.events) == (4, 14)
    edge = d.edge("OrderPlaced", "StockReserved")
    assert edge is not None and edge.count == 4 and edge.latency_ms[50] == 50 and edge.latency_ms[99] == 200
    assert d.starts == {"OrderPlaced": 4}
    assert set(d.end_activities) == {"ShipmentCreated", "StockReleased"}
    assert (d.variants[0].activities, d.variants[0].count) == (HAPPY, 2)
    assert d.variants[0].share == 0.5
    assert [s.case_id for s in d.stalled] == ["c4"]
    assert percentile([1, 2, 3, 4], 50) == 2 and percentile([], 90) == 0


def test_renderings_name_every_activity_and_hop() -> None:
    d = discover([Trace("c1", HAPPY, (0, 1, 2, 3)), Trace("c2", DECLINED, (0, 1, 2, 3))], stall_after=timedelta(0))
    svg = render_svg(d, attention={("StockReserved", "PaymentDeclined")})
    ET.fromstring(svg)  # well-formed
    for name in {*HAPPY, *DECLINED}:
        assert name in svg
    assert svg.count("<path") >= len(d.edges) and "arrow-red" in svg
    mermaid = to_mermaid(d)
    assert mermaid.startswith("flowchart TD") and mermaid.count("-->") == len(d.starts) + len(d.edges) + 2


def test_xes_is_ieee_1849_shaped() -> None:
    shadow = InMemoryShadow("u4")
    shadow.feed_log(generate(20, prefix="u4", seed=3, start_ms=1_767_225_600_000))
    out = io.StringIO()
    assert write_xes(out, shadow.cases(), "shop") == 20
    ns = {"x": "http://www.xes-standard.org/"}
    log = ET.fromstring(out.getvalue())
    assert log.get("xes.version") == "1849-2016"
    assert {e.get("prefix") for e in log.findall("x:extension", ns)} >= {"concept", "time", "lifecycle"}
    traces = log.findall("x:trace", ns)
    assert len(traces) == 20
    first = traces[0].find("x:event", ns)
    assert first is not None
    keys = {a.get("key"): a.get("value") for a in first}
    assert keys["concept:name"] == "OrderPlaced" and str(keys["time:timestamp"]).startswith("2026-01-01T")
    assert keys["org:resource"] == "/shop/orders"


# -- compare ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def judged() -> tuple[object, object]:
    log = generate(400, prefix="u5", seed=5, deviation_rate=0.04)
    shadow = InMemoryShadow("u5")
    shadow.feed_log(log)
    sandbox = Sandbox(shadow.config, registry, shadow.repo, shadow.serde)
    raw = [sandbox.judge(case, settled=True) for case in shadow.cases()]
    return log, summarise("order-fulfilment", raw, shadow.settings, sandbox.compensation_types)


def test_compare_finds_exactly_the_injected_deviation_of_every_case(judged: tuple) -> None:  # type: ignore[type-arg]
    log, comparison = judged
    for kind in DEVIATIONS:
        assert log.case_ids(kind), f"the generator injected no {kind}"
    for result in comparison.results:
        injected = log.truth[result.case_id]
        assert {d.kind.value for d in result.deviations} == ({injected} if injected else set()), result
        assert result.verdict is (Verdict.DEVIATES if injected else Verdict.CONFORMS)
    assert comparison.kinds[DeviationKind.MISSING_STEP].steps == {
        "missing step: payments ChargePayment": len(log.case_ids("missing_step"))
    }


def test_fitness_agrees_with_an_independent_replay(judged: tuple) -> None:  # type: ignore[type-arg]
    log, comparison = judged
    truth = independent_conformance(log)
    assert comparison.fitness == sum(truth.values()) / len(truth)
    assert {r.case_id for r in comparison.results if r.verdict is Verdict.CONFORMS} == {
        c for c, ok in truth.items() if ok
    }


def test_what_the_workflow_would_have_sent() -> None:
    log = generate(30, prefix="u6", seed=1, deviation_rate=0.0, decline_rate=0.0)
    shadow = InMemoryShadow("u6")
    shadow.feed_log(log)
    sandbox = Sandbox(shadow.config, registry, shadow.repo, shadow.serde)
    result = sandbox.judge(shadow.cases()[0], settled=True)
    assert result.commands == ["inventory ReserveStock", "payments ChargePayment", "shipping CreateShipment"]
    assert result.workflow_status == "completed"


def test_an_unfinished_recent_case_is_in_progress_and_a_case_without_its_start_is_not_compared() -> None:
    shadow = InMemoryShadow("u7")
    order = {
        "eventType": "OrderPlaced",
        "orderId": "A-7",
        "customer": {"id": "c"},
        "item": {"sku": "s", "quantity": 1},
        "total": {"amountCents": 5, "currency": "EUR"},
    }
    placed = Event("orders", order, 1)
    orphan = Event("inventory", {"eventType": "StockReserved", "orderId": "B-7", "reservationId": "h"}, 2)
    shadow.feed([record_of(placed, "u7", 1), record_of(orphan, "u7", 2)])
    sandbox = Sandbox(shadow.config, registry, shadow.repo, shadow.serde)
    verdicts = {c.case_id: sandbox.judge(c, settled=False).verdict for c in shadow.cases()}
    assert verdicts == {"order-A-7": Verdict.IN_PROGRESS, "order-B-7": Verdict.NOT_STARTED}
    [placed_case] = [c for c in shadow.cases() if c.case_id == "order-A-7"]
    settled = sandbox.judge(placed_case, settled=True)
    assert [d.kind for d in settled.deviations] == [DeviationKind.MISSING_STEP] * 3


def test_the_allow_list_silences_a_known_difference(judged: tuple) -> None:  # type: ignore[type-arg]
    log, comparison = judged
    shadow = InMemoryShadow("u5")
    allow = {"allow": [{"kind": "repeated_step", "activity": "Payment*", "reason": "retries of the PSP"}]}
    settings_ = shadow_settings(shadow.config.model_copy(update={"shadow": allow}))
    again = summarise("order-fulfilment", comparison.results, settings_, set(comparison.compensation_types))
    assert DeviationKind.REPEATED_STEP not in again.kinds
    assert again.allowed[DeviationKind.REPEATED_STEP].cases == len(log.case_ids("repeated_step"))
    assert again.count(Verdict.CONFORMS) == comparison.count(Verdict.CONFORMS) + len(log.case_ids("repeated_step"))


def test_the_html_report_carries_the_graph_the_fitness_and_examples(judged: tuple) -> None:  # type: ignore[type-arg]
    log, comparison = judged
    shadow = InMemoryShadow("u5")
    shadow.feed_log(log)
    traces = [Trace.of(c) for c in shadow.cases()]
    d = discover(traces, stall_after=timedelta(minutes=30))
    report = ShadowReport("shop", d, comparison, attention_edges(traces, comparison), 0)
    html = report.html()
    assert "<svg" in html and "flowchart TD" in html
    assert f"{100 * comparison.fitness:.1f}%" in html
    example = comparison.kinds[DeviationKind.WRONG_ORDER].examples[0]
    assert example in html
    assert ("PaymentCharged", "StockReserved") in report.attention
    data = json.loads(report.json_text(cases=True))
    assert data["compare"]["fitness"] == round(comparison.fitness, 6) and len(data["compare"]["results"]) == 400


# -- cutover routing (the pure rule) ---------------------------------------------------------------


def _plan(version: int, share: float = 0.0, keys: tuple[str, ...] = (), rollback: bool = False) -> CutoverPlan:
    return CutoverPlan(
        workflow_type="order-fulfilment",
        version=version,
        action=CutoverAction.ROLLBACK if rollback else CutoverAction.SET,
        share_bp=share_bp(share),
        keys=list(keys),
        created_at_ms=0,
        created_by="test",
    )


def test_the_business_key_hash_routes_a_stable_share_of_new_cases() -> None:
    ids = [f"order-{i}" for i in range(20_000)]
    assert [bucket(i) for i in ids[:50]] == [bucket(i) for i in ids[:50]]  # stable, process-independent
    live = sum(routes_live(_plan(1, 0.25), i) for i in ids)
    assert 0.23 * len(ids) < live < 0.27 * len(ids)
    assert routes_live(_plan(1, 0.25), "order-1") == (bucket("order-1") < 2500)
    assert not any(routes_live(None, i) for i in ids[:100])  # no plan: choreography
    assert all(routes_live(_plan(1, 1.0), i) for i in ids[:100])
    assert routes_live(_plan(1, 0.0, keys=("order-7",)), "order-7") and not routes_live(_plan(1), "order-8")
    assert not routes_live(_plan(2, 1.0, rollback=True), "order-7")
    with pytest.raises(ValueError, match="between 0 and 1"):
        share_bp(1.5)


def test_a_plan_history_knows_which_cases_some_version_could_have_made_live() -> None:
    history = PlanHistory("order-fulfilment", (_plan(1, 0.1), _plan(2, 0.0, rollback=True)))
    assert history.current is not None and history.current.version == 2 and history.next_version == 3
    maybe = [i for i in (f"order-{n}" for n in range(200)) if history.ever_live(i)]
    assert maybe == [i for i in (f"order-{n}" for n in range(200)) if bucket(i) < 1000]
    assert PlanHistory("x", ()).next_version == 1 and not PlanHistory("x", ()).ever_live("order-1")
