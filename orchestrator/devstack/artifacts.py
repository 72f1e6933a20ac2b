"""Obtain pinned Kafka and Apicurio Registry artifacts from Maven Central, cached.

Maven resolves the broker's full runtime classpath (kafka_2.13 and its dependencies) so we
never hand-maintain a jar list. The cache lives outside the repo (default
`~/.cache/sagabridge`, override with SAGABRIDGE_CACHE) and a marker file makes a second
run a no-op.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from orchestrator.errors import StackError

KAFKA_VERSION = "4.1.1"
LOG4J_VERSION = "2.24.3"
APICURIO_VERSION = "3.0.9"

_KAFKA_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>io.sagabridge.devstack</groupId><artifactId>kafka-broker</artifactId>
  <version>1</version><packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId>
      <version>{kafka}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId>
      <version>{log4j}</version></dependency>
    <!-- kafka 4.1 logs through the SLF4J 1.7 API; this binding routes it to log4j2 -->
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId>
      <version>{log4j}</version></dependency>
  </dependencies>
</project>
"""


def cache_root() -> Path:
    return Path(os.environ.get("SAGABRIDGE_CACHE", Path.home() / ".cache" / "sagabridge"))


@dataclass(frozen=True)
class FetchResult:
    path: Path
    downloaded: bool
    seconds: float


def _require(tool: str) -> str:
    found = shutil.which(tool)
    if found is None:
        raise StackError(f"`{tool}` is not on PATH; install it (e.g. `apt-get install maven default-jdk-headless`)")
    return found


def _run_maven(args: list[str], workdir: Path, log: Path) -> None:
    mvn = _require("mvn")
    with log.open("w") as out:
        proc = subprocess.run([mvn, "-B", "-q", *args], cwd=workdir, stdout=out, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        tail = log.read_text(errors="replace")[-2000:]
        raise StackError(f"maven failed (exit {proc.returncode}); log {log}:\n{tail}")


def fetch_kafka(version: str = KAFKA_VERSION) -> FetchResult:
    """Resolve the broker classpath into <cache>/kafka-<version>/libs."""
    home = cache_root() / f"kafka-{version}"
    marker = home / ".complete"
    if marker.exists():
        return FetchResult(home / "libs", downloaded=False, seconds=0.0)
    started = time.monotonic()
    home.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="libs-", dir=home))
    (home / "pom.xml").write_text(_KAFKA_POM.format(kafka=version, log4j=LOG4J_VERSION))
    _run_maven(
        ["dependency:copy-dependencies", f"-DoutputDirectory={staging}", "-DincludeScope=runtime"],
        home,
        home / "maven.log",
    )
    libs = home / "libs"
    if libs.exists():
        shutil.rmtree(libs)
    staging.rename(libs)
    marker.write_text(version)
    return FetchResult(libs, downloaded=True, seconds=time.monotonic() - started)


def fetch_apicurio(version: str = APICURIO_VERSION) -> FetchResult:
    """Download and unpack the Apicurio Registry `all` distribution; returns the runner jar."""
    home = cache_root() / f"apicurio-{version}"
    runner = home / f"apicurio-registry-app-{version}-runner.jar"
    marker = home / ".complete"
    if marker.exists() and runner.exists():
        return FetchResult(runner, downloaded=False, seconds=0.0)
    started = time.monotonic()
    home.mkdir(parents=True, exist_ok=True)
    download = Path(tempfile.mkdtemp(prefix="dl-", dir=home))
    _run_maven(
        [
            "dependency:copy",
            f"-Dartifact=io.apicurio:apicurio-registry-app:{version}:tar.gz:all",
            f"-DoutputDirectory={download}",
        ],
        home,
        home / "maven.log",
    )
    archive = download / f"apicurio-registry-app-{version}-all.tar.gz"
    with tarfile.open(archive) as tar:
        tar.extractall(home, filter="data")
    shutil.rmtree(download)
    if not runner.exists():
        raise StackError(f"apicurio archive did not contain {runner.name}")
    marker.write_text(version)
    return FetchResult(runner, downloaded=True, seconds=time.monotonic() - started)
