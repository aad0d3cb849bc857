"""The project carries the official documents its tests read; the copies never fall behind."""

from __future__ import annotations

import pytest

from tests.conftest import SHARED_SPEC_DIR
from tests.spec_check import COPIES, SPEC_FILES


def test_the_tests_read_the_copies_the_project_carries() -> None:
    assert {path.parent for path in SPEC_FILES.values()} == {COPIES}
    assert all(path.is_file() for path in SPEC_FILES.values())


@pytest.mark.skipif(not SHARED_SPEC_DIR.is_dir(), reason="no shared/spec beside this checkout")
def test_the_copies_equal_the_shared_documents() -> None:
    for path in SPEC_FILES.values():
        assert path.read_bytes() == (SHARED_SPEC_DIR / path.name).read_bytes(), path.name


def _spec_parameters(version: str) -> dict[str, dict[str, tuple[str, bool, tuple[str, ...]]]]:
    from tests.spec_check import spec_dict

    document = spec_dict(version)

    def resolve(node: dict) -> dict:
        while "$ref" in node:
            kind, name = node["$ref"].split("/")[-2:]
            node = document["components"][kind][name]
        return node

    found: dict[str, dict[str, tuple[str, bool, tuple[str, ...]]]] = {}
    for operations in document["paths"].values():
        for operation in operations.values():
            if not isinstance(operation, dict) or "operationId" not in operation:
                continue
            params = {}
            for param in map(resolve, operation.get("parameters", [])):
                schema = resolve(param.get("schema", {}))
                items = (
                    resolve(schema.get("items", {})) if schema.get("type") == "array" else schema
                )
                enum = tuple(items.get("enum") or ())
                params[param["name"]] = (schema.get("type"), bool(param.get("required")), enum)
            found[operation["operationId"]] = params
    return found


@pytest.mark.parametrize("version", ["2025-10", "2026-06"])
def test_the_parameter_table_says_what_the_official_documents_say(version: str) -> None:
    from reconciler.api.parameters import PARAMETERS

    spec = _spec_parameters(version)
    for operation, params in PARAMETERS[version].items():
        mine = {p.name: (p.kind, p.required, p.enum) for p in params}
        assert mine == spec[operation], operation
