"""Rows a unit of work has loaded, found again without a query.

SQLAlchemy's identity map holds rows weakly: a row a service loaded and let go of is dropped, and building the
response from it (the provider and patient of a visit just booked) reads it again. :func:`keep` holds such rows
until the transaction ends; :func:`get_many` takes rows from the identity map where they are and reads only the
rest, in one query.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from sqlalchemy import event as sa_event
from sqlalchemy import inspect, select
from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.orm.util import identity_key

T = TypeVar("T")

_KEPT = "careweave.db.kept"


def keep(session: Session, *rows: object) -> None:
    """Hold ``rows`` (None skipped) in the session until its transaction ends."""
    session.info.setdefault(_KEPT, []).extend(row for row in rows if row is not None)


def get_many(session: Session, model: type[T], ids: Iterable[Any]) -> dict[Any, T]:
    """``model`` rows by primary key (single-column keys): those already in the session as they are there, the
    rest in one query. Keys with no row are left out."""
    found: dict[Any, T] = {}
    missing = []
    for ident in set(ids):
        row = session.identity_map.get(identity_key(model, ident))
        if row is not None:
            found[ident] = row
        else:
            missing.append(ident)
    if missing:
        (pk,) = inspect(model).primary_key
        for row in session.scalars(select(model).where(pk.in_(missing))):
            found[inspect(row).identity[0]] = row
    return found


@sa_event.listens_for(Session, "after_transaction_end")
def _let_go(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # the whole transaction, not a savepoint
        session.info.pop(_KEPT, None)
