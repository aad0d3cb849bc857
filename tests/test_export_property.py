"""Property: for any live state the official response schemas allow, export then plan gives no
changes, or export refuses naming why. Never a traceback, never a file that does not load."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler import service
from reconciler.api.client import ApiReader
from reconciler.config.export import ExportError
from reconciler.config.loader import LoadedConfig, load_text
from tests.spec_check import spec_dict

# Why an export may refuse: what no desired-state file can say (the message names it).
ALLOWED_REFUSALS = (
    "sees no enterprise organization",
    "has no id",
    "has an id no desired-state file can hold",
    "has no identifier",
)


def _inline(node: Any, components: dict[str, Any]) -> Any:
    """An OpenAPI 3.0 schema as plain JSON Schema: refs inlined, `nullable` as a null type."""
    if isinstance(node, list):
        return [_inline(item, components) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return _inline(components[node["$ref"].rsplit("/", 1)[1]], components)
    out = {
        k: _inline(v, components)
        for k, v in node.items()
        if k not in ("example", "nullable", "xml")
    }
    if node.get("nullable"):
        return {"anyOf": [out, {"type": "null"}]}
    return out


def response_schema(version: str, name: str) -> dict[str, Any]:
    components = spec_dict(version)["components"]["schemas"]
    return _inline(copy.deepcopy(components[name]), components)


# Strings any spec allows, weighted towards the ones that collide or say nothing: empty, case
# variants of one email, one handle in two cases, surrounding spaces, and then any text at all.
EDGY = [
    "",
    "a@x.example",
    "A@X.example",
    "ann",
    "ANN",
    " ann",
    "b3Jn",
    "dTE",
    "ACTIVE",
    "OWNER",
    "x" * 40,
]


def from_schema(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values valid against the subset of JSON Schema the management API's responses use.

    (hypothesis-jsonschema would do this, but its release does not run on current Hypothesis.)
    Objects carry every required property, any optional ones, and sometimes a property no spec
    has yet, which a reader must ignore.
    """
    if "anyOf" in schema:
        return st.one_of([from_schema(option) for option in schema["anyOf"]])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "object":
        properties = schema.get("properties", {})
        required = set(schema.get("required", []))
        optional = {
            name: from_schema(sub) for name, sub in properties.items() if name not in required
        }
        optional["a_field_from_the_future"] = st.text(max_size=5)
        return st.fixed_dictionaries(
            {name: from_schema(properties[name]) for name in sorted(required)}, optional=optional
        )
    if kind == "array":
        return st.lists(from_schema(schema.get("items", {})), max_size=4)
    if kind == "string":
        return st.one_of(st.sampled_from(EDGY), st.text(max_size=12))
    if kind == "integer":
        return st.integers(min_value=-3, max_value=64)
    if kind == "number":
        return st.floats(allow_nan=False, allow_infinity=False)
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    raise AssertionError(f"a schema construct the generator does not know: {schema}")


@st.composite
def live_answers(draw: st.DrawFn, version: str) -> dict[str, Any]:
    profiles = draw(from_schema(response_schema(version, "GetApiProfilesResponse")))
    ids = {p["organization_id"] for p in profiles["profiles"]}
    members_schema = response_schema(version, "GetOrganizationMembersResponse")
    members = {org_id: draw(from_schema(members_schema)) for org_id in sorted(ids)}
    keys: dict[str, Any] = {}
    if version == "2026-06":
        keys_schema = response_schema(version, "GetApiKeysV2Response")
        keys = {org_id: draw(from_schema(keys_schema)) for org_id in sorted(ids)}
    return {"profiles": profiles, "members": members, "keys": keys}


def _reader(answers: dict[str, Any]) -> ApiReader:
    def handle(request: httpx.Request) -> httpx.Response:
        query = parse_qs(request.url.query.decode())
        org_id = (query.get("organization_id") or [""])[0]
        path = request.url.path
        if path == "/manage/api/profiles":
            return httpx.Response(200, json=answers["profiles"])
        table = {
            "/manage/api/organization/members": answers["members"],
            "/manage/api/organization/api_keys": answers["keys"],
        }.get(path, {})
        if org_id in table:
            return httpx.Response(200, json=table[org_id])
        return httpx.Response(404, json={"detail": "not found"})

    return ApiReader("https://api.test", "token", transport=httpx.MockTransport(handle))


def _round_trip(answers: dict[str, Any]) -> None:
    with _reader(answers) as reader:
        try:
            text = service.export(reader).text
        except ExportError as exc:
            assert any(reason in str(exc) for reason in ALLOWED_REFUSALS), str(exc)
            return
        desired = load_text(text, "exported.yaml")  # raises ConfigError if the export is not valid
        config = LoadedConfig(path=Path("exported.yaml"), desired=desired, sha256="0" * 64)
        plan = service.plan(reader, config).plan
    assert not plan.changes and not plan.blocked, (text, plan.model_dump_json(indent=1))
    assert plan.safe, plan.violations


@pytest.mark.parametrize("version", ["2025-10", "2026-06"])
def test_export_then_plan_gives_no_changes_for_any_spec_valid_state(version: str) -> None:
    @settings(
        max_examples=60,
        deadline=None,
        database=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
        ],
    )
    @given(live_answers(version))
    def check(answers: dict[str, Any]) -> None:
        _round_trip(answers)

    check()


def test_the_round_trip_checks_something() -> None:
    """A fixed, ordinary state goes the whole way (so the property cannot pass by refusing
    everything)."""
    answers = {
        "profiles": {
            "profiles": [
                {
                    "type": "ENTERPRISE",
                    "name": "acme",
                    "organization_id": "b3Jn",
                    "role": "OWNER",
                    "api_keys": [],
                    "avatar_url": "",
                    "is_metronome_2_user": False,
                    "max_num_inflight_requests_permitted": 2,
                }
            ]
        },
        "members": {
            "b3Jn": {
                "members": [
                    {
                        "user_id": "dTE",
                        "display_handle": "ann",
                        "email_address": "ann@x.example",
                        "role": "OWNER",
                        "avatar_url": "",
                    },
                    {
                        "user_id": "dTI",
                        "display_handle": "",
                        "email_address": "",
                        "role": "MEMBER",
                        "avatar_url": "",
                    },
                ]
            }
        },
        "keys": {},
    }
    _round_trip(answers)
    with _reader(answers) as reader:
        assert "user_id: dTI" in service.export(reader).text
    json.dumps(answers)
