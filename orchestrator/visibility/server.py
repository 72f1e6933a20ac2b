"""`orchestrator visibility serve`: the store, its ingester and the HTTP API (and UI) in one process.

The ingester follows the events topic in a thread; uvicorn serves the API in the main thread.
A broken database or broker never stops the API: reads keep answering from what the store has,
the status endpoint says what is wrong, and ingest resumes from the stored offsets. Bad
configuration (no events topic, an unusable store URL) fails at startup instead.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

import uvicorn
from fastapi import FastAPI
from pydantic import SecretStr

from orchestrator.client import WorkflowClient
from orchestrator.config import OrchestratorSettings
from orchestrator.serialization import AvroSerde, SchemaRepository, make_serde
from orchestrator.visibility import ui
from orchestrator.visibility.actions import OperatorActions
from orchestrator.visibility.api import ApiContext, create_app
from orchestrator.visibility.api_models import IngestView
from orchestrator.visibility.auth import TokenAuth, generated_tokens
from orchestrator.visibility.detail import DetailBuilder
from orchestrator.visibility.ingest import Ingester, IngestStatus
from orchestrator.visibility.queries import WorkflowQueries
from orchestrator.visibility.store import VisibilityStore
from orchestrator.visibility.ui import UiReports

log = logging.getLogger(__name__)


def settings_serde(settings: OrchestratorSettings) -> AvroSerde:
    """The app's serde, as the orchestrator builds it: payloads decode the same way."""
    return make_serde(settings.framing, SchemaRepository(settings.schemas_dir), settings.schema_registry_url)


def open_store(settings: OrchestratorSettings) -> VisibilityStore:
    """The configured store (default: the app's SQLite file), its tables created."""
    v = settings.visibility
    store = VisibilityStore(
        v.resolved_store_url(settings.state_dir, settings.app), statement_timeout_s=v.statement_timeout_s
    )
    store.create()
    return store


def make_ingester(settings: OrchestratorSettings, store: VisibilityStore, serde: AvroSerde) -> Ingester:
    """An Ingester for the app's events and DLQ topics, with the configured deadlines."""
    v = settings.visibility
    return Ingester(
        store,
        serde,
        settings.bootstrap_servers,
        settings.events_topic,
        settings.dlq_topic,
        settings.client_properties(),
        batch_max=v.batch_max,
        request_timeout_s=v.request_timeout_s,
    )


@dataclass
class Tokens:
    """The tokens the API accepts; `generated`: made for this run (printed at startup)."""

    read: dict[str, SecretStr]
    operate: dict[str, SecretStr]
    generated: bool = False


def tokens_for(settings: OrchestratorSettings) -> Tokens:
    """The configured tokens, or a fresh pair: the API is never served without tokens."""
    v = settings.visibility
    if v.read_tokens or v.operate_tokens:
        return Tokens(dict(v.read_tokens), dict(v.operate_tokens))
    read, operate = generated_tokens()
    return Tokens(read, operate, generated=True)


@dataclass
class VisibilityServer:
    """The store, its ingester thread, the inbox client and the HTTP app of one `visibility serve`."""

    settings: OrchestratorSettings
    store: VisibilityStore
    ingester: Ingester | None
    client: WorkflowClient
    tokens: Tokens
    app: FastAPI
    reports: UiReports  # add a ReportSource here and the web UI lists it (ui/reports.py)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _uvicorn: uvicorn.Server | None = None

    @classmethod
    def build(cls, settings: OrchestratorSettings, serde: AvroSerde | None = None) -> VisibilityServer:
        """Wire everything from the settings; a missing events topic or bad store URL fails here."""
        serde = serde or settings_serde(settings)
        v = settings.visibility
        store = open_store(settings)
        ingester = None
        if v.ingest:
            ingester = make_ingester(settings, store, serde)
            ingester.open()  # a missing events topic fails here, naming the topic and the fix
        client = WorkflowClient(
            settings.bootstrap_servers,
            settings.app,
            serde,
            settings.client_properties(),
            send_timeout_s=v.request_timeout_s,
        )
        tokens = tokens_for(settings)
        queries = WorkflowQueries(store)
        ingest_status = ingester.status if ingester is not None else IngestStatus(settings.events_topic)

        def status() -> IngestView:
            counters = store.counters()
            return IngestView(
                topic=settings.events_topic,
                store=store.description,
                backend=store.backend,
                ingesting=ingester is not None,
                running=ingest_status.running,
                caught_up=ingest_status.caught_up,
                lag=dict(ingest_status.lag),
                last_error=ingest_status.last_error,
                events_ingested=counters.get("events_ingested", 0),
                dead_lettered=counters.get("dead_lettered", 0),
                batches=counters.get("batches", 0),
                last_batch_at_ms=ingest_status.last_batch_at_ms,
            )

        ctx = ApiContext(
            queries=queries,
            actions=OperatorActions(client, queries),
            auth=TokenAuth(tokens.read, tokens.operate),
            details=DetailBuilder(serde, v.jaeger_url),
            ingest_status=status,
        )
        app = create_app(ctx, title=f"SagaBridge visibility: {settings.app}")
        reports = UiReports()
        ui.mount(app, ctx, app_name=settings.app, reports=reports)
        return cls(settings, store, ingester, client, tokens, app, reports)

    # --- running ------------------------------------------------------------------------------------
    def start_ingest(self) -> None:
        """Follow the events topic in a background thread (idempotent)."""
        if self.ingester is None or self._thread is not None:
            return
        self._thread = threading.Thread(
            target=self.ingester.run, args=(self._stop,), name="visibility-ingest", daemon=True
        )
        self._thread.start()

    def uvicorn_server(self) -> uvicorn.Server:
        """The HTTP server (it handles SIGINT/SIGTERM when run in the main thread)."""
        v = self.settings.visibility
        config = uvicorn.Config(
            self.app,
            host=v.host,
            port=v.port,
            log_level="info",
            timeout_keep_alive=5,
            timeout_graceful_shutdown=10,
        )
        server = uvicorn.Server(config)
        self._uvicorn = server
        return server

    def serve(self) -> None:
        """Ingest in the background and serve until SIGINT/SIGTERM."""
        self.start_ingest()
        try:
            self.uvicorn_server().run()
        finally:
            self.close()

    @property
    def port(self) -> int | None:
        """The port actually bound (port 0 picks a free one)."""
        server = self._uvicorn
        if server is None or not server.started or not server.servers:
            return None
        return int(server.servers[0].sockets[0].getsockname()[1])

    def close(self) -> None:
        """Stop ingest, then release the broker clients and the database."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
            self._thread = None
        if self.ingester is not None:
            self.ingester.close()
        self.client.close()
        self.store.close()
