"""What a large file and a large answer hold per entry, counted by tracemalloc (allocation sizes,
not timings: the same on every run of one Python). At 1,000,000 members every byte per entry is a
megabyte at the plan's peak, so a model per entry or a copy of the same text per record shows."""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx

from reconciler.api.client import ApiReader
from reconciler.api.usage import read_usage
from reconciler.config.loader import load_text
from reconciler.model.live import LiveOrganization
from reconciler.model.usage import OrganizationUsage

ENTRIES = 5_000


def _held_per_entry(make: Callable[[], Any]) -> float:
    """Bytes still allocated per entry once `make` has returned, its input gone (after a first
    call, so that what is made once per process, such as a lazy import, is not counted)."""
    make()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        made = make()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert made is not None
    return held / ENTRIES


def test_a_key_of_the_file_is_held_in_a_few_hundred_bytes() -> None:
    """A slotted dataclass per key: a model (its own __dict__ and set of fields given) held
    about 700 bytes each."""
    text = (
        "version: 1\norganizations:\n  acme:\n    members:\n      - email: a@acme.example\n"
        "        role: OWNER\n    api_keys:\n"
        + "".join(f"      key-{n}: {{id: k{n}}}\n" for n in range(ENTRIES))
    )
    per_key = _held_per_entry(lambda: load_text(text, "keys.yaml"))
    assert per_key < 400, f"{per_key:.0f} bytes per key"


def test_a_member_record_of_an_answer_holds_no_copy_of_its_role_or_name() -> None:
    """The known roles decode to one shared object each, a full name to its presence only."""
    body = json.dumps(
        {
            "members": [
                {
                    "user_id": f"dXNlcl9tZWlfeWlsbWF6{n:07d}",
                    "role": "MEMBER",
                    "display_handle": f"mei_yilmaz{n:07d}",
                    "email_address": f"mei.yilmaz{n:07d}@acme.example",
                    "full_name": f"Mei Yilmaz {n:07d}",
                }
                for n in range(ENTRIES)
            ]
        }
    ).encode()
    reader = ApiReader(
        "https://api.example",
        "t",
        transport=httpx.MockTransport(lambda _request: httpx.Response(200, content=body)),
    )
    # the struct and its three texts of its own: about 280 bytes; a role and a name of its own
    # each added about 55 and 70
    per_member = _held_per_entry(lambda: reader.get_members("T1"))
    assert per_member < 320, f"{per_member:.0f} bytes per member"


def test_a_key_of_a_profile_is_held_in_a_few_hundred_bytes() -> None:
    """A profile lists every key of its organization (100,000 at 1,000,000 members): a slotted
    dataclass per key; a model per key held about 700 bytes of its own."""
    keys = [
        {
            "api_key_id": f"k{n:021d}",
            "redacted_api_key": f"{n:04d}•••••••••••••",
            "creation_time": "2026-01-01T00:00:00+00:00",
            "status": "ACTIVE",
        }
        for n in range(ENTRIES)
    ]
    body = json.dumps(
        {
            "profiles": [
                {"type": "ENTERPRISE", "name": "acme", "organization_id": "T1", "role": "OWNER"}
                | {"api_keys": keys}
            ]
        }
    ).encode()
    reader = ApiReader(
        "https://api.example",
        "t",
        transport=httpx.MockTransport(lambda _request: httpx.Response(200, content=body)),
    )
    per_key = _held_per_entry(reader.get_profiles)
    assert per_key < 300, f"{per_key:.0f} bytes per key"


def _usage_reader(rows_of_day: Callable[[int], list[dict[str, Any]]], days: int) -> ApiReader:
    body = json.dumps(
        {
            "usage_segments": [
                {
                    "segment_start": f"2026-10-{day + 1:02d}T00:00:00+00:00",
                    "segment_end": f"2026-10-{day + 2:02d}T00:00:00+00:00",
                    "tool_usage": rows_of_day(day),
                }
                for day in range(days)
            ]
        }
    ).encode()
    return ApiReader(
        "https://api.example",
        "t",
        transport=httpx.MockTransport(lambda _request: httpx.Response(200, content=body)),
    )


def _read_usage(reader: ApiReader) -> OrganizationUsage:
    org = LiveOrganization("acme", "T1", "acme", "OWNER", 10, (), ())
    start = datetime(2026, 10, 1, tzinfo=timezone.utc)
    return read_usage(reader, org, "2025-10", start, start + timedelta(days=30))


def _row(key: str, tool: str, amount: int) -> dict[str, Any]:
    return {
        "full_tool_name": f"{tool.title()} V3",
        "amount": {"amount": amount, "currency_code": "USD"},
        "tool_type": tool,
        "model_version": "V_3_1",
        "api_key_id": key,
    }


def test_usage_is_summed_as_it_is_read_not_held_per_row() -> None:
    """100 keys, each used with 5 tools a day for 10 days: 5,000 rows, 1,000 sums of a key on
    a day. A record per row held about 110 bytes a row; the sums hold a fraction of that."""
    tools = ("GENERATE", "EDIT", "REMIX", "UPSCALE", "DESCRIBE")
    reader = _usage_reader(
        lambda day: [
            _row(f"a2V5{key:018d}", tool, 100 + day)
            for key in range(ENTRIES // 50)
            for tool in tools
        ],
        days=10,
    )
    usage = _read_usage(reader)
    assert usage.uses[0].rows == ENTRIES and len(usage.uses[0].by_slot) == 10
    per_row = _held_per_entry(lambda: _read_usage(reader))
    assert per_row < 40, f"{per_row:.0f} bytes per row"
