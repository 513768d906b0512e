"""Units of work: one transaction per request, job or CLI command. Only these commit."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session, sessionmaker

from careweave.core.errors import DomainError
from careweave.core.hooks import discard_on_commit, run_on_commit


def finish(session: Session, error: BaseException | None) -> None:
    """Commit on success (or on a refusal whose bookkeeping must stay), else roll back."""
    if error is None or (isinstance(error, DomainError) and error.keep_changes):
        session.commit()
        run_on_commit(session)
    else:
        session.rollback()
        discard_on_commit(session)


@contextmanager
def unit_of_work(factory: sessionmaker[Session]) -> Iterator[Session]:
    with factory() as session:
        try:
            yield session
        except BaseException as exc:
            finish(session, exc)
            raise
        finish(session, None)
