"""The partition engine: a pure core (core.py and friends) and the transactional runner around it."""

from orchestrator.engine.core import PartitionEngine
from orchestrator.engine.state_txn import StateTxn
from orchestrator.engine.topics import EngineTopics

__all__ = ["EngineTopics", "PartitionEngine", "StateTxn"]
