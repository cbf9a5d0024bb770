"""The `wow` command: run the pipeline, run the demo, generate synthetic landing zones."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

# A run's summary and the demo's report (stdlib only: cheap for every command).
from wow_metrics.report import demo_report, format_summary

REPO_ROOT = Path(__file__).resolve().parents[2]
SAMPLE_LANDING = REPO_ROOT / "data" / "sample"

EXIT_BUSY = 3  # another process is writing the warehouse; nothing was changed
EXIT_RESOURCE = 4  # disk full, warehouse not writable or memory too small; nothing was published
# An unexpected error: a bug, not bad data (sysexits' EX_SOFTWARE), so a scheduler can tell it
# from a data-quality block (1) or bad input (2).
EXIT_INTERNAL = 70

DESCRIPTION = """\
wow-metrics: EHR work outside of work (WOW), pajama time, inbox and documentation time per
clinician, from raw vendor audit-log extracts, with every definition stated (see docs/).

commands:
  wow run --landing DIR --warehouse DIR   ingest what is new, rebuild, audit, publish
  wow demo                                the bundled synthetic sample into ./warehouse
  wow generate --out DIR ...              write a synthetic landing zone
  wow serve --landing DIR --warehouse DIR serve the nightly Prefect deployment (02:00 local)
  wow query "SQL" [--warehouse DIR]       one read-only query on the published tables (no files)
  wow shell [--warehouse DIR]             a read-only SQL shell on them
  wow dashboard [--warehouse DIR]         rebuild the offline dashboard, print its path
  wow export [--warehouse DIR]            rewrite the leadership exports (rollups only)
  wow rollback [--warehouse DIR]          make the previous publication current again
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wow", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true", help="log every step")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_run(sub)
    _add_demo_and_generate(sub)
    _add_serve(sub)
    _add_access_commands(sub)
    return parser


def _add_run(sub) -> None:
    run = sub.add_parser(
        "run", help="ingest new extracts, rebuild and publish the metric tables",
        description="Ingest every extract of the landing zone not yet in the warehouse's lake, "
        "rebuild the metric tables, audit them and publish <warehouse>/wow.duckdb atomically. "
        "Patient identifiers are pseudonymised with the key in WOW_PSEUDONYM_KEY (required). "
        "Exit 0 on success; 1 if the build failed its audits (the previous publication is "
        "kept; a broken reference file is such a failure); 2 on bad input such as a missing "
        "folder, an empty landing zone or an invalid wow.yaml; 3 if another run is writing "
        "the same warehouse (it waits lock_wait_seconds of wow.yaml first); 4 if the disk is "
        "full, the warehouse is not writable or memory_limit is too small (nothing was "
        "published); 70 on an unexpected error, a bug rather than bad data (the traceback is "
        "printed; nothing was published).")
    run.add_argument("--landing", required=True, type=Path, help="landing-zone folder (SPEC 1)")
    run.add_argument("--warehouse", required=True, type=Path, help="warehouse folder (created)")
    run.add_argument("--full-refresh", action="store_true",
                     help="rebuild every table from the lake (the system of record: extracts "
                     "already purged from the landing zone keep their rows)")
    run.add_argument("--reingest", action="store_true",
                     help="re-read every extract of the landing zone into a new lake (after "
                     "changing default_timezone or the pseudonym key); refuses, changing "
                     "nothing, if the lake holds extracts the landing zone no longer has")
    run.add_argument("--drop-purged-extracts", action="store_true",
                     help="with --reingest: drop the extracts the landing zone no longer has "
                     "(they are listed); their rows are lost")
    run.add_argument("--partitions", type=int, choices=range(1, 17), metavar="N",
                     help="build the tables in N clinician partitions (1-16; overrides "
                     "build_partitions of wow.yaml)")
    run.add_argument("--dask-address", metavar="ADDRESS",
                     help="run as the Prefect nightly flow with ingest and build tasks on a Dask "
                     "cluster: a scheduler address (tcp://host:8786) or 'local' for a temporary "
                     "cluster of two worker processes")


def _add_demo_and_generate(sub) -> None:
    demo = sub.add_parser(
        "demo", help="run on the bundled synthetic sample into ./warehouse and show results",
        description="Run the whole pipeline on data/sample (synthetic; a throwaway pseudonym key "
        "is generated unless WOW_PSEUDONYM_KEY is set) into ./warehouse, then print headline "
        "figures and where to look next.")
    demo.add_argument("--warehouse", type=Path, default=Path("warehouse"),
                      help="warehouse folder (default ./warehouse)")
    demo.add_argument("--landing", type=Path, default=SAMPLE_LANDING, help=argparse.SUPPRESS)

    gen = sub.add_parser(
        "generate", help="write a synthetic landing zone",
        description="Write a realistic synthetic landing zone (both extract formats, roster, "
        "schedule, holidays). Deterministic for a given seed. Never real data.")
    gen.add_argument("--out", required=True, type=Path)
    gen.add_argument("--clinicians", type=int, default=12)
    gen.add_argument("--days", type=int, default=28)
    gen.add_argument("--seed", type=int, default=7)
    gen.add_argument("--start", default=None, help="first date, YYYY-MM-DD (default 2026-02-23)")
    gen.add_argument("--events-per-day", type=int, default=None,
                     help="events per clinician on a clinic day (default: the generator's)")


def _add_serve(sub) -> None:
    serve = sub.add_parser(
        "serve", help="serve the nightly Prefect deployment on a cron schedule",
        description="Register the 'nightly/wow-nightly' deployment with the Prefect API "
        "(PREFECT_API_URL) and run its scheduled and manually triggered flow runs until "
        "stopped (Ctrl-C). Each run ingests new extracts and republishes, like `wow run`.")
    serve.add_argument("--landing", required=True, type=Path, help="landing-zone folder (SPEC 1)")
    serve.add_argument("--warehouse", required=True, type=Path, help="warehouse folder")
    serve.add_argument("--cron", default="0 2 * * *",
                       help="cron schedule (default '0 2 * * *': 02:00 every day)")
    serve.add_argument("--timezone", default=None,
                       help="IANA time zone of the schedule (default: wow.yaml's default_timezone)")


def _add_access_commands(sub) -> None:
    for name, text in (
            ("query", "run one SQL statement on the published tables, read-only; SQL cannot "
             "read or write files, attach databases, load extensions or change settings"),
            ("shell", "a SQL shell on the published tables, read-only; SQL cannot read or "
             "write files, attach databases, load extensions or change settings"),
            ("rollback", "make the previous publication current again"),
            ("dashboard", "rebuild <warehouse>/dashboard/index.html and print its path"),
            ("export", "rewrite the leadership exports under <warehouse>/exports/")):
        cmd = sub.add_parser(name, help=text, description=text + ".")
        if name == "query":
            cmd.add_argument("sql", help="one SQL statement, e.g. \"from ehr_time_by_department_period\"")
            cmd.add_argument("--csv", action="store_true", help="print every row as CSV")
        cmd.add_argument("--warehouse", type=Path, default=Path("warehouse"),
                         help="warehouse folder (default ./warehouse)")
        if name == "export":
            cmd.add_argument("--clinician-level", action="store_true",
                             help="also export ehr_time_by_clinician_period (clinician ids; for "
                             "the informatics audience only) into <warehouse>/informatics/"
                             "exports/, never beside the leadership files; once there it is "
                             "rewritten with them after every publication")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    from wow_metrics import quiet_third_parties

    quiet_third_parties()
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="wow: %(levelname)s: %(message)s")
    try:
        return {"run": _cmd_run, "demo": _cmd_demo, "generate": _cmd_generate,
                "serve": _cmd_serve, "query": _cmd_query, "shell": _cmd_shell,
                "rollback": _cmd_rollback, "dashboard": _cmd_dashboard,
                "export": _cmd_export}[args.command](args)
    except KeyboardInterrupt:
        print("wow: interrupted; the previous publication is unchanged", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 (every expected failure has its own code above)
        import traceback

        traceback.print_exc(file=sys.stderr)
        print(f"wow: internal error ({type(exc).__name__}: {exc}): this is a bug in wow-metrics, "
              "not a problem with the data; the previous publication is unchanged. Please "
              f"report it with the traceback above. Exit {EXIT_INTERNAL}.", file=sys.stderr)
        return EXIT_INTERNAL


def _cmd_run(args) -> int:
    if args.drop_purged_extracts and not args.reingest:
        print("wow: error: --drop-purged-extracts is only for --reingest", file=sys.stderr)
        return 2
    if args.reingest and args.dask_address:
        print("wow: error: --reingest runs without --dask-address (re-read the landing zone "
              "once, then schedule the nightly runs on Dask)", file=sys.stderr)
        return 2
    return _run_and_report(args.landing, args.warehouse, key=None, full_refresh=args.full_refresh,
                           partitions=args.partitions, dask_address=args.dask_address,
                           reingest=args.reingest, drop_purged=args.drop_purged_extracts)


def _run_and_report(landing: Path, warehouse: Path, *, key: bytes | None,
                    full_refresh: bool, partitions: int | None = None,
                    dask_address: str | None = None, reingest: bool = False,
                    drop_purged: bool = False) -> int:
    from wow_metrics import gx_process

    if not dask_address:
        gx_process.start(None)  # GX's import starts now; the run takes the process as its own
    try:
        return _run(landing, warehouse, key=key, full_refresh=full_refresh,
                    partitions=partitions, dask_address=dask_address, reingest=reingest,
                    drop_purged=drop_purged)
    finally:
        gx_process.stop(None)  # not taken: the run stopped before it began


def _run(landing: Path, warehouse: Path, *, key: bytes | None, full_refresh: bool,
         partitions: int | None, dask_address: str | None, reingest: bool,
         drop_purged: bool) -> int:
    from wow_metrics.config import ConfigError, load_settings
    from wow_metrics.faults import ResourceError
    from wow_metrics.ingest import LakeMismatch
    from wow_metrics.lock import WarehouseBusy
    from wow_metrics.pipeline import LandingError, run
    from wow_metrics.pseudonym import MissingKeyError
    from wow_metrics.warehouse import AuditFailure

    try:
        if dask_address:
            summary = _orchestration().run_on_dask(
                landing, warehouse, dask_address=dask_address, full_refresh=full_refresh,
                partitions=partitions)
        else:
            settings = None
            if partitions is not None:
                settings = load_settings(landing).model_copy(update={"build_partitions": partitions})
            summary = run(landing, warehouse, key=key, full_refresh=full_refresh, settings=settings,
                          reingest=reingest, drop_purged=drop_purged)
    except (ConfigError, LandingError, MissingKeyError, LakeMismatch) as exc:
        print(f"wow: error: {exc}", file=sys.stderr)
        return 2
    except WarehouseBusy as exc:
        print(f"wow: error: {exc}", file=sys.stderr)
        return EXIT_BUSY
    except ResourceError as exc:
        print(f"wow: error: {exc}", file=sys.stderr)
        return EXIT_RESOURCE
    except AuditFailure as exc:
        print(f"wow: error: {exc}", file=sys.stderr)
        return 1
    print(format_summary(summary))
    return 0


def _cmd_demo(args) -> int:
    from wow_metrics.pseudonym import ENV_VAR, throwaway_key

    key = None
    if not os.environ.get(ENV_VAR, "").strip():
        key = throwaway_key()
        print(f"wow demo: {ENV_VAR} is not set, so this demo uses a throwaway random key "
              "(fine for synthetic data; a real run requires your own key).")
    # The demo always starts from scratch: a throwaway key cannot match an earlier lake.
    code = _run_and_report(args.landing, args.warehouse, key=key, full_refresh=True,
                           reingest=True, drop_purged=True)
    if code == 0:
        print(demo_report(args.warehouse))
    return code


def _orchestration():
    """The Prefect flows (Prefect is imported only by the commands that use it)."""
    # The library's warnings reach the Prefect UI; Dask's connection chatter does not.
    os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "wow_metrics")
    os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "warning")
    from wow_metrics import orchestration

    return orchestration


def _cmd_serve(args) -> int:
    from wow_metrics.config import ConfigError

    try:
        _orchestration().serve_nightly(args.landing, args.warehouse, cron=args.cron,
                                       timezone=args.timezone)
    except (ConfigError, ValueError) as exc:
        print(f"wow: error: {exc}", file=sys.stderr)
        return 2
    return 0


def _access_command(fn, writes: tuple[Path, str] | None = None) -> int:
    """Run an informatics command; a missing publication or bad SQL is a clear message, exit 2.

    `writes` = (warehouse, command) for a command that writes the warehouse: it holds the
    writer lock, exits 3 when another writer holds it and 4 on a resource fault (disk full,
    folder not writable).
    """
    import contextlib

    import duckdb

    from wow_metrics.access import NoPublication
    from wow_metrics.faults import ResourceError, resource_errors
    from wow_metrics.files import file_mode_umask, secure_warehouse, warehouse_file_mode
    from wow_metrics.lock import WarehouseBusy, warehouse_lock

    try:
        with contextlib.ExitStack() as writing:
            if writes:
                # No wow.yaml here: the warehouse keeps the file mode its last run gave it.
                mode = warehouse_file_mode(writes[0])
                writing.enter_context(file_mode_umask(mode))
                writing.enter_context(resource_errors(writes[0]))
                writing.enter_context(warehouse_lock(*writes))
                writing.callback(secure_warehouse, writes[0], mode)
            return fn()
    except ResourceError as exc:
        print(f"wow: error: {exc}", file=sys.stderr)
        return EXIT_RESOURCE
    except (NoPublication, duckdb.Error) as exc:
        print(f"wow: error: {exc}", file=sys.stderr)
        return 2
    except WarehouseBusy as exc:
        print(f"wow: error: {exc}", file=sys.stderr)
        return EXIT_BUSY


def _cmd_query(args) -> int:
    from wow_metrics.access import run_query

    return _access_command(lambda: (run_query(args.warehouse, args.sql,
                                              fmt="csv" if args.csv else "table"), 0)[1])


def _cmd_shell(args) -> int:
    from wow_metrics.access import shell

    return _access_command(lambda: shell(args.warehouse))


def _cmd_dashboard(args) -> int:
    from wow_metrics.access import published_db
    from wow_metrics.dashboard import build_dashboard

    def build() -> int:
        published_db(args.warehouse)
        print(build_dashboard(args.warehouse))
        return 0

    return _access_command(build, writes=(args.warehouse, "wow dashboard"))


def _cmd_export(args) -> int:
    from wow_metrics.access import informatics_exports_dir, leadership_exports_dir, write_exports

    def export() -> int:
        files = write_exports(args.warehouse, clinician_level=args.clinician_level)
        print(f"wow export: {len(files)} leadership file(s) (rollups only) under "
              f"{leadership_exports_dir(args.warehouse)}")
        informatics = informatics_exports_dir(args.warehouse)
        if informatics.exists():
            count = sum(1 for p in informatics.rglob("*.*") if p.is_file())
            print(f"wow export: {count} clinician-level file(s), for the informatics audience "
                  f"only, under {informatics}")
        return 0

    return _access_command(export, writes=(args.warehouse, "wow export"))


def _cmd_rollback(args) -> int:
    from wow_metrics.access import rollback, write_exports
    from wow_metrics.dashboard import build_dashboard

    def back() -> int:
        db = rollback(args.warehouse)
        write_exports(args.warehouse)
        build_dashboard(args.warehouse)
        print(f"wow rollback: {db} is the previous publication again (the rolled-back one is "
              "now wow.previous.duckdb; the next run rebuilds from the lake)")
        return 0

    return _access_command(back, writes=(args.warehouse, "wow rollback"))


def _cmd_generate(args) -> int:
    import datetime as dt

    from wow_metrics.generate import generate_landing

    kwargs = {}
    try:
        if args.start:
            kwargs["start"] = dt.date.fromisoformat(args.start)
        if args.events_per_day is not None:
            kwargs["events_per_clinician_day"] = args.events_per_day
        result = generate_landing(args.out, clinicians=args.clinicians, days=args.days,
                                  seed=args.seed, **kwargs)
    except ValueError as exc:  # bad numbers or dates: a usage error
        print(f"wow: error: {exc}", file=sys.stderr)
        return 2
    print(f"wow generate: wrote a synthetic landing zone to {args.out}: {result}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
