"""Speed baseline: the SPEC 4-5 clinician-day metrics in plain, vectorised pandas.

This is how a research script computes EHR time from raw audit logs today: read every extract
into one DataFrame, map actions to categories, de-duplicate, sort each clinician's timeline,
credit each gap of at most the idle threshold to the earlier event, and cut the active intervals
at local midnight, the workday edges and the edges of scheduled time. No DuckDB and nothing of
wow_metrics: it exists to be timed against `wow run` (and to cross-check its day table).

The cutting is done by merging two sorted point sets per clinician: the event instants and the
calendar edges (local midnights, workday start/end on working days, scheduled-block edges).
Between two consecutive points nothing changes, so each such piece takes the category of the
last event before it (forward fill) and the calendar attributes of the last edge before it.

Simplifications (it is a baseline): bad rows are dropped silently (no quarantine); extracts are
comma-delimited CSV (.csv / .csv.gz) or Parquet; no schedule-window or unscheduled-day columns;
no roster attributes beyond the time zone.

    .venv/bin/python bench/pandas_baseline.py --landing data/sample [--out days.parquet]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import yaml

SHIPPED_MAPS = Path(__file__).resolve().parents[1] / "schemas" / "action_maps"
CATEGORIES = ("inbox", "notes", "orders", "chart_review", "other")
VALID_CATEGORIES = (*CATEGORIES, "exclude")
STATUSES = ("scheduled", "arrived", "completed", "no_show", "canceled")
DEFAULTS = {"default_timezone": "UTC", "idle_threshold_seconds": 300,
            "workday_start": "07:00", "workday_end": "17:30"}
OFFSET = r"(?:[Zz]|[+-]\d{2}(?::?\d{2})?)$"  # an ISO-8601 offset at the end of the time part
NOT_BEFORE_US = int(pd.Timestamp("1990-01-01", tz="UTC").value // 1000)
ID_SPACE = " \t\r\n\u00a0"
COLUMNS = ["clinician_id", "activity_date", "events", "ehr_minutes", "inbox_minutes",
           "notes_minutes", "orders_minutes", "chart_review_minutes", "other_minutes",
           "prescriptions_minutes", "in_schedule_minutes", "wow_minutes", "pajama_minutes",
           "scheduled_minutes"]


# ----------------------------------------------------------------------------- settings, files

def load_settings(landing: Path, settings: dict | None = None) -> dict:
    out = dict(DEFAULTS)
    path = landing / "wow.yaml"
    if path.is_file():
        out.update({k: v for k, v in (yaml.safe_load(path.read_text()) or {}).items() if k in out})
    out.update(settings or {})
    for key in ("workday_start", "workday_end"):
        value = out[key]
        if isinstance(value, int):  # YAML 1.1 reads an unquoted 07:00 as 420 (sexagesimal)
            value = f"{value // 60:02d}:{value % 60:02d}"
        hours, minutes = str(value).strip().split(":")[:2]
        out[key + "_s"] = int(hours) * 3600 + int(minutes) * 60
    out["idle_us"] = int(round(float(out["idle_threshold_seconds"]) * 1_000_000))
    return out


def read_table(path: Path) -> pd.DataFrame:
    """Every column as text ('' for missing), header names lower-cased."""
    if path.name.lower().endswith(".parquet"):
        df = pd.read_parquet(path).astype("string").fillna("")
    else:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    df.columns = [c.strip().lower() for c in df.columns]
    return df


def col(df: pd.DataFrame, name: str) -> pd.Series:
    """A text column trimmed, '' where the file lacks it."""
    if name not in df:
        return pd.Series("", index=df.index, dtype=object)
    return df[name].fillna("").astype(str).str.strip()


def clean_id(s: pd.Series) -> pd.Series:
    return s.str.strip(ID_SPACE)


# ----------------------------------------------------------------------------- time parsing

def localize(wall: pd.Series | pd.DatetimeIndex, tz: str, nonexistent: str) -> np.ndarray:
    """Wall-clock times in tz -> UTC epoch microseconds (the earlier instant when repeated;
    `nonexistent`: 'NaT' for data, 'shift_forward' for calendar edges). NaT -> int64 min."""
    idx = pd.DatetimeIndex(wall).as_unit("us")
    idx = idx.tz_localize(tz, ambiguous=np.ones(len(idx), dtype=bool), nonexistent=nonexistent)
    return idx.tz_convert("UTC").asi8


def parse_instants(text: pd.Series, naive_zone: str) -> pd.Series:
    """ISO-8601 text -> UTC epoch microseconds (float, NaN when unparseable or in a DST gap).
    An offset or Z wins; a naive time is wall clock in naive_zone."""
    out = pd.Series(np.nan, index=text.index)
    has_offset = text.str.slice(11).str.contains(OFFSET, regex=True) & text.str.len().ge(16)
    for mask, naive in ((has_offset, False), (~has_offset & text.ne(""), True)):
        if not mask.any():
            continue
        parsed = pd.to_datetime(text[mask], format="ISO8601", errors="coerce", utc=not naive)
        if naive:
            us = localize(parsed.dt.floor("us"), naive_zone, "NaT")
        else:
            us = pd.DatetimeIndex(parsed.dt.floor("us")).as_unit("us").asi8
        out[mask] = np.where(us == np.iinfo(np.int64).min, np.nan, us.astype(float))
    return out


# ----------------------------------------------------------------------------- inputs

def load_events(landing: Path, cfg: dict) -> pd.DataFrame:
    """All audit rows in file-name then line order: clinician_id, at (UTC us), action, ..."""
    tz = cfg["default_timezone"]
    files = sorted((p for fmt in ("canonical", "epic_access_log")
                    for p in (landing / "audit" / fmt).rglob("*")
                    if p.name.lower().endswith((".csv", ".csv.gz", ".parquet"))),
                   key=lambda p: p.relative_to(landing).as_posix())
    frames = []
    for path in files:
        df = read_table(path)
        fmt = path.relative_to(landing / "audit").parts[0]
        if fmt == "canonical":
            ev = pd.DataFrame({"clinician_id": clean_id(col(df, "clinician_id")),
                               "at": parse_instants(col(df, "event_time"), tz),
                               "action": col(df, "action"), "report_name": "",
                               "category_raw": col(df, "category").str.lower(),
                               "patient": clean_id(col(df, "patient_id")),
                               "workstation": col(df, "workstation_id")})
        else:  # epic_access_log: ACCESS_INSTANT (UTC) where given, else ACCESS_TIME (local)
            instant, local = col(df, "access_instant"), col(df, "access_time")
            at = parse_instants(instant, "UTC")
            use_local = instant.eq("")
            at[use_local] = parse_instants(local[use_local], tz)
            ev = pd.DataFrame({"clinician_id": clean_id(col(df, "user_id")), "at": at,
                               "action": col(df, "metric_name"),
                               "report_name": col(df, "report_name"), "category_raw": "",
                               "patient": clean_id(col(df, "pat_id")),
                               "workstation": col(df, "workstation_id")})
        ev["format"] = fmt
        frames.append(ev)
    ev = pd.concat(frames, ignore_index=True)
    not_after = (pd.Timestamp.now(tz="UTC") + pd.Timedelta(days=1)).value // 1000
    good = (ev.clinician_id.ne("") & ev.action.ne("") & ev["at"].notna()
            & ev["at"].between(NOT_BEFORE_US, not_after)
            & (ev.category_raw.eq("") | ev.category_raw.isin(VALID_CATEGORIES)))
    ev = ev[good].reset_index(drop=True)
    ev["at"] = ev["at"].astype(np.int64)
    ev["seq"] = np.arange(len(ev))  # file-name then line order
    return ev


def load_action_map(landing: Path) -> pd.DataFrame:
    """Effective map rows keyed (format, action_key, report_key): landing rows win, then the
    later file and line."""
    paths = sorted(SHIPPED_MAPS.glob("*.csv"))
    landing_map = landing / "reference" / "category_map.csv"
    paths += [landing_map] if landing_map.is_file() else []
    rows = []
    for path in paths:
        df = read_table(path)
        rows.append(pd.DataFrame({
            "format": col(df, "format"), "action_key": col(df, "action").str.lower(),
            "report_key": col(df, "report_name").str.lower(),
            "category": col(df, "category").str.lower(),
            "rx": col(df, "is_prescription").str.lower().replace("", "false")}))
    m = pd.concat(rows, ignore_index=True)
    m = m[m.format.ne("") & m.action_key.ne("") & m.category.isin(VALID_CATEGORIES)
          & m.rx.isin(["true", "false"])]
    m = m.drop_duplicates(["format", "action_key", "report_key"], keep="last")
    m["rx"] = m.rx.eq("true") & m.category.eq("orders")
    return m


def categorise(ev: pd.DataFrame, amap: pd.DataFrame) -> pd.DataFrame:
    """SPEC 3: own category (canonical), then (format, action, report), then (format, action,
    any report), then 'other'. Looked up once per distinct key, then joined back."""
    keys = ev[["format", "action", "report_name"]].drop_duplicates()
    keys["action_key"], keys["report_key"] = keys.action.str.lower(), keys.report_name.str.lower()
    exact = keys.merge(amap, on=["format", "action_key", "report_key"], how="left")
    anyr = keys.merge(amap[amap.report_key.eq("")].drop(columns="report_key"),
                      on=["format", "action_key"], how="left")
    keys["map_category"] = exact.category.fillna(anyr.category).fillna("other").to_numpy()
    keys["map_rx"] = exact.rx.fillna(anyr.rx).fillna(False).astype(bool).to_numpy()
    ev = ev.merge(keys[["format", "action", "report_name", "map_category", "map_rx"]],
                  on=["format", "action", "report_name"], how="left")
    own = ev.category_raw.ne("")
    ev["category"] = ev.category_raw.where(own, ev.map_category)
    ev["rx"] = ev.map_rx & ~own
    return ev.drop(columns=["map_category", "map_rx"])


def load_timezones(landing: Path, cfg: dict) -> dict[str, str]:
    path = landing / "reference" / "roster.csv"
    if not path.is_file():
        return {}
    df = read_table(path)
    r = pd.DataFrame({"clinician_id": clean_id(col(df, "clinician_id")), "tz": col(df, "timezone"),
                      "fte": pd.to_numeric(col(df, "clinical_fte").replace("", np.nan),
                                           errors="coerce"), "fte_text": col(df, "clinical_fte")})

    def known(zone: str) -> bool:
        try:
            return zone == "" or ZoneInfo(zone) is not None
        except (ValueError, KeyError, OSError):
            return False

    good = (r.clinician_id.ne("") & r.tz.map(known)
            & (r.fte_text.eq("") | r.fte.between(0, 1.5, inclusive="right")))
    r = r[good].drop_duplicates("clinician_id", keep="last")
    return dict(zip(r.clinician_id, r.tz.replace("", cfg["default_timezone"]), strict=True))


def load_schedule(landing: Path, tz_of: pd.Series) -> pd.DataFrame:
    """Counted appointments: clinician_id, start, end (UTC us). Last row of an id wins."""
    files = sorted((landing / "reference" / "schedule").glob("*.csv"))
    if not files:
        return pd.DataFrame({"clinician_id": pd.Series([], dtype=object),
                             "start": pd.Series([], dtype=np.int64),
                             "end": pd.Series([], dtype=np.int64)})
    df = pd.concat([read_table(p) for p in files], ignore_index=True)
    a = pd.DataFrame({"clinician_id": clean_id(col(df, "clinician_id")),
                      "appointment_id": col(df, "appointment_id"),
                      "text": col(df, "start_time"),
                      "minutes": pd.to_numeric(col(df, "duration_minutes"), errors="coerce"),
                      "status": col(df, "status").str.lower()})
    a["tz"] = a.clinician_id.map(tz_of).fillna(tz_of.attrs["default"])
    a["start"] = np.nan
    for zone, rows in a.groupby("tz").groups.items():
        a.loc[rows, "start"] = parse_instants(a.loc[rows, "text"], zone)
    good = (a.clinician_id.ne("") & a.appointment_id.ne("") & a.start.notna()
            & (a.minutes > 0) & (a.minutes <= 1440) & a.status.isin(STATUSES))
    a = a[good].drop_duplicates("appointment_id", keep="last")
    a = a[a.status.ne("canceled")].copy()
    a["start"] = a.start.astype(np.int64)
    a["end"] = a.start + np.round(a.minutes * 60e6).astype(np.int64)
    return a[["clinician_id", "start", "end"]]


def scheduled_blocks(appts: pd.DataFrame) -> pd.DataFrame:
    """The union of [start, end) per clinician as maximal blocks (touching ones merge)."""
    a = appts.sort_values(["clinician_id", "start", "end"]).reset_index(drop=True)
    covered = a.groupby("clinician_id").end.cummax().groupby(a.clinician_id).shift()
    a["block"] = (covered.isna() | (a.start > covered)).cumsum()
    return a.groupby(["clinician_id", "block"], as_index=False).agg(
        block_start=("start", "min"), block_end=("end", "max")).drop(columns="block")


# ----------------------------------------------------------------------------- calendar edges

def calendar_edges(ev: pd.DataFrame, appts: pd.DataFrame, blocks: pd.DataFrame,
                   tz_of: pd.Series, holidays: set, cfg: dict) -> pd.DataFrame:
    """Every point where a SPEC 5 attribute may change, per clinician, with the attributes of
    the stretch it starts: activity_date (days since epoch), pajama, scheduled."""
    spans = pd.concat([ev[["clinician_id", "at"]].rename(columns={"at": "t"}),
                       appts[["clinician_id", "start"]].rename(columns={"start": "t"}),
                       appts[["clinician_id", "end"]].rename(columns={"end": "t"})])
    span = spans.groupby("clinician_id").t.agg(["min", "max"]) // 86_400_000_000
    first, last = span["min"] - 2, span["max"] + 3  # a local date is within a day of UTC's
    n = (last - first + 1).to_numpy()
    days = pd.DataFrame({"clinician_id": np.repeat(span.index.to_numpy(), n),
                         "day": np.repeat(first.to_numpy(), n)
                         + np.concatenate([np.arange(k) for k in n])})
    days["tz"] = days.clinician_id.map(tz_of).fillna(tz_of.attrs["default"])
    wall = days.day.to_numpy().astype("datetime64[D]").astype("datetime64[us]")
    for name, offset_s in (("day_start", 0), ("ws", cfg["workday_start_s"]),
                           ("we", cfg["workday_end_s"])):
        days[name] = np.int64(0)
        for zone, rows in days.groupby("tz").indices.items():
            local = wall[rows] + np.timedelta64(offset_s, "s")
            days.loc[days.index[rows], name] = localize(local, zone, "shift_forward")
    weekday = (days.day + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    holiday = days.day.isin([(d - dt.date(1970, 1, 1)).days for d in holidays])
    days["off"] = (weekday >= 5) | holiday

    work = days[~days.off]
    edges = pd.concat([days[["clinician_id", "day_start"]].rename(columns={"day_start": "at"}),
                       work[["clinician_id", "ws"]].rename(columns={"ws": "at"}),
                       work[["clinician_id", "we"]].rename(columns={"we": "at"}),
                       blocks[["clinician_id", "block_start"]].rename(columns={"block_start": "at"}),
                       blocks[["clinician_id", "block_end"]].rename(columns={"block_end": "at"})])
    edges = edges.drop_duplicates().astype({"at": np.int64}).sort_values("at")
    edges = pd.merge_asof(edges, days.sort_values("day_start"), left_on="at",
                          right_on="day_start", by="clinician_id")
    edges = pd.merge_asof(edges, blocks.sort_values("block_start"), left_on="at",
                          right_on="block_start", by="clinician_id")
    edges["pajama"] = edges.off | (edges["at"] < edges.ws) | (edges["at"] >= edges.we)
    edges["scheduled"] = edges["at"] < edges.block_end.fillna(np.iinfo(np.int64).min)
    edges = edges.sort_values(["clinician_id", "at"], ignore_index=True)
    nxt = edges.groupby("clinician_id")["at"].shift(-1)
    edges["length"] = (nxt - edges["at"]).fillna(0).astype(np.int64)
    return edges[["clinician_id", "at", "day", "pajama", "scheduled", "length"]]


# ----------------------------------------------------------------------------- the metrics

def compute_days(landing: Path, settings: dict | None = None) -> pd.DataFrame:
    landing = Path(landing)
    cfg = load_settings(landing, settings)
    tz_of = pd.Series(load_timezones(landing, cfg), dtype=object)
    tz_of.attrs["default"] = cfg["default_timezone"]
    holidays_path = landing / "reference" / "holidays.csv"
    holidays = set()
    if holidays_path.is_file():
        dates = pd.to_datetime(col(read_table(holidays_path), "date"), errors="coerce",
                               format="%Y-%m-%d")
        holidays = set(dates.dropna().dt.date)

    # SPEC 3-4: categorise, de-duplicate (first in file order), drop excluded, order ties.
    ev = categorise(load_events(landing, cfg), load_action_map(landing))
    ev = ev.drop_duplicates(["clinician_id", "at", "action", "report_name", "patient",
                             "workstation"], keep="first")
    ev = ev[ev.category.ne("exclude")]
    ev = ev.sort_values(["clinician_id", "at", "action", "workstation", "report_name", "seq"],
                        ignore_index=True)
    gap = ev.groupby("clinician_id")["at"].shift(-1) - ev["at"]
    ev["active"] = gap.le(cfg["idle_us"])  # NaN (the last event) is idle

    appts = load_schedule(landing, tz_of)
    blocks = scheduled_blocks(appts)
    edges = calendar_edges(ev, appts, blocks, tz_of, holidays, cfg)

    # Merge events and edges into one sorted point sequence per clinician (edges first at a
    # tie, so an event on a midnight belongs to the new date); every stretch between two
    # consecutive points takes the last event's activity and the last edge's calendar.
    cat_code = pd.Categorical(ev.category, categories=CATEGORIES).codes
    points = pd.concat([
        pd.DataFrame({"clinician_id": edges.clinician_id, "at": edges["at"], "kind": 0,
                      "order": 0, "day": edges.day, "pajama": edges.pajama.astype(float),
                      "scheduled": edges.scheduled.astype(float)}),
        pd.DataFrame({"clinician_id": ev.clinician_id, "at": ev["at"], "kind": 1,
                      "order": np.arange(len(ev)), "cat": cat_code,
                      "rx": ev.rx.astype(float), "active": ev.active.astype(float)}),
    ], ignore_index=True)
    clinician = pd.Categorical(points.clinician_id)
    order = np.lexsort((points["order"], points.kind, points["at"], clinician.codes))
    points = points.iloc[order].reset_index(drop=True)
    codes = clinician.codes[order]
    # A forward fill crosses into the next clinician only through its first point, which is
    # always an edge (two days before its first event), and a clinician's last event is idle.
    filled = points[["day", "pajama", "scheduled", "cat", "rx", "active"]].ffill()
    at = points["at"].to_numpy()
    length = np.zeros(len(at), dtype=np.int64)
    same = codes[1:] == codes[:-1]
    length[:-1] = np.where(same, at[1:] - at[:-1], 0)
    live = (filled.active.fillna(0) > 0).to_numpy() & (length > 0)

    pieces = pd.DataFrame({"clinician_id": points.clinician_id[live],
                           "day": filled.day[live].astype(np.int64)})
    us = length[live]
    pieces["ehr"] = us
    for code, name in enumerate(CATEGORIES):
        pieces[name] = np.where(filled.cat[live].to_numpy() == code, us, 0)
    pieces["prescriptions"] = np.where(filled.rx[live].to_numpy() > 0, us, 0)
    pieces["in_schedule"] = np.where(filled.scheduled[live].to_numpy() > 0, us, 0)
    pieces["pajama"] = np.where(filled.pajama[live].to_numpy() > 0, us, 0)
    active = pieces.groupby(["clinician_id", "day"]).sum()

    is_event = points.kind.eq(1)
    events = (pd.DataFrame({"clinician_id": points.clinician_id[is_event],
                            "day": filled.day[is_event].astype(np.int64)})
              .groupby(["clinician_id", "day"]).size().rename("events"))
    sched = (edges[edges.scheduled].groupby(["clinician_id", "day"]).length.sum()
             .rename("scheduled"))

    day = pd.concat([events, active, sched], axis=1).fillna(0)
    day = day[(day.events > 0) | (day.scheduled > 0) | (day.ehr > 0)].reset_index()
    out = pd.DataFrame({"clinician_id": day.clinician_id,
                        "activity_date": (pd.to_datetime(day.day.astype(np.int64), unit="D")
                                          .dt.date),
                        "events": day.events.astype(np.int64)})
    for stem in ("ehr", *CATEGORIES, "prescriptions", "in_schedule"):
        out[f"{stem}_minutes"] = day[stem].astype(np.int64) / 60e6
    out["wow_minutes"] = (day.ehr.astype(np.int64) - day.in_schedule.astype(np.int64)) / 60e6
    out["pajama_minutes"] = day.pajama.astype(np.int64) / 60e6
    out["scheduled_minutes"] = day.scheduled.astype(np.int64) / 60e6
    return out[COLUMNS].sort_values(["clinician_id", "activity_date"], ignore_index=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--landing", type=Path, required=True)
    parser.add_argument("--out", type=Path, help="write the day table to this Parquet file")
    parser.add_argument("--json", action="store_true",
                        help="print the figures as one JSON line (for bench/scale.py)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    days = compute_days(args.landing)
    seconds = time.perf_counter() - started
    events = int(days.events.sum())
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if args.json:
        print(json.dumps({"seconds": seconds, "peak_rss_mb": peak_mb, "events": events,
                          "rows": len(days)}))
        return 0
    print(f"pandas baseline: {seconds:.2f}s wall, {len(days):,} clinician-day rows, "
          f"{events:,} timeline events ({events / seconds:,.0f} events/s), "
          f"peak RSS {peak_mb:,.0f} MB")
    if args.out:
        days.to_parquet(args.out, index=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
