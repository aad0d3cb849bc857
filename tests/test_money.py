"""Money: each currency's minor unit (ISO 4217), and never a sum of two currencies."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from reconciler.api.usage import UsageSums
from reconciler.api.wire import ToolUsage, UsagePrice
from reconciler.model.money import MixedCurrencyError, format_money, one_currency, plain_major
from reconciler.model.usage import OrganizationUsage
from reconciler.planning.usage import report
from reconciler.render.usage import render_usage_csv


@pytest.mark.parametrize(
    ("minor", "currency", "shown", "cell"),
    [
        (123450, "USD", "1,234.50 USD", "1234.50"),
        (1235, "JPY", "1,235 JPY", "1235"),
        (1234567, "KWD", "1,234.567 KWD", "1234.567"),
        (5, "EUR", "0.05 EUR", "0.05"),
    ],
)
def test_amounts_use_the_currency_s_own_minor_unit(minor, currency, shown, cell) -> None:
    assert format_money(minor, currency) == shown
    assert plain_major(minor, currency) == cell


def test_two_currencies_are_never_added() -> None:
    assert one_currency(["EUR", "EUR"], "acme") == "EUR"
    assert one_currency([], "acme") == "USD"
    with pytest.raises(MixedCurrencyError, match=r"acme: amounts in 2 currencies \(EUR, USD\)"):
        one_currency(["USD", "EUR"], "acme")


def _usage(*rows: tuple[float, str]) -> OrganizationUsage:
    """Usage of one key on one day, one row per (amount, currency), summed as the reader sums
    an answer's segment."""
    sums = UsageSums()
    sums.add_rows(
        (date(2026, 11, 2), 0),
        [
            ToolUsage(UsagePrice(amount, currency), api_key_id="a2V5", tool_type="GENERATE")
            for amount, currency in rows
        ],
    )
    start = datetime(2026, 11, 1, tzinfo=timezone.utc)
    return OrganizationUsage(
        name="acme",
        organization_id="b3Jn",
        start=start,
        end=datetime(2026, 11, 30, tzinfo=timezone.utc),
        uses=tuple(sums.uses.values()),
        commits=(),
        per_person=True,
    )


def _record(amount: float, currency: str) -> tuple[float, str]:
    return amount, currency


def test_a_report_in_yen_shows_yen_and_refuses_a_second_currency() -> None:
    now = datetime(2026, 11, 30, tzinfo=timezone.utc)
    one = report(_usage(_record(1200, "JPY")), "key", now, {}, ["a2V5"], [])
    assert one.currency == "JPY" and one.total == 1200
    from reconciler.model.usage import UsageReport

    csv = render_usage_csv(UsageReport(generated_at="x", organizations=[one], usage_calls=1))
    assert ",1200,JPY," in csv
    with pytest.raises(MixedCurrencyError):
        report(_usage(_record(1200, "JPY"), _record(5, "USD")), "key", now, {}, [], [])


def test_usage_in_two_currencies_is_reported_per_currency_never_added() -> None:
    from reconciler.planning.usage import by_currency, facts_of

    usage = _usage(_record(1200, "JPY"), _record(5, "USD"), _record(800, "JPY"))
    parts = by_currency(usage)
    assert [(p.uses[0].currency, p.uses[0].rows) for p in parts] == [("JPY", 2), ("USD", 1)]
    now = datetime(2026, 11, 30, tzinfo=timezone.utc)
    totals = [(r.currency, r.total) for r in (report(p, "key", now, {}, [], []) for p in parts)]
    assert totals == [("JPY", 2000), ("USD", 5)]
    facts = facts_of(usage, date(2026, 11, 30))
    assert facts.currency == "JPY" and facts.key_spend == {"a2V5": 2000}
    assert facts.not_summed == (("USD", 1),)


def test_a_currency_code_is_never_a_formula_in_csv() -> None:
    from reconciler.model.usage import UsageReport

    now = datetime(2026, 11, 30, tzinfo=timezone.utc)
    hostile = report(_usage(_record(100, '=HYPERLINK("x")')), "key", now, {}, [], [])
    csv = render_usage_csv(UsageReport(generated_at="x", organizations=[hostile], usage_calls=1))
    assert ",'=HYPERLINK" in csv.replace('"', "") and ",=HYPERLINK" not in csv.replace('"', "")
