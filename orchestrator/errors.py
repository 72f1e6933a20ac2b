"""Exception hierarchy.

Every failure a user or operator can act on has its own type, so callers branch on
types, never on message text.
"""

from __future__ import annotations


class SagaBridgeError(Exception):
    """Base class of every error raised by SagaBridge."""


class ConfigurationError(SagaBridgeError):
    """A setting is missing or invalid. The message names the setting and the fix."""

    def __init__(self, setting: str, problem: str, fix: str) -> None:
        self.setting = setting
        self.problem = problem
        self.fix = fix
        super().__init__(f"{setting}: {problem}. Fix: {fix}")


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
