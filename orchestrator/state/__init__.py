"""Per-partition RocksDB state: checkpoint overlay and atomic apply with the changelog offset.

Plain RocksDB, no Kafka: restoring from the changelog is Kafka I/O and lives in
`orchestrator.transport.restore`. Engine tests drive the store without a broker.
"""

from orchestrator.state.pending import PendingTxn
from orchestrator.state.store import FORMAT_VERSION, PartitionStore, partition_path, prefix_end

__all__ = [
    "FORMAT_VERSION",
    "PartitionStore",
    "PendingTxn",
    "partition_path",
    "prefix_end",
]
