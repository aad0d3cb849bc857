"""Random and mutated YAML: the loader returns a model or a clean ConfigError, never anything
else."""

from __future__ import annotations

import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.config.loader import load_text
from reconciler.config.models import DesiredState
from reconciler.errors import ConfigError
from tests.hostile import EXAMPLE, YAML_CHARS, hostile_files

MEMORY_BOUND = 100 * 1024 * 1024  # bytes Python may allocate for one input, at the peak


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
    _load(EXAMPLE[:start] + replacement + EXAMPLE[start + length :])


@settings(max_examples=200, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=8),
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(st.text(max_size=8), children, max_size=4)
        ),
        max_leaves=20,
    )
)
def test_random_structures(value: object) -> None:
    import json

    _load(json.dumps({"version": 1, "organizations": {"acme": value}}))
    _load(json.dumps(value))


@pytest.mark.slow
@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(hostile_files)
def test_hostile_files_are_refused_cleanly_within_a_memory_bound(text: str) -> None:
    """Alias bombs, deep nesting, hidden characters and tags: a clean answer, in bounded memory.
    (How long each takes is measured by benchmarks/fuzz_loader.py, not asserted here.)"""
    tracemalloc.start()
    try:
        _load(text)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < MEMORY_BOUND, f"{peak:,} bytes for one input"
