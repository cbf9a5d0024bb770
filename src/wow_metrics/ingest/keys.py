"""Pseudonym keys (SPEC 7): each identifier of an extract replaced by a keyed hash as the
file is first read, so that none reaches even a scratch file in the clear."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from wow_metrics import pseudonym
from wow_metrics.ingest.parse import MAX_ID_CHARS
from wow_metrics.warehouse import sql_literal

# Identifier roles replaced by keyed hashes as the file is first read (SPEC 7): role ->
# (lake column, HMAC domain prefix).
PSEUDONYMISED = {"patient_id": ("patient_key", "")}
# Identifier roles read and checked (a bad one quarantines its row), then dropped: nothing after
# the ingest uses them, so they are never keyed (hashing the encounter id, distinct on almost
# every row, was a third of the 10M ingest) and never reach a scratch file at all.
CHECKED_ONLY = ("encounter_id",)


def pseudonym_keys(con, scan: str, params: dict, sources: dict[str, str],
                   pseudonymise: dict[str, tuple[str, str]], pads: tuple[bytes, bytes],
                   names: dict[str, str] | None = None
                   ) -> tuple[str, dict[str, str], str]:
    """Key each distinct identifier of `scan` once: the first 64 bits of HMAC-SHA256(key,
    domain || trimmed id), as a UBIGINT (pseudonym.patient_key), computed as
    sha256(opad || sha256(ipad || m)) from the key's pads.

    `sources` maps role -> a column of `scan` (NULL when the file lacks it). Creates a temp
    table _keys_<role> (id, key, problem) per identifier role present, and returns the joins
    that attach them to a row `r` of the file, per role the select item of its key column, and
    the select expression of the row's first identifier problem (an id too long or holding a
    control character gets no key: the row is quarantined, the id never shown), the
    CHECKED_ONLY roles' problems included (checked on every row, never keyed). Hashing per
    distinct id costs less than per row, even with the file read twice.
    """
    names = names or {}
    checked = [f"{sql_literal(names.get(role, role) + ' ')} || wow_value_problem(wow_clean_id("
               f"cast(r.{sources[role]} as VARCHAR)), {MAX_ID_CHARS}, false)"
               for role in CHECKED_ONLY if sources.get(role, "null") != "null"]
    hashed = [role for role in pseudonymise if sources[role] != "null"]
    if not hashed:
        return "", {}, f"coalesce({', '.join(checked)})" if checked else "null::VARCHAR"
    distinct_cols = ", ".join(f'cast({sources[r]} as VARCHAR) as "{r}"' for r in hashed)
    con.execute(f"create or replace temp table _ids as select distinct {distinct_cols} from {scan}",
                params)
    joins, keyed, problems = [], {}, []
    for role in hashed:
        column, domain = pseudonymise[role]
        con.execute(
            f"""create or replace temp table "_keys_{role}" as
            select id, case when problem is null then ('0x' || left(sha256($opad || unhex(
                       sha256($ipad || encode($domain || wow_clean_id(id))))), $hex_digits)
                   )::UBIGINT end as key,
                   $name || ' ' || problem as problem
            from (select id, wow_value_problem(wow_clean_id(id), $max_chars, false) as problem
                  from (select distinct "{role}" as id from _ids))
            where wow_clean_id(id) is not null""",
            {"ipad": pads[0], "opad": pads[1], "domain": domain,
             "hex_digits": pseudonym.PATIENT_KEY_BITS // 4,
             "name": names.get(role, role), "max_chars": MAX_ID_CHARS})
        joins.append(f'left join "_keys_{role}" k_{role} '
                     f"on k_{role}.id = cast(r.{sources[role]} as VARCHAR)")
        keyed[role] = f'k_{role}.key as "{column}"'
        problems.append(f"k_{role}.problem")
    con.execute("drop table _ids")
    return " ".join(joins), keyed, f"coalesce({', '.join(problems + checked)})"


def role_select(sources: dict[str, str], pseudonymise: dict[str, tuple[str, str]],
                keyed: dict[str, str]) -> str:
    """The select list of a row `r`: every role as VARCHAR, identifiers only as their keys
    (UBIGINT), the checked-only ones not at all."""
    return ", ".join(
        keyed[role] if role in keyed
        else f'null::UBIGINT as "{pseudonymise[role][0]}"' if role in pseudonymise
        else f'cast(r.{source} as VARCHAR) as "{role}"' if source != "null"
        else f'null::VARCHAR as "{role}"'
        for role, source in sources.items() if role not in CHECKED_ONLY)


def drop_keys(con, keyed: dict[str, str]) -> None:
    for role in keyed:
        con.execute(f'drop table "_keys_{role}"')


@contextlib.contextmanager
def keys_as_build_side(con) -> Iterator[None]:
    """Statements that join the file's rows `r` to the keys tables build the hash table on the
    keys (one row per distinct id), as the join is written. DuckDB estimates a CSV scan at a few
    dozen rows and would turn it around: it built the table from every row of the extracts and
    probed it with the keys, on one thread, which took the 10M ingest's read from both cores
    (bench/README.md)."""
    con.execute("set disabled_optimizers = 'build_side_probe_side'")
    try:
        yield
    finally:
        con.execute("set disabled_optimizers = ''")
