"""`orchestrator init`: the scaffolded app's tests pass with no broker, and it runs against one."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from orchestrator.cli import main
from orchestrator.errors import ConfigurationError
from orchestrator.scaffold import scaffold

PYTHON_BIN = str(Path(sys.executable).parent)


def _env(**extra: str) -> dict[str, str]:
    """The user's shell: our venv's tools on PATH, none of the test session's settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAGABRIDGE_") and k != "PYTHONPATH"}
    env["PATH"] = PYTHON_BIN + os.pathsep + env.get("PATH", "")
    return {**env, **extra}


def test_the_scaffolded_tests_pass_without_a_broker(tmp_path: Path) -> None:
    target = tmp_path / "signup-app"
    assert main(["init", "signup-app", "--dir", str(target)]) == 0
    assert (target / "signup_app" / "models" / "signup.py").is_file()
    unreachable = _env(SAGABRIDGE_BOOTSTRAP_SERVERS="127.0.0.1:1")  # nothing may try to reach Kafka
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=target,
        env=unreachable,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "2 passed" in tests.stdout
    codegen = ["schemas", "codegen", "--check", "--schemas-dir", "schemas", "--out", "signup_app/models"]
    check = subprocess.run(
        [
            sys.executable,
            "-m",
            "orchestrator.cli",
            *codegen,
            "--package",
            "signup_app.models",
            "--namespace-prefix",
            "signup_app",
        ],
        cwd=target,
        env=unreachable,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert check.returncode == 0, check.stdout + check.stderr  # the models are exactly what codegen makes


def test_init_refuses_a_non_empty_directory_and_bad_names(tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "file").write_text("x")
    with pytest.raises(ConfigurationError, match="not empty"):
        scaffold(tmp_path / "taken", "app")
    with pytest.raises(ConfigurationError, match="not usable"):
        scaffold(tmp_path / "new", "Bad Name")


def test_the_scaffolded_app_runs_against_the_broker_in_two_commands(tmp_path: Path, kafka_bootstrap: str) -> None:
    name = f"init-{uuid.uuid4().hex[:8]}"
    target = tmp_path / name
    scaffold(target, name)
    env = _env(SAGABRIDGE_BOOTSTRAP_SERVERS=kafka_bootstrap, SAGABRIDGE_LOG_LEVEL="WARNING")
    topics = subprocess.run(
        ["orchestrator", "topics", "apply"], cwd=target, env=env, capture_output=True, text=True, timeout=120
    )
    assert topics.returncode == 0, topics.stdout + topics.stderr
    assert f"created: {name}.mailer.commands" in topics.stdout
    run = subprocess.run(
        [sys.executable, "-m", name.replace("-", "_")], cwd=target, env=env, capture_output=True, text=True, timeout=240
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.strip().endswith(": completed")
