"""The project carries the official documents its tests read; the copies never fall behind."""

from __future__ import annotations

import pytest

from tests.conftest import SHARED_SPEC_DIR
from tests.spec_check import COPIES, SPEC_FILES


def test_the_tests_read_the_copies_the_project_carries() -> None:
    assert {path.parent for path in SPEC_FILES.values()} == {COPIES}
    assert all(path.is_file() for path in SPEC_FILES.values())


@pytest.mark.skipif(not SHARED_SPEC_DIR.is_dir(), reason="no shared/spec beside this checkout")
def test_the_copies_equal_the_shared_documents() -> None:
    for path in SPEC_FILES.values():
        assert path.read_bytes() == (SHARED_SPEC_DIR / path.name).read_bytes(), path.name
