"""Bulk import of directory providers and their state licences from a CSV file.

The format is documented in ``docs/directory.md`` (a sample is ``docs/directory-import-example.csv``):

* The first row is a header naming the columns, in any order; only ``name`` and ``credential`` are
  required. Unknown columns are refused (a misspelt column must not be silently ignored).
* Each further row is one provider, or one licence of a provider: rows with the same ``npi`` describe one
  provider, and each of them may add a licence (``license_*`` columns). Provider columns may be repeated on
  every row of an NPI or given once; two different values for the same NPI are an error. Rows without an
  NPI are one provider each.
* Lists (``offers``, ``conditions``, ``modalities``, ``age_groups``, ``languages``, ``networks``) are
  separated by ``;``. A network is a plan's id or its name as the plans page shows it, "Payer / Plan".
* Dates are ``YYYY-MM-DD``; yes/no columns take yes/no (or true/false, 1/0).

**Nothing half-imported.** Every row is checked with the rules the JSON API uses: the API's request schemas
(:mod:`careweave.directory.schemas`) for shapes, then the directory service itself
(:func:`service.create_provider`, :func:`service.add_license`: NPI check digit and uniqueness, known
credential, licence type valid for the credential, plans that exist, time zone, codes) inside one savepoint.
If any row has a problem, or on a dry run, the savepoint is rolled back and nothing is stored; the report
lists every problem by row (the header is row 1, as a spreadsheet numbers them), column and message. When
the provider part of a row is invalid, its licences are still checked against the provider without the
invalid fields, so one pass reports as much as possible.

Audit: the service records ``provider.created`` and ``license.added`` as usual; the import adds one
``directory.imported`` event with counts (outcome ``failure`` when the file was refused) or, for a dry run,
``directory.import_checked``. Details hold counts only.
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from careweave import policy
from careweave.audit import service as audit
from careweave.core.actor import Actor
from careweave.core.clock import Clock
from careweave.core.errors import FieldError, InvalidInput
from careweave.directory import service
from careweave.directory.models import ProviderLanguage
from careweave.directory.schemas import LicenseCreate, ProviderCreate

LIST_SEPARATOR = ";"
MAX_ROWS = 10_000

# CSV column -> field of the API's ProviderCreate (the same name unless listed in _RENAMED).
PROVIDER_COLUMNS: tuple[str, ...] = (
    "name",
    "credential",
    "npi",
    "taxonomy_code",
    "gender",
    "offers",
    "conditions",
    "modalities",
    "age_groups",
    "languages",
    "timezone",
    "accepting_new_patients",
    "capacity",
    "self_pay",
    "self_pay_rate_usd",
    "networks",
    "bio",
)
# CSV column -> field of the API's LicenseCreate.
LICENSE_COLUMNS: dict[str, str] = {
    "license_state": "state",
    "license_type": "type",
    "license_number": "number",
    "license_status": "status",
    "license_issued": "issued",
    "license_expires": "expires",
}
COLUMNS: tuple[str, ...] = PROVIDER_COLUMNS + tuple(LICENSE_COLUMNS)
REQUIRED_COLUMNS: tuple[str, ...] = ("name", "credential")
LIST_COLUMNS = frozenset({"offers", "conditions", "modalities", "age_groups", "languages", "networks"})
BOOL_COLUMNS = frozenset({"accepting_new_patients", "self_pay"})
_RENAMED = {"self_pay_rate_usd": "self_pay_rate_cents"}
_COLUMN_OF_FIELD = {v: k for k, v in _RENAMED.items()}
_LICENSE_COLUMN_OF_FIELD = {v: k for k, v in LICENSE_COLUMNS.items()}
_YES = frozenset({"yes", "y", "true", "1"})
_NO = frozenset({"no", "n", "false", "0"})
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_MONEY = re.compile(r"^\$?(\d{1,7})(?:\.(\d{1,2}))?$")
_INDEX = re.compile(r"^(?P<name>[a-z_]+)\[(?P<index>\d+)\]$")

# Friendlier words for the schema's pattern checks, by API field.
_PATTERN_MESSAGES = {
    "npi": "must be 10 digits",
    "taxonomy_code": "must be a NUCC taxonomy code such as 2084P0800X",
    "state": "must be a two-letter state code such as TX",
}


@dataclass(frozen=True, slots=True, order=True)
class RowProblem:
    """One problem: ``row`` counts the header as row 1 (0: the file as a whole)."""

    row: int
    field: str
    message: str

    def __str__(self) -> str:
        where = "file" if self.row == 0 else f"row {self.row}"
        if self.field in ("file", "row"):  # about the file or the whole row, not one column
            return f"{where}: {self.message}"
        return f"{where}, {self.field}: {self.message}"


@dataclass(frozen=True, slots=True)
class ImportReport:
    rows: int  # data rows read (blank rows are not counted)
    providers: int  # providers in the file (stored only when ``imported``)
    licenses: int  # licences in the file (likewise)
    problems: tuple[RowProblem, ...]
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def imported(self) -> bool:
        return self.ok and not self.dry_run

    def summary(self) -> str:
        counts = f"{self.providers} provider(s) and {self.licenses} licence(s) from {self.rows} row(s)"
        if self.imported:
            return f"Imported {counts}."
        if self.ok:
            return f"Checked {counts}: no problems. Nothing was stored (dry run)."
        return f"Nothing was imported: {len(self.problems)} problem(s) in {self.rows} row(s)."

    def lines(self) -> list[str]:
        return [self.summary(), *(str(p) for p in self.problems)]


def storage_problems(data: dict[str, Any]) -> list[FieldError]:
    """Values the schema lets through but the database cannot store (PostgreSQL would refuse them)."""
    limit = ProviderLanguage.__table__.c.language.type.length
    return [
        FieldError(f"languages[{i}]", f"at most {limit} characters")
        for i, value in enumerate(data.get("languages") or [])
        if len(value.strip()) > limit
    ]


def shape_problems(exc: ValidationError) -> list[FieldError]:
    """The API schema's complaints as field errors ("conditions[2]" for list items), in plain words."""
    out = []
    for err in exc.errors():
        loc = [str(part) for part in err["loc"]]
        name = loc[0] if loc else "body"
        name += "".join(f"[{part}]" for part in loc[1:])
        if err["type"] == "missing":
            message = "required"
        elif err["type"] == "string_pattern_mismatch":
            message = _PATTERN_MESSAGES.get(loc[0] if loc else "", "contains characters that are not allowed")
        else:
            message = err["msg"]
        out.append(FieldError(name, message))
    return out


# ---------------------------------------------------------------- reading the file


@dataclass(slots=True)
class _Row:
    number: int
    provider: dict[str, Any] = field(default_factory=dict)  # ProviderCreate fields given on this row
    license: dict[str, Any] = field(default_factory=dict)  # LicenseCreate fields given on this row
    networks: list[str] = field(default_factory=list)  # as written; resolved against the plans


@dataclass(slots=True)
class _Group:
    """The rows of one provider (same NPI), with where each provider field was given."""

    rows: list[_Row]
    data: dict[str, Any] = field(default_factory=dict)
    given_on: dict[str, int] = field(default_factory=dict)  # field -> row number

    @property
    def first(self) -> int:
        return self.rows[0].number


class _Problems:
    def __init__(self) -> None:
        self.items: list[RowProblem] = []

    def add(self, row: int, column: str, message: str) -> None:
        self.items.append(RowProblem(row, column, message))

    def from_fields(self, row: int, errors: Iterable[FieldError], *, license: bool = False) -> set[str]:
        """Record service/schema field errors against CSV columns; returns the API fields at fault."""
        bad: set[str] = set()
        for err in errors:
            match = _INDEX.match(err.field)
            name, item = (match["name"], int(match["index"])) if match else (err.field, None)
            bad.add(name)
            column = _LICENSE_COLUMN_OF_FIELD.get(name, name) if license else _COLUMN_OF_FIELD.get(name, name)
            message = err.message if item is None else f"item {item + 1}: {err.message}"
            self.add(row, column, message)
        return bad


def _decode(data: bytes | str, problems: _Problems) -> str | None:
    if isinstance(data, str):
        text = data.removeprefix("\ufeff")
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            problems.add(0, "file", "is not UTF-8 text (save the spreadsheet as “CSV UTF-8”)")
            return None
    if "\x00" in text:
        problems.add(0, "file", "contains NUL characters; is it really a CSV file?")
        return None
    if not text.strip():
        problems.add(0, "file", "is empty")
        return None
    return text


def _header(cells: list[str], problems: _Problems) -> list[str] | None:
    names = [re.sub(r"[\s\-]+", "_", c.strip().lower()) for c in cells]
    ok = True
    seen: set[str] = set()
    for name in names:
        if not name:
            continue
        if name not in COLUMNS:
            problems.add(1, name, "unknown column (see docs/directory.md for the columns)")
            ok = False
        elif name in seen:
            problems.add(1, name, "column appears twice")
            ok = False
        seen.add(name)
    for name in REQUIRED_COLUMNS:
        if name not in seen:
            problems.add(1, name, "required column is missing")
            ok = False
    return names if ok else None


def _parse_cell(row: _Row, column: str, raw: str, problems: _Problems) -> None:
    value = raw.strip()
    if not value:
        return
    if column in LICENSE_COLUMNS:
        key = LICENSE_COLUMNS[column]
        if key in ("issued", "expires"):
            try:
                if not _ISO_DATE.match(value):
                    raise ValueError(value)
                row.license[key] = date.fromisoformat(value)
            except ValueError:
                problems.add(row.number, column, f"“{value}” is not a date: use YYYY-MM-DD")
        elif key == "state":
            row.license[key] = value.upper()
        elif key == "status":
            row.license[key] = value.lower()
        else:
            row.license[key] = value
        return
    if column == "networks":
        row.networks = [v.strip() for v in value.split(LIST_SEPARATOR) if v.strip()]
    elif column in LIST_COLUMNS:
        items = [v.strip() for v in value.split(LIST_SEPARATOR) if v.strip()]
        row.provider[column] = [v.lower() for v in items] if column in ("offers", "age_groups") else items
    elif column in BOOL_COLUMNS:
        if value.lower() in _YES:
            row.provider[column] = True
        elif value.lower() in _NO:
            row.provider[column] = False
        else:
            problems.add(row.number, column, f"“{value}” is not yes or no")
    elif column == "capacity":
        if value.isascii() and value.isdigit():
            row.provider[column] = int(value)
        else:
            problems.add(row.number, column, f"“{value}” is not a whole number")
    elif column == "self_pay_rate_usd":
        money = _MONEY.match(value)
        if money:
            row.provider["self_pay_rate_cents"] = int(money[1]) * 100 + int((money[2] or "0").ljust(2, "0"))
        else:
            problems.add(row.number, column, f"“{value}” is not an amount in dollars such as 150 or 150.00")
    elif column == "gender":
        row.provider[column] = value.lower()
    elif column == "npi":
        row.provider[column] = value.replace(" ", "")
    else:
        row.provider[column] = value


def read_rows(data: bytes | str) -> tuple[list[_Row], list[RowProblem]]:
    """Parse the file into rows (cell syntax only: dates, numbers, yes/no); meaning is checked later."""
    problems = _Problems()
    text = _decode(data, problems)
    if text is None:
        return [], problems.items
    reader = csv.reader(io.StringIO(text, newline=""))
    rows: list[_Row] = []
    try:
        header = _header(next(reader, []), problems)
        if header is None:
            return [], problems.items
        for index, cells in enumerate(reader):
            number = index + 2
            if not any(c.strip() for c in cells):
                continue
            if len(rows) >= MAX_ROWS:
                problems.add(number, "file", f"has more than {MAX_ROWS} rows; split it into several files")
                break
            if len(cells) > len(header):
                extra = cells[len(header) :]
                if any(c.strip() for c in extra):
                    problems.add(
                        number, "row", f"has {len(cells)} values but the header names {len(header)} columns"
                    )
                    continue
            row = _Row(number)
            for position, (column, raw) in enumerate(zip(header, cells, strict=False), start=1):
                if column:
                    _parse_cell(row, column, raw, problems)
                elif raw.strip():
                    problems.add(number, "row", f"has a value in column {position}, which has no header")
            rows.append(row)
    except csv.Error as exc:
        problems.add(reader.line_num, "file", f"is not valid CSV ({exc})")
        return [], problems.items
    if not rows and not problems.items:
        problems.add(0, "file", "has no rows after the header")
    return rows, problems.items


# ---------------------------------------------------------------- grouping and checking


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, list) and isinstance(b, list):
        return sorted(str(x).casefold() for x in a) == sorted(str(x).casefold() for x in b)
    if isinstance(a, str) and isinstance(b, str):
        return a.casefold() == b.casefold()
    return bool(a == b)


def _group(rows: list[_Row], problems: _Problems) -> list[_Group]:
    groups: list[_Group] = []
    by_npi: dict[str, _Group] = {}
    for row in rows:
        npi = row.provider.get("npi")
        group = by_npi.get(npi) if npi else None
        if group is None:
            group = _Group([])
            groups.append(group)
            if npi:
                by_npi[npi] = group
        group.rows.append(row)
        for name, value in row.provider.items():
            if name not in group.data:
                group.data[name] = value
                group.given_on[name] = row.number
            elif not _same(group.data[name], value):
                column = _COLUMN_OF_FIELD.get(name, name)
                problems.add(
                    row.number, column, f"differs from row {group.given_on[name]}, which has the same NPI"
                )
    return groups


def _normalise_plan(text: str) -> str:
    return re.sub(r"\s*/\s*", " / ", " ".join(text.split())).casefold()


def _resolve_networks(session: Session, actor: Actor, groups: list[_Group], problems: _Problems) -> None:
    plans = service.list_plans(session, actor)
    by_name = {_normalise_plan(f"{p.payer} / {p.name}"): p.id for p in plans}
    for group in groups:
        for row in group.rows:
            if not row.networks:
                continue
            ids: list[uuid.UUID] = []
            for item in row.networks:
                try:
                    ids.append(uuid.UUID(item))  # the service checks that the plan exists
                    continue
                except ValueError:
                    pass
                plan_id = by_name.get(_normalise_plan(item))
                if plan_id is None:
                    problems.add(row.number, "networks", f"no such plan “{item}” (write “Payer / Plan”)")
                else:
                    ids.append(plan_id)
            if "networks" not in group.data:
                group.data["networks"], group.given_on["networks"] = ids, row.number
            elif not _same(group.data["networks"], ids):
                problems.add(
                    row.number,
                    "networks",
                    f"differs from row {group.given_on['networks']}, which has the same NPI",
                )


def _provider_data(group: _Group, problems: _Problems) -> dict[str, Any] | None:
    """The group's provider fields that pass the API schema; None if name or credential does not."""
    data = dict(group.data)
    errors = storage_problems(data)
    try:
        ProviderCreate.model_validate(data)
    except ValidationError as exc:
        errors += shape_problems(exc)
    if not errors:
        return data
    bad: set[str] = set()
    for err in errors:
        base = _INDEX.match(err.field)
        name = base["name"] if base else err.field
        bad |= problems.from_fields(group.given_on.get(name, group.first), [err])
    if bad & set(REQUIRED_COLUMNS):
        return None
    return {k: v for k, v in data.items() if k not in bad}


# Stand-ins for licence fields that failed the schema, so the service still checks the others.
_LICENSE_STAND_IN: dict[str, Any] = {
    "state": "DC",
    "type": "-",
    "number": "-",
    "status": "active",
    "issued": None,
    "expires": None,
}


def _license_data(row: _Row, problems: _Problems) -> tuple[dict[str, Any] | None, set[str]]:
    """The row's licence for the service, and the fields that failed the schema (given stand-ins)."""
    if not row.license:
        return None, set()
    try:
        return LicenseCreate.model_validate(row.license).model_dump(), set()
    except ValidationError as exc:
        bad = problems.from_fields(row.number, shape_problems(exc), license=True)
    return {k: v if k in bad else row.license.get(k, v) for k, v in _LICENSE_STAND_IN.items()}, bad


def _duplicate_licences(group: _Group, problems: _Problems) -> None:
    seen: dict[tuple[str, str, str], int] = {}
    for row in group.rows:
        lic = row.license
        key = (str(lic.get("state", "")), str(lic.get("type", "")).upper(), str(lic.get("number", "")))
        if not all(key):
            continue
        if key in seen:
            problems.add(row.number, "license_number", f"the same licence is already on row {seen[key]}")
        else:
            seen[key] = row.number


def _store_group(
    session: Session,
    actor: Actor,
    group: _Group,
    data: dict[str, Any] | None,
    problems: _Problems,
    clock: Clock,
) -> None:
    """Create the provider and its licences through the service, recording every refusal."""
    licences = [(row, _license_data(row, problems)) for row in group.rows]
    if data is None:
        return
    provider = None
    try:
        provider = service.create_provider(session, actor, data, clock=clock)
    except InvalidInput as exc:
        by_row: dict[int, list[FieldError]] = {}
        for err in exc.fields:
            base = _INDEX.match(err.field)
            name = base["name"] if base else err.field
            by_row.setdefault(group.given_on.get(name, group.first), []).append(err)
        bad: set[str] = set()
        for row_number, errs in by_row.items():
            bad |= problems.from_fields(row_number, errs)
        if "credential" not in bad:
            # Check the licences against the same provider without the invalid fields (rolled back anyway).
            try:
                provider = service.create_provider(
                    session, actor, {k: v for k, v in data.items() if k not in bad}, clock=clock
                )
            except InvalidInput:
                provider = None
    for row, (lic, bad_fields) in licences:
        if lic is None or provider is None:
            continue
        try:
            service.add_license(
                session,
                actor,
                provider.id,
                state=lic["state"],
                license_type=lic["type"],
                number=lic["number"],
                status=lic["status"],
                issued=lic["issued"],
                expires=lic["expires"],
                clock=clock,
            )
        except InvalidInput as exc:
            errors = [e for e in exc.fields if e.field not in bad_fields]
            problems.from_fields(row.number, errors, license=True)


def import_csv(
    session: Session, actor: Actor, data: bytes | str, *, clock: Clock, dry_run: bool = False
) -> ImportReport:
    """Check every row and import all of them, or none (see the module docstring). The caller commits."""
    policy.require(actor, policy.Action.DIRECTORY_MANAGE)
    rows, read_problems = read_rows(data)
    problems = _Problems()
    problems.items.extend(read_problems)
    groups = _group(rows, problems)
    for group in groups:
        _duplicate_licences(group, problems)
    if groups:
        _resolve_networks(session, actor, groups, problems)
        outer = session.begin_nested()
        try:
            for group in groups:
                data_ = _provider_data(group, problems)
                try:
                    with session.begin_nested():
                        _store_group(session, actor, group, data_, problems, clock)
                except SQLAlchemyError:
                    problems.add(group.first, "row", "the database refused this provider; check its values")
        except BaseException:
            outer.rollback()
            raise
        if problems.items or dry_run:
            outer.rollback()
        else:
            outer.commit()
    report = ImportReport(
        rows=len(rows),
        providers=len(groups),
        licenses=sum(1 for row in rows if row.license),
        problems=tuple(sorted(set(problems.items), key=lambda p: (p.row, _column_order(p.field), p.message))),
        dry_run=dry_run,
    )
    audit.record(
        session,
        actor,
        "directory.import_checked" if dry_run else "directory.imported",
        clock=clock,
        entity_type="directory",
        outcome="success" if report.ok else "failure",
        details={
            "rows": report.rows,
            "providers": report.providers if report.ok else 0,
            "licenses": report.licenses if report.ok else 0,
            "problems": len(report.problems),
        },
    )
    return report


def _column_order(name: str) -> int:
    try:
        return COLUMNS.index(name)
    except ValueError:
        return -1
