"""Build a pinned Jaeger v2 from source through the Go module proxy, cached outside the repo.

Jaeger's Go module is `github.com/jaegertracing/jaeger` without a `/v2` suffix, so every v2
release is also tagged as a v1.x module version (v2.13.0 <-> v1.76.0, see its CHANGELOG); the
`cmd/jaeger` package of that version *is* the v2 binary. Plain `go install pkg@version` refuses
this module because its go.mod carries a `replace` directive, so we do what it would do by hand:
`go mod download` the pinned version (checksum-verified against sum.golang.org like any module)
and `go build ./cmd/jaeger` inside it as the main module, so the replace applies. Everything Go
writes (GOPATH, GOMODCACHE, GOCACHE) and the binary live under `<cache>/go` and `<cache>/jaeger`
(`~/.cache/sagabridge` unless SAGABRIDGE_CACHE is set). GOTOOLCHAIN=local: we build with the Go
that is installed, never a silently downloaded toolchain, and say so if it is too old.

The UI is not part of the Go module (it is built from the jaeger-ui npm project), so this binary
serves the full query/OTLP APIs and a placeholder page; `docker compose` has the real UI.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from orchestrator.devstack import gotool
from orchestrator.devstack.artifacts import cache_root
from orchestrator.errors import JaegerError

JAEGER_MODULE = "github.com/jaegertracing/jaeger"
JAEGER_VERSION = "v2.13.0"
JAEGER_MODULE_VERSION = "v1.76.0"  # the Go module tag of the v2.13.0 release
_VERSION_VAR = f"{JAEGER_MODULE}/internal/version.latestVersion"


@dataclass(frozen=True)
class BuildResult:
    path: Path
    seconds: float
    cached: bool
    go_version: str
    size_bytes: int


def binary_path() -> Path:
    return cache_root() / "jaeger" / JAEGER_VERSION / "jaeger"


def go_env() -> dict[str, str]:
    """Go's writable state confined to the cache; no toolchain downloads; static binary."""
    return gotool.go_env(binary_path().parent, goflags="-mod=readonly -buildvcs=false")


def _go() -> str:
    found = gotool.find_go()
    if found is None:
        raise JaegerError("no `go` on PATH; install Go >= 1.24 (https://go.dev/dl) to build Jaeger v2")
    return found


def _run(args: list[str], cwd: Path | None = None) -> str:
    proc = subprocess.run(args, cwd=cwd, env=go_env(), capture_output=True, text=True)
    if proc.returncode != 0:
        raise JaegerError(f"`{' '.join(args)}` failed ({proc.returncode}):\n{proc.stdout[-2000:]}{proc.stderr[-4000:]}")
    return proc.stdout


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", text)[:3])


def installed_go_version() -> str:
    """`go1.26.8`-style version of the installed toolchain."""
    match = re.search(r"go(\d+\.\d+(?:\.\d+)?)", _run([_go(), "version"]))
    if match is None:
        raise JaegerError("could not parse `go version` output")
    return match.group(1)


def _check_go(module_dir: Path, have: str) -> None:
    gomod = (module_dir / "go.mod").read_text()
    match = re.search(r"^go (\d+\.\d+(?:\.\d+)?)", gomod, re.MULTILINE)
    need = match.group(1) if match else "1.0"
    if _version_tuple(have) < _version_tuple(need):
        raise JaegerError(
            f"Jaeger {JAEGER_VERSION} needs Go >= {need}, installed is go{have}. "
            f"Fix: install a newer Go (GOTOOLCHAIN=local is set on purpose: no silent downloads)"
        )


def _marker() -> Path:
    return binary_path().with_name("build.json")


def cached_build() -> BuildResult | None:
    """The cached binary with its recorded build facts, or None if it must be built."""
    path, marker = binary_path(), _marker()
    if not (path.exists() and marker.exists()):
        return None
    facts = json.loads(marker.read_text())
    return BuildResult(path, float(facts["seconds"]), True, str(facts["go_version"]), path.stat().st_size)


def build_jaeger(force: bool = False) -> BuildResult:
    """The Jaeger v2 binary: cached, or downloaded through the module proxy and built (minutes)."""
    if not force and (cached := cached_build()) is not None:
        return cached
    go = _go()
    have = installed_go_version()
    started = time.monotonic()
    info = json.loads(_run([go, "mod", "download", "-json", f"{JAEGER_MODULE}@{JAEGER_MODULE_VERSION}"]))
    module_dir = Path(info["Dir"])
    _check_go(module_dir, have)
    out = binary_path()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".jaeger.{os.getpid()}.tmp")
    _run(
        [
            go,
            "build",
            "-trimpath",
            "-ldflags",
            f"-s -w -X {_VERSION_VAR}={JAEGER_VERSION}",
            "-o",
            str(tmp),
            "./cmd/jaeger",
        ],
        cwd=module_dir,
    )
    tmp.replace(out)
    seconds = time.monotonic() - started
    result = BuildResult(out, seconds, False, have, out.stat().st_size)
    facts = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(result).items()}
    _marker().write_text(json.dumps({**facts, "module": f"{JAEGER_MODULE}@{JAEGER_MODULE_VERSION}"}, indent=2))
    return result
