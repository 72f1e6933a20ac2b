"""Codegen for a user's own schema folder: the demo's models, and a fresh package from scratch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from examples.orders import SCHEMAS_DIR
from orchestrator.cli import main
from orchestrator.serialization import SchemaRepository
from orchestrator.serialization.codegen import BUILTIN_MAPPING, PackageMapping, generate, write

ROOT = Path(__file__).resolve().parents[2]


def test_the_demo_models_are_up_to_date_with_the_demo_schemas() -> None:
    files = generate(
        SchemaRepository(SCHEMAS_DIR),
        [PackageMapping("sagabridge.demo", "examples.orders.models"), BUILTIN_MAPPING],
        [SCHEMAS_DIR],
    )
    assert write(files, ROOT / "examples" / "orders" / "models", check=True) == []
    assert not any(path.parts[0] in ("control", "events", "state") for path in files), "built-ins stay in the library"


def test_codegen_of_a_user_folder_builds_an_importable_self_registering_package(tmp_path: Path) -> None:
    schemas = tmp_path / "schemas" / "acme" / "billing"
    schemas.mkdir(parents=True)
    (schemas / "Invoice.avsc").write_text(
        json.dumps(
            {
                "type": "record",
                "name": "Invoice",
                "namespace": "acme.billing",
                "fields": [
                    {"name": "invoice_id", "type": "string"},
                    {"name": "error", "type": ["null", "sagabridge.protocol.StepError"], "default": None},
                ],
            }
        )
    )
    out = tmp_path / "src" / "acme_models"
    args = ["schemas", "codegen", "--schemas-dir", str(tmp_path / "schemas"), "--out", str(out)]
    assert main([*args, "--package", "acme_models", "--namespace-prefix", "acme"]) == 0
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.py")) == ["__init__.py", "billing.py"]
    probe = (
        "import acme_models\n"
        "from acme_models.billing import Invoice\n"
        "from orchestrator.serialization import model_for\n"
        "assert model_for('acme.billing.Invoice') is Invoice\n"
        "print(Invoice(invoice_id='i-1').to_avro())\n"
    )
    run = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path / "src", capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "{'invoice_id': 'i-1', 'error': None}"
