"""Insert-or-update on each backend, and PostgreSQL's one-statement-per-batch form of it.

SQLite and PostgreSQL take ``INSERT ... ON CONFLICT DO UPDATE``, MariaDB ``INSERT ... ON
DUPLICATE KEY UPDATE`` (which assigns left to right, each assignment seeing the ones before:
callers order their SET clauses for it). A SET clause is built from the row being inserted
(``excluded`` / ``inserted``), so one function describes it for every backend.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Connection,
    CursorResult,
    Dialect,
    Row,
    Table,
    bindparam,
    cast,
    func,
    select,
)
from sqlalchemy.dialects import mysql, postgresql, sqlite

SetClause = list[tuple[str, Any]]


#: The columns a row is found by: one name, or several (a composite key).
Key = str | tuple[str, ...]
#: Which returned rows are wanted, as a condition on their columns (PostgreSQL only).
ReturnedWhere = Callable[[Any], ColumnElement[bool]]


def upsert(
    connection: Connection,
    table: Table,
    rows: list[dict[str, Any]],
    key: Key,
    set_clause: Callable[[Any], SetClause],
    cache_as: Hashable | None = None,
    returning: Sequence[ColumnElement[Any]] = (),
    returned_where: ReturnedWhere | None = None,
) -> Sequence[Row[Any]]:
    """Insert or update ``rows`` by ``key``; what ``returning`` names of each row after the
    write. On PostgreSQL, ``returned_where`` keeps only the rows it holds true for (the
    server filters them, so the others are never sent, parsed or looked at)."""
    dialect = connection.dialect.name
    keys = [key] if isinstance(key, str) else list(key)
    if dialect == "postgresql" and cache_as is not None:

        def statement_of(insert: postgresql.Insert) -> Any:
            written = insert.on_conflict_do_update(
                index_elements=keys, set_=dict(set_clause(insert.excluded))
            )
            if not returning:
                return written
            if returned_where is None:
                return written.returning(*returning)
            rows_written = written.returning(*returning).cte("written")
            return select(rows_written).where(returned_where(rows_written.c))

        result = execute_unnested(connection, table, rows, statement_of)
        return result.all() if returning else ()
    statement = _statements.get((dialect, table.name, cache_as)) if cache_as is not None else None
    if statement is None:
        statement = _upsert_statement(dialect, table, keys, set_clause)
        if returning:
            statement = statement.returning(*returning)
        if cache_as is not None:
            _statements[(dialect, table.name, cache_as)] = statement
    result = connection.execute(statement, rows)
    return result.all() if returning else ()


# PostgreSQL: each recurring upsert is one statement per batch, whatever its row count. Its rows
# travel as one binary array per column and unnest() back into rows on the server, which then
# plans and executes one INSERT ... ON CONFLICT instead of one per row (half the server's CPU
# per task), and psycopg dumps a list per column instead of a parameter set per row.
# psycopg dumps an array element by element in Python, about a microsecond each, so a batch
# sends each distinct list of values once:
# - a column with one value in the whole batch (the status, the worker, the process, a task
#   name) travels as a scalar;
# - a column whose values repeat another column's, row for row (a published task's status_at
#   is its published_at, a root task's root_id its task_id, a finished one's status_at its
#   completed_at), reads that column's array.
# The statement of a table depends only on the columns its rows carry and on how each travels
# (each table has one conflict rule), so it is cached by those. Compiling one costs
# milliseconds and a process meets several such shapes, so each is derived as text from the
# statement of its columns, compiled once.
_UnnestedShape = tuple[str, tuple[str, ...], frozenset[str], tuple[tuple[str, str], ...]]
_unnested_sql: dict[_UnnestedShape, str] = {}


def insert_or_nothing(connection: Connection, table: Table, row: dict[str, Any]) -> bool:
    """Insert ``row`` unless its key exists (then nothing, and no error); whether it did.
    The database decides between racing inserts: exactly one of them wins."""
    dialect = connection.dialect.name
    statement: Any
    if dialect == "postgresql":
        statement = postgresql.insert(table).on_conflict_do_nothing()
    elif dialect == "sqlite":
        statement = sqlite.insert(table).on_conflict_do_nothing()
    else:
        statement = table.insert().prefix_with("IGNORE")
    return bool(connection.execute(statement, row).rowcount == 1)


def execute_unnested(
    connection: Connection,
    table: Table,
    rows: list[dict[str, Any]],
    on_conflict: Callable[[postgresql.Insert], Any],
) -> CursorResult[Any]:
    names = tuple(sorted(rows[0]))
    columns = {name: [row[name] for row in rows] for name in names}
    constant = frozenset(name for name, values in columns.items() if _one_value(values))
    repeats = _repeats(columns, constant)
    shape = (table.name, names, constant, repeats)
    sql = _unnested_sql.get(shape)
    if sql is None:
        sql = _unnested_sql[shape] = _unnested_statement(
            connection.dialect, table, shape, on_conflict
        )
    repeated = {name for name, _ in repeats}
    parameters = {
        name: values[0] if name in constant else values
        for name, values in columns.items()
        if name not in repeated
    }
    return connection.exec_driver_sql(sql, parameters)


def _repeats(
    columns: dict[str, list[Any]], constant: frozenset[str]
) -> tuple[tuple[str, str], ...]:
    """(column, earlier column) pairs whose values are the same, row for row."""
    sent: list[str] = []
    repeats: list[tuple[str, str]] = []
    for name, values in columns.items():
        if name in constant:
            continue
        for other in sent:
            other_values = columns[other]
            # 1 == 1.0 == True: equal lists of different types would not dump the same.
            if type(other_values[0]) is type(values[0]) and other_values == values:
                repeats.append((name, other))
                break
        else:
            sent.append(name)
    return tuple(repeats)


def _unnested_statement(
    dialect: Dialect,
    table: Table,
    shape: _UnnestedShape,
    on_conflict: Callable[[postgresql.Insert], Any],
) -> str:
    table_name, names, constant, repeats = shape
    every_row_shape: _UnnestedShape = (table_name, names, frozenset(), ())
    every_row = _unnested_sql.get(every_row_shape)
    if every_row is None:
        every_row = _compile_unnested(dialect, table, names, {}, on_conflict)
        _unnested_sql[every_row_shape] = every_row
    sources: dict[str, ColumnElement[Any]] = {name: _scalar(table, name) for name in constant}
    sources.update((name, _unnested(table, name, other)) for name, other in repeats)
    sql = every_row
    for name, source in sources.items():
        array, replacement = (
            _bound_in_binary(str(expression.compile(dialect=dialect)), names)
            for expression in (_unnested(table, name), source)
        )
        if sql.count(array) != 1:  # not rendered as expected: compile this one in full
            return _compile_unnested(dialect, table, names, sources, on_conflict)
        sql = sql.replace(array, replacement)
    return sql


def _compile_unnested(
    dialect: Dialect,
    table: Table,
    names: tuple[str, ...],
    sources: dict[str, ColumnElement[Any]],
    on_conflict: Callable[[postgresql.Insert], Any],
) -> str:
    source = select(*(sources.get(name, _unnested(table, name)).label(name) for name in names))
    statement = on_conflict(postgresql.insert(table).from_select(names, source))
    return _bound_in_binary(str(statement.compile(dialect=dialect)), names)


def _bound_in_binary(sql: str, names: Iterable[str]) -> str:
    # %(name)b: psycopg sends the values in binary, without quoting every array element.
    for name in names:
        sql = sql.replace(f"%({name})s", f"%({name})b")
    return sql


def _unnested(table: Table, name: str, values_of: str | None = None) -> ColumnElement[Any]:
    """Column ``name`` from an array of values; ``values_of`` names another column's array."""
    array: BindParameter[Any] = bindparam(values_of or name)
    return func.unnest(cast(array, postgresql.ARRAY(table.c[name].type)))


def _scalar(table: Table, name: str) -> ColumnElement[Any]:
    return cast(bindparam(name), table.c[name].type)


def _one_value(values: list[Any]) -> bool:
    # count() compares in C; every value of a column has one type (batching makes sure).
    return values.count(values[0]) == len(values)


# Building the statement is pure Python work (the execution upsert has up to some thirty CASE
# expressions): statements that recur on every flush are built once.
_statements: dict[tuple[str, str, Hashable], Any] = {}


def _upsert_statement(
    dialect: str, table: Table, keys: list[str], set_clause: Callable[[Any], SetClause]
) -> Any:
    if dialect in ("mysql", "mariadb"):
        my_stmt = mysql.insert(table)
        return my_stmt.on_duplicate_key_update(set_clause(my_stmt.inserted))
    if dialect == "postgresql":
        pg_stmt = postgresql.insert(table)
        return pg_stmt.on_conflict_do_update(
            index_elements=keys, set_=dict(set_clause(pg_stmt.excluded))
        )
    if dialect == "sqlite":
        lite_stmt = sqlite.insert(table)
        return lite_stmt.on_conflict_do_update(
            index_elements=keys, set_=dict(set_clause(lite_stmt.excluded))
        )
    raise NotImplementedError(
        f"celery-ops supports SQLite, PostgreSQL and MariaDB/MySQL, not {dialect}"
    )
