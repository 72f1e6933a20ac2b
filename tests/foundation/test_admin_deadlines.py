"""Admin calls that can wait on a broker end at their deadline with the typed error their callers handle."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from orchestrator.devstack.processes import free_port
from orchestrator.errors import GroupDescribeError, TopicError
from orchestrator.transport.admin import KafkaAdmin


def test_describing_a_group_with_no_broker_answering_raises_group_describe_error() -> None:
    """The runner fences departed owners inside its assignment callback; right after a broker restart
    the describe gets no answer, and a bare TimeoutError there ended the whole process."""
    admin = KafkaAdmin(f"127.0.0.1:{free_port()}", {"socket.connection.setup.timeout.ms": "1000"})
    with pytest.raises(GroupDescribeError, match="no answer within"):
        admin.group_instance_ids("some-group", timeout_s=1.0)


@pytest.mark.parametrize(
    ("call", "what"),
    [
        (lambda admin: admin.describe(["some-topic"], timeout_s=1.0), "listing topics"),
        (lambda admin: admin.partition_count("some-topic", timeout_s=1.0), "metadata of topic 'some-topic'"),
        (lambda admin: admin.create("some-topic", 1, 1, {}, timeout_s=1.0), "creating topic 'some-topic'"),
        (lambda admin: admin.delete(["some-topic"], timeout_s=1.0), "deleting topic 'some-topic'"),
    ],
    ids=["describe", "partition_count", "create", "delete"],
)
def test_topic_calls_with_no_broker_answering_raise_topic_error_naming_the_call(
    call: Callable[[KafkaAdmin], object], what: str
) -> None:
    """Provisioning and the startup topic check end at their deadline with a TopicError that says what was
    asked, which the CLIs print as one line, instead of a bare KafkaException or TimeoutError traceback."""
    admin = KafkaAdmin(f"127.0.0.1:{free_port()}", {"socket.connection.setup.timeout.ms": "1000"})
    with pytest.raises(TopicError, match=re.escape(what)):
        call(admin)
