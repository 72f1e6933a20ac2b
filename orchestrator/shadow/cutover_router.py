"""Cutover in the connector: each case goes to the workflow or stays with choreography, never both.

The connector of a domain with `[shadow.cutover]` routes every event it reads (the bridge's
`EventRouter` hook, called inside its exactly-once loop):

- the **start** of a case (an effect starting the cutover's workflow type) is decided once, by the
  current plan: live (its id in the key list, or its hash bucket under the share) or
  choreography. The decision is written to the routing topic (`case/<id>`) in the same
  transaction as the workflow's start or the event's relay. The first start decided under a plan
  version on a partition also writes where that version began (`switch/...`): the recorded offset;
- every **later event** of a case follows its start's decision (from this connector's memory, its
  mirror of the routing topic, or, when some plan could have made it live, the mirror caught up to
  the log end first); a case nobody decided started before the cutover: choreography's;
- a **live** case's effects reach the workflow; a **choreography** case's effects are dropped and,
  on relayed topics, the event is copied unchanged (same key, value, headers and partition number)
  to `relay_topic`, which the services read instead of the original topic (a configuration change).
  Events of no case, and events the bridge cannot read, are relayed too: choreography saw them before.

Rolling back is a plan like any other (share 0): new cases go to choreography, cases already live
finish under the workflow.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields

from orchestrator.admin.topic_specs import TopicRole, TopicSet, TopicSpec, apply
from orchestrator.bridge.errors import MappingError
from orchestrator.bridge.events import SourceEvent
from orchestrator.bridge.mapping import ConnectorConfig
from orchestrator.bridge.matching import Effect, Matcher, SignalWithStartEffect, StartEffect
from orchestrator.config import OrchestratorSettings
from orchestrator.errors import TopicError
from orchestrator.models.shadow import CaseRoute, CutoverPlan, SwitchRecord
from orchestrator.serialization import AvroSerde, SchemaRepository
from orchestrator.shadow.names import routing_topic
from orchestrator.shadow.routing import PlanHistory, case_key, routes_live, switch_key
from orchestrator.shadow.routing_table import RoutingTable, ensure_routing_topic
from orchestrator.shadow.settings import CutoverSettings
from orchestrator.transport.admin import KafkaAdmin
from orchestrator.transport.partitioning import partition_for
from orchestrator.transport.records import InboundRecord, OutboundRecord, make_headers

log = logging.getLogger(__name__)

REFRESH_S = 0.5
REMEMBERED = 200_000  # own decisions kept in memory (older ones are read back from the mirror)
H_RELAYED_FROM = "sb-relayed-from"
WEEK_MS = 7 * 24 * 3600 * 1000


@dataclass
class CutoverStats:
    """The routing connector's counters (in its stats line)."""

    started_live: int = 0  # new cases routed to the workflow
    started_choreography: int = 0  # new cases left to choreography
    live_events: int = 0  # events of live cases (their effects reach the workflow)
    choreography_events: int = 0  # events of choreography's cases (effects dropped)
    relayed: int = 0  # records copied to a relay topic
    lookups_synced: int = 0  # mirror catch-ups before routing an event

    def add(self, other: CutoverStats) -> None:
        """Fold a committed batch's counters into the totals."""
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


class CutoverRouter:
    """The `EventRouter` of a domain under cutover: decides each case once, routes its events, relays choreography's."""

    def __init__(
        self,
        settings: OrchestratorSettings,
        config: ConnectorConfig,
        cutover: CutoverSettings,
        repo: SchemaRepository,
        serde: AvroSerde,
        instance: str,
    ) -> None:
        self.settings = settings
        self.app = config.app or settings.app
        self.workflow_type = cutover.workflow_type
        self.matcher = Matcher(config, repo)
        self.serde = serde
        self.instance = instance
        self.topic = routing_topic(self.app)
        self.relays = {topic: cutover.relay_target(topic) for topic in cutover.relay}
        directory = settings.state_dir / f"{self.app}-routing-{config.domain}-{settings.instance_id}"
        self.table = RoutingTable(settings, self.app, serde, directory)
        self.history = PlanHistory(self.workflow_type, ())
        self.stats = CutoverStats()
        self._pending_stats = CutoverStats()
        self._decided: OrderedDict[str, bool] = OrderedDict()  # committed decisions of this instance
        self._pending: dict[str, bool] = {}  # this transaction's decisions
        self._switched: set[tuple[int, str, int]] = set()
        self._pending_switches: set[tuple[int, str, int]] = set()
        self._synced: set[int] = set()  # partitions caught up since the last commit
        self._touched: set[int] = set()  # routing partitions this transaction wrote to
        self._last_refresh = 0.0

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        """Create the relay topics and restore the routing topic (plans, switches, decided cases) before the first
        event."""
        ensure_routing_topic(self.settings, self.app)
        self._ensure_relay_topics()
        self.table.open()
        self._reload()
        log.info(
            "cutover of %s: plan %s, relaying %s", self.workflow_type, self._describe(self.history.current), self.relays
        )

    def _ensure_relay_topics(self) -> None:
        admin = KafkaAdmin(self.settings.bootstrap_servers, self.settings.client_properties())
        specs = []
        for source, target in self.relays.items():
            partitions = admin.partition_count(source)
            if partitions is None:
                raise TopicError(f"relayed topic {source!r} does not exist")
            specs.append(
                TopicSpec(
                    name=target,
                    partitions=partitions,  # the same partition numbers: per-key order is kept
                    role=TopicRole.OTHER,
                    config={"cleanup.policy": "delete", "retention.ms": str(WEEK_MS)},
                )
            )
        if specs:
            apply(admin, TopicSet(app=self.app, topics=tuple(specs)))

    def _reload(self) -> None:
        self.table.sync(own_open=self._touched)
        previous = self.history.current
        self.history = self.table.plans(self.workflow_type)
        self._switched = {(int(s.version), s.topic, int(s.partition)) for s in self.table.switches(self.workflow_type)}
        self._synced = set(range(len(self.table.stores)))
        if (
            previous is not None
            and self.history.current is not None
            and previous.version != self.history.current.version
        ):
            log.info("cutover of %s: new plan %s", self.workflow_type, self._describe(self.history.current))

    def poll(self) -> None:
        """Pick up a new plan version written by `cutover set|rollback` (at most every REFRESH_S)."""
        now = time.monotonic()
        if now - self._last_refresh >= REFRESH_S:
            self._last_refresh = now
            self._reload()

    def on_assign(self) -> None:
        """New partitions: catch the mirror up with what their previous owner decided before routing their events."""
        self._reload()

    def committed(self) -> None:
        """The batch committed: its decisions become this connector's memory."""
        for case, live in self._pending.items():
            self._decided[case] = live
            self._decided.move_to_end(case)
        while len(self._decided) > REMEMBERED:
            self._decided.popitem(last=False)
        self._switched |= self._pending_switches
        self.stats.add(self._pending_stats)
        self.aborted()

    def aborted(self) -> None:
        """The batch aborted: forget its decisions, they will be made again when the events are re-read."""
        self._touched.clear()
        self._pending.clear()
        self._pending_switches.clear()
        self._pending_stats = CutoverStats()
        self._synced.clear()

    def close(self) -> None:
        """Close the routing table's stores and restorer."""
        self.table.close()

    def stats_json(self) -> dict[str, object]:
        """Counters and the plan in force, for the connector's stats line."""
        plan = self.history.current
        return {
            "workflow_type": self.workflow_type,
            "plan_version": 0 if plan is None else int(plan.version),
            **asdict(self.stats),
        }

    # -- routing ------------------------------------------------------------------------------
    def route(
        self, record: InboundRecord, event: SourceEvent | None, effects: Sequence[Effect]
    ) -> tuple[list[Effect], list[OutboundRecord]]:
        """The effects of `record` that take place (a live case's) and the records to write with them (relays,
        decisions)."""
        cases = self._cases(event)
        starting = {
            e.workflow_id
            for e in effects
            if isinstance(e, StartEffect | SignalWithStartEffect) and e.workflow_type == self.workflow_type
        }
        out: list[OutboundRecord] = []
        live: set[str] = set()
        for case in cases:
            known = self._route_of(case, look_harder=case not in starting)
            if known is None and case in starting:
                known = self._decide(case, record, out)
            if known:
                live.add(case)
        stats = self._pending_stats
        kept = [e for e in effects if e.workflow_id in live]
        if live:
            stats.live_events += 1
        if not cases or len(live) < len(cases):
            stats.choreography_events += int(bool(cases))
            relayed = self._relay(record)
            if relayed is not None:
                out.append(relayed)
                stats.relayed += 1
        return kept, out

    def _cases(self, event: SourceEvent | None) -> list[str]:
        if event is None:
            return []
        try:
            return sorted({key.workflow_id for key in self.matcher.case_keys(event)})
        except MappingError:
            return []  # no case can be named: the bridge cannot drive it, choreography keeps it

    def _route_of(self, case: str, look_harder: bool) -> bool | None:
        """The case's decided route (True: live), or None if nobody decided it (yet)."""
        if case in self._pending:
            return self._pending[case]
        if case in self._decided:
            return self._decided[case]
        found = self.table.case_route(case)
        if found is None and look_harder and self.history.ever_live(case):
            partition = self.table.partition_of(case)
            if partition not in self._synced:  # decided elsewhere, moments ago? catch up once per batch
                self.table.sync([partition], own_open=self._touched)
                self._synced.add(partition)
                self._pending_stats.lookups_synced += 1
                found = self.table.case_route(case)
        return None if found is None else bool(found.live)

    def _decide(self, case: str, record: InboundRecord, out: list[OutboundRecord]) -> bool:
        plan = self.history.current
        live = routes_live(plan, case)
        version = 0 if plan is None else int(plan.version)
        now_ms = int(time.time() * 1000)
        if plan is not None:
            where = (version, record.topic, record.partition)
            if where not in self._switched and where not in self._pending_switches:
                self._pending_switches.add(where)
                switch = SwitchRecord(
                    workflow_type=self.workflow_type,
                    version=version,
                    topic=record.topic,
                    partition=record.partition,
                    offset=record.offset,
                    at_ms=now_ms,
                    instance=self.instance,
                )
                out.append(
                    self._record(switch_key(self.workflow_type, version, record.topic, record.partition), switch)
                )
        route = CaseRoute(
            case_id=case,
            workflow_type=self.workflow_type,
            live=live,
            version=version,
            source_topic=record.topic,
            source_partition=record.partition,
            source_offset=record.offset,
            at_ms=now_ms,
        )
        out.append(self._record(case_key(case), route))
        self._pending[case] = live
        if live:
            self._pending_stats.started_live += 1
        else:
            self._pending_stats.started_choreography += 1
        return live

    def _record(self, key: bytes, value: CaseRoute | SwitchRecord | CutoverPlan) -> OutboundRecord:
        self._touched.add(partition_for(key, len(self.table.stores)))
        return OutboundRecord(self.topic, key, self.serde.encode(value.avro_schema_name, value.to_avro()))

    def _relay(self, record: InboundRecord) -> OutboundRecord | None:
        target = self.relays.get(record.topic)
        if target is None:
            return None
        headers = record.headers + make_headers(
            [(H_RELAYED_FROM, f"{record.topic}:{record.partition}:{record.offset}")]
        )
        return OutboundRecord(target, record.key, record.value, headers, partition=record.partition)

    @staticmethod
    def _describe(plan: CutoverPlan | None) -> str:
        if plan is None:
            return "none (every new case stays with choreography)"
        return f"v{plan.version} {plan.action.value} share={plan.share_bp / 100:.2f}% keys={len(plan.keys)}"


__all__ = ["H_RELAYED_FROM", "CutoverRouter", "CutoverStats"]
