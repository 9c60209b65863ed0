"""The docs in docs/ cannot drift from the code: every config key is documented
with its default, and every documented key exists."""

from __future__ import annotations

import json
import re
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from smartollama import config_schema

DOCS = Path(__file__).resolve().parent.parent / "docs"


def schema_keys(model: type[BaseModel], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(key path, default) for every key of the config schema; "required" for no default."""
    for name, f in model.model_fields.items():
        if f.exclude:
            continue
        ann, args = f.annotation, typing.get_args(f.annotation)
        origin = typing.get_origin(ann)
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            yield from schema_keys(ann, f"{prefix}{name}.")
        elif origin is list and isinstance(args[0], type) and issubclass(args[0], BaseModel):
            yield from schema_keys(args[0], f"{prefix}{name}[].")
        elif origin is dict and isinstance(args[1], type) and issubclass(args[1], BaseModel):
            yield from schema_keys(args[1], f"{prefix}{name}.*.")
        elif f.is_required():
            yield prefix + name, "required"
        else:
            yield prefix + name, f.default_factory() if f.default_factory else f.default


def documented() -> dict[str, str]:
    """key path → the default cell of docs/config.md's tables."""
    text = (DOCS / "config.md").read_text()
    rows = {}
    for line in text.splitlines():
        if not line.startswith("| `"):
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        rows[cells[0].strip("`")] = cells[2]
    return rows


def cell(default: Any) -> str:
    if default == "required":
        return "required"
    if default is None:
        return "none"
    return f"`{json.dumps(default)}`"


def test_every_config_key_is_documented_with_its_default() -> None:
    docs = documented()
    expected = {key: cell(default) for key, default in schema_keys(config_schema.Config)}
    missing = sorted(set(expected) - set(docs))
    assert not missing, f"docs/config.md lacks {missing}"
    wrong = {k: (docs[k], v) for k, v in expected.items() if docs[k] != v}
    assert not wrong, f"docs/config.md's defaults differ from the schema (doc, schema): {wrong}"


def test_every_documented_key_exists() -> None:
    keys = {key for key, _ in schema_keys(config_schema.Config)}
    extra = sorted(set(documented()) - keys)
    assert not extra, f"docs/config.md documents keys the schema lacks: {extra}"


def test_the_readme_links_only_to_files_the_repo_has() -> None:
    readme = (DOCS.parent / "README.md").read_text()
    for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", readme):
        assert (DOCS.parent / target).exists(), f"README.md links to {target}, which is missing"
    for name in re.findall(r"`([A-Za-z_]+\.md)`", readme):
        assert (DOCS.parent / name).exists() or (DOCS / name).exists(), \
            f"README.md names {name}, which the repo lacks"
