"""Plain-words explanations of dbt failures caused by raw input files.

DuckDB's CSV reader fails with long, generic texts ("Error when sniffing file ...", a list of
possible fixes). These turn them into one line that names the file, the line or column and
the rule broken, which `run_dbt` puts first in its error.
"""

from __future__ import annotations

import re

_SNIFF = re.compile(r'Error when sniffing file "(?P<file>[^"]+)"')
_COLUMN_COUNT = re.compile(
    r"Number of expected columns: (?P<expected>\d+)\. Actual number of columns (?P<found>\d+)"
)
_CSV_LINE = re.compile(r"CSV Error on Line: (?P<line>\d+)")
_CSV_FILE = re.compile(r"^\s*file = (?P<file>.+?)\s*$", re.MULTILINE)
# The message of the checked_source macro is already in plain words.
_OWN_RULE = re.compile(r"(Raw input .*?\(rule: [a-z_]+\).*?)(?:\s+>\s|\n\s*\n|$)", re.DOTALL)
_SALT = re.compile(r"(cartcast_pseudonymize_ids is on .*?\(rule: id_salt_required\)[^\n]*)")


def explain(output: str) -> list[str]:
    """One sentence per raw-input problem found in dbt's output, each named once."""
    found: list[str] = []

    def add(sentence: str) -> None:
        sentence = " ".join(sentence.split())
        if sentence not in found:
            found.append(sentence)

    for match in _OWN_RULE.finditer(output):
        add(match.group(1))
    for match in _SALT.finditer(output):
        add(match.group(1))
    for match in _SNIFF.finditer(output):
        counts = _COLUMN_COUNT.search(output, match.end())
        if counts:
            add(
                f"Raw file {match['file']} has {counts['found']} columns where its source "
                f"needs {counts['expected']} (rule: required_columns)."
            )
        else:
            add(
                f"Raw file {match['file']} cannot be read as CSV (rule: csv_layout): no single "
                "delimiter, quote and line ending fits every line. Mixed CRLF and LF line "
                "endings or rows with different numbers of fields cause this: normalise the "
                "file, or add strict_mode=false (mixed line endings) to its read_csv in the "
                "source var."
            )
    for match in _CSV_LINE.finditer(output):
        rest = output[match.end() :]
        file_match = _CSV_FILE.search(rest)
        file = file_match["file"] if file_match else "(unknown file)"
        if "not utf-8 encoded" in rest[:600]:
            add(
                f"Raw file {file}, line {match['line']}: bytes that are not UTF-8 "
                "(rule: utf8_text). Re-export the file as UTF-8, or name its encoding in the "
                "source var (read_csv(..., encoding='latin-1'))."
            )
        else:
            reason = next(
                (ln.strip() for ln in rest.splitlines()[2:6] if ln.strip()), "unreadable line"
            )
            add(f"Raw file {file}, line {match['line']}: {reason} (rule: csv_layout).")
    return found
