"""Per-partition RocksDB state: checkpoint overlay, atomic apply with the changelog offset, restore.

Only `restore` does Kafka I/O (an assign-only, read_committed consumer); the store itself is
plain RocksDB and can be driven without a broker (engine tests do).
"""

from orchestrator.state.pending import PendingTxn
from orchestrator.state.restore import ChangelogRestorer, RestoreStats
from orchestrator.state.store import FORMAT_VERSION, PartitionStore, partition_path, prefix_end

__all__ = [
    "FORMAT_VERSION",
    "ChangelogRestorer",
    "PartitionStore",
    "PendingTxn",
    "RestoreStats",
    "partition_path",
    "prefix_end",
]
