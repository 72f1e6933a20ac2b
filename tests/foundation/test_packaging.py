"""A wheel is what users install: it must carry the Avro contracts, not only a source checkout."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from orchestrator.serialization.repository import BUILTIN_SCHEMAS_DIR

ROOT = Path(__file__).resolve().parents[2]


def _avsc(under: Path) -> set[str]:
    return {p.relative_to(under).as_posix() for p in under.rglob("*.avsc")}


def test_the_package_schemas_are_the_top_level_schemas() -> None:
    assert BUILTIN_SCHEMAS_DIR.resolve() == (ROOT / "schemas").resolve()
    assert _avsc(BUILTIN_SCHEMAS_DIR) == _avsc(ROOT / "schemas")


def test_a_built_wheel_carries_the_schemas_and_works_outside_the_checkout(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("sagabridge-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "orchestrator/py.typed" in names
    assert {f"orchestrator/_schemas/{n}" for n in _avsc(ROOT / "schemas")} <= names
    assert not any(n.startswith(("tests/", "benchmarks/", "examples/")) for n in names)

    unpacked = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(unpacked)
    probe = (
        "import orchestrator, pathlib, sys\n"
        "from orchestrator.models.control import CancelWorkflow\n"
        "from orchestrator.serialization import SchemaRepository, SingleObjectSerde\n"
        "assert pathlib.Path(orchestrator.__file__).is_relative_to(sys.argv[1]), orchestrator.__file__\n"
        "serde = SingleObjectSerde(SchemaRepository())\n"
        "o = CancelWorkflow(workflow_id='1', reason='r')\n"
        "assert serde.decode(serde.encode(o.avro_schema_name, o.to_avro())).value['workflow_id'] == '1'\n"
    )
    subprocess.run(
        [sys.executable, "-c", probe, str(unpacked)],
        check=True,
        cwd=tmp_path,
        env={"PYTHONPATH": str(unpacked), "PATH": "/usr/bin:/bin"},
    )
