"""Usage windows: one rule for --since and --until, every mistake one clear line."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from click.testing import CliRunner

from reconciler.cli import main
from reconciler.errors import UsageError
from reconciler.model.window import MAX_WINDOW_DAYS, UsageWindow

NOW = datetime(2026, 12, 1, 15, 30, tzinfo=timezone.utc)


def test_days_start_at_midnight_and_a_date_as_end_includes_that_day() -> None:
    window = UsageWindow.parse("30d", "2026-11-30", NOW)
    assert window.start == datetime(2026, 11, 1, tzinfo=timezone.utc)
    assert window.end == datetime(2026, 11, 30, 23, 59, 59, 999999, tzinfo=timezone.utc)
    assert UsageWindow.parse("2026-11-01", None, NOW).end == NOW
    assert UsageWindow.last_days(NOW, 7).start == datetime(2026, 11, 24, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("since", "until", "says"),
    [
        ("1" * 100_000, None, "give a number of days"),
        ("1111-11-11", None, "give a number of days"),
        ("2026-11-01", "9999-12-31", "give a number of days"),
        ("9999-12-31", "9999-12-31", "give a number of days"),
        (f"{MAX_WINDOW_DAYS + 1}d", None, f"at most {MAX_WINDOW_DAYS} days"),
        ("2026-11-20", "2026-11-10", "is not before"),
        ("yesterday", None, "give a number of days"),
    ],
)
def test_a_window_that_cannot_be_read_is_refused(since: str, until: str | None, says: str) -> None:
    with pytest.raises(UsageError, match=says):
        UsageWindow.parse(since, until, NOW)


def test_the_cli_refuses_a_far_past_since_with_one_line(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["usage", "--sandbox", "--since", "9999d"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stderr.strip().splitlines() == [
        f"error: --since 9999d: the window is {result.stderr.split('is ')[1].split(' days')[0]} "
        f"days; at most {MAX_WINDOW_DAYS} days are read at once (give a later --since or an "
        f"--until)"
    ]
