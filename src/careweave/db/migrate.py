"""Alembic, driven from code: upgrade to head, and refuse to run on a schema that is not head."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

MIGRATIONS = Path(__file__).parent / "migrations"


class SchemaNotCurrent(RuntimeError):
    """The database is not at this code's migration head (message says what to do)."""


def alembic_config(engine: Engine | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if engine is not None:
        cfg.attributes["engine"] = engine
        cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade_to_head(engine: Engine) -> None:
    command.upgrade(alembic_config(engine), "head")


def downgrade(engine: Engine, revision: str) -> None:
    command.downgrade(alembic_config(engine), revision)


def check_schema(engine: Engine) -> None:
    """Raise :class:`SchemaNotCurrent` unless the database is exactly at head."""
    script = ScriptDirectory.from_config(alembic_config())
    head = script.get_current_head()
    current = current_revision(engine)
    if current == head:
        return
    url = engine.url.render_as_string(hide_password=True)
    if current is None:
        raise SchemaNotCurrent(
            f"The database at {url} has no Careweave schema. Run `careweave migrate` first."
        )
    known = {rev.revision for rev in script.walk_revisions()}
    if current not in known:
        raise SchemaNotCurrent(
            f"The database at {url} is at revision {current}, which this version of Careweave "
            "does not know: it was migrated by a newer release. Run that release, or restore "
            "a backup taken before the upgrade."
        )
    raise SchemaNotCurrent(
        f"The database at {url} is at revision {current}; this code needs {head}. Run `careweave migrate`."
    )


def include_object_for(dialect: str) -> Callable[..., bool]:
    """Alembic's ``include_object`` hook for ``dialect``: a schema object made on some dialects only
    (``Index(...).ddl_if(dialect=...)``) is compared with the database only on those."""

    def include_object(
        obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
    ) -> bool:
        ddl_if = getattr(obj, "_ddl_if", None) or getattr(compare_to, "_ddl_if", None)
        return ddl_if is None or ddl_if.dialect is None or ddl_if.dialect == dialect

    return include_object
