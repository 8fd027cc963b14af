"""Pseudonymous customer and user ids: the same salted hash the warehouse computes.

With the dbt var `cartcast_pseudonymize_ids` on, staging replaces every raw customer id
(orders) and user id (events) by sha256 of "<salt>:<id>" (macro `pseudonymize_id`), so no
table or Parquet file holds a raw id. Whoever holds a raw id and the salt (the online scorer
asked for `--customer 12345`) gets the warehouse's key from `pseudonymize`.
"""

from __future__ import annotations

from cartcast.errors import MissingSalt
import hashlib
import os
import re

SALT_ENV = "CARTCAST_ID_SALT"
_SPREADSHEET_SUFFIX = re.compile(r"\.0+$")
_WHITESPACE = " \t\n\r"


def salt_from_env(env: dict[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    salt = env.get(SALT_ENV, "")
    if not salt:
        raise MissingSalt(
            f"Pseudonymous ids need the salt: set the environment variable {SALT_ENV} to the "
            "value the warehouse was built with."
        )
    return salt


def pseudonymize(raw_id: str | int, salt: str) -> str:
    """The warehouse's key for a raw id: sha256("<salt>:<id>") as 64 hex characters.

    The id is cleaned the way staging cleans it first (surrounding whitespace, a
    spreadsheet's trailing ".0"), so "17850.0" and " 17850" map to the same key as "17850".
    """
    if not salt:
        raise MissingSalt(f"An empty salt gives no privacy: set {SALT_ENV}.")
    text = _SPREADSHEET_SUFFIX.sub("", str(raw_id).strip(_WHITESPACE))
    return hashlib.sha256(f"{salt}:{text}".encode()).hexdigest()
