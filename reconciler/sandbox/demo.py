"""The built-in demo organization behind `--sandbox`.

It is `examples/acme/ideogram-org.yaml` as it might stand after a few weeks of hand edits, so the
first `plan` a new user runs shows something worth reading:
- ravi.patel was added by hand and is not in the file (a removal);
- li.wei, an OWNER in the file, is missing (an add, then a promotion);
- a stray ACTIVE key nobody listed (reported as unmanaged);
- old-prototype, DISABLED in the file, is still ACTIVE (a deactivation);
- a service account that the file's ignore_members pattern keeps out of the plan.
"""

from __future__ import annotations

from datetime import datetime, timezone

from .state import ApiKey, Organization, SandboxState, User, b64id, generate_state
from .usage import HISTORY_DAYS, UsagePattern, part_used_commit

DEMO_ORG_ID = "b3JnX2FjbWVfY29ycA"
DEMO_ORG_NAME = "acme"

_PEOPLE = [  # (email local part, handle, full name, role in the live org or None when not a member)
    ("dana.reyes", "dana_r", "Dana Reyes", "OWNER"),
    ("li.wei", "liwei", "Li Wei", None),
    ("priya.nair", "priya", "Priya Nair", "MEMBER"),
    ("marco.rossi", "marco_r", "Marco Rossi", "MEMBER"),
    ("sam.okafor", "samo", "Sam Okafor", "MEMBER"),
    ("emma.schmidt", "emma_s", "Emma Schmidt", "MEMBER"),
    ("tomas.novak", "tnovak", "Tomas Novak", "MEMBER"),
    ("aisha.khan", "aisha", "Aisha Khan", "MEMBER"),
    ("noah.berg", "noahb", "Noah Berg", "MEMBER"),
    ("felix.wagner", "felixw", "Felix Wagner", "MEMBER"),
    ("jules.martin", "jules_design", "Jules Martin", "MEMBER"),
    ("grace.ho", "grace_ho", "Grace Ho", "MEMBER"),
    ("ravi.patel", "ravi_p", "Ravi Patel", "MEMBER"),
    ("nina.lund", "nina_l", "Nina Lund", None),
    ("oscar.diaz", "oscar_d", "Oscar Diaz", None),
]
# Usage, as (key id or email local part, last day used (0: today), used every N days, cents a day,
# tool).
# ci-pipeline is busy, marketing-batch works now and then, old-prototype has been idle for months
# and
# the stray key was never used; on the web app some people are daily users, some lapsed, some never
# came.
_USAGE = [
    ("3q2-7wAAQkKpYXNzd29yZA", 0, 1, 1800, "GENERATE"),
    ("Zm9vYmFyYmF6cXV4MTIzNA", 0, 3, 900, "REMIX"),
    ("a2V5X29sZF9wcm90b3R5cGU", -104, 2, 300, "GENERATE"),
    ("dana.reyes", 0, 2, 400, "GENERATE"),
    ("priya.nair", 0, 4, 250, "EDIT"),
    ("marco.rossi", -100, 3, 300, "GENERATE"),
    ("sam.okafor", 0, 7, 150, "GENERATE"),
    ("emma.schmidt", 0, 3, 350, "REMIX"),
    ("aisha.khan", -2, 10, 200, "UPSCALE"),
    ("noah.berg", -95, 5, 200, "GENERATE"),
    ("felix.wagner", 0, 2, 300, "DESCRIBE"),
    ("jules.martin", 0, 1, 600, "EDIT"),
    ("ravi.patel", -130, 30, 100, "GENERATE"),
]
_KEYS = [  # (api_key_id, redacted prefix, status)
    ("3q2-7wAAQkKpYXNzd29yZA", "ik3Q", "ACTIVE"),  # ci-pipeline
    ("Zm9vYmFyYmF6cXV4MTIzNA", "ikZm", "ACTIVE"),  # marketing-batch
    ("a2V5X29sZF9wcm90b3R5cGU", "ika2", "ACTIVE"),  # old-prototype: the file wants it DISABLED
    ("c3RyYXlfa2V5X2J5X2hhbmQ", "ikc3", "ACTIVE"),  # stray: created by hand, in no file
]


def demo_state(api_version: str = "2026-06") -> SandboxState:
    state = SandboxState(api_version=api_version, seed=7)
    org = Organization(organization_id=DEMO_ORG_ID, name=DEMO_ORG_NAME)
    for local, handle, full_name, role in _PEOPLE:
        user_id = "dXNlcl9ncmFjZV9obw" if handle == "grace_ho" else b64id(f"user_{handle}")
        state.add_user(
            User(
                user_id=user_id,
                display_handle=handle,
                email_address=f"{local}@acme.example",
                full_name=full_name,
            )
        )
        if role:
            org.members[user_id] = role
    bot = state.add_user(
        User(
            user_id=b64id("user_build_bot"),
            display_handle="build_bot",
            email_address="build-bot@svc.acme.example",
            full_name=None,
        )
    )
    org.members[bot.user_id] = "MEMBER"
    for index, (key_id, prefix, status) in enumerate(_KEYS):
        org.api_keys[key_id] = ApiKey(
            api_key_id=key_id,
            redacted_api_key=prefix + "•" * 13,
            creation_time=f"2025-0{index + 3}-14T10:00:00+00:00",
            status=status,
        )
    state.organizations[org.organization_id] = org
    state.caller_user_id = b64id("user_dana_r")
    anchor = datetime.now(timezone.utc).date()
    state.usage_anchor = anchor.isoformat()
    org.usage = [
        UsagePattern(
            "key" if "." not in target else "member",
            target if "." not in target else f"{target}@acme.example",
            -HISTORY_DAYS,
            last,
            every,
            cents,
            tool,
        )
        for target, last, every, cents, tool in _USAGE
    ]
    org.commit = part_used_commit(anchor, state.seed, org.usage)
    # a second organization the token can see but the example file does not manage
    other = generate_state(members=3, keys=1, seed=3, api_version=api_version, org_name="Acme Labs")
    for user in other.users.values():
        state.add_user(user)
    labs = next(iter(other.organizations.values()))
    labs.members[state.caller_user_id] = "MEMBER"
    state.organizations[labs.organization_id] = labs
    return state
