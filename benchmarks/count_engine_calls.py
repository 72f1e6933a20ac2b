"""Count the engine core's work per step: calls that the profile named as the hot path's cost.

    python -m benchmarks.count_engine_calls [--workflows 1000]

The `bench_engine_core` workload under cProfile, reporting call counts (not times) divided by the
steps settled. Counts do not depend on the machine's load, so two commits compare exactly on a
shared machine where CPU timings of the same code vary by a factor of two.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import tempfile
from collections.abc import Callable
from pathlib import Path

from benchmarks.bench_engine_core import run_once

# (figure, test on cProfile's (file, line, function) key)
COUNTED: list[tuple[str, Callable[[tuple[str, int, str]], bool]]] = [
    ("Avro encodes (serde.encode)", lambda k: k[0].endswith("single_object.py") and k[2] == "encode"),
    ("json.dumps", lambda k: k[0].endswith("json/__init__.py") and k[2] == "dumps"),
    ("json.loads", lambda k: k[0].endswith("json/__init__.py") and k[2] == "loads"),
    (
        "runtime-checkable Protocol isinstance (typing __instancecheck__)",
        lambda k: k[0].endswith("typing.py") and k[2] == "__instancecheck__",
    ),
    ("dataclasses.replace", lambda k: k[0].endswith("dataclasses.py") and k[2] == "replace"),
    ("header scans (records.header_value)", lambda k: k[0].endswith("records.py") and k[2] == "header_value"),
    ("RocksDB entries read by scans (iterator next)", lambda k: k[0] == "~" and "next" in k[2] and "Rdict" in k[2]),
    (
        "store writes = changelog records (WriteBatch put/delete)",
        lambda k: k[0] == "~" and "WriteBatch" in k[2] and ("'put'" in k[2] or "'delete'" in k[2]),
    ),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--workflows", type=int, default=1_000)
    args = parser.parse_args()
    profile = cProfile.Profile()
    with tempfile.TemporaryDirectory(prefix="sagabridge-count-") as tmp:
        profile.enable()
        _, steps = run_once(args.workflows, Path(tmp) / "store")
        profile.disable()
    stats: dict[tuple[str, int, str], tuple[int, int, float, float, object]] = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    for figure, matches in COUNTED:
        calls = sum(entry[1] for key, entry in stats.items() if matches(key))
        print(f"{figure}: {calls / steps:.2f} per step")


if __name__ == "__main__":
    main()
