"""The Temporal CLI (which embeds the dev server) built from the Go module proxy, cached.

Pinned to github.com/temporalio/cli v1.5.1 (Temporal Server 1.29.1). The newest tag the proxy
serves, v1.9.1, cannot be built from the proxy: its go.mod has `replace
github.com/temporalio/cli/cliext => ./cliext`, so `go install pkg@version` refuses it, and
`cliext` is a nested module, left out of the parent's module zip and not published on the
proxy, so building inside the downloaded module (the trick the Jaeger build uses) fails too.
v1.5.1 has no replace directive: plain `go install` works. Go state and the binary live under
`<cache>/go` and `<cache>/temporal/<version>`; GOTOOLCHAIN=local (no silent toolchain download).
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from benchmarks.errors import BenchmarkNotAvailableError
from orchestrator.devstack import gotool
from orchestrator.devstack.artifacts import cache_root

TEMPORAL_CLI_MODULE = "github.com/temporalio/cli"
TEMPORAL_CLI_VERSION = "v1.5.1"
WHY_THIS_VERSION = (
    "v1.9.1 (newest on the proxy) does not build from it: go.mod replaces "
    "github.com/temporalio/cli/cliext => ./cliext, a nested module missing from the module zip"
)


def binary_path() -> Path:
    return cache_root() / "temporal" / TEMPORAL_CLI_VERSION / "temporal"


def _go() -> str:
    found = gotool.find_go()
    if found is None:
        raise BenchmarkNotAvailableError("no `go` toolchain on PATH to build the Temporal CLI from the Go module proxy")
    return found


def ensure_temporal_cli() -> Path:
    """The cached binary, or `go install` it (several minutes on 2 cores the first time)."""
    path = binary_path()
    marker = path.with_name("build.json")
    if path.exists() and marker.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    target = f"{TEMPORAL_CLI_MODULE}/cmd/temporal@{TEMPORAL_CLI_VERSION}"
    proc = subprocess.run(
        [_go(), "install", "-trimpath", "-ldflags", "-s -w", target],
        env=gotool.go_env(binary_path().parent),
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0 or not path.exists():
        reason = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise BenchmarkNotAvailableError(f"`go install {target}` failed: {' '.join(reason)[-400:]}")
    marker.write_text(json.dumps({"module": target, "seconds": round(time.monotonic() - started, 1)}))
    return path


def cli_version(path: Path) -> str:
    proc = subprocess.run([str(path), "--version"], capture_output=True, text=True, timeout=30)
    return proc.stdout.strip()
