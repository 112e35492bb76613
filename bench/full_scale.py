"""Benchmark: the README's main command at a given size inside a real memory limit, per asset.

What a user with the real files runs (`ecom materialize`, then `ecom replay` of 24 hours), with the
default settings, as a child process placed in a cgroup-v1 memory group limited to ``--memory-limit``
(default 16 GiB, the specification's machine). The parent samples the group's resident memory
(``total_rss`` of ``memory.stat``) every second and reads the child's progress lines to know which
asset is running; Spark's event log (an observation, not a setting that changes the work) gives the
bytes spilled to disk. Per asset: wall time, rows written, peak resident memory of the whole group,
bytes spilled; for the run: total time, peak, whether the kernel's OOM killer fired, every check.
The table goes to ``docs/benchmarks.md`` between ``full-<size>`` markers.

    python bench/full_scale.py --scale 1 --memory-limit 16G          # the real files' 110 M rows
    python bench/full_scale.py --rows 10000000 --replay-hours 0      # the batch graph only
    python bench/full_scale.py --scale 1 --replay-hours 0 --resume   # go on after a run cut short

A run longer than a session can be cut (``--time-limit`` or SIGTERM) and resumed: each part saves its
steps in ``part-N.json`` in the run folder; ``--resume`` keeps the lake and the Dagster instance,
materializes only the assets no earlier part finished, and the table joins the parts (each asset is
measured whole in one part; the total is the sum of the parts).

Needs root (it creates the memory group) and nothing else running.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from spark_event_log import event_files, event_lines  # noqa: E402  (bench/ is on the path just above)

CGROUP_ROOT = Path("/sys/fs/cgroup/memory")
PROGRESS = re.compile(r"^\[\s*[\d:]+\] (?P<step>[a-z_]+) \(\d+/\d+\): (?P<what>started|done in|FAILED in)")
CHECK = re.compile(r"^\s+check (?P<name>\S+): (?P<outcome>passed|FAILED|warning)")
UNITS = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


def parse_size(text: str) -> int:
    """``16G`` -> bytes."""
    match = re.fullmatch(r"(\d+)([KMG])?", text.strip().upper())
    if not match:
        raise argparse.ArgumentTypeError(f"expected a size like 16G, got {text!r}")
    return int(match.group(1)) * UNITS.get(match.group(2) or "", 1)


@dataclass
class MemoryGroup:
    """A cgroup-v1 memory group: created with a limit, read while the run goes, removed at the end."""

    path: Path
    limit: int

    @staticmethod
    def create(limit: int) -> MemoryGroup:
        """A new group under the memory controller with ``limit`` bytes (swap not counted: none is used)."""
        if not CGROUP_ROOT.is_dir():
            raise SystemExit(f"no cgroup-v1 memory controller at {CGROUP_ROOT}")
        path = CGROUP_ROOT / f"ecom-full-scale-{os.getpid()}"
        path.mkdir()
        (path / "memory.limit_in_bytes").write_text(str(limit))
        return MemoryGroup(path, limit)

    def add(self, pid: int) -> None:
        """Put a process (and so everything it starts later) in the group."""
        (self.path / "cgroup.procs").write_text(str(pid))

    def _field(self, file: str, name: str) -> int:
        """One ``name value`` line of a group's file (0 when the kernel does not write it)."""
        for line in (self.path / file).read_text().splitlines():
            key, _, value = line.partition(" ")
            if key == name:
                return int(value)
        return 0

    def rss(self) -> int:
        """Resident memory of every process of the group (``total_rss``: page cache excluded)."""
        return self._field("memory.stat", "total_rss")

    def oom_kills(self) -> int:
        """How many processes the OOM killer ended in this group."""
        return self._field("memory.oom_control", "oom_kill")

    def max_usage(self) -> int:
        """The group's peak usage as the kernel counts it (resident memory plus page cache)."""
        return int((self.path / "memory.max_usage_in_bytes").read_text())

    def end_all(self, grace_s: float = 30.0) -> None:
        """Stop every process of the group (SIGTERM, then SIGKILL after ``grace_s``): a run cut short."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            pids = [int(p) for p in (self.path / "cgroup.procs").read_text().split()]
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.time() + grace_s
            while time.time() < deadline and (self.path / "cgroup.procs").read_text().strip():
                time.sleep(0.5)

    def remove(self) -> None:
        """Remove the group once its processes have ended."""
        try:
            self.path.rmdir()
        except OSError:
            pass


@dataclass
class StepStats:
    """What one asset's step used."""

    started: float
    ended: float | None = None
    peak_rss: int = 0
    outcome: str = "running"


@dataclass
class Watch:
    """The steps seen in the child's progress lines and the memory peaks sampled while they ran."""

    group: MemoryGroup
    steps: dict[str, StepStats] = field(default_factory=dict)
    checks: dict[str, str] = field(default_factory=dict)
    peak_rss: int = 0
    replay_peak_rss: int = 0
    in_replay: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def line(self, text: str) -> None:
        """Follow the child's output: steps starting and ending, checks, the replay starting."""
        now = time.time()
        with self.lock:
            if match := PROGRESS.match(text):
                step, what = match.group("step"), match.group("what")
                if what == "started":
                    self.steps[step] = StepStats(now)
                elif step in self.steps:
                    self.steps[step].ended = now
                    self.steps[step].outcome = "ok" if what == "done in" else "FAILED"
            elif match := CHECK.match(text):
                self.checks[match.group("name")] = match.group("outcome")
            elif text.startswith("hour 2019-"):
                self.in_replay = True

    def sample(self) -> None:
        """One memory sample, credited to every step running now."""
        rss = self.group.rss()
        with self.lock:
            self.peak_rss = max(self.peak_rss, rss)
            if self.in_replay:
                self.replay_peak_rss = max(self.replay_peak_rss, rss)
            for stats in self.steps.values():
                if stats.ended is None:
                    stats.peak_rss = max(stats.peak_rss, rss)


def spilled_per_window(event_dir: Path) -> list[tuple[float, int]]:
    """(task end time, bytes spilled to disk) of every task in Spark's event logs under ``event_dir``
    (plain or zstd-compressed: Spark 4 compresses them unless told not to)."""
    tasks = []
    for log in event_files(event_dir):
        for line in event_lines(log):
            if '"SparkListenerTaskEnd"' not in line:
                continue
            event = json.loads(line)
            metrics = event.get("Task Metrics") or {}
            spilled = int(metrics.get("Disk Bytes Spilled", 0) or 0)
            if spilled:
                tasks.append((event["Task Info"]["Finish Time"] / 1000.0, spilled))
    return tasks


def rows_written(dagster_home: Path) -> dict[str, int]:
    """Each asset's last ``dagster/row_count`` in the run's instance."""
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    import dagster as dg

    with dg.DagsterInstance.get() as instance:
        out = {}
        for key in instance.get_asset_keys():
            event = instance.get_latest_materialization_event(key)
            if event and event.asset_materialization:
                count = event.asset_materialization.metadata.get("dagster/row_count")
                if count is not None:
                    out[key.to_user_string()] = int(count.value)
        return out


def load_parts(run: Path) -> list[dict]:
    """The parts an earlier run of ``run`` saved (``part-N.json``), in order; none means nothing to resume."""
    parts = sorted(run.glob("part-*.json"), key=lambda p: int(p.stem.split("-")[1]))
    if not parts:
        raise SystemExit(f"--resume: no part-N.json in {run}: nothing to resume")
    return [json.loads(p.read_text(encoding="utf-8")) for p in parts]


def remaining_selection(finished: set[str]) -> str:
    """A Dagster selection of every batch asset but those computed by the ``finished`` steps."""
    from ecom_assets.definitions import BATCH_ASSETS

    done = [key.to_user_string() for d in BATCH_ASSETS if d.node_def.name in finished for key in d.keys]
    return "not (" + " or ".join(f"key:{key}" for key in sorted(done)) + ")"


def commit_of(repo: Path) -> str:
    """The repository's short commit (``?`` outside a checkout)."""
    done = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return done.stdout.strip() or "?"


def checks_recorded(dagster_home: Path) -> dict[str, str]:
    """Every check's latest outcome in the run's instance (all parts: a part cut short prints none)."""
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    import dagster as dg

    outcomes: dict[str, tuple[float, str]] = {}
    with dg.DagsterInstance.get() as instance:
        for run in instance.get_runs():
            for record in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION):
                evaluation = record.dagster_event.event_specific_data
                outcome = "passed" if evaluation.passed else (
                    "warning" if evaluation.severity == dg.AssetCheckSeverity.WARN else "FAILED")
                name = f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"  # as ecom materialize prints
                previous = outcomes.get(name)
                if previous is None or previous[0] <= record.timestamp:
                    outcomes[name] = (record.timestamp, outcome)
    return {name: outcome for name, (_, outcome) in outcomes.items()}


def gib(value: int) -> str:
    """Bytes as GiB with two decimals."""
    return f"{value / (1 << 30):.2f}"


def main() -> None:
    """Generate (once), run the main command in the memory group, write the per-asset table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--rows", type=int)
    size.add_argument("--scale", type=float, help="a share of the real files' size (1: 110 M rows)")
    parser.add_argument("--memory-limit", type=parse_size, default=parse_size("16G"))
    parser.add_argument("--replay-hours", type=int, default=24)
    parser.add_argument("--work-dir", type=Path, default=REPO / "bench" / "results")
    parser.add_argument("--time-limit", type=float, default=0.0,
                        help="minutes after which the run is stopped and the table written as a partial run "
                             "(0: none); SIGTERM to this script does the same")
    parser.add_argument("--resume", action="store_true",
                        help="keep the run folder of a run cut short and materialize what it did not finish")
    args = parser.parse_args()
    from ecom_assets.ingest.generator import generate_dataset, rows_for_scale

    rows = rows_for_scale(args.scale) if args.scale else (args.rows or 10_000_000)
    name = f"scale-{args.scale:g}" if args.scale else str(rows)
    invocation = (f"--scale {args.scale:g}" if args.scale else f"--rows {rows}") + \
        f" --memory-limit {args.memory_limit >> 30}G --replay-hours {args.replay_hours}"
    data = args.work_dir / f"data-{name}"
    if not (data / "2019-Nov.csv").is_file():
        print(f"generating {rows:,} rows into {data}", flush=True)
        generate_dataset(data, rows, seed=42, progress=False)
    run = args.work_dir / f"full-{name}"
    earlier = load_parts(run) if args.resume else []
    if not args.resume:
        subprocess.run(["rm", "-rf", str(run)], check=True)
    part = len(earlier) + 1
    events = run / ("spark-events" if part == 1 else f"spark-events-{part}")
    events.mkdir(parents=True)
    env = dict(os.environ, ECOM_DATA_DIR=str(data), ECOM_LAKE_DIR=str(run / "lake"),
               DAGSTER_HOME=str(run / "dagster_home"), ECOM_RUN_DIR=str(run / "run"), PYTHONUNBUFFERED="1",
               ECOM_SPARK_CONF=f"spark.eventLog.enabled=true,spark.eventLog.dir=file://{events}")
    ecom = str(Path(sys.executable).parent / "ecom")
    finished = {row["step"] for p in earlier for row in p["rows"] if row["outcome"] == "ok"}
    command = f"{ecom} materialize" + (f" --select '{remaining_selection(finished)}'" if finished else "")
    if args.replay_hours:
        command += f" && {ecom} replay --reset --from 2019-11-01-00:00 --hours {args.replay_hours} --interval 0"

    group = MemoryGroup.create(args.memory_limit)
    watch = Watch(group)
    log = open(run / ("output.log" if part == 1 else f"output-{part}.log"), "w", encoding="utf-8")
    began = time.time()
    # The child waits on a pipe until it is in the group, so not one byte it maps is counted outside.
    gate_read, gate_write = os.pipe()
    child = subprocess.Popen(["bash", "-c", f"read -r _ <&{gate_read}; {command}"],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             pass_fds=(gate_read,), cwd=REPO)
    os.close(gate_read)
    group.add(child.pid)
    os.write(gate_write, b"go\n")
    os.close(gate_write)
    commit = commit_of(REPO)  # the code the run started with (later commits do not change a running process)
    stop = threading.Event()

    def sampler() -> None:
        while not stop.wait(1.0):
            watch.sample()

    thread = threading.Thread(target=sampler, daemon=True)
    thread.start()
    cut = threading.Event()

    def cut_short(*_: object) -> None:
        if not cut.is_set():
            cut.set()
            threading.Thread(target=group.end_all, daemon=True).start()

    signal.signal(signal.SIGTERM, cut_short)
    if args.time_limit:
        timer = threading.Timer(args.time_limit * 60, cut_short)
        timer.daemon = True  # never keeps the script alive once the run ended
        timer.start()
    assert child.stdout is not None
    for text in child.stdout:
        log.write(f"{time.time() - began:8.1f} {text}")
        log.flush()
        watch.line(text.rstrip("\n"))
    code = child.wait()
    stop.set()
    thread.join()
    total = time.time() - began
    oom = group.oom_kills()
    max_usage = group.max_usage()
    group.remove()

    spills = spilled_per_window(events)
    written = rows_written(run / "dagster_home")
    rows_of_part = []
    for step, stats in watch.steps.items():
        end = stats.ended or began + total
        spilled = sum(b for t, b in spills if stats.started <= t <= end)
        outcome = "cut short" if cut.is_set() and stats.ended is None else stats.outcome
        if outcome == "running" and code == 0:  # the run succeeded before the step's own end line was printed
            outcome = "ok"
        rows_of_part.append({"step": step, "seconds": end - stats.started, "rows": written.get(step, 0),
                             "peak_rss": stats.peak_rss, "spilled": spilled, "outcome": outcome})
    this = {"part": part, "rows": rows_of_part, "total": total, "peak_rss": watch.peak_rss, "max_usage": max_usage,
            "oom": oom, "checks": watch.checks, "code": code, "cut": cut.is_set(), "commit": commit}
    (run / f"part-{part}.json").write_text(json.dumps(this, indent=1), encoding="utf-8")
    parts = [*earlier, this]
    lines = [f"| `{r['step']}` | {r['seconds']:,.0f} | {r['rows']:,} | {gib(r['peak_rss'])} | "
             f"{r['spilled'] / (1 << 20):,.0f} | {r['outcome']} |"
             for p in parts for r in p["rows"] if r["outcome"] != "cut short" or p is this]
    checks = {**{name: outcome for p in parts for name, outcome in p["checks"].items()},
              **checks_recorded(run / "dagster_home")}
    failed_checks = sorted(n for n, o in checks.items() if o != "passed")
    total = sum(p["total"] for p in parts)
    peak_rss = max(p["peak_rss"] for p in parts)
    max_usage = max(p["max_usage"] for p in parts)
    oom = sum(p["oom"] for p in parts)
    cut_note = ("**A partial run: stopped on purpose (time limit or SIGTERM) before the command finished; the "
                "last step's row is cut short.** " if cut.is_set() else "")
    if len(parts) > 1:
        cut_note += (f"In {len(parts)} parts (cut, then `--resume`: each asset measured whole in one part, the "
                     f"total is their sum; commits {', '.join(sorted({p.get('commit', '?') for p in parts}))}). ")
    section = f"""
## The main command at {rows:,} rows in a {args.memory_limit >> 30} GiB memory group

`python bench/full_scale.py {invocation}`, measured {time.strftime('%Y-%m-%d')} on {platform.machine()},
{os.cpu_count()} cores, generated data, default settings (`spark_conf/`; Spark's event log on to count
spills): `ecom materialize`{f', then `ecom replay` of {args.replay_hours} hours' if args.replay_hours else ''},
inside a cgroup-v1 memory group of {args.memory_limit >> 30} GiB. {cut_note}Exit code {code}; {total / 60:,.1f} min in all;
peak resident memory of the group {gib(peak_rss)} GiB (kernel's peak usage with page cache
{gib(max_usage)} GiB){f', during the replay {gib(watch.replay_peak_rss)} GiB' if args.replay_hours else ''};
OOM kills: {oom}; {len(checks)} checks, {len(failed_checks)} not passed{': ' + ', '.join(failed_checks) if failed_checks else ''}.

| asset | seconds | rows written | peak resident memory of the group (GiB) | spilled to disk (MiB) | outcome |
|---|---:|---:|---:|---:|---|
{chr(10).join(lines)}
"""
    from ingest_vs_duckdb import write_results

    # Sections are named by rows at every size, so bench/growth_plot.py reads a --scale run like the others.
    write_results(section, f"<!-- full-{rows}:start -->", f"<!-- full-{rows}:end -->")
    print(section)
    sys.exit(code)


if __name__ == "__main__":
    main()
