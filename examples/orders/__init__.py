"""The order-fulfilment demo: a saga across inventory, payments and shipping.

Its records (`sagabridge.demo.*`) are the demo's own, not the library's: the schemas live in
`examples/orders/schemas/` and the models in `examples/orders/models/`, generated as any user's
would be:

    orchestrator schemas codegen --schemas-dir examples/orders/schemas --out examples/orders/models \\
        --package examples.orders.models --namespace-prefix sagabridge.demo

Importing this package adds the schema folder to `SAGABRIDGE_SCHEMAS_DIR` (the default schema
repository of this process and of the processes it starts), as a deployment would configure it.
"""

from __future__ import annotations

import os
from pathlib import Path

from orchestrator.serialization.repository import SCHEMAS_DIR_ENV

SCHEMAS_DIR = Path(__file__).resolve().parent / "schemas"


def use_demo_schemas() -> None:
    """Make `SchemaRepository()` (here and in child processes) load the demo's schemas too."""
    current = [p for p in os.environ.get(SCHEMAS_DIR_ENV, "").split(os.pathsep) if p]
    if str(SCHEMAS_DIR) not in current:
        os.environ[SCHEMAS_DIR_ENV] = os.pathsep.join([*current, str(SCHEMAS_DIR)])


use_demo_schemas()
