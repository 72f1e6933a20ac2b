"""Admin calls that can wait on a broker end at their deadline with the typed error their callers handle."""

from __future__ import annotations

import pytest

from orchestrator.devstack.processes import free_port
from orchestrator.errors import GroupDescribeError
from orchestrator.transport.admin import KafkaAdmin


def test_describing_a_group_with_no_broker_answering_raises_group_describe_error() -> None:
    """The runner fences departed owners inside its assignment callback; right after a broker restart
    the describe gets no answer, and a bare TimeoutError there ended the whole process."""
    admin = KafkaAdmin(f"127.0.0.1:{free_port()}", {"socket.connection.setup.timeout.ms": "1000"})
    with pytest.raises(GroupDescribeError, match="no answer within"):
        admin.group_instance_ids("some-group", timeout_s=1.0)
