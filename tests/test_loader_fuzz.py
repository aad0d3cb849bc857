"""Random and mutated YAML: the loader returns a model or a clean ConfigError, never anything else."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.config.loader import load_text
from reconciler.config.models import DesiredState
from reconciler.errors import ConfigError

EXAMPLE = (Path(__file__).resolve().parent.parent / "examples" / "acme" / "ideogram-org.yaml").read_text()
YAML_CHARS = st.sampled_from(list(":-[]{}#&*!|>'\"%@`,? \n\t") + list("abcOWNERMEMBER019"))


def _load(text: str) -> None:
    try:
        result = load_text(text, "fuzz.yaml")
    except ConfigError as exc:
        assert exc.problems, "a ConfigError always says what is wrong"
        for problem in exc.problems:
            assert problem.line >= 1 and problem.column >= 1 and problem.message
    else:
        assert isinstance(result, DesiredState)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(YAML_CHARS, max_size=200))
def test_random_text(text: str) -> None:
    _load(text)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, len(EXAMPLE) - 1), st.integers(0, 40), st.text(YAML_CHARS, max_size=12))
def test_mutated_example(start: int, length: int, replacement: str) -> None:
    _load(EXAMPLE[:start] + replacement + EXAMPLE[start + length:])


@settings(max_examples=200, deadline=None)
@given(st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
))
def test_random_structures(value: object) -> None:
    import json
    _load(json.dumps({"version": 1, "organizations": {"acme": value}}))
    _load(json.dumps(value))
