"""Facts about the machine and the software a run measured, printed above every table.

A figure without its machine is meaningless, so this records what the issue asks for: nproc,
memory, CPU model, Python, confluent_kafka / librdkafka and the broker's version.
"""

from __future__ import annotations

import os
import platform
import re
from pathlib import Path
from typing import Any

import confluent_kafka
import fastavro

from benchmarks.errors import BenchmarkError


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except (OSError, ValueError):
        pass
    return None


def _listening_inode(port: int) -> str | None:
    """The socket inode listening on `port` (IPv4 or IPv6), from /proc/net/tcp*."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if len(cols) > 9 and cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:
                return cols[9]
    return None


def _pid_of_socket(inode: str) -> int | None:
    target = f"socket:[{inode}]"
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                if os.readlink(fd) == target:
                    return int(proc.name)
        except OSError:
            continue
    return None


def _kafka_version_from_cmdline(pid: int) -> str | None:
    """A local broker's version from its classpath: `.../kafka-4.1.1/libs/*` or `kafka_2.13-4.1.1.jar`."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").replace("\0", " ")
    except OSError:
        return None
    for pattern in (r"kafka_2\.\d+-(\d+\.\d+\.\d+)", r"kafka-(\d+\.\d+\.\d+)/libs"):
        if match := re.search(pattern, cmdline):
            return match.group(1)
    for libs in re.findall(r"(\S+/libs)/\*", cmdline):
        for jar in Path(libs).glob("kafka_2.*-*.jar"):
            if match := re.search(r"kafka_2\.\d+-(\d+\.\d+\.\d+)\.jar$", jar.name):
                return match.group(1)
    return None


def broker_version(bootstrap: str) -> str:
    """Best effort: SAGABRIDGE_BENCH_BROKER_VERSION, else the local broker process's classpath."""
    if explicit := os.environ.get("SAGABRIDGE_BENCH_BROKER_VERSION"):
        return explicit
    host, _, port = bootstrap.split(",")[0].rpartition(":")
    if host not in ("127.0.0.1", "localhost", "::1", "[::1]") or not port.isdigit():
        return "unknown (remote broker; set SAGABRIDGE_BENCH_BROKER_VERSION)"
    inode = _listening_inode(int(port))
    pid = _pid_of_socket(inode) if inode else None
    version = _kafka_version_from_cmdline(pid) if pid else None
    return f"Apache Kafka {version} (KRaft, single node, loopback)" if version else "unknown (local broker)"


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a live process has used so far (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_bytes(pid: int | str = "self") -> int:
    """Resident set size of a live process (VmRSS of /proc/<pid>/status); "self" = this one."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise BenchmarkError(f"no VmRSS for pid {pid}")


def machine_info(bootstrap: str) -> dict[str, Any]:
    return {
        "nproc": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "cpu_model": _cpu_model(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "confluent_kafka": str(confluent_kafka.version()),
        "librdkafka": confluent_kafka.libversion()[0],
        "fastavro": fastavro.__version__,
        "broker": broker_version(bootstrap),
    }
