"""``ecom``: the command line. Thin: it calls the same functions the assets call."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

DEFAULT_GENERATED_ROWS = 1_000_000


class CliError(Exception):
    """A failure to report as one line and a non-zero exit code."""


def _positive_int(text: str) -> int:
    """An argparse type: a whole number above zero (underscores allowed)."""
    try:
        value = int(text.replace("_", ""))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from exc
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value}")
    return value


def _fraction(text: str) -> float:
    """An argparse type: a number in (0, 1]."""
    try:
        value = float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from exc
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"expected a scale in (0, 1], got {value}")
    return value


def cmd_generate(args: argparse.Namespace) -> int:
    """Write synthetic ``2019-Oct.csv`` and ``2019-Nov.csv``."""
    from ecom_assets.ingest.generator import generate_dataset, rows_for_scale

    rows = rows_for_scale(args.scale) if args.scale is not None else (args.rows or DEFAULT_GENERATED_ROWS)
    try:
        report = generate_dataset(args.out, rows, seed=args.seed, progress=not args.quiet,
                                  ground_truth=args.ground_truth)
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    for path, count in report.files.items():
        print(f"{path}: {count:,} rows")
    print(
        f"{report.rows:,} rows, {report.users:,} users, {report.products:,} products "
        f"in {report.seconds:.1f} s ({report.rows_per_second:,.0f} rows/s)"
    )
    return 0


def cmd_materialize(args: argparse.Namespace) -> int:
    """Materialize the batch graph (or ``--select``) on the persistent Dagster instance."""
    from ecom_assets.commands.materialize import materialize_batch

    summary = materialize_batch(args.select)
    print(summary.render())
    return 0 if summary.success else 1


def cmd_doctor(args: argparse.Namespace) -> int:
    """Check Java, Spark, the input and lake folders and InfluxDB, and say what to fix."""
    from ecom_assets.commands.doctor import run_checks

    results = run_checks(start_spark=not args.no_spark)
    for result in results:
        print(result.render())
    failed = [r for r in results if r.status == "FAIL"]
    print(f"{len(results) - len(failed)} ok, {len(failed)} to fix")
    return 1 if failed else 0


def _hour(text: str) -> str:
    """An hourly partition key from the command line."""
    from ecom_assets.replay.orchestration.partitions import parse_hour

    try:
        return parse_hour(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _count(text: str) -> int:
    """A whole number >= 0."""
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return int(text)


def _seconds(text: str) -> float:
    """A non-negative number of seconds."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected seconds >= 0, got {text!r}")
    return value


def cmd_replay(args: argparse.Namespace) -> int:
    """Replay hours of November in order on a cadence (the sensor's job, without the daemon)."""
    from ecom_assets.commands.replay import run_replay
    from ecom_assets.replay.orchestration.clock import replay_state_path
    from ecom_assets.replay.orchestration.exclusive import ReplayBusyError
    from ecom_assets.settings import load_settings

    if args.reset:
        state = replay_state_path(load_settings().lake)
        if state.is_file():
            state.unlink()
            print(f"replay state reset ({state}); the next hour fixes a new time shift")
        if args.hours == 0:
            return 0
    try:
        summary = run_replay(args.hours, args.start, args.interval)
    except ReplayBusyError as exc:
        raise CliError(str(exc)) from exc
    if summary.seconds:
        ordered = sorted(summary.seconds)
        print(f"{len(summary.done)} hour(s) replayed ({summary.done[0]} .. {summary.done[-1]}); "
              f"median {ordered[len(ordered) // 2]:.2f} s per hour, max {ordered[-1]:.2f} s")
    if summary.days or summary.failed_days:
        print(f"days rolled up: {', '.join(summary.days) or 'none'}"
              + (f"; roll-up failed: {', '.join(summary.failed_days)}" if summary.failed_days else ""))
    if not summary.success:
        raise CliError(f"hour {summary.failed_hour} failed: {summary.error}")
    return 0


def cmd_spark(args: argparse.Namespace) -> int:
    """Start, stop or show the local Spark Connect server used by the replay."""
    from ecom_assets.lake import Lake
    from ecom_assets.replay.behaviour.warm_up import WARM_UP_HOURS, warm_up_server
    from ecom_assets.resources import spark_server
    from ecom_assets.settings import load_settings

    settings = load_settings()
    run_dir = settings.spark_connect_dir
    port = settings.spark_connect_port
    if args.action == "start":
        was_running = spark_server.status(run_dir, port).running
        try:
            state = spark_server.start(run_dir, port, settings.spark_conf_dir, settings.spark_driver_memory)
        except RuntimeError as exc:
            raise CliError(str(exc)) from exc
        print(state.describe())
        hours = WARM_UP_HOURS if args.warm_up_hours is None else args.warm_up_hours
        if not was_running and hours:
            print(warm_up_server(state.url, settings.lake, hours).describe())
        print(f"use it with: export ECOM_SPARK_REMOTE={state.url}")
        return 0
    state = spark_server.stop(run_dir, port) if args.action == "stop" else spark_server.status(run_dir, port)
    print(state.describe())
    return 0 if args.action == "stop" or state.listening else 1


def cmd_ui(args: argparse.Namespace) -> int:
    """Start the Dagster UI and daemon on 127.0.0.1 (``ECOM_UI_PORT``), after checking the port is free."""
    from ecom_assets.commands.ui import dagster_ui_at, run_ui, ui_port_problem
    from ecom_assets.settings import load_settings

    settings = load_settings()
    problem = ui_port_problem(settings.ui_port)
    if problem and dagster_ui_at(settings.ui_port):
        problem = f"the Dagster UI already runs at http://127.0.0.1:{settings.ui_port}: open it there"
    if problem:
        raise CliError(problem)
    if args.check:
        print(f"port {settings.ui_port} on 127.0.0.1 is free for the Dagster UI")
        return 0
    return run_ui(settings)


def cmd_dashboards(args: argparse.Namespace) -> int:
    """Write the Grafana dashboards and alert rules from code, or check that the committed files are current."""
    from ecom_assets.dashboards.export import GRAFANA_DIR, export, stale

    if args.check:
        outdated = stale()
        if outdated:
            raise CliError(f"out of date in {GRAFANA_DIR}: {', '.join(outdated)}; run `ecom dashboards`")
        print(f"dashboards and alert rules in {GRAFANA_DIR} match the code")
        return 0
    for path in export():
        print(f"wrote {path}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """Build the technical report (HTML and Markdown, with figures) from the lake's materialized assets."""
    from ecom_assets.commands.report import run_report
    from ecom_assets.settings import load_settings

    built = run_report(load_settings(), args.out)
    print(built.describe())
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve the recommendations, similar products and segments over HTTP until interrupted."""
    from ecom_assets.commands.serve import run_serve
    from ecom_assets.settings import load_settings

    run_serve(load_settings(), args.host, args.port, args.refresh)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The ``ecom`` argument parser with its subcommands."""
    parser = argparse.ArgumentParser(prog="ecom", description="E-commerce analytics on the REES46 dataset.")
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate", help="write synthetic 2019-Oct.csv and 2019-Nov.csv")
    gen.add_argument("--out", required=True, type=Path, help="folder to write the two month files into")
    size = gen.add_mutually_exclusive_group()
    size.add_argument("--scale", type=_fraction, help="fraction of the real size (1.0 = 42.4 M + 67.5 M rows)")
    size.add_argument(
        "--rows", type=_positive_int, help=f"total rows over both months (default {DEFAULT_GENERATED_ROWS:,})"
    )
    gen.add_argument("--seed", type=int, default=42, help="random seed (same seed, same files)")
    gen.add_argument("--quiet", action="store_true", help="no progress bar")
    gen.add_argument("--ground-truth", action="store_true",
                     help="also write ground_truth_users.csv (each user's planted customer type)")
    gen.set_defaults(handler=cmd_generate)

    mat = sub.add_parser("materialize", help="materialize the batch asset graph through Dagster")
    mat.add_argument("--select", help="Dagster asset selection, e.g. 'raw_events' or 'raw_events+'")
    mat.set_defaults(handler=cmd_materialize)

    doc = sub.add_parser("doctor", help="check the installation and say what to fix")
    doc.add_argument("--no-spark", action="store_true", help="skip starting a Spark session")
    doc.set_defaults(handler=cmd_doctor)

    rep = sub.add_parser("replay", help="replay hours of November in order (the sensor's runs, without the daemon)")
    rep.add_argument("--hours", type=int, default=24, help="how many hours to replay (default 24)")
    rep.add_argument("--from", dest="start", type=_hour,
                     help="first hour, e.g. 2019-11-16-13:00 (default: after the last replayed hour)")
    rep.add_argument("--interval", type=_seconds, default=10.0, help="seconds between hours (default 10; 0 = flat out)")
    rep.add_argument("--reset", action="store_true", help="forget the replay's time shift before starting")
    rep.set_defaults(handler=cmd_replay)

    uip = sub.add_parser("ui", help="the Dagster UI and daemon (dagster dev) on 127.0.0.1:ECOM_UI_PORT (3000)")
    uip.add_argument("--check", action="store_true", help="only check that the port is free (exit 2 when not)")
    uip.set_defaults(handler=cmd_ui)

    spk = sub.add_parser("spark", help="manage the local Spark Connect server the replay runs on")
    spk.add_argument("action", choices=("start", "stop", "status"))
    spk.add_argument("--warm-up-hours", type=_count, default=None,
                     help="hours of November a newly started server runs through the replay's computations "
                          "before it is used (default 4; 0 = none): its first replayed hours are then as fast "
                          "as the later ones")
    spk.set_defaults(handler=cmd_spark)

    rpt = sub.add_parser("report", help="build the technical report (HTML + Markdown, figures) from the lake")
    rpt.add_argument("--out", type=Path, default=Path("report"), help="folder to write it into (default report/)")
    rpt.set_defaults(handler=cmd_report)

    srv = sub.add_parser("serve", help="the shop's HTTP API: recommendations with reasons, similar products, "
                                       "segments (OpenAPI at /docs)")
    srv.add_argument("--host", help="address to listen on (default ECOM_SERVE_HOST or 127.0.0.1)")
    srv.add_argument("--port", type=int, help="port (default ECOM_SERVE_PORT or 8100)")
    srv.add_argument("--refresh", type=float, default=5.0, help="seconds between checks for newer tables (5)")
    srv.set_defaults(handler=cmd_serve)

    dash = sub.add_parser("dashboards", help="write the Grafana dashboards and alert rules from code (grafana/)")
    dash.add_argument("--check", action="store_true", help="only check that the committed files are current")
    dash.set_defaults(handler=cmd_dashboards)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ecom`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except CliError as exc:
        print(f"ecom {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except (FileNotFoundError, ValueError, PermissionError) as exc:
        print(f"ecom {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"ecom {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
