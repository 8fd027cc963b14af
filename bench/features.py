"""Feature and label marts: dbt on DuckDB against the Polars oracle, on synthetic data.

For each size, the same raw Parquet files (order lines in the UCI layout and as many
clickstream events in the Taobao layout, from `cartcast.synthetic.generate`) go through

- dbt: `dbt build --select +<each of the five marts> +path:models/quarantine
  --exclude test_type:data test_type:unit` into a fresh warehouse: the seed, staging,
  quarantine, intermediate and the five marts, no tests (the same work the oracle does);
- the oracle: `cartcast.testing.oracle.build_customer_marts` and `build_event_marts` in a child
  process, with the five marts then written as Parquet, as dbt writes its marts.

dbt parses the project first (`dbt parse`, timed apart and printed): dbt keeps the parse for
the next command with the same vars and profile, so a user pays it once per change to the
project, not per build; the build timed after it is the one compared (the ratio with the
parse is printed too).

Each side runs in its own process tree; wall time is measured around it and peak memory is
the peak resident set (VmHWM) of every process in the tree, polled, summed. Speed is raw rows
in (order lines + events) per second; the ratio is dbt's speed over the oracle's (above 1:
dbt is faster).

    python bench/features.py --quick        # a small size, under a minute
    python bench/features.py                # 1M and 10M order lines (and as many events)
    python bench/features.py --sizes 1m     # one size
    python bench/features.py --events-100m  # also: the event marts alone on 100M events

Raw files are generated once into bench/out/cache/, keyed by size, seed and the generator's
source. The last line printed is `RESULT features dbt_rows_per_s=<n> ratio=<x>` for the
largest size run.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import psutil

from cartcast.synthetic.generate import LINES_PER_CUSTOMER, generate, relation_expression
from cartcast.warehouse import memory
from cartcast.warehouse.dbt_runner import DbtError, run_dbt
from cartcast.warehouse.paths import PROJECT_DIR, Warehouse

OUT_DIR = PROJECT_DIR / "bench" / "out"
CACHE_DIR = OUT_DIR / "cache"
GENERATOR_SOURCE = PROJECT_DIR / "cartcast" / "synthetic" / "generate.py"

# The same "now" as the tests: nothing in the synthetic data is in the future.
NOW = "2026-01-01 00:00:00"
SEED = 0
SIZES = {"quick": 25_000, "1m": 1_000_000, "10m": 10_000_000}
DEFAULT_SIZES = ["1m", "10m"]
EVENTS_100M = 100_000_000

CUSTOMER_MARTS = ["customer_features", "customer_labels", "customer_sequences"]
EVENT_MARTS = ["user_event_features", "user_event_labels"]
MARTS = CUSTOMER_MARTS + EVENT_MARTS
# The five marts the oracle computes, with everything they read, and the quarantine: the
# other marts (product text embeddings, customer embeddings, which need a trained encoder,
# recommendation histories) have no oracle counterpart and are left out of the comparison.
DBT_BUILD = [
    "build",
    "--select", *(f"+{mart}" for mart in MARTS), "+path:models/quarantine",
    "--exclude", "test_type:data", "test_type:unit",
]  # fmt: skip
DBT_EVENTS_ONLY = [
    "build",
    "--select", "+user_event_features", "+user_event_labels",
    "--exclude", "test_type:data", "test_type:unit",
]  # fmt: skip
POLL_SECONDS = 0.1
GIB = 1024**3


# ---------------------------------------------------------------------------------------------
# Measuring a process tree
# ---------------------------------------------------------------------------------------------


def _high_water_mark(proc: psutil.Process) -> int:
    """Peak resident bytes of one process (VmHWM), or its current RSS where unavailable."""
    try:
        with open(f"/proc/{proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return proc.memory_info().rss
    except psutil.Error:
        return 0


class TreePeak:
    """Polls the descendants of this process; peak = sum over them of each one's peak RSS."""

    def __init__(self) -> None:
        self._peaks: dict[tuple[int, float], int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            for proc in me.children(recursive=True):
                try:
                    key = (proc.pid, proc.create_time())
                except psutil.Error:
                    continue
                self._peaks[key] = max(self._peaks.get(key, 0), _high_water_mark(proc))
            self._stop.wait(POLL_SECONDS)

    def __enter__(self) -> TreePeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def bytes(self) -> int:
        return sum(self._peaks.values())


def measured(fn: Callable[[], Any]) -> tuple[Any, float, int]:
    """(result, wall seconds, peak bytes of the child process tree) of fn()."""
    with TreePeak() as peak:
        start = time.perf_counter()
        result = fn()
        wall = time.perf_counter() - start
    return result, wall, peak.bytes


# ---------------------------------------------------------------------------------------------
# Raw files, generated once per size and seed
# ---------------------------------------------------------------------------------------------


def raw_files(order_lines: int, events: int, seed: int) -> dict[str, Path]:
    """Parquet raw files with about `order_lines` lines and exactly `events` events."""
    customers = max(1, round(order_lines / LINES_PER_CUSTOMER))
    version = hashlib.sha256(GENERATOR_SOURCE.read_bytes()).hexdigest()[:10]
    folder = CACHE_DIR / f"customers{customers}_events{events}_seed{seed}_{version}"
    done = folder / "done.json"
    if done.exists():
        return {k: Path(v) for k, v in json.loads(done.read_text()).items()}
    if folder.exists():
        shutil.rmtree(folder)
    started = time.perf_counter()
    files = generate(folder, customers=customers, seed=seed, file_format="parquet", events=events)
    done.write_text(json.dumps({k: str(v) for k, v in files.items()}))
    print(f"  generated {folder.name} in {time.perf_counter() - started:.1f}s", flush=True)
    return files


def parquet_rows(path: Path) -> int:
    return duckdb.sql(f"select count(*) from read_parquet('{path}')").fetchone()[0]


# ---------------------------------------------------------------------------------------------
# The two sides
# ---------------------------------------------------------------------------------------------


def dbt_side(
    files: dict[str, Path],
    work: Path,
    args: list[str],
    marts: list[str],
    memory_limit: str | None,
) -> dict:
    warehouse = Warehouse.under(work / "warehouse")
    dbt_vars = {
        "cartcast_now": NOW,
        "online_retail_invoice_lines": relation_expression(files["online_retail"]),
        "taobao_user_behavior": relation_expression(files["taobao"]),
    }
    # the profile's cap (cartcast.warehouse.memory): the option's, else the project's default
    extra_env = {memory.ENV_LIMIT: memory_limit} if memory_limit else None

    def run(dbt_args: list[str]) -> str | None:
        try:
            run_dbt(dbt_args, warehouse, dbt_vars, work_dir=work / "dbt", extra_env=extra_env)
        except DbtError as err:
            return str(err)
        return None

    # dbt parses the project once and keeps the result (target/partial_parse.msgpack) for the
    # next command with the same vars and profile, as every `dbt build` after a user's first
    # does. The parse is timed apart, and the build after it is the one compared.
    parse_error, parse_wall, _ = measured(lambda: run(["parse"]))
    if parse_error:
        raise RuntimeError(f"dbt parse failed:\n{parse_error}")
    error, wall, peak = measured(lambda: run(args))
    rows = {}
    if warehouse.duckdb_path.exists():
        con = duckdb.connect(str(warehouse.duckdb_path), read_only=True)
        try:
            for mart in marts:
                try:
                    rows[mart] = con.sql(f"select count(*) from marts.{mart}").fetchone()[0]
                except duckdb.Error:
                    rows[mart] = None
        finally:
            con.close()
    run_results = work / "dbt" / "target" / "run_results.json"
    results = json.loads(run_results.read_text())["results"] if run_results.exists() else []
    models = sorted(
        (
            (r["unique_id"].split(".")[-1], r["execution_time"], r["status"], r.get("message"))
            for r in results
        ),
        key=lambda item: -item[1],
    )
    return {
        "wall": wall,
        "parse": parse_wall,
        "peak": peak,
        "rows": rows,
        "models": models,
        "error": error,
        "phases": _phases(work / "dbt", wall),
    }


def _phases(dbt_dir: Path, wall: float) -> dict[str, float]:
    """Where the build's wall time went, from run_results.json: the nodes (the first node's
    start to the last one's end, hooks included), the rest of the wall time outside them (the
    process, dbt's imports, the manifest, the first connection, the exit), and the nodes' own
    times added up (more than their span when two threads overlap)."""
    run_results = dbt_dir / "target" / "run_results.json"
    if not run_results.exists():
        return {}
    results = json.loads(run_results.read_text())
    spans = [
        (t["started_at"], t["completed_at"])
        for r in results["results"]
        for t in r["timing"]
        if t["name"] == "execute" and t.get("started_at")
    ]
    if not spans:
        return {}
    first = min(datetime.fromisoformat(a.rstrip("Z")) for a, _ in spans)
    last = max(datetime.fromisoformat(b.rstrip("Z")) for _, b in spans)
    nodes = (last - first).total_seconds()
    return {
        "nodes": nodes,
        "outside_nodes": wall - nodes,
        "node_seconds": sum(r["execution_time"] for r in results["results"]),
    }


def _print_slowest(dbt: dict) -> None:
    slowest = ", ".join(f"{m} {t:.1f}s" for m, t, _, _ in dbt["models"][:6])
    print(f"  slowest dbt nodes: {slowest}", flush=True)


def _clean_up(work: Path, keep: bool) -> None:
    if keep:
        print(f"  kept {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)


def _report_dbt(dbt: dict, raw_rows: int) -> None:
    if dbt["error"]:
        print(f"  dbt     FAILED after {dbt['wall']:.1f}s, peak_rss={_gib(dbt['peak'])}")
        for name, seconds, status, message in dbt["models"]:
            if status not in ("success", "pass"):
                first = (message or "").strip().splitlines()[:2]
                print(f"    {name}: {status} after {seconds:.1f}s: {' '.join(first)[:200]}")
    else:
        print(_line("dbt", dbt["wall"], raw_rows, dbt["peak"]), flush=True)
    phases = dbt.get("phases") or {}
    if phases:
        print(
            f"  dbt     parse (once, kept for the next build)={dbt['parse']:.1f}s; the build: "
            f"nodes {phases['nodes']:.1f}s (their own times add to {phases['node_seconds']:.1f}s "
            f"on 2 threads), outside the nodes {phases['outside_nodes']:.1f}s (process start, "
            "imports, manifest, first connection, exit)",
            flush=True,
        )


def oracle_side(files: dict[str, Path], work: Path) -> dict:
    out = work / "oracle"
    cmd = [
        sys.executable, str(Path(__file__).resolve()), "--oracle-child",
        str(files["online_retail"]), str(files["taobao"]), str(out),
    ]  # fmt: skip
    proc, wall, peak = measured(
        lambda: subprocess.run(cmd, capture_output=True, text=True, check=False)
    )
    if proc.returncode != 0:
        raise RuntimeError(f"oracle failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"wall": wall, "peak": peak, **report}


def oracle_child(lines: str, events: str, out: str) -> None:
    """Runs in its own process: both oracle builds, marts written as Parquet."""
    import resource

    from cartcast.testing.oracle import build_customer_marts, build_event_marts

    now = datetime.fromisoformat(NOW)
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    seconds, rows = {}, {}
    for name, build, source, marts in (
        ("customer", build_customer_marts, lines, CUSTOMER_MARTS),
        ("events", build_event_marts, events, EVENT_MARTS),
    ):
        started = time.perf_counter()
        built = build(source, now=now)
        for mart in marts:
            built[mart].write_parquet(out_dir / f"{mart}.parquet")
            rows[mart] = built[mart].height
        del built
        seconds[name] = time.perf_counter() - started
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"rows": rows, "seconds": seconds, "self_maxrss": maxrss}))


# ---------------------------------------------------------------------------------------------
# Reporting
# ---------------------------------------------------------------------------------------------


def _gib(n: int) -> str:
    return f"{n / GIB:.2f} GiB"


def _line(label: str, wall: float, raw_rows: int, peak: int) -> str:
    return (
        f"  {label:<7} wall={wall:8.1f}s  rows/s={raw_rows / wall:>12,.0f}  peak_rss={_gib(peak)}"
    )


def bench_size(name: str, order_lines: int, opts: argparse.Namespace) -> dict:
    events = order_lines
    files = raw_files(order_lines, events, opts.seed)
    n_lines, n_events = parquet_rows(files["online_retail"]), parquet_rows(files["taobao"])
    raw_rows = n_lines + n_events
    print(f"size={name}: order_lines={n_lines:,} events={n_events:,} raw_rows={raw_rows:,}")
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"run-{name}-", dir=OUT_DIR))
    args = DBT_BUILD + opts.dbt_exclude
    try:
        dbt = dbt_side(files, work, args, MARTS, opts.memory_limit)
        _report_dbt(dbt, raw_rows)
        try:
            oracle = oracle_side(files, work)
        except (RuntimeError, ValueError) as err:
            print(f"  polars  failed: {err}")
            oracle = None
        ratio = float("nan")
        if oracle:
            print(_line("polars", oracle["wall"], raw_rows, oracle["peak"]))
            parts = ", ".join(f"{k} {v:.1f}s" for k, v in oracle["seconds"].items())
            print(f"  polars  parts: {parts}; own max RSS {_gib(oracle['self_maxrss'])}")
            if not dbt["error"]:
                ratio = oracle["wall"] / dbt["wall"]
                cold = oracle["wall"] / (dbt["wall"] + dbt["parse"])
                print(f"  ratio dbt/polars speed = {ratio:.2f} ({cold:.2f} with the parse)")
            built = {k: v for k, v in dbt["rows"].items() if v is not None}
            if built:
                same = all(oracle["rows"][k] == v for k, v in built.items())
                print(f"  mart rows dbt == polars: {same}  {built}")
            if not built or not same:
                print(f"  polars mart rows: {oracle['rows']}")
        else:
            print(f"  mart rows (dbt): {dbt['rows']}")
        _print_slowest(dbt)
    finally:
        _clean_up(work, opts.keep)
    if dbt["error"]:
        return {"dbt_rows_per_s": 0.0, "ratio": ratio, "failed": True}
    return {"dbt_rows_per_s": raw_rows / dbt["wall"], "ratio": ratio, "failed": False}


def bench_events_100m(opts: argparse.Namespace) -> dict:
    # One customer: the order file is a token; the event path alone is built.
    files = raw_files(LINES_PER_CUSTOMER, EVENTS_100M, opts.seed)
    n_events = parquet_rows(files["taobao"])
    print(f"events-100m: events={n_events:,} (dbt event marts only)")
    print(f"dbt: {' '.join(DBT_EVENTS_ONLY)}")
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="run-events-100m-", dir=OUT_DIR))
    try:
        dbt = dbt_side(files, work, DBT_EVENTS_ONLY, EVENT_MARTS, opts.memory_limit)
        _report_dbt(dbt, n_events)
        print(f"  mart rows: {dbt['rows']}")
        _print_slowest(dbt)
    finally:
        _clean_up(work, opts.keep)
    rate = 0.0 if dbt["error"] else n_events / dbt["wall"]
    return {"dbt_rows_per_s": rate, "ratio": float("nan"), "failed": bool(dbt["error"])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one small size, under a minute")
    parser.add_argument(
        "--sizes",
        default=",".join(DEFAULT_SIZES),
        help=f"comma-separated: {', '.join(SIZES)} or a number of order lines",
    )
    parser.add_argument("--events-100m", action="store_true", help="also 100M events (long)")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument(
        "--memory-limit",
        help="DuckDB memory_limit for the dbt builds, e.g. 12GB or 40%% (default: the profile's, "
        f"{memory.DEFAULT_SHARE * 100:.0f}%% of RAM)",
    )
    parser.add_argument(
        "--dbt-exclude",
        default="",
        help="comma-separated models to leave out of the dbt build (e.g. customer_sequences)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the warehouses built")
    parser.add_argument("--oracle-child", nargs=3, help=argparse.SUPPRESS)
    opts = parser.parse_args(argv)

    if opts.oracle_child:
        oracle_child(*opts.oracle_child)
        return 0

    opts.dbt_exclude = [m.strip() for m in opts.dbt_exclude.split(",") if m.strip()]
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "False")
    names = ["quick"] if opts.quick else [s.strip() for s in opts.sizes.split(",") if s.strip()]
    print(f"features benchmark: {psutil.cpu_count()} cores, {_gib(psutil.virtual_memory().total)}")
    limit = memory.memory_limit(opts.memory_limit)
    print(f"dbt: {' '.join(DBT_BUILD + opts.dbt_exclude)}; memory_limit {limit}")
    results = []
    for name in names:
        lines = SIZES[name] if name in SIZES else int(name.replace("_", ""))
        results.append(bench_size(name, lines, opts))
    if opts.events_100m:
        results.append(bench_events_100m(opts))
    if not results:
        parser.error("nothing to run")
    # The figure: the last measurement whose dbt build succeeded (with a ratio, if any).
    succeeded = [r for r in results if not r["failed"]]
    with_ratio = [r for r in succeeded if r["ratio"] == r["ratio"]]
    result = (with_ratio or succeeded or results)[-1]
    print(
        f"RESULT features dbt_rows_per_s={result['dbt_rows_per_s']:.0f} ratio={result['ratio']:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
