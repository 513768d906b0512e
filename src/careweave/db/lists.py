"""A list bound as a parameter, in the form each engine serves best.

``one_of(column, "ids", Uuid())`` is ``column IN (...)`` with the list bound under ``ids`` at execution: on SQLite
SQLAlchemy's expanding IN (one placeholder per item), on PostgreSQL ``column = ANY(:ids)``, the list sent as one
array parameter. The expanding form gives PostgreSQL a different statement text for every length of list: the
driver then re-parses it on every execution (psycopg caches the parse only for statements of at most 50
parameters and 4 KB) and never prepares it, and the server parses and analyses it afresh. With one array
parameter the text is the same whatever the list, so psycopg prepares it after a few executions and the server
skips parsing (the planner still plans each execution for its values where the transaction asks it to:
directory.repository.plan_each_match). Matching sends several such statements per match (docs/benchmarks.md).

PostgreSQL's ``= ANY(array)`` is what it turns an ``IN`` list into itself, so plans are the same.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal
from sqlalchemy.types import TypeEngine


class OneOf(ColumnElement[bool]):
    """``column`` is one of the list bound as ``name`` at execution (see the module)."""

    inherit_cache = True
    type = Boolean()
    _is_implicitly_boolean = True  # a comparison: not wrapped in "= 1" where booleans are integers (SQLite)
    _traverse_internals = [
        ("column", InternalTraversal.dp_clauseelement),
        ("name", InternalTraversal.dp_string),
        ("item_type", InternalTraversal.dp_type),
    ]

    def __init__(self, column: ColumnElement[Any], name: str, item_type: TypeEngine[Any]) -> None:
        self.column = column
        self.name = name
        self.item_type = item_type


def one_of(column: Any, name: str, item_type: TypeEngine[Any]) -> OneOf:
    """``column IN`` the list passed as the execution parameter ``name`` (items of ``item_type``)."""
    return OneOf(column, name, item_type)


@compiles(OneOf)
def _expanding_in(element: OneOf, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(
        element.column.in_(bindparam(element.name, expanding=True, type_=element.item_type)), **kw
    )


@compiles(OneOf, "postgresql")
def _any_array(element: OneOf, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(
        element.column == any_(bindparam(element.name, type_=ARRAY(element.item_type))), **kw
    )
