"""`orchestrator schemas check|register|codegen|list` against the real registry."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient

from orchestrator.serialization.cli import add_schemas_commands
from tests.serialization.helpers import ORDER_V1, ORDER_V2, ORDER_V3_BROKEN


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="orchestrator")
    add_schemas_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.handler(args))


class Workspace:
    """A schemas dir with one evo.Order record in a namespace unique to the test."""

    def __init__(self, root: Path, namespace: str, url: str) -> None:
        self.root, self.namespace, self.url = root, namespace, url
        self.subject = f"{namespace}.Order"

    def put(self, schema: dict[str, Any]) -> None:
        folder = self.root / self.namespace
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "Order.avsc").write_text(json.dumps({**schema, "namespace": self.namespace}))

    def cli(self, command: str, *extra: str) -> int:
        return run(
            [
                "schemas",
                command,
                "--registry-url",
                self.url,
                "--schemas-dir",
                str(self.root),
                "--namespace",
                self.namespace,
                *extra,
            ]
        )


@pytest.fixture
def ws(tmp_path: Path, unique_name: Callable[[str], str], schema_registry_url: str) -> Workspace:
    return Workspace(tmp_path / "schemas", unique_name("cli").replace("-", "_"), schema_registry_url)


def test_register_then_evolve_compatibly_then_refuse_a_breaking_change(
    ws: Workspace, capsys: pytest.CaptureFixture[str], schema_registry_url: str
) -> None:
    client = SchemaRegistryClient({"url": schema_registry_url})
    ws.put(ORDER_V1)
    assert ws.cli("check") == 0
    assert f"new          {ws.subject}" in capsys.readouterr().out
    assert ws.cli("register") == 0
    assert "-> id " in capsys.readouterr().out
    assert client.get_versions(ws.subject) == [1]
    assert client.get_compatibility(ws.subject) == "BACKWARD"
    assert ws.cli("check") == 0 and "unchanged" in capsys.readouterr().out

    ws.put(ORDER_V2)
    assert ws.cli("check") == 0 and "compatible" in capsys.readouterr().out
    assert ws.cli("register") == 0
    assert client.get_versions(ws.subject) == [1, 2]
    capsys.readouterr()

    ws.put(ORDER_V3_BROKEN)
    assert ws.cli("check") == 1
    out = capsys.readouterr().out
    assert f"INCOMPATIBLE {ws.subject}" in out
    assert f"{ws.subject}.qty: new schema cannot read v2: type changed from int to string" in out
    assert f"{ws.subject}.owner: new schema cannot read v2: field is missing in the writer schema" in out
    assert '-      "type": "int"' in out and '+      "type": "string"' in out  # the diff
    assert "1 incompatible" in out
    assert ws.cli("register") == 1
    assert client.get_versions(ws.subject) == [1, 2]  # nothing registered


def test_level_is_configurable_and_json_output(ws: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    ws.put(ORDER_V1)
    assert ws.cli("register") == 0
    required_added = {**ORDER_V1, "fields": [*ORDER_V1["fields"], {"name": "owner", "type": "string"}]}
    ws.put(required_added)  # old readers ignore it (FORWARD ok); new readers lack a default (BACKWARD not)
    capsys.readouterr()
    assert ws.cli("check", "--compatibility", "FORWARD", "--json") == 0
    assert json.loads(capsys.readouterr().out)[0]["status"] == "compatible"
    assert ws.cli("check", "--compatibility", "FULL", "--json") == 1
    report = json.loads(capsys.readouterr().out)[0]
    assert report["status"] == "incompatible" and report["problems"]


def test_missing_registry_url_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SAGABRIDGE_SCHEMA_REGISTRY_URL", raising=False)
    assert run(["schemas", "check"]) == 2
    assert "--registry-url" in capsys.readouterr().err


def test_codegen_check_and_list(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["schemas", "codegen", "--check"]) == 0
    assert run(["schemas", "codegen", "--check", "--out", str(tmp_path / "models")]) == 1
    assert run(["schemas", "codegen", "--out", str(tmp_path / "models")]) == 0
    assert (tmp_path / "models" / "state.py").exists()
    assert not (tmp_path / "models" / "demo").exists()  # the demo's records are not the library's
    capsys.readouterr()
    assert run(["schemas", "list"]) == 0
    assert "sagabridge.demo.payments.ChargePayment" in capsys.readouterr().out
