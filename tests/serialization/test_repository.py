"""The local schema repository: loading, namespacing, standalone forms and fingerprints."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from examples.orders import SCHEMAS_DIR as DEMO_SCHEMAS_DIR
from orchestrator.errors import SchemaLoadError, SchemaNotFoundError
from orchestrator.serialization import SchemaRepository
from orchestrator.serialization.repository import BUILTIN_SCHEMAS_DIR

INTERNAL = [
    "sagabridge.protocol.StepError",
    "sagabridge.control.StartWorkflow",
    "sagabridge.control.SignalWorkflow",
    "sagabridge.control.CancelWorkflow",
    "sagabridge.control.OperatorAction",
    "sagabridge.control.ChildWorkflowFinished",
    "sagabridge.control.QueryWorkflow",
    "sagabridge.control.QueryResult",
    "sagabridge.state.WorkflowHeader",
    "sagabridge.state.HistoryEvent",
    "sagabridge.state.StepState",
    *(
        f"sagabridge.events.{n}"
        for n in (
            "WorkflowStarted",
            "StepScheduled",
            "StepCompleted",
            "StepFailed",
            "StepRetrying",
            "Compensating",
            "WorkflowCompleted",
            "WorkflowFailed",
            "WorkflowCompensated",
            "WorkflowCancelled",
            "WorkflowParked",
        )
    ),
]
DEMO = [
    "sagabridge.demo.orders.OrderPlaced",
    "sagabridge.demo.orders.OrderFulfilment",
    "sagabridge.demo.inventory.ReserveStock",
    "sagabridge.demo.inventory.StockReserved",
    "sagabridge.demo.inventory.ReleaseStock",
    "sagabridge.demo.inventory.StockReleased",
    "sagabridge.demo.payments.ChargePayment",
    "sagabridge.demo.payments.PaymentCharged",
    "sagabridge.demo.payments.RefundPayment",
    "sagabridge.demo.payments.PaymentRefunded",
    "sagabridge.demo.shipping.CreateShipment",
    "sagabridge.demo.shipping.ShipmentCreated",
    "sagabridge.demo.shipping.CancelShipment",
    "sagabridge.demo.shipping.ShipmentCancelled",
]


def write(root: Path, rel: str, schema: dict[str, object]) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(schema))
    return path


def record(name: str, namespace: str, fields: list[dict[str, object]]) -> dict[str, object]:
    return {"type": "record", "name": name, "namespace": namespace, "fields": fields}


def test_every_contract_schema_exists_namespaced_and_file_path_matches_its_name() -> None:
    repo = SchemaRepository()
    for name in INTERNAL + DEMO:
        entry = repo.entry(name)
        namespace, _, short = name.rpartition(".")
        root = DEMO_SCHEMAS_DIR if name in DEMO else BUILTIN_SCHEMAS_DIR
        assert entry.source == root.joinpath(*namespace.split("."), f"{short}.avsc")
    assert all(n.startswith("sagabridge.") for n in repo.names())


def test_contract_fields_of_internal_schemas() -> None:
    repo = SchemaRepository()

    def fields(name: str) -> dict[str, object]:
        return {f["name"]: f["type"] for f in repo.schema(name)["fields"]}

    assert fields("sagabridge.protocol.StepError") == {
        "error_type": "string",
        "message": "string",
        "retryable": "boolean",
        "details": {"type": "map", "values": "string"},
    }
    action = fields("sagabridge.control.OperatorAction")["action"]
    assert isinstance(action, dict)
    assert action["symbols"] == ["RETRY", "SKIP", "COMPENSATE", "CANCEL"]
    assert fields("sagabridge.state.HistoryEvent") == {
        "seq": "long",
        "kind": "string",
        "at_ms": "long",
        "data": "bytes",
        "record": ["null", "bytes"],  # v2: the embedded record's bytes instead of its JSON in data
        "record_schema": ["null", "string"],
    }
    for event in (n for n in INTERNAL if n.startswith("sagabridge.events.")):
        assert {"workflow_id", "workflow_type", "at_ms"} <= set(fields(event))


def test_cross_file_reference_is_inlined_once_in_the_standalone_form() -> None:
    repo = SchemaRepository()
    definition = repo.definition("sagabridge.events.StepRetrying")
    text = json.dumps(definition)
    assert text.count('"name": "sagabridge.protocol.StepError"') == 1
    child = repo.definition("sagabridge.control.ChildWorkflowFinished")
    error_type = next(f["type"] for f in child["fields"] if f["name"] == "error")
    assert error_type[1]["name"] == "sagabridge.protocol.StepError"


def _crc64_avro(data: bytes) -> int:
    """The specification's reference algorithm, written independently of fastavro."""
    empty = 0xC15D213AA4D7A795
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (empty & -(fp & 1))
        table.append(fp)
    fp = empty
    for byte in data:
        fp = (fp >> 8) ^ table[(fp ^ byte) & 0xFF]
    return fp


def test_reference_crc64_matches_the_specification_test_vector() -> None:
    assert int.from_bytes(_crc64_avro(b'"null"').to_bytes(8, "little"), "little", signed=True) == 7195948357588979594


def test_fingerprint_is_crc64_avro_of_the_canonical_form_little_endian() -> None:
    repo = SchemaRepository()
    for name in ("sagabridge.demo.payments.ChargePayment", "sagabridge.events.StepRetrying"):
        entry = repo.entry(name)
        assert entry.fingerprint == _crc64_avro(entry.canonical.encode()).to_bytes(8, "little")
        assert entry.canonical.startswith(f'{{"name":"{name}","type":"record"')


def test_unknown_name_raises_schema_not_found() -> None:
    with pytest.raises(SchemaNotFoundError, match=r"no\.such\.Record"):
        SchemaRepository().schema("no.such.Record")


def test_user_directory_adds_to_builtin_and_relative_names_resolve(tmp_path: Path) -> None:
    write(
        tmp_path,
        "acme/A.avsc",
        record("A", "acme", [{"name": "b", "type": "B"}, {"name": "e", "type": "sagabridge.protocol.StepError"}]),
    )
    write(tmp_path, "acme/B.avsc", record("B", "acme", [{"name": "x", "type": "int"}]))
    repo = SchemaRepository(tmp_path)
    assert "acme.A" in repo.names() and "sagabridge.protocol.StepError" in repo.names()
    assert repo.definition("acme.A")["fields"][0]["type"]["name"] == "acme.B"
    with pytest.raises(SchemaLoadError, match=r"unknown type 'sagabridge\.protocol\.StepError'"):
        SchemaRepository(tmp_path, include_builtin=False)


def test_env_var_selects_the_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, "X.avsc", record("X", "env", []))
    monkeypatch.setenv("SAGABRIDGE_SCHEMAS_DIR", str(tmp_path))
    assert "env.X" in SchemaRepository().names()


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"A.avsc": "{not json"}, "cannot read schema"),
        ({"A.avsc": '"string"'}, "must define one record"),
        ({"A.avsc": json.dumps(record("A", "d", [{"name": "x", "type": "Missing"}]))}, "unknown type 'd.Missing'"),
        (
            {
                "A.avsc": json.dumps(record("A", "d", [])),
                "B.avsc": json.dumps(record("A", "d", [{"name": "x", "type": "int"}])),
            },
            "defined",
        ),
        ({"A.avsc": json.dumps(record("A", "d", [{"name": "x", "type": "nonsense-type-1"}]))}, "unknown type"),
    ],
)
def test_invalid_schema_files_fail_loudly_naming_the_file(tmp_path: Path, files: dict[str, str], message: str) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(SchemaLoadError, match=message):
        SchemaRepository(tmp_path, include_builtin=False)


def test_missing_directory_is_a_load_error(tmp_path: Path) -> None:
    with pytest.raises(SchemaLoadError, match="does not exist"):
        SchemaRepository(tmp_path / "nope")


def test_older_versions_are_known_by_fingerprint_but_not_current(tmp_path: Path) -> None:
    v1 = write(tmp_path, "d/R.v1.avsc", record("R", "d", [{"name": "a", "type": "int"}]))
    write(
        tmp_path,
        "d/R.avsc",
        record("R", "d", [{"name": "a", "type": "int"}, {"name": "b", "type": "string", "default": ""}]),
    )
    repo = SchemaRepository(tmp_path, include_builtin=False)
    versions = repo.versions("d.R")
    assert [v.version for v in versions] == [1, None]
    assert repo.by_fingerprint(versions[0].fingerprint) is versions[0]
    assert versions[0].source == v1
    assert [f["name"] for f in repo.schema("d.R")["fields"]] == ["a", "b"]
