"""Export: the live organizations as a desired-state file that plans to no changes.

Like peribolos's --dump: the way to start managing an organization that already exists.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from datetime import datetime, timezone

from email_validator import EmailNotValidError, validate_email
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from . import __version__
from .client import ApiReader
from .errors import OrganizationNotFoundError
from .live import LiveOrganization, LiveState, read_organizations
from .wire import ApiProfile

SCHEMA_MODELINE = ("# yaml-language-server: $schema=https://github.com/ideogram-org/ideogram-org/raw/main/"
                   "schemas/ideogram-org.schema.json")


def select_profiles(profiles: list[ApiProfile], only: Iterable[str] = ()) -> dict[str, ApiProfile]:
    """Enterprise profiles by profile name, optionally only those named (by name or id)."""
    enterprise = [p for p in profiles if p.type == "ENTERPRISE"]
    only = [o.casefold() for o in only]
    chosen = {p.name: p for p in enterprise
              if not only or p.name.casefold() in only or p.organization_id.casefold() in only}
    if only and not chosen:
        seen = ", ".join(f"{p.name!r} ({p.organization_id})" for p in enterprise) or "none"
        raise OrganizationNotFoundError(f"no organization named {', '.join(only)}; this token can see: {seen}")
    return chosen


def _identity(member) -> tuple[str, str]:
    if member.email:
        try:
            validate_email(member.email, check_deliverability=False)
            return "email", member.email
        except EmailNotValidError:
            pass
    if member.handle:
        return "handle", member.handle
    return "user_id", member.user_id


def _organization_node(org: LiveOrganization) -> CommentedMap:
    node = CommentedMap()
    node["id"] = org.organization_id
    members = CommentedSeq()
    ordered = sorted(org.members, key=lambda m: (m.role != "OWNER", _identity(m)[1].casefold()))
    for member in ordered:
        entry = CommentedMap()
        field, value = _identity(member)
        entry[field] = value
        if member.role == "OWNER":
            entry["role"] = "OWNER"
        members.append(entry)
    node["members"] = members
    keys = CommentedMap()
    for key in sorted(org.keys, key=lambda k: (k.status != "ACTIVE", k.api_key_id)):
        spec = CommentedMap()
        spec["id"] = key.api_key_id
        spec["status"] = key.status
        keys[key.api_key_id] = spec
        if key.redacted:
            keys.yaml_add_eol_comment(f"{key.redacted}, created {key.creation_time or 'unknown'}", key.api_key_id)
    if keys:
        node["api_keys"] = keys
    return node


def render_export(live: LiveState, now: datetime | None = None) -> str:
    stamp = (now or datetime.now(timezone.utc)).isoformat(timespec="seconds")
    document = CommentedMap()
    document["version"] = 1
    organizations = CommentedMap()
    for name, org in sorted(live.organizations.items()):
        organizations[name] = _organization_node(org)
    document["organizations"] = organizations
    stream = io.StringIO()
    yaml = YAML()
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096
    yaml.dump(document, stream)
    header = [
        SCHEMA_MODELINE,
        f"# Exported by ideogram-org {__version__} on {stamp} from the live organization(s).",
        "# Planning this file gives no changes. Key labels are their ids: rename them to something",
        "# meaningful; keys have no names in Ideogram.",
    ]
    return "\n".join(header) + "\n" + stream.getvalue()


def export_live(reader: ApiReader, only: Iterable[str] = (), api_version: str = "auto") -> str:
    profiles = select_profiles(reader.get_profiles(), only)
    return render_export(read_organizations(reader, profiles, api_version))
