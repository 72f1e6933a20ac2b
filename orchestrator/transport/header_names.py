"""Header names of the participant protocol (docs/protocol.md, docs/design.md §2). One place, no typos."""

from __future__ import annotations

WORKFLOW_ID = "sb-workflow-id"
COMMAND_ID = "sb-command-id"
ATTEMPT = "sb-attempt"
REPLY_TO = "sb-reply-to"
COMMAND_TYPE = "sb-command-type"
REPLY_STATUS = "sb-reply-status"
ERROR_TYPE = "sb-error-type"
ERROR_MESSAGE = "sb-error-message"
RETRYABLE = "sb-retryable"
CANCEL_REQUESTED = "sb-cancel-requested"  # "true" on attempts sent after the workflow's cancel request
TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"

STATUS_SUCCESS = "success"
STATUS_FAILURE = "failure"

DLQ_REASON = "sb-dlq-reason"
DLQ_SOURCE_TOPIC = "sb-dlq-source-topic"
DLQ_SOURCE_PARTITION = "sb-dlq-source-partition"
DLQ_SOURCE_OFFSET = "sb-dlq-source-offset"
