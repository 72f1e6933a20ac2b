"""docs/testing.md runs as printed: its test files pass, its replay commands exit as annotated."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

from tests.integration.harness import ROOT

DOC = (ROOT / "docs" / "testing.md").read_text()
BLOCK = re.compile(r"```(\w+)\n(.*?)```", re.S)


def _blocks(language: str) -> list[str]:
    return [body for lang, body in BLOCK.findall(DOC) if lang == language]


def test_the_python_examples_pass_as_test_files(tmp_path: Path) -> None:
    files = []
    for body in _blocks("python"):
        first = body.splitlines()[0]
        if first.startswith("# ") and first.endswith("_test.py"):
            path = tmp_path / first[2:]
            path.write_text(body)
            files.append(str(path))
    assert len(files) == 2
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path), *files],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 passed" in result.stdout


def test_the_replay_commands_exit_as_annotated() -> None:
    commands = [line for body in _blocks("bash") for line in body.splitlines() if "# exit" in line]
    assert len(commands) == 2
    for line in commands:
        command, expected = line.split("# exit")
        argv = shlex.split(command)
        assert argv[0] == "orchestrator"
        done = subprocess.run(
            [sys.executable, "-m", "orchestrator.cli", *argv[1:]], cwd=ROOT, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == int(expected), done.stdout + done.stderr
