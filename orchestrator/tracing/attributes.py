"""Span attribute names: current OpenTelemetry messaging semconv for Kafka, plus SagaBridge's own.

Spelled out as constants (not imported from `opentelemetry.semconv._incubating`, a private,
moving module) so a typo is a NameError and a rename upstream is caught by a test that compares
these values with the installed semantic-conventions package.
"""

from __future__ import annotations

from typing import Final

# --- messaging (semconv >= 1.27: `operation.type`, `consumer.group.name`, `kafka.offset`) -------
MESSAGING_SYSTEM: Final = "messaging.system"
MESSAGING_DESTINATION_NAME: Final = "messaging.destination.name"
MESSAGING_DESTINATION_PARTITION_ID: Final = "messaging.destination.partition.id"
MESSAGING_OPERATION_TYPE: Final = "messaging.operation.type"
MESSAGING_OPERATION_NAME: Final = "messaging.operation.name"
MESSAGING_CONSUMER_GROUP_NAME: Final = "messaging.consumer.group.name"
MESSAGING_CLIENT_ID: Final = "messaging.client.id"
MESSAGING_MESSAGE_ID: Final = "messaging.message.id"
MESSAGING_MESSAGE_BODY_SIZE: Final = "messaging.message.body.size"
MESSAGING_BATCH_MESSAGE_COUNT: Final = "messaging.batch.message_count"
MESSAGING_KAFKA_MESSAGE_KEY: Final = "messaging.kafka.message.key"
MESSAGING_KAFKA_OFFSET: Final = "messaging.kafka.offset"
MESSAGING_KAFKA_MESSAGE_TOMBSTONE: Final = "messaging.kafka.message.tombstone"
SERVER_ADDRESS: Final = "server.address"
SERVER_PORT: Final = "server.port"
ERROR_TYPE: Final = "error.type"

# values
SYSTEM_KAFKA: Final = "kafka"
OP_SEND: Final = "send"
OP_RECEIVE: Final = "receive"
OP_PROCESS: Final = "process"
OP_CREATE: Final = "create"
OP_SETTLE: Final = "settle"

# --- SagaBridge (namespaced so they never collide with semconv) ------------------------------
WORKFLOW_ID: Final = "sagabridge.workflow.id"
WORKFLOW_TYPE: Final = "sagabridge.workflow.type"
WORKFLOW_STATUS: Final = "sagabridge.workflow.status"
STEP_NAME: Final = "sagabridge.step.name"
STEP_SEQ: Final = "sagabridge.step.seq"
STEP_ATTEMPT: Final = "sagabridge.step.attempt"
STEP_COMMAND_ID: Final = "sagabridge.step.command_id"
STEP_COMMAND_TYPE: Final = "sagabridge.step.command_type"
STEP_OUTCOME: Final = "sagabridge.step.outcome"
STEP_COMPENSATION: Final = "sagabridge.step.compensation"
TIMER_NAME: Final = "sagabridge.timer.name"
SIGNAL_NAME: Final = "sagabridge.signal.name"
ACTIVATION_REASON: Final = "sagabridge.activation.reason"
