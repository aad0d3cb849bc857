"""The query parameters each operation takes, per spec version, as the official documents say:
the sandbox refuses anything else (as a real server does) and tests/test_spec_copies.py checks
this table against the documents, so neither can drift from them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["string", "boolean", "integer", "array"]

_MODELS_2025 = (
    "V_0_1", "V_0_2", "V_0_3", "V_1_1", "V_1_5", "V_2_1", "V_3_0", "V_3_1",
    "EXTERNAL_GOOGLE_VEO_3_0", "EXTERNAL_BYTEDANCE_SEEDANCE_1_0_PRO", "EXTERNAL_MINIMAX_HAILUO_02",
)  # fmt: skip
_MODELS_2026 = (
    "V_0_1", "V_0_2", "V_0_3", "V_1_1", "V_1_5", "V_2_1", "V_3_0", "V_3_1", "V_4_0",
    "EXTERNAL_GOOGLE_VEO_3_0", "EXTERNAL_BYTEDANCE_SEEDANCE_1_0_PRO", "EXTERNAL_MINIMAX_HAILUO_02",
    "EXTERNAL_MODEL", "AUTO",
)  # fmt: skip
_TOOLS_2025 = ("GENERATE", "REMIX", "EDIT", "UPSCALE", "DESCRIBE")
_TOOLS_2026 = (*_TOOLS_2025, "OTHER")


@dataclass(frozen=True)
class Param:
    name: str
    kind: Kind
    required: bool = False
    enum: tuple[str, ...] = ()  # allowed values (of each item, for an array); () for any


_ORG = Param("organization_id", "string", required=True)
_USAGE_2025 = (
    _ORG,
    Param("segment_by", "string", required=True, enum=("DAY", "HOUR")),
    Param("start_time", "string", required=True),
    Param("end_time", "string"),
    Param("model_versions", "array", enum=_MODELS_2025),
    Param("tools", "array", enum=_TOOLS_2025),
    Param("api_key_ids", "array"),
)
_USAGE_2026 = (
    *_USAGE_2025[:4],
    Param("model_versions", "array", enum=_MODELS_2026),
    Param("tools", "array", enum=_TOOLS_2026),
    Param("api_key_ids", "array"),
    Param("user_emails", "array"),
    Param("source", "string", enum=("API", "APP")),
)
_BOTH: dict[str, tuple[Param, ...]] = {
    "get_api_profiles": (),
    "get_organization_members": (_ORG,),
    "add_organization_members": (_ORG,),
    "promote_organization_members": (_ORG,),
    "remove_organization_members": (_ORG,),
    "deactivate_organization_api_key": (Param("api_key_id", "string", required=True),),
    "create_api_key_v2": (_ORG,),
    "get_user_credits": (
        _ORG,
        Param("start_time", "string", required=True),
        Param("end_time", "string"),
    ),
    "get_user_spend_commit_info": (_ORG, Param("postpaid_only", "boolean")),
}
PARAMETERS: dict[str, dict[str, tuple[Param, ...]]] = {
    "2025-10": {**_BOTH, "get_usage_info": _USAGE_2025},
    "2026-06": {
        **_BOTH,
        "get_usage_info": _USAGE_2026,
        "get_api_keys_v2": (_ORG,),
        "get_api_organization_user_suggestions": (
            _ORG,
            Param("user_handle_prefix", "string"),
            Param("maxItems", "integer"),
        ),
        "list_organization_invoices": (_ORG,),
    },
}


def problems(version: str, operation: str, query: dict[str, list[str]]) -> list[str]:
    """What is wrong with a request's query for this operation in this version: unknown or
    missing parameters, values outside an enum, booleans that are not true or false."""
    known = {p.name: p for p in PARAMETERS.get(version, {}).get(operation, ())}
    found = [f"unknown parameter {name!r} in {version}" for name in query if name not in known]
    for param in known.values():
        values = query.get(param.name, [])
        if param.required and not values:
            found.append(f"missing required parameter {param.name!r}")
        if param.kind != "array" and len(values) > 1:
            found.append(f"{param.name!r} given {len(values)} times")
        if param.kind == "boolean":
            found += [
                f"{param.name!r} must be true or false"
                for v in values
                if v not in ("true", "false")
            ]
        if param.kind == "integer":
            found += [
                f"{param.name!r} must be an integer" for v in values if not v.lstrip("-").isdigit()
            ]
        if param.enum:
            found += [
                f"{param.name!r}: {v!r} is not one of the spec's values"
                for v in values
                if v not in param.enum
            ]
    return found
