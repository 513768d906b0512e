from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from careweave.app import create_app
from careweave.db.all_models import metadata
from careweave.db.migrate import (
    SchemaNotCurrent,
    alembic_config,
    check_schema,
    current_revision,
    downgrade,
    head_revision,
    include_object_for,
    upgrade_to_head,
)


def test_single_head():
    assert len(ScriptDirectory.from_config(alembic_config()).get_heads()) == 1


def test_models_and_migrations_agree(engine):
    with engine.connect() as conn:
        opts = {"compare_type": True, "include_object": include_object_for(conn.dialect.name)}
        diff = compare_metadata(MigrationContext.configure(conn, opts=opts), metadata)
    assert diff == []


def test_upgrade_downgrade_round_trip(databases):
    engine = databases.engine(migrate=False)
    upgrade_to_head(engine)
    assert current_revision(engine) == head_revision()
    downgrade(engine, "base")
    assert current_revision(engine) is None
    assert not (set(inspect(engine).get_table_names()) - {"alembic_version"})
    upgrade_to_head(engine)
    check_schema(engine)


def test_app_refuses_an_unmigrated_database(databases, settings):
    engine = databases.engine(migrate=False)
    with pytest.raises(SchemaNotCurrent, match="careweave migrate"):
        check_schema(engine)
    url = engine.url.render_as_string(hide_password=False)
    with pytest.raises(SchemaNotCurrent):
        create_app(settings.model_copy(update={"database_url": url}))


def test_app_refuses_a_newer_schema(databases):
    engine = databases.engine()
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'from_the_future'"))
    with pytest.raises(SchemaNotCurrent, match="newer release"):
        check_schema(engine)
