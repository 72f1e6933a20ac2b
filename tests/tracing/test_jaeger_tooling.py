"""The Jaeger build/run tooling without building or starting anything."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from orchestrator.devstack import jaeger_build
from orchestrator.devstack.jaeger import JaegerPorts, LocalJaeger, trace_services
from orchestrator.devstack.jaeger_cli import add_jaeger_commands
from orchestrator.errors import JaegerError


def test_go_state_and_binary_live_in_the_cache_not_the_repo(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SAGABRIDGE_CACHE", str(tmp_path))
    env = jaeger_build.go_env()
    for var in ("GOPATH", "GOMODCACHE", "GOCACHE", "GOBIN"):
        assert Path(env[var]).is_relative_to(tmp_path), var
    assert env["GOTOOLCHAIN"] == "local"
    assert jaeger_build.binary_path() == tmp_path / "jaeger" / jaeger_build.JAEGER_VERSION / "jaeger"
    assert jaeger_build.cached_build() is None


def test_too_old_go_is_refused_with_the_versions_named(tmp_path: Path) -> None:
    (tmp_path / "go.mod").write_text("module github.com/jaegertracing/jaeger\n\ngo 1.24.6\n")
    jaeger_build._check_go(tmp_path, "1.24.6")
    jaeger_build._check_go(tmp_path, "1.26.8")
    with pytest.raises(JaegerError, match=r"needs Go >= 1\.24\.6, installed is go1\.23\.9"):
        jaeger_build._check_go(tmp_path, "1.23.9")


def test_status_of_a_stopped_instance_and_saved_ports(tmp_path: Path) -> None:
    ports = JaegerPorts.free()
    jaeger = LocalJaeger("idle", ports, root=tmp_path)
    assert not jaeger.status().running
    assert jaeger.otlp_endpoint == f"http://127.0.0.1:{ports.otlp_http}"
    assert not jaeger.down()
    jaeger.directory.mkdir(parents=True)
    saved = {"otlp_http": 1, "otlp_grpc": 2, "query_http": 3, "query_grpc": 4, "health": 5}
    (jaeger.directory / "jaeger.json").write_text(json.dumps({"ports": saved}))
    assert LocalJaeger("idle", root=tmp_path).ports == JaegerPorts(1, 2, 3, 4, 5)


def test_trace_services_reads_the_query_api_shape() -> None:
    trace = {
        "spans": [{"processID": "p1"}, {"processID": "p2"}, {"processID": "p9"}],
        "processes": {"p1": {"serviceName": "orchestrator"}, "p2": {"serviceName": "payments"}},
    }
    assert trace_services(trace) == {"orchestrator", "payments"}


def test_cli_group_parses(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SAGABRIDGE_CACHE", str(tmp_path))
    parser = argparse.ArgumentParser()
    add_jaeger_commands(parser.add_subparsers(dest="cmd", required=True))
    args = parser.parse_args(["jaeger", "up", "--name", "x", "--otlp-http-port", "5555"])
    assert (args.jaeger_command, args.otlp_http, args.query_http) == ("up", 5555, None)
    args = parser.parse_args(["jaeger", "url", "--name", "never-started"])
    assert args.handler(args) == 1
    assert capsys.readouterr().out == ""
