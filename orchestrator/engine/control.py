"""Handlers for the client-facing inbox messages: start, signal, cancel, query, child finished."""

from __future__ import annotations

from orchestrator.engine import run_tracing
from orchestrator.engine.cancel import Cancellation
from orchestrator.engine.executor import Executor
from orchestrator.engine.inbound import CancelMsg, ChildFinishedMsg, QueryMsg, SignalMsg, StartMsg
from orchestrator.engine.jsonvalue import plain_json
from orchestrator.engine.state_records import EmbeddedRecord, Header
from orchestrator.engine.turn import EngineStats, Turn
from orchestrator.engine.view import Run, RunView
from orchestrator.errors import InvalidInboundRecordError, UnknownWorkflowTypeRecordError, error_type_name
from orchestrator.workflow import WorkflowInstance
from orchestrator.workflow.event_data import ChildFinishedData, SignalReceivedData, StartedData
from orchestrator.workflow.status import WorkflowStatus

QUERY_RESULT_SCHEMA = "sagabridge.control.QueryResult"


class ControlHandlers:
    def __init__(self, executor: Executor, stats: EngineStats, cancellation: Cancellation) -> None:
        self.ex = executor
        self.stats = stats
        self.cancellation = cancellation

    def start(self, t: Turn, msg: StartMsg) -> None:
        """Idempotent on workflow id: a second start of an existing id does nothing."""
        if t.store.header(msg.workflow_id) is not None:
            self.stats.duplicate_starts += 1
            return
        try:
            definition = self.ex.registry.get(msg.workflow_type)
        except Exception as exc:  # UnknownWorkflowTypeError: nothing was written yet, dead-letter it
            raise UnknownWorkflowTypeRecordError(msg.workflow_type) from exc
        trace_context = run_tracing.run_context_for_start(msg.trace_context)
        header = Header(
            workflow_id=msg.workflow_id,
            workflow_type=msg.workflow_type,
            status=WorkflowStatus.RUNNING,
            next_seq=0,
            created_at_ms=t.now_ms,
            updated_at_ms=t.now_ms,
            trace_context=trace_context,
            parent_workflow_id=msg.parent_workflow_id,
            parent_seq=msg.parent_seq,
        )
        run = Run(header=header, view=RunView(), instance=WorkflowInstance(definition, msg.workflow_id))
        self.ex.cache.put(msg.workflow_id, run)
        self.stats.started += 1
        t.out.event(
            "WorkflowStarted",
            header,
            t.now_ms,
            input_schema=msg.input_schema,
            input=msg.input_bytes,
            parent_workflow_id=msg.parent_workflow_id,
            trace_context=dict(trace_context),
        )
        started = StartedData(
            msg.workflow_type,
            msg.input_schema,
            msg.input,
            dict(trace_context),
            msg.parent_workflow_id,
            msg.parent_seq,
            history_warn_events=self.ex.history_warn_events,
        )
        self.ex.deliver(t, run, started, EmbeddedRecord(msg.input_bytes, msg.input_schema))  # input: read as that

    def signal(self, t: Turn, msg: SignalMsg) -> None:
        run = self.ex.load(t, msg.workflow_id)
        if run is None or run.header.finished:
            self.stats.signals_dropped += 1
            return
        run_tracing.signal_received(t, run.header, msg.name)
        t.out.event(
            "SignalReceived",
            run.header,
            t.now_ms,
            name=msg.name,
            payload_schema=msg.payload_schema,
            payload=msg.payload_bytes,
            sent_by=msg.sent_by,
        )
        received = SignalReceivedData(msg.name, msg.payload_schema, msg.payload)
        # the payload was read as payload_schema from these bytes (inbound.py): history keeps them
        embedded = None if msg.payload_bytes is None else EmbeddedRecord(msg.payload_bytes, msg.payload_schema)
        self.ex.deliver(t, run, received, embedded)

    def cancel(self, t: Turn, msg: CancelMsg) -> None:
        run = self.ex.load(t, msg.workflow_id)
        if run is None or run.header.finished or run.view.cancel_requested:
            self.stats.cancels_ignored += 1
            return
        self.cancellation.request(t, run, msg.reason)

    def child_finished(self, t: Turn, msg: ChildFinishedMsg) -> None:
        run = self.ex.load(t, msg.workflow_id)
        if run is None or run.header.finished or msg.parent_seq not in run.view.open_children:
            self.stats.children_ignored += 1
            return
        finished = ChildFinishedData(msg.parent_seq, msg.status, msg.result_schema, msg.result, msg.error)
        self.ex.deliver(t, run, finished)

    def query(self, t: Turn, msg: QueryMsg) -> None:
        """Answer from the run's query handlers; nothing is recorded in history.

        Answers go to the events topic only: the answer is produced in the checkpoint transaction,
        and a topic the broker refuses (a bad name, or one that does not exist) would abort that
        transaction on every retry, stalling the instance on one query.
        """
        if msg.reply_topic != t.out.topics.events:
            raise InvalidInboundRecordError(
                f"reply_topic {msg.reply_topic!r} is not this application's events topic "
                f"{t.out.topics.events!r}, where queries are answered"
            )
        run = self.ex.load(t, msg.workflow_id, for_query=True)
        ok, result_json, error = False, "null", None
        if run is None:
            error = f"unknown workflow {msg.workflow_id!r}"
        elif run.instance is None:
            error = f"workflow is {run.header.status}: {run.header.parked_reason or 'no runnable instance'}"
        else:
            try:
                result_json = plain_json(run.instance.query(msg.name, []))
                ok = True
            except Exception as exc:  # QueryNotFoundError or a failing handler: the asker gets the error
                error = f"{error_type_name(exc)}: {exc}"
        value = {
            "workflow_id": msg.workflow_id,
            "query_id": msg.query_id,
            "ok": ok,
            "result_json": result_json,
            "error": error,
        }
        t.out.to_topic(msg.reply_topic, msg.workflow_id, QUERY_RESULT_SCHEMA, value)
