"""Amounts of money: the API gives them in a currency's minor unit (cents for USD).

How many decimals a currency has is ISO 4217's fact, not 2 for all: yen have none, dinars three.
Two currencies are never added together: a sum over amounts of more than one raises.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..errors import ReconcilerError

# ISO 4217 currencies whose minor unit is not a hundredth (every other one has two decimals).
MINOR_UNIT_DIGITS: dict[str, int] = {
    **dict.fromkeys(
        (
            "BIF",
            "CLP",
            "DJF",
            "GNF",
            "ISK",
            "JPY",
            "KMF",
            "KRW",
            "PYG",
            "RWF",
            "UGX",
            "UYI",
            "VND",
            "VUV",
            "XAF",
            "XOF",
            "XPF",
        ),
        0,
    ),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
    **dict.fromkeys(("CLF", "UYW"), 4),
}
DEFAULT_CURRENCY = "USD"


class MixedCurrencyError(ReconcilerError):
    """Amounts in two currencies were about to be added."""


def digits(currency: str) -> int:
    """Decimals of the currency's major unit (2 unless ISO 4217 says otherwise)."""
    return MINOR_UNIT_DIGITS.get(currency.upper(), 2)


def to_major(minor: float, currency: str) -> float:
    """An amount in minor units (cents) as major units (dollars)."""
    return float(minor) / float(10 ** digits(currency))


def format_money(minor: float, currency: str) -> str:
    """As people read it: `1,234.50 USD`, `1,235 JPY`."""
    places = digits(currency)
    return f"{to_major(minor, currency):,.{places}f} {currency}"


def plain_major(minor: float, currency: str) -> str:
    """For spreadsheets: `1234.50`, no separators, the currency's own decimals."""
    return f"{to_major(minor, currency):.{digits(currency)}f}"


def one_currency(currencies: Iterable[str], what: str) -> str:
    """The one currency of a set of amounts; more than one is an error naming them, since their
    sum would mean nothing."""
    found = sorted(set(currencies))
    if len(found) > 1:
        raise MixedCurrencyError(
            f"{what}: amounts in {len(found)} currencies ({', '.join(found)}); amounts of two "
            f"currencies are never added together"
        )
    return found[0] if found else DEFAULT_CURRENCY


def to_minor(major: float, currency: str) -> int:
    """An amount people write (50 dollars) in the currency's minor unit (5000 cents)."""
    return int(round(major * int(10 ** digits(currency))))
