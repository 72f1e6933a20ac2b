"""Peer frameworks on the same broker: Quix Streams and Temporal (apps run in the peers' venv)."""
