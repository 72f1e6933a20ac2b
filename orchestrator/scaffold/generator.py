"""Renders the application template (orchestrator/scaffold/template/) into a new folder.

Templates are files with `$app` (the application name, its topic prefix) and `$pkg` (its Python
package) placeholders; `pkg/` becomes the package folder and the schemas go under their
namespace. The models are generated from the schemas with the same codegen as ours, so the new
app starts with code that `orchestrator schemas codegen --check` accepts.
"""

from __future__ import annotations

import re
from pathlib import Path
from string import Template

from orchestrator.errors import ConfigurationError
from orchestrator.serialization import SchemaRepository
from orchestrator.serialization.codegen import PackageMapping, generate, write

TEMPLATE_DIR = Path(__file__).resolve().parent / "template"
_APP_NAME = re.compile(r"^[a-z][a-z0-9-]*$")


def package_name(app: str) -> str:
    """The Python package name of an app name (`my-app` -> `my_app`)."""
    return app.replace("-", "_")


def scaffold(target: Path, app: str) -> list[Path]:
    """Write a new application into ``target`` (created; must not exist or be empty)."""
    if not _APP_NAME.match(app):
        raise ConfigurationError(
            "app name", f"{app!r} is not usable", "use lowercase letters, digits and '-', starting with a letter"
        )
    if target.exists() and any(target.iterdir()):
        raise ConfigurationError("init", f"{target} exists and is not empty", "choose a new directory")
    pkg = package_name(app)
    values = {"app": app, "pkg": pkg}
    written: list[Path] = []
    for source in sorted(TEMPLATE_DIR.rglob("*.tmpl")):
        relative = source.relative_to(TEMPLATE_DIR).with_suffix("")
        parts = list(relative.parts)
        if parts[0] == "pkg":
            parts[0] = pkg
        elif parts[0] == "schemas":
            parts[1:1] = [pkg, "signup"]
        out = target.joinpath(*parts)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(Template(source.read_text(encoding="utf-8")).substitute(values), encoding="utf-8")
        written.append(out)
    models = generate(
        SchemaRepository(target / "schemas", include_builtin=True),
        [PackageMapping(pkg, f"{pkg}.models")],
    )
    written += write(models, target / pkg / "models")
    return written
