"""An orchestrator process that stops inside its first non-empty transaction, for SIGKILL tests.

`python -m tests.metrics.stalled_commit` runs the real runner (settings from SAGABRIDGE_*, the
Prometheus endpoint from `metrics_port`) with a fault hook that, just before the first commit,
writes `STALLED_COMMIT_MARKER` and waits for a SIGKILL: the checkpoint's records are produced
into an open transaction that never commits, so the test can scrape the endpoint while the work
exists only in that transaction, kill the process, and check that nobody ever counts it twice.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from orchestrator import metrics
from orchestrator.engine.runner import Orchestrator
from orchestrator.project import load_project, settings_for
from tests.integration.harness import serde
from tests.metrics.apps import registry

MARKER_ENV = "STALLED_COMMIT_MARKER"


def main() -> None:
    """Run until the first checkpoint, then hang in it (the test SIGKILLs the process)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = settings_for(load_project())  # SAGABRIDGE_*, as `orchestrator run` reads them
    marker = Path(os.environ[MARKER_ENV])
    forever = threading.Event()

    def stall_before_commit(stage: str) -> None:
        if stage == "before_commit":
            marker.write_text("transaction open")
            forever.wait()

    metrics.setup_metrics(
        "sagabridge-orchestrator", prometheus_host=settings.metrics_host, prometheus_port=settings.metrics_port
    )
    Orchestrator(settings, registry, serde=serde, fault_hook=stall_before_commit).run()


if __name__ == "__main__":
    main()
