"""db.lists.one_of: a list bound as one parameter on PostgreSQL (``= ANY``), expanding IN on SQLite — same rows."""

from __future__ import annotations

import uuid

from sqlalchemy import String, Uuid, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from careweave.clinics.models import Clinic
from careweave.db.lists import one_of

STATEMENT = (
    select(Clinic.id)
    .where(one_of(Clinic.id, "ids", Uuid()), one_of(Clinic.name, "names", String()))
    .order_by(Clinic.name)
)


def test_postgresql_gets_one_array_parameter_and_sqlite_an_expanding_in() -> None:
    pg = str(STATEMENT.compile(dialect=postgresql.dialect()))
    assert "clinics.id = ANY (%(ids)s::UUID[])" in pg
    assert "clinics.name = ANY (%(names)s::VARCHAR[])" in pg
    lite = str(STATEMENT.compile(dialect=sqlite.dialect()))
    # a plain comparison, not "(...) = 1": SQLite would not use an index for the wrapped form
    assert "clinics.id IN (__[POSTCOMPILE_ids]) AND clinics.name IN (__[POSTCOMPILE_names])" in lite


def test_the_same_statement_answers_lists_of_any_length(session: Session) -> None:
    clinics = [Clinic(name=f"Lists clinic {n}") for n in range(4)]
    session.add_all(clinics)
    session.flush()
    ids = [c.id for c in clinics]
    names = [c.name for c in clinics]

    def run(ids: list[uuid.UUID], names: list[str]) -> list[uuid.UUID]:
        return list(session.scalars(STATEMENT, {"ids": ids, "names": names}))

    assert run(ids, names) == ids
    assert run(ids[1:3], names) == ids[1:3]
    assert run([ids[0]], names[1:]) == []
    assert run([], names) == []
    assert run([uuid.uuid4()], names) == []
    assert run(ids, []) == []
