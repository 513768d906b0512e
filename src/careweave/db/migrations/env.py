"""Alembic environment: uses the engine handed over by careweave.db.migrate, or the URL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from careweave.db.all_models import metadata
from careweave.db.engine import make_engine
from careweave.db.migrate import include_object_for

config = context.config


def run_migrations() -> None:
    engine = config.attributes.get("engine")
    if engine is None:
        url = config.get_main_option("sqlalchemy.url")
        if not url:
            from careweave.settings import Settings

            url = Settings().database_url
        engine = make_engine(url) if url.startswith("sqlite") else create_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
            include_object=include_object_for(connection.dialect.name),
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


run_migrations()
