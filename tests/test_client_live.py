"""The client and live-state reading, against the sandbox in-process and over real HTTP, both
versions."""

from __future__ import annotations

import httpx
import pytest

from reconciler.api.client import ApiClient, ApiReader, RetryPolicy
from reconciler.api.credentials import check_endpoint, token_from_environment
from reconciler.api.reader import read_live_state
from reconciler.config.loader import load_text
from reconciler.errors import (
    ForbiddenError,
    InsecureEndpointError,
    NetworkError,
    NotFoundError,
    OrganizationNotFoundError,
    RateLimitedError,
    ServerError,
    UnauthorizedError,
    UsageError,
)
from reconciler.sandbox import SANDBOX_BASE_URL, Faults, Sandbox, SandboxServer, SandboxTransport
from reconciler.sandbox.demo import DEMO_ORG_ID, demo_state
from reconciler.sandbox.state import b64id
from tests.spec_check import SpecChecker

DESIRED = load_text(
    """\
version: 1
organizations:
  acme:
    id: b3JnX2FjbWVfY29ycA
    members:
      - {email: dana.reyes@acme.example, role: OWNER}
  labs:
    name: Acme Labs
    members:
      - {email: x@acme.example, role: OWNER}
""",
    "t.yaml",
)

FAST = RetryPolicy(attempts=4, backoff=0.001, max_backoff=0.01, retry_after_cap=5)


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture(params=["in-process", "http"])
def transport_kind(request) -> str:
    return request.param


def connect(
    sandbox: Sandbox,
    kind: str,
    checker: SpecChecker | None = None,
    token: str | None = None,
    writable: bool = False,
    timeout: float = 5.0,
    sleep=None,
):
    cls = ApiClient if writable else ApiReader
    token = token or sandbox.state.token
    extra = {"sleep": sleep} if sleep is not None else {}
    if kind == "in-process":
        observers = [checker] if checker else []
        return cls(
            SANDBOX_BASE_URL,
            token,
            transport=SandboxTransport(sandbox, observers),
            retry=FAST,
            timeout=timeout,
            **extra,
        ), None
    server = SandboxServer(sandbox)
    server.start_in_thread()
    client = cls(server.url, token, retry=FAST, timeout=timeout, **extra)
    if checker:
        client._http.event_hooks["response"].append(checker.hook)
    return client, server


@pytest.fixture
def make(transport_kind):
    servers = []

    def factory(sandbox: Sandbox, **kwargs):
        client, server = connect(sandbox, transport_kind, **kwargs)
        if server:
            servers.append(server)
        return client

    yield factory
    for server in servers:
        server.shutdown()
        server.server_close()


def test_reads_live_state_and_counts_calls(make, api_version, spec_checker):
    sandbox = Sandbox(demo_state(api_version))
    reader = make(sandbox, checker=spec_checker)
    live = read_live_state(reader, DESIRED)
    assert set(live.organizations) == {"acme", "labs"}
    acme = live.organizations["acme"]
    assert len(acme.members) == 13 and acme.caller_role == "OWNER"
    assert {k.api_key_id for k in acme.keys} >= {"3q2-7wAAQkKpYXNzd29yZA"}
    assert live.api_version == api_version
    assert live.organizations["labs"].caller_role == "MEMBER"
    assert (
        live.warnings == ()
    )  # a MEMBER caller shows in the plan as blocked changes, not as a warning
    organizations = 2
    if api_version == "2025-10":
        # profiles, members per organization, and one probe of the org key list (404): full_name is
        # optional in 2026-06, so only the probe tells the versions apart
        assert reader.total_calls() == 1 + organizations + 1
        assert reader.calls["get_api_keys_v2"] == 1
    else:
        assert reader.total_calls() == 1 + 2 * organizations  # plus each org's key list
    assert spec_checker.checked == reader.total_calls()


def test_2026_org_key_list_adds_keys_the_profile_lacks(api_version):
    state = demo_state(api_version)
    sandbox = Sandbox(state)
    # a key that only the organization list shows (e.g. another owner's)
    from reconciler.sandbox.state import ApiKey

    org = state.organizations[DEMO_ORG_ID]
    original = dict(org.api_keys)
    reader = ApiReader(SANDBOX_BASE_URL, state.token, transport=SandboxTransport(sandbox))
    profiles = reader.get_profiles()
    org.api_keys["b3RoZXJfb3duZXJfa2V5"] = ApiKey(
        "b3RoZXJfb3duZXJfa2V5", "ikb3•", "2025-01-01T00:00:00+00:00"
    )
    from reconciler.api.reader import match_organizations, read_organizations

    live = read_organizations(reader, match_organizations(DESIRED, profiles, ["acme"]))
    ids = {k.api_key_id for k in live.organizations["acme"].keys}
    assert ("b3RoZXJfb3duZXJfa2V5" in ids) is (api_version == "2026-06")
    assert set(original) <= ids


def test_reads_retry_429_with_retry_after(make, api_version):
    sleeps = Sleeps()
    # seed 3 rolls 0.24 (< 0.5: a burst of two 429s starts), then 0.54 (calm)
    sandbox = Sandbox(
        demo_state(api_version),
        Faults(
            seed=3,
            rate_limit_rate=0.5,
            rate_limit_burst=2,
            retry_after=0.05,
            operations=frozenset({"get_api_profiles"}),
        ),
    )
    reader = make(sandbox, sleep=sleeps)
    assert reader.get_profiles()
    assert reader.calls["get_api_profiles"] == 3
    assert sleeps == [0.05, 0.05]


def test_reads_retry_5xx_then_succeed(make, api_version):
    # seed 1 answers the profiles call 500, 502, then 200
    sandbox = Sandbox(
        demo_state(api_version),
        Faults(seed=1, error_rate=0.5, operations=frozenset({"get_api_profiles"})),
    )
    sleeps = Sleeps()
    reader = make(sandbox, sleep=sleeps)
    live = read_live_state(reader, DESIRED)
    assert len(live.organizations["acme"].members) == 13
    assert reader.calls["get_api_profiles"] == 3 and len(sleeps) == 2
    assert all(0 <= s <= FAST.max_backoff for s in sleeps)


def test_reads_give_up_with_a_typed_error(make, api_version):
    sandbox = Sandbox(demo_state(api_version), Faults(error_rate=1.0))
    reader = make(sandbox, sleep=Sleeps())
    with pytest.raises(ServerError) as caught:
        reader.get_profiles()
    assert reader.calls["get_api_profiles"] == FAST.attempts
    assert "GET /manage/api/profiles" in str(caught.value)


def test_reads_retry_timeouts(make, api_version):
    sandbox = Sandbox(
        demo_state(api_version),
        Faults(seed=3, slow_rate=0.5, slow_seconds=2.0, operations=frozenset({"get_api_profiles"})),
    )
    reader = make(sandbox, timeout=0.3, sleep=Sleeps())
    assert reader.get_profiles()
    assert (
        reader.calls["get_api_profiles"] == 2
    )  # seed 3: the first answer is too slow, the second is not


def test_read_timeout_exhausted_is_a_network_error(make, api_version):
    sandbox = Sandbox(demo_state(api_version), Faults(slow_rate=1.0, slow_seconds=1.0))
    reader = make(sandbox, timeout=0.2, sleep=Sleeps())
    with pytest.raises(NetworkError, match="timed out"):
        reader.get_profiles()


def test_too_long_retry_after_is_reported_not_waited(make, api_version):
    sandbox = Sandbox(demo_state(api_version), Faults(rate_limit_rate=1.0, retry_after=3600))
    sleeps = Sleeps()
    reader = make(sandbox, sleep=sleeps)
    with pytest.raises(RateLimitedError):
        reader.get_profiles()
    assert sleeps == []


def test_bad_token_is_unauthorized_and_not_echoed(make, api_version):
    sandbox = Sandbox(demo_state(api_version))
    reader = make(sandbox, token="s3cr3t-wrong-token")
    with pytest.raises(UnauthorizedError) as caught:
        reader.get_profiles()
    assert "IDEOGRAM_TOKEN" in str(caught.value) and "s3cr3t" not in str(caught.value)
    assert reader.calls["get_api_profiles"] == 1  # a 401 is not retried


def test_typed_errors_for_writes(make, api_version):
    state = demo_state(api_version)
    sandbox = Sandbox(state)
    client = make(sandbox, writable=True)
    with pytest.raises(NotFoundError):
        client.deactivate_key("bm9wZQ")
    with pytest.raises(ForbiddenError):
        client.create_key("bm9wZQ")
    state.organizations[DEMO_ORG_ID].payment_required = True
    from reconciler.errors import PaymentRequiredError

    with pytest.raises(PaymentRequiredError, match="payment"):
        client.create_key(DEMO_ORG_ID)


def test_member_calls_report_per_member_results_in_both_versions(make, api_version):
    from reconciler.api.wire import LiteMember

    sandbox = Sandbox(demo_state(api_version))
    client = make(sandbox, writable=True)
    outcome = client.add_members(
        DEMO_ORG_ID,
        [
            LiteMember(email_address="nina.lund@acme.example"),
            LiteMember(email_address="ghost@acme.example"),
        ],
    )
    successes = [r.success for r in outcome.results]
    assert successes == ([True, False] if api_version == "2026-06" else [False, False])
    assert all(r.message for r in outcome.results if not r.success)
    outcome = client.add_members(DEMO_ORG_ID, [LiteMember(email_address="nina.lund@acme.example")])
    assert [r.success for r in outcome.results] == [True]


def test_a_dropped_write_is_not_retried(make, api_version):
    sandbox = Sandbox(
        demo_state(api_version),
        Faults(drop_rate=1.0, operations=frozenset({"deactivate_organization_api_key"})),
    )
    client = make(sandbox, writable=True)
    with pytest.raises(NetworkError) as caught:
        client.deactivate_key("3q2-7wAAQkKpYXNzd29yZA")
    assert caught.value.sent is True
    assert client.calls["deactivate_organization_api_key"] == 1
    assert len(sandbox.mutations) == 1  # it did happen: only a re-read can tell


def test_inflight_limit_is_honoured_so_the_server_never_answers_429(api_version):
    import concurrent.futures

    state = demo_state(api_version)
    state.inflight_limit = 3
    sandbox = Sandbox(state, Faults(latency=0.05))
    reader = ApiReader(
        SANDBOX_BASE_URL,
        state.token,
        transport=SandboxTransport(sandbox),
        retry=RetryPolicy(attempts=1),
    )
    reader.set_inflight_limit(3)
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: reader.get_members(DEMO_ORG_ID), range(12)))
    assert len(results) == 12  # attempts=1: a single 429 would have raised


def test_unknown_organization_lists_what_the_token_can_see(api_version):
    sandbox = Sandbox(demo_state(api_version))
    reader = ApiReader(SANDBOX_BASE_URL, sandbox.state.token, transport=SandboxTransport(sandbox))
    wrong = load_text(
        "version: 1\norganizations:\n  globex:\n    members:\n      - {email: a@b.example, role: "
        "OWNER}\n",
        "t.yaml",
    )
    with pytest.raises(OrganizationNotFoundError) as caught:
        read_live_state(reader, wrong)
    assert "'globex'" in str(caught.value) and "'acme' (b3JnX2FjbWVfY29ycA)" in str(caught.value)
    assert reader.total_calls() == 1


def test_endpoint_rules():
    assert check_endpoint("https://api.ideogram.ai/") == "https://api.ideogram.ai"
    assert check_endpoint("http://127.0.0.1:8765") == "http://127.0.0.1:8765"
    assert check_endpoint("http://localhost:1") == "http://localhost:1"
    assert check_endpoint("http://[::1]:1") == "http://[::1]:1"
    with pytest.raises(InsecureEndpointError, match="unencrypted"):
        check_endpoint("http://api.ideogram.ai")
    with pytest.raises(InsecureEndpointError):
        check_endpoint("http://10.0.0.5:8080")
    with pytest.raises(UsageError):
        check_endpoint("ftp://x")


def test_token_only_from_the_environment(monkeypatch):
    monkeypatch.delenv("IDEOGRAM_TOKEN", raising=False)
    with pytest.raises(UsageError, match="IDEOGRAM_TOKEN"):
        token_from_environment()
    monkeypatch.setenv("IDEOGRAM_TOKEN", "  abc  ")
    assert token_from_environment() == "abc"


def test_unknown_response_fields_are_ignored():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            json={
                "profiles": [
                    {
                        "type": "ENTERPRISE",
                        "name": "acme",
                        "organization_id": "T1",
                        "role": "OWNER",
                        "api_keys": [],
                        "max_num_inflight_requests_permitted": 2,
                        "brand_new_field": {"x": 1},
                        "is_metronome_2_user": True,
                    }
                ],
                "next_page": None,
            },
        )

    reader = ApiReader("https://api.example", "t", transport=httpx.MockTransport(handler))
    assert reader.get_profiles()[0].name == "acme"


def test_a_malformed_answer_is_a_clear_error():
    reader = ApiReader(
        "https://api.example",
        "t",
        transport=httpx.MockTransport(lambda r: httpx.Response(200, json={"profile": []})),
    )
    from reconciler.errors import ApiError

    with pytest.raises(ApiError, match="expected shape"):
        reader.get_profiles()


def _members_answer(members: list[object]) -> ApiReader:
    return ApiReader(
        "https://api.example",
        "t",
        transport=httpx.MockTransport(lambda r: httpx.Response(200, json={"members": members})),
    )


def test_a_members_answer_keeps_one_object_per_known_role_and_no_full_name_text():
    """A million records would hold a million copies of "MEMBER" and of each name: the roles
    decode shared, a full name only as its presence; an unknown role keeps its own text."""
    records = [
        {"user_id": f"u{i}", "role": role, "full_name": f"Person {i}"}
        for i, role in enumerate(["MEMBER", "MEMBER", "OWNER", "OWNER", "AUDITOR"])
    ] + [
        {"user_id": "u5", "role": "MEMBER"},
        {"user_id": "u6", "role": "MEMBER", "full_name": None},
    ]
    members = _members_answer(records).get_members("T1")
    assert members[0].role is members[1].role is members[5].role == "MEMBER"
    assert members[2].role is members[3].role == "OWNER"
    assert members[4].role == "AUDITOR"
    assert [m.carries_full_name for m in members] == [True] * 5 + [False, True]
    assert not any("Person" in str(m.full_name) for m in members)


@pytest.mark.parametrize(
    ("record", "says"),
    [
        ({"user_id": "u1", "role": 7}, "Expected `str`, got `int` - at `$.members[0].role`"),
        ({"user_id": "u1", "role": None}, "Expected `str`, got `null` - at `$.members[0].role`"),
        ({"user_id": "u1"}, "missing required field `role`"),
        (
            {"user_id": "u1", "role": "MEMBER", "full_name": ["x"]},
            "Expected `str | null`, got `array` - at `$.members[0].full_name`",
        ),
        (
            {"user_id": "u1", "role": "MEMBER", "full_name": {"given": "x"}},
            "Expected `str | null`, got `object` - at `$.members[0].full_name`",
        ),
    ],
)
def test_a_member_record_of_the_wrong_type_is_refused_as_before(record, says):
    from reconciler.errors import ApiError

    with pytest.raises(ApiError, match="expected shape") as caught:
        _members_answer([record]).get_members("T1")
    assert says in str(caught.value)


def test_connection_refused_is_a_network_error():
    reader = ApiReader("http://127.0.0.1:9", "t", retry=FAST, sleep=Sleeps())
    with pytest.raises(NetworkError, match="cannot connect") as caught:
        reader.get_profiles()
    assert caught.value.sent is False


def test_matching_by_profile_name(api_version):
    sandbox = Sandbox(demo_state(api_version))
    reader = ApiReader(SANDBOX_BASE_URL, sandbox.state.token, transport=SandboxTransport(sandbox))
    live = read_live_state(reader, DESIRED, only=["labs"])
    assert set(live.organizations) == {"labs"}
    assert live.organizations["labs"].profile_name == "Acme Labs"
    assert b64id("user_dana_r") in {m.user_id for m in live.organizations["labs"].members}
