"""The stack command itself: idempotent up, clean down, on free ports."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.devstack import LocalStack, StackPorts
from orchestrator.devstack.processes import free_port, read_pid

pytestmark = pytest.mark.broker  # starts a private one


def test_up_twice_leaves_one_broker_and_down_stops_it(tmp_path: Path) -> None:
    stack = LocalStack(
        "idem", StackPorts(kafka=free_port(), controller=free_port(), registry=free_port()), root=tmp_path
    )
    try:
        first = stack.up(with_registry=False)
        pid = read_pid(stack.directory / "kafka.pid")
        assert pid is not None and first.kafka_start_s > 0
        second = stack.up(with_registry=False)
        assert second.kafka_start_s == 0.0
        assert read_pid(stack.directory / "kafka.pid") == pid
        assert stack.status().kafka_running
    finally:
        stack.down()
    assert read_pid(stack.directory / "kafka.pid") is None
    assert not stack.status().kafka_running
    assert (stack.directory / "kafka.log").read_text().count("Kafka Server started") >= 1
