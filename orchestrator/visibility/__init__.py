"""Visibility: every workflow's state from the events topic, in a store, an HTTP API and the CLI.

- `projection.py` folds lifecycle events into rows and timelines (pure);
- `store.py` / `queries.py` keep them in SQLite or PostgreSQL (`tables.py`, `database.py`);
- `ingest.py` follows `<app>.events` into the store, resumable from the store's own offsets;
- `api.py` serves reads and operator actions over HTTP (FastAPI), `server.py` runs both;
- `cli.py` / `render.py`: `orchestrator visibility serve|sync|rebuild`, `orchestrator ui`, and
  the `workflows list/show` views.

Kept light on purpose: config.py imports `visibility.settings`, nothing here imports the rest.
"""
