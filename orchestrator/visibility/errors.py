"""The visibility store's and its HTTP API's failures (beside the shared ones in orchestrator/errors.py)."""

from __future__ import annotations

from orchestrator.errors import SagaBridgeError


class VisibilityError(SagaBridgeError):
    """Base of the visibility store's and its HTTP API's failures."""


class VisibilityStoreError(VisibilityError):
    """The visibility database failed (unreachable, a statement failed); the projection is intact
    up to its last committed batch and resumes from its stored offsets."""


class StoreTimeoutError(VisibilityStoreError):
    """A visibility database call passed its deadline (statement_timeout_s)."""


class StoreFormatError(VisibilityStoreError):
    """The store was written by a newer format version than this process understands."""

    def __init__(self, url: str, found: int, supported: int) -> None:
        self.found = found
        self.supported = supported
        super().__init__(
            f"visibility store {url} has format version {found}, this version reads up to {supported}. "
            f"Fix: upgrade SagaBridge, or point visibility.store_url at a new store (it is rebuilt from the topic)."
        )


class WorkflowNotFoundError(VisibilityError):
    """The visibility store has no workflow with this id (yet: it follows the events topic)."""

    def __init__(self, workflow_id: str, where: str = "the visibility store") -> None:
        self.workflow_id = workflow_id
        super().__init__(f"no workflow {workflow_id!r} in {where}")


class InvalidQueryError(VisibilityError):
    """A list filter or pagination cursor the store cannot use (the message says which)."""


class ActionNotApplicableError(VisibilityError):
    """An operator action that the workflow's current state rules out (nothing was sent)."""
