"""The dashboard's SQL names tables and columns as text: each name must be one the models define."""

from __future__ import annotations

import re

import pytest
from django.apps import apps

from chalkboard.dashboard import selectors

STATEMENTS = {name: getattr(selectors, name) for name in dir(selectors) if name.endswith("_SQL")}
COLUMNS = {model._meta.db_table: {field.column for field in model._meta.concrete_fields} for model in apps.get_models()}
SQL_WORDS = {
    *("SELECT", "FROM", "JOIN", "LEFT", "CROSS", "ON", "WHERE", "AND", "OR", "AS", "IN", "IS", "NOT", "NULL"),
    *("EXISTS", "FILTER", "GROUP", "ORDER", "BY", "DESC", "LIMIT", "SUM", "COUNT", "MAX", "MIN", "AVG"),
    *("CAST", "ROUND", "INTEGER"),
}
TABLE = re.compile(r"\b(?:FROM|JOIN)\s+(\w+)(?:\s+AS\s+(\w+))?")


def names_in(sql: str) -> tuple[dict[str, str], set[tuple[str, str]], set[str]]:
    """The statement's tables by alias, its ``alias.column`` references and its other bare names."""
    sql = re.sub(r"%\(\w+\)s|%s|\{\w+\}|'[^']*'", " ", sql)
    tables = {alias or table: table for table, alias in TABLE.findall(sql)}
    qualified = set(re.findall(r"\b(\w+)\.(\w+)\b", sql))
    bare = set(re.findall(r"(?<![.\w])([A-Za-z_]\w*)\b(?!\.)", re.sub(r"\b\w+\.\w+\b", " ", sql)))
    outputs = set(re.findall(r"\bAS\s+(\w+)", sql))
    return tables, qualified, bare - SQL_WORDS - outputs - set(tables) - set(tables.values())


@pytest.mark.parametrize("name", sorted(STATEMENTS))
def test_every_table_and_column_the_dashboard_names_is_a_models(name):
    tables, qualified, bare = names_in(STATEMENTS[name])

    assert tables, "no table found: the statement's shape changed, and so must this test"
    assert {table for table in tables.values() if table not in COLUMNS} == set()
    derived = set(re.findall(r"\)\s+AS\s+(\w+)", STATEMENTS[name]))  # a subquery's columns are its outputs
    outputs = set(re.findall(r"\bAS\s+(\w+)", STATEMENTS[name]))
    known = {alias: COLUMNS[table] for alias, table in tables.items()} | dict.fromkeys(derived, outputs)
    assert {(alias, column) for alias, column in qualified if column not in known[alias]} == set()
    in_scope = set().union(*(COLUMNS[table] for table in tables.values()))
    assert bare - in_scope == set()


def test_a_wrong_name_is_caught():
    tables, _, bare = names_in(selectors.FIGURES_SQL.replace("earned_at", "earned_on"))
    assert "earned_on" in bare
    assert "earned_on" not in set().union(*(COLUMNS[table] for table in tables.values()))
