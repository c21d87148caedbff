from __future__ import annotations

import pytest

from tests.orchestration.support import ManualClock


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()
