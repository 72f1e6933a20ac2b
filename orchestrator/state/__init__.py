"""Per-partition RocksDB state: checkpoint overlay and atomic apply with the changelog offset.

Plain RocksDB, no Kafka: restoring from the changelog is Kafka I/O and lives in
`orchestrator.transport.restore`. Engine tests drive the store without a broker.
"""

from orchestrator.state.partition_store import FORMAT_VERSION, PartitionStore, partition_path, prefix_end
from orchestrator.state.pending_txn import PendingTxn
from orchestrator.state.store_memory import RocksDBSettings, StoreMemory

__all__ = [
    "FORMAT_VERSION",
    "PartitionStore",
    "PendingTxn",
    "RocksDBSettings",
    "StoreMemory",
    "partition_path",
    "prefix_end",
]
