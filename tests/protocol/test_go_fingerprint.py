"""docs/protocol.md §5 tells Go teams to use hamba/avro's `CRC64AvroLE`; prove it on every schema.

Issue 14: the page named `avro.CRC64Avro`, which yields the fingerprint big-endian, so a Go
participant built from it framed every record with bytes no reader knows. This runs hamba/avro
(from the Go module proxy, cached like the Jaeger build) over the standalone form of each schema
and compares with the bytes our single-object framing writes.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from orchestrator.devstack.gotool import find_go, go_env
from orchestrator.serialization import SchemaRepository

HAMBA = "github.com/hamba/avro/v2"
HAMBA_VERSION = "v2.28.0"  # the first release with CRC64AvroLE (hamba/avro#491)

PROGRAM = """package main

import (
	"encoding/hex"
	"fmt"
	"os"

	"github.com/hamba/avro/v2"
)

func main() {
	for _, path := range os.Args[1:] {
		raw, err := os.ReadFile(path)
		if err != nil {
			panic(err)
		}
		schema, err := avro.Parse(string(raw))
		if err != nil {
			panic(err)
		}
		le, _ := schema.FingerprintUsing(avro.CRC64AvroLE)
		be, _ := schema.FingerprintUsing(avro.CRC64Avro)
		fmt.Println(path, hex.EncodeToString(le), hex.EncodeToString(be))
	}
}
"""


def test_hamba_avro_crc64_avro_le_gives_the_single_object_fingerprint(tmp_path: Path) -> None:
    go = find_go()
    if go is None:
        pytest.skip("no Go toolchain (CI installs it for the Jaeger build)")
    repo = SchemaRepository()
    files: dict[str, bytes] = {}
    for name in repo.names():
        path = tmp_path / f"{name}.avsc"
        path.write_text(json.dumps(repo.definition(name)))
        files[str(path)] = repo.entry(name).fingerprint
    (tmp_path / "main.go").write_text(PROGRAM)
    (tmp_path / "go.mod").write_text(f"module fpcheck\n\ngo 1.21\n\nrequire {HAMBA} {HAMBA_VERSION}\n")
    env = go_env(tmp_path / "bin", goflags="-mod=mod -buildvcs=false")
    out = subprocess.run(
        [go, "run", ".", *files], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert out.returncode == 0, out.stderr[-2000:]
    rows = [line.split() for line in out.stdout.splitlines()]
    assert len(rows) == len(files) > 20
    for file, le, be in rows:
        assert bytes.fromhex(le) == files[file], file  # CRC64AvroLE: exactly what we frame with
        assert bytes.fromhex(be) == files[file][::-1], file  # CRC64Avro: the same value, big-endian
