"""One transaction's work: its session, and the operations to publish once it has committed.

A request gets one (manager.api.deps.UnitOfWorkDep), and so does each watchdog step. Services
and orchestration queue operations on `work.outbox` and never commit; whoever owns the unit
of work commits it, and only a commit that succeeded publishes what was queued: a rollback
drops the outbox with the rows its operations would have been claimed from.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

from manager.db.engine import Database
from manager.orchestration.outbox import Outbox, Publisher


class UnitOfWork:
    """A session and the outbox of what its transaction queued."""

    def __init__(self, session: Session, publisher: Publisher | None) -> None:
        self.session = session
        self.outbox = Outbox()
        self.publisher = publisher

    def commit(self) -> None:
        """Commit, then publish the outbox; a failed commit drops it and re-raises."""
        try:
            self.session.commit()
        except BaseException:
            self.rollback()
            raise
        self.outbox.flush(self.publisher)

    def rollback(self) -> None:
        """Undo the transaction; nothing it queued is published."""
        self.outbox.drop()
        self.session.rollback()

    @classmethod
    @contextmanager
    def begin(
        cls, database: Database, publisher: Publisher | None, *, write: bool = True
    ) -> Iterator[UnitOfWork]:
        """A unit of work committed when the block ends, rolled back if it raises."""
        with database.session(write=write) as session:
            work = cls(session, publisher)
            try:
                yield work
            except BaseException:
                work.rollback()
                raise
            work.commit()
