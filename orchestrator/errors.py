"""Exception hierarchy.

Every failure a user or operator can act on has its own type, so callers branch on
types, never on message text.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from orchestrator.workflow.activation import ErrorInfo


class SagaBridgeError(Exception):
    """Base class of every error raised by SagaBridge."""


def error_type_name(exc: BaseException) -> str:
    """The error type a failure is recorded and sent as (history `error_type`, `sb-error-type`).

    Python classes end in `Error`; the names already on the wire and in stored histories do not
    (`StepFailed`, `UnknownCommand`, ...). A class that declares its own `wire_name` keeps that
    string stable, so a retry policy or a Go participant matching on it never sees it change;
    subclasses that do not declare one report their own class name.
    """
    wire_name = type(exc).__dict__.get("wire_name")
    return wire_name if isinstance(wire_name, str) else type(exc).__name__


class ConfigurationError(SagaBridgeError):
    """A setting is missing or invalid. The message names the setting and the fix."""

    def __init__(self, setting: str, problem: str, fix: str) -> None:
        self.setting = setting
        self.problem = problem
        self.fix = fix
        super().__init__(f"{setting}: {problem}. Fix: {fix}")


class BrokerConnectionError(ConfigurationError):
    """Startup could not talk to the brokers with the configured settings (checked once, bounded).

    `code` is librdkafka's error code that classified it; `detail` is librdkafka's own words.
    """

    def __init__(self, setting: str, problem: str, fix: str, code: int | None, detail: str) -> None:
        self.code = code
        self.detail = detail
        super().__init__(setting, problem, fix)


class KafkaAuthenticationError(BrokerConnectionError):
    """The broker refused our SASL credentials (wrong user or password, or an unsupported mechanism)."""


class KafkaTlsError(BrokerConnectionError):
    """The TLS handshake failed: the broker certificate is not trusted or does not name the host."""


class BrokerUnreachableError(BrokerConnectionError):
    """No broker answered within the startup deadline (down, wrong address, or wrong security.protocol)."""


class StackError(SagaBridgeError):
    """The local development stack (Kafka, registry) could not be obtained or started."""


class TopicError(SagaBridgeError):
    """Topic provisioning failed."""


class PartitionMismatchError(TopicError):
    """Inbox and changelog must be co-partitioned (same partition count)."""

    def __init__(self, inbox: str, inbox_partitions: int, changelog: str, changelog_partitions: int) -> None:
        self.inbox = inbox
        self.inbox_partitions = inbox_partitions
        self.changelog = changelog
        self.changelog_partitions = changelog_partitions
        super().__init__(
            f"inbox topic {inbox!r} has {inbox_partitions} partitions but changelog topic "
            f"{changelog!r} has {changelog_partitions}; they must be equal (co-partitioned). "
            f"Fix: give both specs the same partition count, or recreate the changelog."
        )


# --- serialization (Avro schemas, framings, typed models) -------------------------------------


class SerializationError(SagaBridgeError):
    """Base of every Avro schema / encoding / decoding failure."""


class SchemaLoadError(SerializationError):
    """An `.avsc` file under the schema directory is unreadable, invalid, or clashes with another."""


class SchemaNotFoundError(SerializationError):
    """A schema was asked for by a full name the local repository does not define."""

    def __init__(self, full_name: str, known: int) -> None:
        self.full_name = full_name
        super().__init__(
            f"no schema named {full_name!r} in the local repository ({known} schemas loaded). "
            f"Fix: add an .avsc defining it under the schemas directory (or SAGABRIDGE_SCHEMAS_DIR)."
        )


class EncodeError(SerializationError):
    """A value does not match the schema it is encoded with (a bug of the producing code)."""


class SchemaRegistryUnavailableError(SerializationError):
    """The schema registry could not be reached. Transient: retry, never dead-letter the record."""


class SchemaNotRegisteredError(SerializationError):
    """Auto-registration is off and the registry does not hold this exact schema under its subject."""


class SchemaCompatibilityError(SerializationError):
    """A local schema is incompatible with the registered versions under the configured level."""


class DecodeError(SerializationError):
    """A record's bytes cannot be turned into a value; the record belongs in the DLQ.

    `reason` is written verbatim as the `sb-dlq-reason` header so operators can filter on it.
    """

    reason: str = "undecodable"


class MalformedRecordError(DecodeError):
    """The bytes are not a valid framed Avro record (bad magic, truncated, garbage, trailing bytes)."""

    reason = "malformed"


class UnknownSchemaError(DecodeError):
    """The writer schema (fingerprint or registry id) is unknown to this reader."""

    reason = "unknown-schema"


class WrongRecordTypeError(DecodeError):
    """A valid record of another type than the reader expects (and not an alias of it)."""

    reason = "wrong-record-type"


class RecordTooLargeError(DecodeError):
    """The record exceeds the configured maximum size; rejected before any parsing."""

    reason = "too-large"


class IncompatibleSchemaError(WrongRecordTypeError):
    """Same record name, but the writer schema cannot be resolved to the reader schema."""

    reason = "incompatible-schema"


# --- state store (orchestrator/state) ---------------------------------------------------------


class StateError(SagaBridgeError):
    """The per-partition RocksDB state store or its changelog restore failed."""


class StateStoreOpenError(StateError):
    """RocksDB refused to open the store (held by another process or an unclosed handle, bad path)."""

    def __init__(self, path: str, detail: str) -> None:
        self.path = path
        self.detail = detail
        super().__init__(
            f"cannot open state store at {path!r}: {detail}. Fix: make sure no other instance or "
            f"unclosed store uses this directory (each partition store is owned by one process)."
        )


class StateStoreClosedError(StateError):
    """The store (or a transaction over it) was used after close() or wipe()."""


class StateFormatVersionError(StateError):
    """The store was written by a format this code does not understand (e.g. a newer release)."""

    def __init__(self, path: str, found: int, supported: int) -> None:
        self.path = path
        self.found = found
        self.supported = supported
        super().__init__(
            f"state store at {path!r} has format version {found}, this release supports up to "
            f"{supported}. Fix: run a release that supports version {found}, or delete the directory "
            f"so it is restored from the changelog."
        )


class StateCorruptError(StateError):
    """A __meta__ value cannot be parsed; the store cannot be trusted."""


class StatePartitionMismatchError(StateError):
    """A store directory belongs to another partition than the one it is opened (or restored) for."""

    def __init__(self, path: str, stored: int, requested: int) -> None:
        self.path = path
        self.stored = stored
        self.requested = requested
        super().__init__(
            f"state store at {path!r} belongs to partition {stored}, not {requested}. "
            f"Fix: check the state_dir/group layout; each partition has its own directory."
        )


class StateTxnError(StateError):
    """A pending transaction was applied twice, or belongs to another store / a wiped generation."""


class ChangelogOffsetError(StateError):
    """A write would move the stored changelog offset backwards: offsets must only grow."""

    def __init__(self, path: str, stored: int, new: int) -> None:
        self.path = path
        self.stored = stored
        self.new = new
        super().__init__(f"state store at {path!r} is at changelog offset {stored}; refusing to apply {new}")


class ChangelogRestoreError(StateError):
    """Restoring a partition store from its changelog failed (broker unreachable, no progress, bad offset)."""


# --- partition engine (orchestrator/engine) ---------------------------------------------------


class EngineError(SagaBridgeError):
    """Base of failures inside the pure partition engine."""


class StoreKeyError(EngineError):
    """A store key does not follow the layout of docs/architecture.md (corrupt or foreign store)."""

    def __init__(self, key: bytes, expected: str) -> None:
        self.key = key
        self.expected = expected
        super().__init__(f"store key {key!r} is not a valid {expected} key")


class InvalidInboundRecordError(DecodeError):
    """A decodable inbox record the engine cannot act on: unknown kind, missing or contradictory
    protocol headers, key not matching the workflow id. Dead-lettered like undecodable bytes."""

    reason = "invalid-record"

    def __init__(self, problem: str) -> None:
        self.problem = problem
        super().__init__(problem)


class UnknownWorkflowTypeRecordError(InvalidInboundRecordError):
    """A StartWorkflow names a workflow type this orchestrator has not registered."""

    reason = "unknown-workflow-type"

    def __init__(self, workflow_type: str) -> None:
        self.workflow_type = workflow_type
        super().__init__(f"workflow type {workflow_type!r} is not registered with this orchestrator")


class WorkflowNotFoundRecordError(InvalidInboundRecordError):
    """A signal or step outcome whose workflow does not exist, sent with on_missing=DLQ."""

    reason = "workflow-not-found"

    def __init__(self, workflow_id: str, what: str) -> None:
        self.workflow_id = workflow_id
        super().__init__(f"{what} for workflow {workflow_id!r}, which does not exist")


class SignalBufferFullError(InvalidInboundRecordError):
    """An early signal found its workflow's buffer at the per-workflow limit."""

    reason = "buffer-full"

    def __init__(self, workflow_id: str, limit: int) -> None:
        self.workflow_id = workflow_id
        self.limit = limit
        super().__init__(f"workflow {workflow_id!r} does not exist and already has {limit} buffered signals")


class UnknownWorkflowReplyError(InvalidInboundRecordError):
    """A participant's reply names a workflow this orchestrator has no state for: never started
    here, or purged after its retention. Nothing can settle, so it is dead-lettered, not dropped."""

    reason = "unknown-workflow"

    def __init__(self, workflow_id: str, command_id: str) -> None:
        self.workflow_id = workflow_id
        super().__init__(f"reply for {command_id!r}: no workflow {workflow_id!r} (never started, or purged)")


class TransportError(SagaBridgeError):
    """Kafka I/O failed."""


class RepliesNotDeliveredError(TransportError):
    """A worker's replies were not acknowledged by the broker: it stops without committing the
    commands' offsets, so they are redelivered (and deduplicated) after a restart."""


class DeliveryError(TransportError):
    """Records sent outside a transaction (the client's inbox records, the visibility store's dead
    letters; transport/delivery.py) were not acknowledged by the broker before their deadline, or
    were rejected: the caller must not report them as sent."""


class TransactionAbortableError(TransportError):
    """The open transaction must be aborted; state since the last checkpoint is dropped and replayed."""


class TransactionFatalError(TransportError):
    """The producer is unusable (fenced by a newer instance with our transactional.id, or fatal error)."""


class ProduceError(TransactionAbortableError):
    """A record of the transaction was not delivered."""


class KafkaCallTimeoutError(TransportError):
    """A call that waits on the broker outlived the deadline the process gave it.

    The process enforces the deadline itself (transport/deadline.py), because librdkafka does not
    always honour its own timeouts (confluentinc/librdkafka#5456, #5511)."""

    def __init__(self, operation: str, timeout_s: float, waited_s: float) -> None:
        self.operation = operation
        self.timeout_s = timeout_s
        self.waited_s = waited_s
        super().__init__(f"{operation} still blocked after {waited_s:.1f}s (deadline {timeout_s:.1f}s)")


class TransactionTimeoutError(TransactionFatalError):
    """A transactional call outlived its deadline. The producer is lost (its call is still blocked
    inside librdkafka): the runner fences it by registering a new producer under the same
    transactional.id, and rewinds to the committed state."""


class CommitOutcomeUnknownError(TransactionFatalError):
    """commit_transaction failed without proving the transaction aborted (a timeout): it may still
    commit. Only a new producer's init_transactions decides it, so the runner recovers as for a lost
    producer and reads the outcome back from Kafka instead of guessing."""


class ProducerLostError(TransactionFatalError):
    """A producer whose earlier call outlived its deadline was used again; it must be replaced."""


class ReaderLostError(TransportError):
    """A topic reader (transport/tail.py) missed a deadline earlier: its consumer may still be
    blocked inside librdkafka, so it is never used again; its owner opens a new one."""


class GroupDescribeError(TransportError):
    """The consumer group's members could not be described in time."""


class OffsetFetchError(TransportError):
    """The group's committed offsets could not be read in time (broker or coordinator unavailable)."""


class ConsumerFatalError(TransportError):
    """The group consumer cannot continue. `fenced_instance`: the broker gave our group.instance.id
    to another member id: another process with our instance id, or (librdkafka#3437) our own
    consumer rejoining after its session expired during a broker outage."""

    def __init__(self, message: str, fenced_instance: bool = False) -> None:
        self.fenced_instance = fenced_instance
        super().__init__(message)


class InstanceConflictError(TransportError):
    """Another live process runs with this instance id: it fences our producer or our group member.
    Two processes must never share an instance id; this one stops instead of fencing back."""


class WorkflowResultTimeoutError(SagaBridgeError):
    """No terminal event for the workflow arrived within the timeout."""

    def __init__(self, workflow_id: str, timeout_s: float) -> None:
        self.workflow_id = workflow_id
        self.timeout_s = timeout_s
        super().__init__(f"workflow {workflow_id!r} did not finish within {timeout_s}s")


# --- workflow runtime (orchestrator/workflow/) -------------------------------------------------


class WorkflowError(SagaBridgeError):
    """Base of errors raised by the workflow runtime or inside workflow code."""


class NonDeterminismError(WorkflowError):
    """Replayed workflow code asked for something different from what its history recorded.

    ``expected`` describes the history entry (None: history has nothing there), ``got`` what the
    code did (None: the code did not issue it). The engine parks the instance as needs-attention.
    """

    def __init__(self, workflow_id: str, cmd_seq: int | None, expected: str | None, got: str | None) -> None:
        self.workflow_id = workflow_id
        self.cmd_seq = cmd_seq
        self.expected = expected
        self.got = got
        where = "the final outcome" if cmd_seq is None else f"command #{cmd_seq}"
        super().__init__(
            f"workflow {workflow_id!r}: non-deterministic replay at {where}: history has "
            f"{expected or 'nothing'}, code produced {got or 'nothing'}. Fix: guard the code "
            f"change with ctx.patched(...) or let running instances finish on the old code."
        )


class StepFailedError(WorkflowError):
    """A service step failed finally (non-retryable, attempts exhausted, timeout, operator)."""

    wire_name: ClassVar[str] = "StepFailed"  # recorded in histories as error_type: keep it stable

    def __init__(self, service: str, command_type: str, error: ErrorInfo, attempt: int | None = None) -> None:
        self.service = service
        self.command_type = command_type
        self.error = error
        self.attempt = attempt
        super().__init__(
            f"step {service}/{command_type} failed"
            + (f" after attempt {attempt}" if attempt is not None else "")
            + f": {error.error_type}: {error.message}"
        )


class CompensationFailedError(WorkflowError):
    """A saga compensation step failed finally; ``original`` is what triggered compensating."""

    wire_name: ClassVar[str] = "CompensationFailed"  # recorded in histories as error_type: keep it stable

    def __init__(self, service: str, command_type: str, error: ErrorInfo, original: BaseException | None) -> None:
        self.service = service
        self.command_type = command_type
        self.error = error
        self.original = original
        super().__init__(
            f"compensation {service}/{command_type} failed: {error.error_type}: {error.message}"
            + (f" (while compensating {type(original).__name__}: {original})" if original else "")
        )


class WorkflowCancelledError(WorkflowError):
    """Raised into pending awaits when the workflow is cancelled from outside."""

    wire_name: ClassVar[str] = "WorkflowCancelled"  # recorded in histories as error_type: keep it stable

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"workflow cancelled: {reason}" if reason else "workflow cancelled")


class ContinueAsNewError(BaseException):
    """Raised by ``ctx.continue_as_new(...)``: ends this run and starts the workflow id over with
    ``input`` and an empty history. A ``BaseException`` (like Temporal's), so an ``except
    Exception`` in workflow code cannot swallow it by accident; the runtime catches it."""

    def __init__(self, input_schema: str | None, input: dict[str, Any] | None) -> None:
        self.input_schema = input_schema
        self.input = input
        super().__init__("the workflow continues as new")


class ContinueAsNewRefusedError(WorkflowError):
    """``ctx.continue_as_new(...)`` was called while work the new run could not account for is
    open: steps in flight, children running, compensations registered in an open saga, or a
    requested cancellation. Settle them first (await the steps and children, leave the saga)."""

    wire_name: ClassVar[str] = "ContinueAsNewRefused"  # recorded in histories as error_type: keep it stable

    def __init__(self, workflow_id: str, reason: str) -> None:
        self.workflow_id = workflow_id
        self.reason = reason
        super().__init__(f"workflow {workflow_id!r} cannot continue as new: {reason}")


class WorkflowTimeoutError(WorkflowError):
    """``ctx.wait_signal(name, timeout=...)`` timed out before the signal arrived."""

    def __init__(self, signal_name: str, timeout: timedelta) -> None:
        self.signal_name = signal_name
        self.timeout = timeout
        super().__init__(f"signal {signal_name!r} did not arrive within {timeout}")


class ChildWorkflowFailedError(WorkflowError):
    """A child workflow ended other than completed (failed, compensated or cancelled)."""

    wire_name: ClassVar[str] = "ChildWorkflowFailed"  # recorded in histories as error_type: keep it stable

    def __init__(self, workflow_type: str, child_id: str, status: str, error: ErrorInfo | None) -> None:
        self.workflow_type = workflow_type
        self.child_id = child_id
        self.status = status
        self.error = error
        detail = f": {error.error_type}: {error.message}" if error else ""
        super().__init__(f"child workflow {workflow_type} {child_id!r} ended {status}{detail}")


class UnknownWorkflowTypeError(WorkflowError):
    """No workflow definition is registered under this type name."""

    wire_name: ClassVar[str] = "UnknownWorkflowType"  # recorded in histories as error_type: keep it stable

    def __init__(self, workflow_type: str, known: tuple[str, ...]) -> None:
        self.workflow_type = workflow_type
        self.known = known
        super().__init__(
            f"unknown workflow type {workflow_type!r}; registered: {', '.join(known) or 'none'}. "
            f"Fix: import the module defining it so its @workflow decorator registers it."
        )


class QueryNotFoundError(WorkflowError):
    """The workflow has no query handler of this name."""

    wire_name: ClassVar[str] = "QueryNotFound"  # recorded in histories as error_type: keep it stable

    def __init__(self, workflow_id: str, name: str, known: tuple[str, ...]) -> None:
        self.workflow_id = workflow_id
        self.name = name
        self.known = known
        super().__init__(f"workflow {workflow_id!r} has no query handler {name!r}; known: {', '.join(known) or 'none'}")


class WorkflowAuthoringError(WorkflowError):
    """Workflow code misuses the authoring API or does something non-deterministic."""

    def __init__(self, problem: str, fix: str) -> None:
        self.problem = problem
        self.fix = fix
        super().__init__(f"{problem}. Fix: {fix}")


# --- topics a reader needs ------------------------------------------------------------------


class TopicMissingError(TopicError):
    """A topic a reader needs does not exist (yet, or any more)."""

    def __init__(self, topic: str) -> None:
        self.topic = topic
        super().__init__(
            f"topic {topic!r} does not exist. Fix: check the app name (--name / SAGABRIDGE_APP), "
            f"or create the app's topics with `orchestrator topics apply --file topics/<app>.toml`."
        )


# --- tracing (OpenTelemetry setup and the local Jaeger) ---------------------------------------


class TracingError(SagaBridgeError):
    """Base of tracing failures the caller can act on (never raised for bad trace headers)."""


class ForeignTracerProviderError(TracingError):
    """A TracerProvider not built by `orchestrator.tracing` cannot record deferred spans.

    Deferred spans (workflow runs, step attempts) are emitted with span ids chosen when they
    began, which needs the id generator `create_tracer_provider` installs.
    """

    def __init__(self, provider: object) -> None:
        self.provider = provider
        super().__init__(
            f"{type(provider).__name__} was not created by orchestrator.tracing.create_tracer_provider; "
            f"deferred spans need its id generator. Fix: build the provider with create_tracer_provider()."
        )


class JaegerError(StackError):
    """The local Jaeger v2 could not be built, started, queried or stopped."""


# --- workflow testing and replay (orchestrator/testing) ---------------------------------------


class TestingError(SagaBridgeError):
    """The test environment could not do what the test asked (not a failure of the workflow)."""

    __test__ = False  # not a pytest test class, despite the name


class WorkflowStuckError(TestingError):
    """A run is still running but nothing is scheduled: it waits for input no one will send."""

    def __init__(self, workflow_id: str, waiting_for: str) -> None:
        self.workflow_id = workflow_id
        self.waiting_for = waiting_for
        super().__init__(
            f"workflow {workflow_id!r} is running but nothing is scheduled to happen: it waits for "
            f"{waiting_for}. Fix: declare the missing fake service, send the signal, or reply by hand."
        )


class TimeSkipLimitError(TestingError):
    """Skipping time went past the horizon or the activation budget (e.g. endless retries)."""

    def __init__(self, what: str, limit: str) -> None:
        self.what = what
        self.limit = limit
        super().__init__(
            f"{what} did not settle within {limit}. Fix: check for endless retries or timers, or "
            f"raise the limit (horizon=, max_turns=)."
        )


class WorkflowNotCompletedError(TestingError):
    """``result()`` of a run that ended other than completed, or parked for an operator."""

    def __init__(self, workflow_id: str, status: str, error: ErrorInfo | None, reason: str | None = None) -> None:
        self.workflow_id = workflow_id
        self.status = status
        self.error = error
        self.reason = reason
        detail = f": {error.error_type}: {error.message}" if error is not None else ""
        detail += f" ({reason})" if reason else ""
        super().__init__(f"workflow {workflow_id!r} ended {status}{detail}")


class QueryFailedError(TestingError):
    """A query was answered with an error (no such handler, a failing handler, no runnable instance)."""

    def __init__(self, workflow_id: str, name: str, error: str) -> None:
        self.workflow_id = workflow_id
        self.name = name
        self.error = error
        super().__init__(f"query {name!r} of workflow {workflow_id!r} failed: {error}")


class HistoryExportError(SagaBridgeError):
    """A workflow history export file is unreadable or of a format this release does not know."""

    def __init__(self, path: str, line: int, problem: str) -> None:
        self.path = path
        self.line = line
        self.problem = problem
        super().__init__(f"{path}:{line}: {problem}. Fix: write the file with `orchestrator replay export`.")


class ReplayDivergedError(SagaBridgeError):
    """Recorded histories do not replay against the new code (raised by ``ReplayReport.check()``)."""

    def __init__(self, summary: str, diverged: int) -> None:
        self.diverged = diverged
        super().__init__(summary)
