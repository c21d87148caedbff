"""The watchdog lease: exactly one active replica, and a standby takes over."""

from __future__ import annotations

from manager.db.engine import Database
from manager.unit_of_work import UnitOfWork
from manager.watchdog import Watchdog


def test_one_active_watchdog_and_takeover(database: Database) -> None:
    runs: list[str] = []

    def step_of(name: str):  # type: ignore[no-untyped-def]
        def step(work: UnitOfWork) -> int:
            runs.append(name)
            return 0

        return step

    first = Watchdog(database, [step_of("first")], interval=0.2)
    second = Watchdog(database, [step_of("second")], interval=0.2)
    first.tick()
    second.tick()
    assert (first.is_leader, second.is_leader) == (True, False)
    first.tick()
    second.tick()
    assert runs == ["first", "first"]

    first.stop()  # releases the lease
    second.tick()
    assert second.is_leader
    assert runs[-1] == "second"
    second.stop()


def test_a_failing_step_does_not_stop_the_others(database: Database) -> None:
    ran: list[str] = []

    def broken(work: UnitOfWork) -> int:
        raise RuntimeError("step bug")

    def healthy(work: UnitOfWork) -> int:
        ran.append("healthy")
        return 1

    watchdog = Watchdog(database, [broken, healthy], interval=0.2)
    assert watchdog.tick() == 1
    assert ran == ["healthy"]
    watchdog.stop()
