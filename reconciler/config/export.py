"""Export: the live organizations as a desired-state file that plans to no changes.

Like peribolos's --dump: the way to start managing an organization that already exists.
"""

from __future__ import annotations

import io
from datetime import datetime, timezone

from email_validator import EmailNotValidError, validate_email
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from .. import __version__
from ..identity import IdentifierField, identity
from ..live_state import LiveMember, LiveOrganization, LiveState

SCHEMA_MODELINE = ("# yaml-language-server: $schema=https://github.com/ideogram-org/ideogram-org/raw/main/"
                   "schemas/ideogram-org.schema.json")


def _identity(member: LiveMember) -> tuple[IdentifierField, str]:
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
    ordered = sorted(org.members, key=lambda m: (m.role != "OWNER", identity(*_identity(m))[1]))
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
