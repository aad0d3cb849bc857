"""Fitting a comment into the characters GitHub allows: one routine for plans and drift alike."""

from __future__ import annotations

from collections.abc import Callable

CUT_NOTE = "\n... (cut to fit a comment)"


def fit_to_limit(render: Callable[[int], str], most: int, limit: int) -> str:
    """`render(cap)` with the largest cap (rows shown per section, 0 to `most`) whose text fits in
    `limit` characters. A cap shortens only the sections longer than it, and each section says how
    many rows it left out; should even a cap of 0 not fit, the text is cut and says so."""
    text = render(most)
    if len(text) <= limit:
        return text
    low, high = 0, most
    while low < high:
        middle = (low + high + 1) // 2
        if len(render(middle)) <= limit:
            low = middle
        else:
            high = middle - 1
    text = render(low)
    return text if len(text) <= limit else text[: limit - len(CUT_NOTE)] + CUT_NOTE
