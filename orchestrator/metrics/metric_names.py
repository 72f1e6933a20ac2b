"""Metric names, units, attribute names and histogram buckets (docs/metrics.md lists every one).

OpenTelemetry semantic conventions where they exist (`messaging.*` for Kafka clients, `process.*`
and `cpython.*` from the system-metrics instrumentation, `error.type`); `sagabridge.*` for what
they do not cover. Units are UCUM as OTel wants them (`s`, `{workflow}`); the Prometheus exporter
turns `sagabridge.step.duration` (s) into `sagabridge_step_duration_seconds` and counters get
`_total`. Attribute names are shared with the spans (orchestrator/tracing/attributes.py), so a
metric and a trace of the same thing carry the same labels.
"""

from __future__ import annotations

from typing import Final

from orchestrator.tracing import attributes as span_attributes

# --- meters (the OTel instrumentation scope of each component) ---------------------------------
ORCHESTRATOR_METER: Final = "sagabridge.orchestrator"
WORKER_METER: Final = "sagabridge.worker"
CONNECTOR_METER: Final = "sagabridge.connector"
MESSAGING_METER: Final = "sagabridge.messaging"  # the instruments both share (messaging_metrics.py)

# --- semantic conventions (messaging, semconv >= 1.27) --------------------------------------------
MESSAGING_CONSUMED: Final = "messaging.client.consumed.messages"
MESSAGING_SENT: Final = "messaging.client.sent.messages"
MESSAGING_PROCESS_DURATION: Final = "messaging.process.duration"

# --- workflows -----------------------------------------------------------------------------------
WORKFLOW_STARTED: Final = "sagabridge.workflow.started"
WORKFLOW_CLOSED: Final = "sagabridge.workflow.closed"
WORKFLOW_PARKED: Final = "sagabridge.workflow.parked"
WORKFLOW_DURATION: Final = "sagabridge.workflow.duration"
WORKFLOW_CACHE_SIZE: Final = "sagabridge.workflow.cache.size"
OPERATOR_ACTIONS: Final = "sagabridge.operator.actions"

# --- steps ---------------------------------------------------------------------------------------
STEP_SCHEDULED: Final = "sagabridge.step.scheduled"
STEP_RETRIES: Final = "sagabridge.step.retries"
STEP_DURATION: Final = "sagabridge.step.duration"
REPLIES_IGNORED: Final = "sagabridge.step.replies.ignored"

# --- the orchestrator process ----------------------------------------------------------------------
DLQ_RECORDS: Final = "sagabridge.dlq.records"
CHECKPOINT_DURATION: Final = "sagabridge.checkpoint.duration"
CONSUMER_LAG: Final = "sagabridge.consumer.lag"
PARTITIONS_OWNED: Final = "sagabridge.partitions.owned"
RESTORE_DURATION: Final = "sagabridge.restore.duration"
RESTORE_RECORDS: Final = "sagabridge.restore.records"
HANDOVER_DURATION: Final = "sagabridge.handover.duration"
PRODUCER_RECOVERIES: Final = "sagabridge.producer.recoveries"
PRODUCER_RECOVERY_TIME: Final = "sagabridge.producer.recovery.time"
CONSUMER_REPLACEMENTS: Final = "sagabridge.consumer.replacements"
OWNERS_FENCED: Final = "sagabridge.partition.owners_fenced"
BROKER_CALL_RETRIES: Final = "sagabridge.broker.call.retries"
LOOP_PASS_AGE: Final = "sagabridge.loop.pass.age"

# --- the worker SDK --------------------------------------------------------------------------------
WORKER_COMMANDS: Final = "sagabridge.worker.commands"
WORKER_ACTIVE: Final = "sagabridge.worker.handlers.active"
WORKER_DEDUPE_SIZE: Final = "sagabridge.worker.dedupe.size"

# --- the bridge's connectors (committed transactions only) ------------------------------------------
CONNECTOR_EVENTS: Final = "sagabridge.connector.events"
CONNECTOR_EFFECTS: Final = "sagabridge.connector.effects"
CONNECTOR_DEAD_LETTERED: Final = "sagabridge.connector.dead_lettered"
CONNECTOR_TRANSACTIONS: Final = "sagabridge.connector.transactions"
CONNECTOR_PRODUCER_RECOVERIES: Final = "sagabridge.connector.producer.recoveries"

# --- attributes ----------------------------------------------------------------------------------
MESSAGING_SYSTEM: Final = span_attributes.MESSAGING_SYSTEM
MESSAGING_OPERATION_NAME: Final = span_attributes.MESSAGING_OPERATION_NAME
MESSAGING_DESTINATION_NAME: Final = span_attributes.MESSAGING_DESTINATION_NAME
MESSAGING_DESTINATION_PARTITION_ID: Final = span_attributes.MESSAGING_DESTINATION_PARTITION_ID
MESSAGING_CONSUMER_GROUP_NAME: Final = span_attributes.MESSAGING_CONSUMER_GROUP_NAME
ERROR_TYPE: Final = span_attributes.ERROR_TYPE
SYSTEM_KAFKA: Final = span_attributes.SYSTEM_KAFKA
OP_POLL: Final = "poll"  # the consumer operation name semconv gives for Kafka's poll
OP_SEND: Final = span_attributes.OP_SEND
OP_PROCESS: Final = span_attributes.OP_PROCESS

WORKFLOW_TYPE: Final = span_attributes.WORKFLOW_TYPE
WORKFLOW_STATUS: Final = span_attributes.WORKFLOW_STATUS
STEP_COMMAND_TYPE: Final = span_attributes.STEP_COMMAND_TYPE
STEP_OUTCOME: Final = span_attributes.STEP_OUTCOME
STEP_COMPENSATION: Final = span_attributes.STEP_COMPENSATION
STEP_SERVICE: Final = "sagabridge.step.service"
REPLY_IGNORED_REASON: Final = "sagabridge.reply.ignored_reason"
OPERATOR_ACTION: Final = "sagabridge.operator.action"
DLQ_REASON: Final = "sagabridge.dlq.reason"
CHECKPOINT_OUTCOME: Final = "sagabridge.checkpoint.outcome"
WORKER_OUTCOME: Final = "sagabridge.worker.outcome"
CONNECTOR_DOMAIN: Final = "sagabridge.connector.domain"
CONNECTOR_OUTCOME: Final = "sagabridge.connector.outcome"
CONNECTOR_TRIGGER: Final = "sagabridge.connector.trigger"

# --- histogram buckets (seconds; OTel's default buckets are sized for milliseconds) --------------
CHECKPOINT_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
STEP_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)
WORKFLOW_BUCKETS: Final = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 14400.0, 86400.0)
RESTORE_BUCKETS: Final = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
HANDLER_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
