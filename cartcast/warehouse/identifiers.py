"""Names that reach SQL from configuration or the command line, validated and quoted.

Values travel as bound parameters; names (schemas, tables, columns, models) cannot, so they
are spliced into SQL text. Each one passes through here first: only a plain ASCII
identifier is accepted (letters, digits, underscores, not starting with a digit), so a
name such as `x; drop table y`, one with quotes or comments, or one with look-alike unicode
letters is refused with a message; an accepted name is quoted by sqlglot for the dialect.
"""

from __future__ import annotations

from cartcast.errors import UnsafeIdentifier
import re

import sqlglot
from sqlglot import exp

# ASCII only: Python's \w would let look-alike letters (a Cyrillic a, a fullwidth d) through.
_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
MAX_LENGTH = 63  # the shortest common limit (PostgreSQL); DuckDB, Spark and Trino allow more


def validate(name: object, kind: str = "name") -> str:
    """`name` itself when it is a plain identifier; UnsafeIdentifier otherwise."""
    if not isinstance(name, str) or not _PLAIN.fullmatch(name) or len(name) > MAX_LENGTH:
        raise UnsafeIdentifier(
            f"Refused {kind} {name!r}: a {kind} must be a plain identifier (ASCII letters, "
            f"digits and underscores, not starting with a digit, at most {MAX_LENGTH} "
            "characters)."
        )
    return name


def quote(name: str, kind: str = "name", dialect: str = "duckdb") -> str:
    """The validated name as a quoted identifier of `dialect` ("name"); reserved words such
    as `order` are fine once quoted."""
    quoted = exp.to_identifier(validate(name, kind), quoted=True).sql(dialect=dialect)
    # Belt and braces: sqlglot must read the quoted text back as exactly this one name.
    parsed = sqlglot.parse_one(quoted, read=dialect)
    if not isinstance(parsed, exp.Column) or parsed.name != name or parsed.table:
        raise UnsafeIdentifier(f"Refused {kind} {name!r}: it does not quote as one identifier.")
    return quoted


def qualified(*parts: str, dialect: str = "duckdb") -> str:
    """`schema`, `table` (and so on) as one quoted, dotted name: "schema"."table"."""
    if not parts:
        raise UnsafeIdentifier("Refused an empty qualified name.")
    return ".".join(quote(part, "name part", dialect) for part in parts)


def qualified_from_text(text: str, dialect: str = "duckdb") -> str:
    """A dotted name from configuration ("marts.customer_features"), validated part by part."""
    if not isinstance(text, str):
        raise UnsafeIdentifier(f"Refused table name {text!r}: not text.")
    return qualified(*text.split("."), dialect=dialect)
