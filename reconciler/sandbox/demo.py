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

from .state import ApiKey, Organization, SandboxState, User, b64id, generate_state

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
_KEYS = [  # (api_key_id, redacted prefix, status)
    ("3q2-7wAAQkKpYXNzd29yZA", "ik3Q", "ACTIVE"),       # ci-pipeline
    ("Zm9vYmFyYmF6cXV4MTIzNA", "ikZm", "ACTIVE"),       # marketing-batch
    ("a2V5X29sZF9wcm90b3R5cGU", "ika2", "ACTIVE"),      # old-prototype: the file wants it DISABLED
    ("c3RyYXlfa2V5X2J5X2hhbmQ", "ikc3", "ACTIVE"),      # stray: created by hand, in no file
]


def demo_state(api_version: str = "2026-06") -> SandboxState:
    state = SandboxState(api_version=api_version, seed=7)
    org = Organization(organization_id=DEMO_ORG_ID, name=DEMO_ORG_NAME)
    for local, handle, full_name, role in _PEOPLE:
        user_id = "dXNlcl9ncmFjZV9obw" if handle == "grace_ho" else b64id(f"user_{handle}")
        state.add_user(User(user_id=user_id, display_handle=handle, email_address=f"{local}@acme.example",
                            full_name=full_name))
        if role:
            org.members[user_id] = role
    bot = state.add_user(User(user_id=b64id("user_build_bot"), display_handle="build_bot",
                              email_address="build-bot@svc.acme.example", full_name=None))
    org.members[bot.user_id] = "MEMBER"
    for index, (key_id, prefix, status) in enumerate(_KEYS):
        org.api_keys[key_id] = ApiKey(api_key_id=key_id, redacted_api_key=prefix + "•" * 13,
                                      creation_time=f"2025-0{index + 3}-14T10:00:00+00:00", status=status)
    state.organizations[org.organization_id] = org
    state.caller_user_id = b64id("user_dana_r")
    # a second organization the token can see but the example file does not manage
    other = generate_state(members=3, keys=1, seed=3, api_version=api_version, org_name="Acme Labs")
    for user in other.users.values():
        state.add_user(user)
    labs = next(iter(other.organizations.values()))
    labs.members[state.caller_user_id] = "MEMBER"
    state.organizations[labs.organization_id] = labs
    return state
