"""The partition engine: a pure core (core.py and friends) and the transactional runner around it."""

from orchestrator.engine.core import PartitionEngine
from orchestrator.engine.topics import EngineTopics
from orchestrator.engine.txn import StateTxn

__all__ = ["EngineTopics", "PartitionEngine", "StateTxn"]
