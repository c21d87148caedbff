"""What time it is, for the decisions that depend on it: leases, retry countdowns, redelivery.

Orchestration and the watchdog take a `Clock` (an argument, defaulting to the real one)
instead of reading the time themselves where time decides something, so a test moves time
forward instead of waiting for it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

# Returns the current time, timezone-aware in UTC; the real one is `manager.db.base.utcnow`.
Clock = Callable[[], datetime]
