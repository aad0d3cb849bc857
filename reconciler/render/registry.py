"""Which renderer draws what: one table for the front ends, so `--output` means the same
everywhere. Renderers are imported when first asked for (the HTML one loads Jinja2)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Literal, cast

Subject = Literal["plan", "drift", "apply", "usage", "watch"]
# (subject, format) -> "module:function" under reconciler.render
_RENDERERS: dict[tuple[Subject, str], str] = {
    ("plan", "text"): "plan:render_text",
    ("plan", "json"): "plan:render_json",
    ("plan", "markdown"): "markdown:render_markdown",
    ("drift", "text"): "drift:render_drift_text",
    ("drift", "json"): "drift:render_drift_json",
    ("drift", "markdown"): "drift:render_drift_markdown",
    ("apply", "text"): "apply:render_apply_text",
    ("apply", "json"): "apply:render_apply_json",
    ("apply", "markdown"): "apply:render_apply_markdown",
    ("usage", "text"): "usage:render_usage_text",
    ("usage", "json"): "usage:render_usage_json",
    ("usage", "csv"): "usage:render_usage_csv",
    ("usage", "markdown"): "usage:render_usage_markdown",
    ("usage", "html"): "usage_html:render_usage_html",
    ("watch", "text"): "watch:render_watch_text",
    ("watch", "json"): "watch:render_watch_json",
    ("watch", "markdown"): "watch:render_watch_markdown",
}


def formats(subject: Subject) -> tuple[str, ...]:
    return tuple(fmt for (kind, fmt) in _RENDERERS if kind == subject)


def renderer(subject: Subject, fmt: str) -> Callable[..., str]:
    """The function that draws `subject` in `fmt`; a format that does not exist is a bug of the
    caller (click's choices come from `formats`)."""
    module, function = _RENDERERS[(subject, fmt)].split(":")
    return cast(
        Callable[..., str], getattr(importlib.import_module(f"{__package__}.{module}"), function)
    )
