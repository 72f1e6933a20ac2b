"""The harness at tiny size on the test broker: results JSON and BENCHMARKS.md with every field.

Not a benchmark: no assertion on any figure beyond "measured and positive", so this only
catches a harness that rotted (a renamed API, a missing field, a case that no longer runs).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from benchmarks import harness
from benchmarks.cases import CEILING_CASES, ORCHESTRATOR_CASES, PEER_CASES, PLANNED_ORCHESTRATOR, all_cases
from benchmarks.model import CEILING, SIZES, BenchContext, Case, Measurement
from benchmarks.report import render

MACHINE_FIELDS = (
    "nproc",
    "memory_gib",
    "cpu_model",
    "os",
    "python",
    "confluent_kafka",
    "librdkafka",
    "fastavro",
    "broker",
)


@pytest.fixture(scope="module")
def tiny_run(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object], str]:
    out = tmp_path_factory.mktemp("bench")
    json_path, result = harness.run(
        "tiny", bootstrap=kafka_bootstrap, results_dir=out / "results", markdown=out / "BENCHMARKS.md"
    )
    return json_path, result, (out / "BENCHMARKS.md").read_text()


def test_json_has_machine_settings_and_every_ceiling_figure(tiny_run: tuple[Path, dict[str, object], str]) -> None:
    json_path, result, _md = tiny_run
    data = json.loads(json_path.read_text())
    assert data == json.loads(json.dumps(result))
    assert json_path.parent.name == "results" and json_path.suffix == ".json"
    for key in (
        "run_id",
        "started_at",
        "seconds",
        "size",
        "broker",
        "machine",
        "settings",
        "cases",
        "measurements",
        "pending",
    ):
        assert key in data, key
    assert all(data["machine"][f] not in (None, "") for f in MACHINE_FIELDS)
    assert data["machine"]["nproc"] >= 1
    assert data["settings"]["commit_interval_ms"] == harness.ENGINE_COMMIT_INTERVAL_MS
    assert data["size"]["name"] == "tiny"

    rows = [Measurement.from_json(m) for m in data["measurements"]]
    by_case = {m.case: m for m in rows if m.unit in ("msgs/s", "")}
    for case in CEILING_CASES:
        m = by_case[case.name]
        assert m.status == "ok", (m.name, m.note)
        assert m.value is not None and m.value > 0
        assert m.settings["messages"] > 0 and m.settings["partitions"] == SIZES["tiny"].partitions
    ceiling_names = {c.name for c in CEILING_CASES}
    assert all(m.status == "ok" and m.value and m.value > 0 for m in rows if m.case in ceiling_names)
    assert by_case["raw EOS pipe"].name == CEILING
    assert by_case["raw EOS pipe"].settings["transactions"] >= 1
    [cpu] = [m for m in rows if m.case == "raw EOS pipe" and m.unit == "CPU ms/msg"]
    assert cpu.value is not None and cpu.value > 0
    for case in PEER_CASES:
        assert by_case[case.name].status == "skipped"
    assert not [m for m in rows if m.status == "error"]
    orchestrator_cases = {c.name for c in ORCHESTRATOR_CASES}
    orchestrator_rows = {m.name: m for m in rows if m.case in orchestrator_cases}
    for name, unit in PLANNED_ORCHESTRATOR:  # every figure the report expects is measured
        m = orchestrator_rows[name]
        assert (m.status, m.unit) == ("ok", unit), (m.name, m.note)
        assert m.value is not None and m.value > 0, m.name
    assert orchestrator_rows["orchestrator steps, 1 instance"].compare_to == CEILING
    assert orchestrator_rows["orchestrator steps, 2 instances"].settings["instances"] == 2
    assert orchestrator_rows["restore rate"].settings["changelog_records"] > 0
    bridge = {m.name: m for m in rows if m.case == "bridge connector"}
    assert (bridge["connector events"].status, bridge["connector events"].unit) == ("ok", "events/s")
    assert bridge["connector events"].compare_to == CEILING and (bridge["connector events"].value or 0) > 0
    assert bridge["connector events"].settings["matched"] == bridge["connector events"].settings["messages"]
    assert (bridge["connector CPU per event"].value or 0) > 0
    measured = {m.name for m in rows}
    assert data["pending"] == [[n, u] for n, u in PLANNED_ORCHESTRATOR if n not in measured]


def test_markdown_has_machine_settings_and_table(tiny_run: tuple[Path, dict[str, object], str]) -> None:
    _json_path, result, md = tiny_run
    assert md.startswith("# Benchmarks")
    for section in ("## Machine and versions", "## Settings", "## Results", "## Cases"):
        assert section in md
    machine = result["machine"]
    assert isinstance(machine, dict)
    for field in MACHINE_FIELDS:
        assert f"| {field} | {machine[field]} |" in md
    assert "| group | figure | value | unit | vs ceiling | settings |" in md
    pipe_row = next(line for line in md.splitlines() if line.startswith(f"| ceiling | {CEILING} |"))
    assert "| msgs/s | 1.00 |" in pipe_row
    for case in PEER_CASES:
        assert f"| peer | {case.name} | skipped" in md
    for name, unit in PLANNED_ORCHESTRATOR:
        row = next(line for line in md.splitlines() if line.startswith(f"| orchestrator | {name} |"))
        assert f"| {unit} |" in row
    assert "## Not yet measured" not in md


def test_run_leaves_no_topics_behind(tiny_run: tuple[Path, dict[str, object], str], kafka_bootstrap: str) -> None:
    _json_path, result, _md = tiny_run
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    # Topic deletion completes asynchronously on the broker: a deleted topic can still be listed for
    # a few seconds on a loaded machine. What must hold is that every one of them goes away.
    deadline = time.monotonic() + 60
    while True:
        left = [t for t in admin.list_topics(timeout=10).topics if str(result["run_id"]) in t]
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert not left


def test_a_failing_or_unavailable_case_becomes_a_row(kafka_bootstrap: str, tmp_path: Path) -> None:
    from benchmarks.errors import BenchmarkNotAvailableError

    def broken(_ctx: BenchContext) -> list[Measurement]:
        raise RuntimeError("boom")

    def missing(_ctx: BenchContext) -> list[Measurement]:
        raise BenchmarkNotAvailableError("no tool here")

    ctx = BenchContext(kafka_bootstrap, SIZES["small"], tmp_path, "t", 100, harness.log)
    [err] = harness.run_case(Case("broken", "orchestrator", broken, "raises"), ctx)
    [na] = harness.run_case(Case("missing", "peer", missing, "unavailable"), ctx)
    assert (err.status, err.value) == ("error", None) and "RuntimeError: boom" in err.note
    assert (na.status, na.note) == ("not available", "no tool here")
    result = {
        "size": {"name": "small"},
        "started_at": "now",
        "seconds": 1.0,
        "machine": {"nproc": 2},
        "broker": {"bootstrap": kafka_bootstrap, "source": "given"},
        "settings": {},
        "pending": [],
        "cases": [
            {"name": "broken", "group": "orchestrator", "description": ""},
            {"name": "missing", "group": "peer", "description": ""},
        ],
        "measurements": [err.to_json(), na.to_json()],
    }
    md = render(result, "x.json")
    assert "| peer | missing | not available: no tool here |" in md
    assert "not measured in this run" in md


def test_unknown_case_name_is_refused() -> None:
    with pytest.raises(SystemExit, match="unknown case"):
        harness.select(all_cases(), ["no such case"])
    assert [c.name for c in harness.select(all_cases(), ["ceiling"])] == [c.name for c in CEILING_CASES]
