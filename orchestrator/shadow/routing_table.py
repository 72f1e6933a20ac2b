"""A local mirror of the routing topic: plans, switch offsets and live cases, caught up on demand.

Read with the engine's restore consumer (read_committed, up to the log end as of the call), into
one RocksDB per partition under `<state_dir>/<app>-routing-<instance>/`, so a restart catches up
only what changed. A connector syncs it at start and on every partition assignment (so it knows
where its predecessor switched), every `refresh` for new plans, and before routing an event whose
case some plan could have made live but that it has not seen decided: the decision was committed
before anything caused by that case was published, so catching up to the log end finds it.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

from orchestrator.admin.topic_specs import TopicRole, TopicSet, TopicSpec, apply
from orchestrator.config import OrchestratorSettings
from orchestrator.errors import TopicError
from orchestrator.models.shadow import CaseRoute, CutoverPlan, SwitchRecord
from orchestrator.serialization import AvroSerde
from orchestrator.shadow.names import routing_topic
from orchestrator.shadow.routing import CASE, PlanHistory, case_key, plan_prefix, switch_prefix
from orchestrator.state import PartitionStore, partition_path, prefix_end
from orchestrator.transport.admin import KafkaAdmin
from orchestrator.transport.partitioning import partition_for
from orchestrator.transport.restore import ChangelogRestorer

DEFAULT_PARTITIONS = 3


def ensure_routing_topic(settings: OrchestratorSettings, app: str, partitions: int = DEFAULT_PARTITIONS) -> None:
    """Create the compacted routing topic when it is missing (every cutover command and connector may be first)."""
    spec = TopicSpec(
        name=routing_topic(app),
        role=TopicRole.OTHER,
        partitions=partitions,
        config={"cleanup.policy": "compact", "min.compaction.lag.ms": "0"},
    )
    apply(KafkaAdmin(settings.bootstrap_servers, settings.client_properties()), TopicSet(app=app, topics=(spec,)))


class RoutingTable:
    """A local mirror of the routing topic (one RocksDB per partition), restored incrementally."""

    def __init__(self, settings: OrchestratorSettings, app: str, serde: AvroSerde, directory: Path) -> None:
        self.settings = settings
        self.topic = routing_topic(app)
        self.serde = serde
        self.directory = directory
        self.stores: list[PartitionStore] = []
        self._restorer: ChangelogRestorer | None = None

    def open(self) -> RoutingTable:
        """Open the partition stores and the restorer; use as a context manager."""
        s = self.settings
        count = KafkaAdmin(s.bootstrap_servers, s.client_properties()).partition_count(self.topic)
        if count is None:
            raise TopicError(f"routing topic {self.topic!r} does not exist: run `orchestrator cutover set` first")
        self.stores = [PartitionStore.open(partition_path(self.directory, "routing", p), p) for p in range(count)]
        self._restorer = ChangelogRestorer(s.bootstrap_servers, self.topic, s.client_properties())
        return self

    def sync(self, partitions: Iterable[int] | None = None, own_open: Iterable[int] = ()) -> None:
        """Catch up (all partitions, or those named) to the routing topic's end as of now.

        `own_open`: partitions the caller's own open transaction wrote to: caught up to their last
        stable offset instead (waiting for the log end would wait for that very transaction).
        """
        assert self._restorer is not None, "open() first"
        wanted = range(len(self.stores)) if partitions is None else sorted(set(partitions))
        mine = set(own_open)
        for p in wanted:
            self._restorer.restore(self.stores[p], p, committed_end=p in mine)

    def partition_of(self, case_id: str) -> int:
        """The routing topic partition a case's route is written to (keyed by case id)."""
        return partition_for(case_key(case_id), len(self.stores))

    # -- reads ------------------------------------------------------------------------------
    def plans(self, workflow_type: str) -> PlanHistory:
        """Every plan version of `workflow_type`, oldest first."""
        start = plan_prefix(workflow_type)
        found = [
            CutoverPlan.from_avro(self.serde.decode(raw, CutoverPlan.avro_schema_name).value)
            for store in self.stores
            for _, raw in store.scan(start, prefix_end(start))
        ]
        return PlanHistory(workflow_type, tuple(sorted(found, key=lambda p: p.version)))

    def switches(self, workflow_type: str) -> list[SwitchRecord]:
        """Every switch record of `workflow_type`."""
        start = switch_prefix(workflow_type)
        found = [
            SwitchRecord.from_avro(self.serde.decode(raw, SwitchRecord.avro_schema_name).value)
            for store in self.stores
            for _, raw in store.scan(start, prefix_end(start))
        ]
        return sorted(found, key=lambda s: (s.version, s.topic, s.partition))

    def case_route(self, case_id: str) -> CaseRoute | None:
        """The route a case was given at its start, or None (it started before the cutover: choreography's)."""
        raw = self.stores[self.partition_of(case_id)].get(case_key(case_id))
        return None if raw is None else CaseRoute.from_avro(self.serde.decode(raw, CaseRoute.avro_schema_name).value)

    def live_cases(self, workflow_type: str | None = None, *, live: bool = True) -> int:
        """How many decided cases took the route `live` (True: the workflow's)."""
        count = 0
        for store in self.stores:
            for _, raw in store.scan(CASE, prefix_end(CASE)):
                route = CaseRoute.from_avro(self.serde.decode(raw, CaseRoute.avro_schema_name).value)
                if route.live is live and workflow_type in (None, route.workflow_type):
                    count += 1
        return count

    def close(self) -> None:
        """Close the restorer and the stores."""
        if self._restorer is not None:
            self._restorer.close()
            self._restorer = None
        for store in self.stores:
            store.close()
        self.stores = []

    def __enter__(self) -> RoutingTable:
        return self.open()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


__all__ = ["DEFAULT_PARTITIONS", "RoutingTable", "ensure_routing_topic"]
