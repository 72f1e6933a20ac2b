"""The bridge: connectors turn the events services already publish into workflow starts, signals
and step outcomes, and drive native participants on their own topics (docs/bridge.md).

Layers: `mapping` (the pydantic models of a connectors/<domain>.toml), `expressions` (JMESPath and
templates), `events` (a source record as expressions see it), `matching` (event -> effects),
`inbox` (effects -> control records), `processor` (the pure connector core with the DLQ rules),
`outbound` (a step's command -> the native service's record), `check` (mappings vs schemas):
all Kafka-free and reusable (shadow mode builds on them). `runtime` is the exactly-once loop,
through orchestrator/transport/.
"""

from orchestrator.bridge.errors import (
    ExpressionEvaluationError,
    InvalidFieldError,
    MappingCheckError,
    MappingConfigError,
    MappingError,
    MissingFieldError,
    UnmatchedEventError,
)
from orchestrator.bridge.events import SourceEvent, decode_event
from orchestrator.bridge.expressions import Expression, Template
from orchestrator.bridge.fieldmap import FieldMap
from orchestrator.bridge.mapping import (
    CommandMapping,
    ConnectorConfig,
    InboxRecordKind,
    OnExisting,
    OnMissing,
    Outcome,
    OutcomeStatus,
    Participant,
    SourceTopic,
    Trigger,
    TriggerAction,
    ValueFormat,
    load_connector_file,
    parse_connector_config,
)
from orchestrator.bridge.matching import Effect, Matcher

__all__ = [
    "CommandMapping",
    "ConnectorConfig",
    "Effect",
    "Expression",
    "ExpressionEvaluationError",
    "FieldMap",
    "InboxRecordKind",
    "InvalidFieldError",
    "MappingCheckError",
    "MappingConfigError",
    "MappingError",
    "Matcher",
    "MissingFieldError",
    "OnExisting",
    "OnMissing",
    "Outcome",
    "OutcomeStatus",
    "Participant",
    "SourceEvent",
    "SourceTopic",
    "Template",
    "Trigger",
    "TriggerAction",
    "UnmatchedEventError",
    "ValueFormat",
    "decode_event",
    "load_connector_file",
    "parse_connector_config",
]
