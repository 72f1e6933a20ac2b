"""The visibility store's tables, one SQLAlchemy Core definition for SQLite and PostgreSQL.

Times are epoch milliseconds (BIGINT): cheap to compare and index the same way in both back ends.
The indexes serve the list API's queries with a keyset on (started_at_ms, workflow_id), newest
first, so every page of a filter is an index range scan that stops after `limit` rows:

| filter                         | index                                  |
|--------------------------------|----------------------------------------|
| none / time range              | sb_wf_started                          |
| status (+ time range)          | sb_wf_status_started                   |
| type (+ time range)            | sb_wf_type_started                     |
| type + status (+ time range)   | sb_wf_type_status_started              |
| id prefix                      | primary key range (ordered by id)      |
| search attribute = value       | sb_attr_lookup, then the primary key   |
| children of a workflow         | sb_wf_parent (partial: rows with a parent) |

Counts by status come from `sb_status_counts`, kept per (type, status) by the ingest batch that
changes a row, so they cost a few rows whatever the store's size.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

SCHEMA_VERSION = 1

metadata = MetaData()

workflows = Table(
    "sb_workflows",
    metadata,
    Column("workflow_id", String, primary_key=True),
    Column("workflow_type", String, nullable=False),
    Column("status", String(24), nullable=False),
    Column("parked_reason", Text),
    Column("current_step_seq", BigInteger),
    Column("current_step_service", String),
    Column("current_step_type", String),
    Column("current_attempt", Integer),
    Column("retry_at_ms", BigInteger),
    Column("timer_due_ms", BigInteger),
    Column("awaited_signals", Text),  # JSON array of names
    Column("cancel_requested", Boolean, nullable=False),
    Column("compensating", Boolean, nullable=False),
    Column("started_at_ms", BigInteger, nullable=False),
    Column("updated_at_ms", BigInteger, nullable=False),
    Column("closed_at_ms", BigInteger),
    Column("trace_id", String(32)),
    Column("parent_workflow_id", String),
    Column("error_type", String),
    Column("error_message", Text),
    Column("search_attributes", Text),  # JSON object, the row's copy of sb_search_attributes
    Column("open_steps", Text),  # JSON array of the open steps (projection state)
    Column("events", Integer, nullable=False),  # timeline entries so far
)
Index("sb_wf_started", workflows.c.started_at_ms, workflows.c.workflow_id)
Index("sb_wf_status_started", workflows.c.status, workflows.c.started_at_ms, workflows.c.workflow_id)
Index("sb_wf_type_started", workflows.c.workflow_type, workflows.c.started_at_ms, workflows.c.workflow_id)
Index(
    "sb_wf_type_status_started",
    workflows.c.workflow_type,
    workflows.c.status,
    workflows.c.started_at_ms,
    workflows.c.workflow_id,
)
# Children of a workflow, oldest first. Partial: most rows have no parent, and a full index of
# NULLs makes SQLite's planner (whose statistics then say "a million rows per parent") scan by
# start time instead.
Index(
    "sb_wf_parent",
    workflows.c.parent_workflow_id,
    workflows.c.started_at_ms,
    sqlite_where=workflows.c.parent_workflow_id.isnot(None),
    postgresql_where=workflows.c.parent_workflow_id.isnot(None),
)

timeline = Table(
    "sb_timeline",
    metadata,
    Column("workflow_id", String, primary_key=True),
    Column("position", Integer, primary_key=True, autoincrement=False),
    Column("at_ms", BigInteger, nullable=False),
    Column("kind", String(40), nullable=False),
    Column("step_seq", BigInteger),
    Column("attempt", Integer),
    Column("detail", Text, nullable=False),  # JSON object
    Column("payload_schema", String),
    Column("payload", LargeBinary),  # the record as framed on the topic; decoded when read
    Column("source_partition", Integer, nullable=False),
    Column("source_offset", BigInteger, nullable=False),
)

search_attributes = Table(
    "sb_search_attributes",
    metadata,
    Column("workflow_id", String, primary_key=True),
    Column("name", String(64), primary_key=True),
    Column("value_text", String, nullable=False),  # projection.attribute_text(value)
    Column("started_at_ms", BigInteger, nullable=False),  # the row's, so a filter pages on this index alone
)
Index(
    "sb_attr_lookup",
    search_attributes.c.name,
    search_attributes.c.value_text,
    search_attributes.c.started_at_ms,
    search_attributes.c.workflow_id,
)

status_counts = Table(
    "sb_status_counts",
    metadata,
    Column("workflow_type", String, primary_key=True),
    Column("status", String(24), primary_key=True),
    Column("n", BigInteger, nullable=False),
)

offsets = Table(
    "sb_offsets",
    metadata,
    Column("topic", String, primary_key=True),
    Column("partition", Integer, primary_key=True, autoincrement=False),
    Column("next_offset", BigInteger, nullable=False),
)

# One row per store: its format version, counters, and the lock every ingest batch takes first
# (an UPDATE of this row), so two ingesting processes on one store apply batches one at a time.
meta = Table(
    "sb_meta",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("schema_version", Integer, nullable=False),
    Column("events_ingested", BigInteger, nullable=False),
    Column("dead_lettered", BigInteger, nullable=False),
    Column("batches", BigInteger, nullable=False),
    Column("updated_at_ms", BigInteger, nullable=False),
)
