"""Read every case of a domain, wherever `shadow run` instances keep them: from the changelog.

The compacted changelog is the truth (design.md §4), and reading it needs no access to the
running instances' RocksDB. `CaseMirror` restores it, partition by partition, into a local
mirror (the same restore consumer the engine uses; incremental, so a second report reads only
what changed since the first) and streams the cases back.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from orchestrator.config import OrchestratorSettings
from orchestrator.errors import TopicError
from orchestrator.serialization import AvroSerde
from orchestrator.shadow.case_store import CaseStore, StoredCase
from orchestrator.shadow.names import ShadowNames
from orchestrator.state import PartitionStore, partition_path
from orchestrator.transport.admin import KafkaAdmin
from orchestrator.transport.restore import ChangelogRestorer, RestoreStats


@dataclass
class CaseMirror:
    """A local, read-only copy of one domain's case store. Close it (or use `with`)."""

    settings: OrchestratorSettings
    names: ShadowNames
    serde: AvroSerde
    directory: Path | None = None
    stores: list[PartitionStore] = field(default_factory=list)
    restored: list[RestoreStats] = field(default_factory=list)

    def refresh(self) -> list[RestoreStats]:
        """Bring every partition up to the changelog's end as of now."""
        s = self.settings
        partitions = KafkaAdmin(s.bootstrap_servers, s.client_properties()).partition_count(self.names.changelog)
        if partitions is None:
            raise TopicError(
                f"topic {self.names.changelog!r} does not exist: run `orchestrator shadow run` for this domain first"
            )
        root = self.directory or self.names.mirror_dir(s.state_dir)
        if not self.stores:
            self.stores = [PartitionStore.open(partition_path(root, "cases", p), p) for p in range(partitions)]
        with ChangelogRestorer(s.bootstrap_servers, self.names.changelog, s.client_properties()) as restorer:
            self.restored = [restorer.restore(store, store.partition) for store in self.stores]
        return self.restored

    def cases(self) -> Iterator[StoredCase]:
        """Every case restored so far, partition by partition."""
        for store in self.stores:
            yield from CaseStore(store.begin(), self.serde).cases()

    def case(self, case_id: str) -> StoredCase | None:
        """One case, from the partition its id hashes to."""
        for store in self.stores:
            found = CaseStore(store.begin(), self.serde).case(case_id)
            if found is not None:
                return found
        return None

    def close(self) -> None:
        """Close the mirror's RocksDB stores."""
        for store in self.stores:
            store.close()
        self.stores = []

    def __enter__(self) -> CaseMirror:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


__all__ = ["CaseMirror"]
