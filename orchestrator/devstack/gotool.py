"""The Go toolchain as used by the dev tools that build from the Go module proxy (Jaeger, Temporal).

Go's writable state (module cache, build cache, GOPATH) is confined to the SagaBridge cache, never
the user's home or the repo; toolchain downloads are off, so the installed `go` is what builds.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from orchestrator.devstack.artifacts import cache_root

_USUAL_GO = Path("/usr/local/go/bin/go")  # the official tarball's place, often not on PATH


def go_root() -> Path:
    return cache_root() / "go"


def find_go() -> str | None:
    """The `go` binary on PATH or at /usr/local/go, or None."""
    return shutil.which("go") or (str(_USUAL_GO) if _USUAL_GO.exists() else None)


def go_env(gobin: Path, goflags: str = "-buildvcs=false") -> dict[str, str]:
    """The process environment for `go` runs: cache-confined state, local toolchain, static binary."""
    root = go_root()
    return {
        **os.environ,
        "GOPATH": str(root),
        "GOMODCACHE": str(root / "pkg" / "mod"),
        "GOCACHE": str(root / "build"),
        "GOBIN": str(gobin),
        "GOTOOLCHAIN": "local",
        "GOFLAGS": goflags,
        "CGO_ENABLED": "0",
    }
