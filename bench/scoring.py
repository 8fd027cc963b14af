"""Batch scoring throughput: the warehouse through ONNX Runtime and back, against pure ONNX
Runtime inference and torch eager on the same model and the same batches.

Data: N synthetic customers with the real `marts.customer_features` columns and types (from
the dbt contract, as in bench/materialize.py: random values, 5% nulls, one snapshot), in a
DuckDB file under a temporary folder as the table `marts.customer_features`.

Model: made the way `cartcast train` makes one: preprocessing fitted on synthetic rows
(`cartcast.training.preprocess.fit`), the churn_90d MLP (`cartcast.training.nets`, customer
features only, no sequence) trained for one epoch on a synthetic label (speed does not depend
on the weights), exported with `cartcast.training.export.export_torch` to one ONNX file,
registered as the champion
`churn_90d` in each warehouse's `ml.model_registry` (`cartcast.registry.versions.register`).

Measured, in one run:

- end to end: `scoring.batch.score(warehouse, "churn_90d", as_of=..., explain="none")` over
  every row (DuckDB read -> Arrow batches -> feeds -> ONNX Runtime -> ranked, atomic write
  of `predictions.churn_90d`, streamed), in a fresh process per size; rows/s and the peak
  resident set of that process (`VmHWM`, read by the process itself when scoring is done;
  its resident set after imports, before scoring, is printed beside it). `explain="none"`
  because the reasons are a separate cost, many model calls per row: score()'s default
  (`explain="latest"`) is measured on its own on 100,000 rows (20,000 with `--quick`;
  `--explain-rows N` to choose, 0 to skip it);
- pure ONNX Runtime: the same query read into the same batches, every feed built
  (`scoring.model_inputs.feed`) before the clock starts; only `InferenceSession.run` timed;
- torch eager: the same trained module (`ScoreHead`), `torch.no_grad()`, the same batches
  as tensors (the raw numbers as one float32 matrix and the country codes, built before the
  clock starts: the module's own inputs; ONNX Runtime does that concat and the string lookup
  inside its graph, so this favours torch).

Inference is measured on the first size's table (1M rows; its rate does not depend on the
table size), median of `--repeats` passes after one warm-up batch. Ratios printed: end to
end / pure ONNX Runtime (goal >= 0.5), ONNX Runtime / torch eager (goal >= 1.3), peak memory
of the largest size / the smallest (goal about 1). CUDAExecutionProvider is measured too
when this onnxruntime has it.

    .venv/bin/python bench/scoring.py                 # 1M and 10M rows
    .venv/bin/python bench/scoring.py --quick         # 100k rows
    .venv/bin/python bench/scoring.py --sizes 1m --batch-sweep   # + batch sizes 4k..256k
    .venv/bin/python bench/scoring.py --profile       # + where the time goes

`--batch-sweep`: end-to-end rows/s (and pure ONNX Runtime rows/s) at 4k, 16k, 64k and 256k
rows per batch on 1M rows, each end-to-end run in a fresh process. `--profile`: score() run
on the first size with its stages one after the other (score() overlaps them), a clock
around each step: the reading (`read_batches`), the input checks (`check_schema`,
`check_scores`), `feed`, `ScoringModel.score`, the ranked insert (split into the window
and the write as the same rows split when ranked alone and written alone) and the commit.
`--setting` applies a DuckDB setting to every timed run. The last line is `RESULT scoring
e2e_rows_per_s=<largest size> ort_rows_per_s=... torch_rows_per_s=... e2e_vs_ort=...
ort_vs_torch=... peak_mb_<size>=...`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import numpy as np

# bench/ for its sibling scripts, behind the project root: this file's name would otherwise
# hide the `scoring` package.
BENCH = Path(__file__).resolve().parent
sys.path[:] = [str(BENCH.parent), str(BENCH)] + [p for p in sys.path if p != str(BENCH)]

MODEL = "churn_90d"
AS_OF = datetime(2011, 12, 5)  # bench/materialize.py's snapshot
SIZES = {"100k": 100_000, "1m": 1_000_000, "10m": 10_000_000}
SWEEP = (4_096, 16_384, 65_536, 262_144)
CHUNK = 1_000_000  # rows generated and inserted at a time
TRAIN_ROWS = 50_000
GOAL_E2E, GOAL_TORCH = 0.5, 1.3
EXPLAIN_ROWS = 100_000  # --quick: 20,000; the reasons' rate does not depend on the table size


def label(rows: int) -> str:
    for name, n in SIZES.items():
        if n == rows:
            return name
    return str(rows)


def parse_size(text: str) -> int:
    return SIZES.get(text.lower()) or int(text.replace("_", ""))


# ---- the model, made as training makes it ---------------------------------------------


def build_model(folder: Path, seed: int) -> Path:
    """Fit preprocessing, train the MLP briefly, export one ONNX file; the torch module's
    weights are saved beside it for the torch eager measurement."""
    import torch
    from materialize import VIEW, synthetic_mart

    from cartcast.catalog import get_spec
    from cartcast.training import export
    from cartcast.training import preprocess as pp
    from cartcast.training.fit import TorchConfig, make_inputs, train_torch

    # customer features only: the synthetic mart has no product sequence to fit
    spec = dataclasses.replace(get_spec(MODEL), sequence=None)
    rng = np.random.default_rng(seed + 1)
    frame = synthetic_mart(VIEW, TRAIN_ROWS, rng).to_pandas()
    # Something to learn: no order in 90 days is likelier when the last one is long ago.
    recency = frame["recency_days"].fillna(50.0).to_numpy()
    frame[spec.label_column] = (recency / 100 + rng.random(len(frame)) > 1.0).astype(int)
    train, valid = frame.iloc[:-5_000], frame.iloc[-5_000:]
    params = pp.fit(spec, train)
    config = TorchConfig(epochs=1, seed=seed, dropout=0.2)
    head, _ = train_torch(spec, params, train, valid, config)
    metadata = {
        "model_name": MODEL,
        "version": "1",
        "task": spec.task,
        "feature_service": spec.feature_service,
        "label": spec.label,
        "inputs": export.input_signature(spec, params, sequence=False),
        "output": "score",
        "preprocessing": params.to_json(),
        "family": "torch",
        "candidate": "torch mlp",
    }
    example = make_inputs(valid, spec, params, use_sequence=False)
    model = export.export_torch(head, spec, params, example, metadata)
    path = export.save(model, folder / "model.onnx")
    torch.save(
        {"state": head.state_dict(), "params": params.to_json(), "hidden": config.hidden},
        folder / "head.pt",
    )
    return path


def load_head(folder: Path):
    import torch

    from cartcast.catalog import get_spec
    from cartcast.training.nets import CartcastNet, ScoreHead
    from cartcast.training.preprocess import PreprocessParams

    saved = torch.load(folder / "head.pt", weights_only=False)
    params = PreprocessParams(**saved["params"])
    head = ScoreHead(CartcastNet(params, hidden=tuple(saved["hidden"])), get_spec(MODEL).task)
    head.load_state_dict(saved["state"])
    return head.eval(), params


# ---- child processes: each prints one `CHILD {json}` line ------------------------------


def rss_mb(field: str) -> float:
    """VmRSS (now) or VmHWM (peak) of this process, in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def emit(**values) -> None:
    print("CHILD " + json.dumps(values), flush=True)


def warehouse_at(folder: Path):
    from cartcast.warehouse.paths import Warehouse

    return Warehouse.under(folder)


def child_make(args) -> None:
    """marts.customer_features with `rows` customers, in chunks; the model as champion."""
    import duckdb
    import pyarrow as pa
    from materialize import VIEW, synthetic_mart

    warehouse = warehouse_at(args.warehouse)
    warehouse.duckdb_path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    start = time.perf_counter()
    con = duckdb.connect(str(warehouse.duckdb_path))
    con.execute("create schema if not exists marts")
    done = 0
    while done < args.rows:
        n = min(CHUNK, args.rows - done)
        chunk = synthetic_mart(VIEW, n, rng)
        ids = pa.array(rng.permutation(n) + 100_000 + done).cast(pa.string())
        chunk = chunk.set_column(chunk.schema.get_field_index("customer_id"), "customer_id", ids)
        if done == 0:
            con.execute("create or replace table marts.customer_features as select * from chunk")
        else:
            con.execute("insert into marts.customer_features select * from chunk")
        done += n
    con.close()
    register_model(warehouse, args.model_dir / "model.onnx")
    emit(rows=done, seconds=time.perf_counter() - start)


def register_model(warehouse, path: Path) -> None:
    """The exported model as the champion of this warehouse's registry (bench/online.py too)."""
    import duckdb

    from cartcast.catalog import get_spec
    from cartcast.registry import versions as registry

    warehouse.duckdb_path.parent.mkdir(parents=True, exist_ok=True)
    duckdb.connect(str(warehouse.duckdb_path)).close()
    spec = get_spec(MODEL)
    registry.register(
        warehouse,
        name=MODEL,
        version=1,
        task=spec.task,
        feature_service=spec.feature_service,
        family="torch",
        train_window=("2011-01-01T00:00:00+00:00", "2011-09-01T00:00:00+00:00"),
        valid_window=("2011-10-01T00:00:00+00:00", "2011-12-01T00:00:00+00:00"),
        cutoff="2011-09-01T00:00:00+00:00",
        metrics={"champion": "torch mlp", "selection_metric": "roc_auc"},
        path=path,
    )


def _drop_predictions(warehouse) -> None:
    import duckdb

    with duckdb.connect(str(warehouse.duckdb_path)) as con:
        con.execute(f"drop table if exists predictions.{MODEL}")


@contextmanager
def database_settings(warehouse, settings: list[str]):
    """DuckDB settings for every connection `score` opens, without touching its code: a
    connection held open here keeps the database instance (DuckDB shares one per file and
    process), and `SET GLOBAL` applies to all of its connections."""
    import duckdb

    if not settings:
        yield
        return
    held = duckdb.connect(str(warehouse.duckdb_path))
    try:
        for setting in settings:
            held.execute(f"set global {setting}")
        yield
    finally:
        held.close()


def child_e2e(args) -> None:
    """scoring.batch.score over every row, on an empty prediction table; peak memory."""
    import duckdb

    from scoring.batch import score
    from scoring.feature_source import AsOf

    warehouse = warehouse_at(args.warehouse)
    _drop_predictions(warehouse)
    before = rss_mb("VmRSS")
    with database_settings(warehouse, args.setting or []):
        start = time.perf_counter()
        run = score(
            warehouse,
            MODEL,
            as_of=AsOf(times=(AS_OF,)),
            batch_rows=args.batch_rows,
            threads=args.threads,
            device=args.device,
            explain=args.explain,
        )
        seconds = time.perf_counter() - start
    peak = rss_mb("VmHWM")
    with duckdb.connect(str(warehouse.duckdb_path), read_only=True) as con:
        (written,) = con.execute(f"select count(*) from predictions.{MODEL}").fetchone()
    emit(
        rows=run.rows,
        written=written,
        seconds=seconds,
        peak_mb=peak,
        before_mb=before,
        provider=run.provider,
    )


def _feeds(args):
    """The model, and the batches `score` reads, as feeds, all built before any timing."""
    import duckdb

    from scoring.feature_source import AsOf, source_sql
    from scoring.model import load
    from scoring.model_inputs import feed

    warehouse = warehouse_at(args.warehouse)
    model = load(warehouse, MODEL, device=args.device, threads=args.threads)
    sql, params = source_sql(model.key, model.inputs, AsOf(times=(AS_OF,)))
    with duckdb.connect(str(warehouse.duckdb_path), read_only=True) as con:
        reader = con.execute(sql, params).fetch_record_batch(args.batch_rows)
        feeds = [feed(batch, model.inputs) for batch in reader]
    return model, feeds


def _median_rate(run, rows: int, repeats: int) -> tuple[float, list[float]]:
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        seconds.append(time.perf_counter() - start)
    return rows / statistics.median(seconds), [rows / s for s in seconds]


def child_inference(args) -> None:
    """session.run over prebuilt feeds; then torch eager over the same batches as tensors."""
    model, feeds = _feeds(args)
    first = model.inputs[0].name
    rows = sum(len(f[first]) for f in feeds)
    session = model.session.session
    session.run(["score"], feeds[0])  # warm-up

    def ort_pass() -> None:
        for f in feeds:
            session.run(["score"], f)

    ort_rate, ort_all = _median_rate(ort_pass, rows, args.repeats)
    out = {
        "rows": rows,
        "batches": len(feeds),
        "ort_rows_per_s": ort_rate,
        "ort_all": ort_all,
        "provider": model.provider,
        "ort_threads": session.get_session_options().intra_op_num_threads,
    }
    if not args.no_torch:
        import torch

        head, params = load_head(args.model_dir)
        if args.threads:
            torch.set_num_threads(args.threads)
        tensors = []
        for f in feeds:
            numeric = torch.from_numpy(np.column_stack([f[n] for n in params.numeric]))
            codes = []
            for name, vocab in params.categories.items():
                index = {v: i + 1 for i, v in enumerate(vocab)}
                codes.append(np.fromiter((index.get(v, 0) for v in f[name]), np.int64))
            categories = torch.from_numpy(np.column_stack(codes)) if codes else None
            tensors.append((numeric, categories))
        with torch.no_grad():
            head(*tensors[0])  # warm-up
            got = head(*tensors[0]).numpy()

            def torch_pass() -> None:
                for numeric, categories in tensors:
                    head(numeric, categories)

            torch_rate, torch_all = _median_rate(torch_pass, rows, args.repeats)
        expected = model.score(feeds[0])
        out.update(
            torch_rows_per_s=torch_rate,
            torch_all=torch_all,
            torch_threads=torch.get_num_threads(),
            max_abs_diff=float(np.abs(got - expected).max()),
        )
    emit(**out)


class Clock:
    """Seconds per named step, summed over batches."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, step: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[step] = self.seconds.get(step, 0.0) + time.perf_counter() - start


def _timed(clock: Clock, step: str, fn):
    def wrapper(*a, **k):
        with clock(step):
            return fn(*a, **k)

    return wrapper


def _timed_iter(clock: Clock, step: str, fn):
    """`fn`'s iterator with the clock around each item it produces."""

    def wrapper(*a, **k):
        items = iter(fn(*a, **k))
        while True:
            with clock(step):
                try:
                    item = next(items)
                except StopIteration:
                    return
            yield item

    return wrapper


def child_profile(args) -> None:
    """`scoring.batch.score` itself (explain as asked) with its stages run one after the
    other, a clock around each function it calls; then the ranking alone and the write alone
    on the same rows."""
    import duckdb

    import scoring.batch as batch
    from scoring import predictions
    from scoring.feature_source import AsOf
    from scoring.model import ScoringModel

    warehouse = warehouse_at(args.warehouse)
    _drop_predictions(warehouse)
    clock = Clock()
    marks: dict[str, float] = {}
    # One stage after the other, so that the steps add up to the total.
    batch.ahead = lambda items, depth=None: items
    batch.read_batches = _timed_iter(clock, "read", batch.read_batches)
    batch.check_schema = _timed(clock, "check", batch.check_schema)
    batch.check_scores = _timed(clock, "check", batch.check_scores)
    batch.feed = _timed(clock, "feed", batch.feed)
    ScoringModel.score = _timed(clock, "inference", ScoringModel.score)
    predictions.replace = _timed(clock, "replace", predictions.replace)
    fault_point = predictions.fault_point

    def before_commit(*a, **k):
        marks["before_commit"] = time.perf_counter()
        return fault_point(*a, **k)

    predictions.fault_point = before_commit
    start = time.perf_counter()
    run = batch.score(
        warehouse,
        MODEL,
        as_of=AsOf(times=(AS_OF,)),
        batch_rows=args.batch_rows,
        threads=args.threads,
        device=args.device,
        explain=args.explain,
    )
    end = time.perf_counter()
    steps = dict(clock.seconds)
    steps["commit"] = end - marks["before_commit"]
    for step in ("read", "check", "feed", "inference"):
        steps.setdefault(step, 0.0)

    with duckdb.connect(str(warehouse.duckdb_path)) as con:
        # The write again on the same scores: the ranking alone (nothing written), then the
        # finished rows copied into an empty table of the same layout (no ranking).
        con.execute(
            f"create temp table {predictions.SCORES} as select customer_id, as_of, score, "
            f"reasons from predictions.{MODEL}"
        )
        ranked = predictions.ranked_sql(MODEL, 1, "customer_id", datetime(2026, 1, 1))
        with clock("ranking alone"):
            con.execute(f"select count(*), sum(score_rank), sum(score_decile) from ({ranked})")
        table = f"predictions.{MODEL}"
        con.execute(f"create table {table}_copy as select * from {table} limit 0")
        with clock("write alone"):
            con.execute(f"insert into {table}_copy select * from {table}")
        con.execute(f"drop table {table}_copy")
    emit(
        rows=run.rows,
        total=end - start,
        steps=steps,
        rank_alone=clock.seconds["ranking alone"],
        write_alone=clock.seconds["write alone"],
    )


CHILDREN = {
    "make": child_make,
    "e2e": child_e2e,
    "inference": child_inference,
    "profile": child_profile,
}


def run_child(kind: str, warehouse: Path, args, **extra) -> dict:
    command = [
        sys.executable,
        __file__,
        "--child",
        kind,
        "--warehouse",
        str(warehouse),
        "--model-dir",
        str(args.model_dir),
        "--batch-rows",
        str(extra.pop("batch_rows", args.batch_rows)),
        "--repeats",
        str(args.repeats),
        "--device",
        extra.pop("device", args.device),
        "--seed",
        str(args.seed),
    ]
    if args.threads:
        command += ["--threads", str(args.threads)]
    if "rows" in extra:
        command += ["--rows", str(extra.pop("rows"))]
    if extra.pop("no_torch", False):
        command.append("--no-torch")
    command += ["--explain", extra.pop("explain", args.explain)]
    for setting in extra.pop("settings", args.setting or []):
        command += ["--setting", setting]
    done = subprocess.run(command, capture_output=True, text=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith("CHILD ")]
    if done.returncode != 0 or not lines:
        sys.exit(f"{kind} on {warehouse} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return json.loads(lines[-1][len("CHILD ") :])


# ---- main ------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="100k rows")
    parser.add_argument("--sizes", help="comma-separated: 100k, 1m, 10m or a number of rows")
    parser.add_argument("--batch-sweep", action="store_true", help="batch sizes 4k..256k at 1M")
    parser.add_argument("--profile", action="store_true", help="time each step of score()")
    parser.add_argument("--batch-rows", type=int, help="default: scoring.batch's default")
    parser.add_argument("--threads", type=int, help="ONNX Runtime / torch threads")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda, tensorrt, auto")
    parser.add_argument("--repeats", type=int, default=3, help="inference passes (median)")
    parser.add_argument("--dir", type=Path, help="work folder (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the warehouses")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--explain",
        default="none",
        choices=("none", "latest", "all"),
        help="score()'s reasons for the timed runs (default none: the scoring path alone)",
    )
    parser.add_argument(
        "--explain-rows",
        type=int,
        help=f"rows for the explain='latest' run (default {EXPLAIN_ROWS:,}; 0: skip it)",
    )
    parser.add_argument(
        "--setting",
        action="append",
        help="a DuckDB setting for score()'s connections, e.g. \"memory_limit='1GB'\"",
    )
    parser.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    parser.add_argument("--warehouse", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--model-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--rows", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--no-torch", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.batch_rows is None:
        from scoring.batch import DEFAULT_BATCH_ROWS

        args.batch_rows = DEFAULT_BATCH_ROWS
    if args.child:
        CHILDREN[args.child](args)
        return

    sizes = [parse_size(s) for s in (args.sizes or ("100k" if args.quick else "1m,10m")).split(",")]
    root = Path(tempfile.mkdtemp(prefix="bench-scoring-", dir=args.dir or "/tmp"))
    try:
        measure(args, sizes, root)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
        else:
            print(f"kept {root}")


def measure(args, sizes: list[int], root: Path) -> None:
    import onnxruntime as ort

    providers = ort.get_available_providers()
    print(
        f"batch scoring of {MODEL} (MLP over customer features, no sequence): "
        f"{', '.join(f'{n:,}' for n in sizes)} rows; {os.cpu_count()} cores; onnxruntime "
        f"{ort.__version__} ({', '.join(providers)}); {args.batch_rows:,} rows per batch"
    )
    args.model_dir = root / "model"
    start = time.perf_counter()
    build_model(args.model_dir, args.seed)
    print(f"model: trained 1 epoch on {TRAIN_ROWS:,} rows, exported, in {_s(start)}")

    settings = f" [DuckDB: {', '.join(args.setting)}]" if args.setting else ""
    print(f"end to end: scoring.batch.score(..., explain={args.explain!r}){settings}")
    e2e: dict[int, dict] = {}
    for n in sizes:
        folder = root / label(n)
        made = run_child("make", folder, args, rows=n)
        run = run_child("e2e", folder, args)
        e2e[n] = run
        if run["written"] != n or run["rows"] != n:
            sys.exit(f"{n:,} rows: scored {run['rows']:,}, written {run['written']:,}")
        print(
            f"end to end, {n:>10,} rows: {run['seconds']:7.1f} s = "
            f"{n / run['seconds']:>10,.0f} rows/s   peak RSS {run['peak_mb']:7,.0f} MiB "
            f"(after imports {run['before_mb']:,.0f} MiB)   [{run['provider']}; table made in "
            f"{made['seconds']:.1f} s]"
        )
        if n != sizes[0] and n != SIZES["1m"]:
            shutil.rmtree(folder, ignore_errors=True)  # the largest is not needed again

    first = root / label(sizes[0])
    inf = run_child("inference", first, args)
    ort_rate, torch_rate = inf["ort_rows_per_s"], inf["torch_rows_per_s"]
    print(
        f"pure ONNX Runtime, {inf['rows']:,} rows in {inf['batches']} prebuilt feeds: "
        f"{ort_rate:>10,.0f} rows/s (passes: {_rates(inf['ort_all'])}; "
        f"intra-op threads {inf['ort_threads'] or 'default'})"
    )
    print(
        f"torch eager (no_grad), same batches as tensors: {torch_rate:>10,.0f} rows/s "
        f"(passes: {_rates(inf['torch_all'])}; {inf['torch_threads']} threads); "
        f"max |ONNX Runtime - torch| {inf['max_abs_diff']:.1e}"
    )
    if "CUDAExecutionProvider" in providers:
        cuda = run_child("inference", first, args, device="cuda", no_torch=True)
        cuda_e2e = run_child("e2e", first, args, device="cuda")
        print(
            f"CUDA: pure ONNX Runtime {cuda['ort_rows_per_s']:,.0f} rows/s "
            f"[{cuda['provider']}]; end to end {cuda_e2e['rows'] / cuda_e2e['seconds']:,.0f} "
            f"rows/s [{cuda_e2e['provider']}]"
        )
    else:
        print(f"CUDAExecutionProvider: not available in this onnxruntime ({', '.join(providers)})")

    largest = sizes[-1]
    e2e_rate = largest / e2e[largest]["seconds"]
    print("ratios:")
    for n in sizes:
        rate = n / e2e[n]["seconds"]
        print(
            f"  end to end / pure ONNX Runtime at {label(n)}: {rate / ort_rate:.2f} "
            f"(goal >= {GOAL_E2E})"
        )
    print(f"  ONNX Runtime / torch eager: {ort_rate / torch_rate:.2f} (goal >= {GOAL_TORCH})")
    peaks = {label(n): e2e[n]["peak_mb"] for n in sizes}
    if len(sizes) > 1:
        smallest = e2e[sizes[0]]["peak_mb"]
        print(
            f"  peak memory {label(largest)} / {label(sizes[0])}: "
            f"{e2e[largest]['peak_mb'] / smallest:.2f} (goal about 1; "
            + ", ".join(f"{k} {v:,.0f} MiB" for k, v in peaks.items())
            + ")"
        )

    if args.explain == "none":
        explained(args, root)
    if args.batch_sweep:
        sweep(args, root, sizes)
    if args.profile:
        profile(args, first, sizes[0], e2e)
    elif e2e_rate / ort_rate < GOAL_E2E:
        print("end to end misses its goal: --profile shows where the time goes")

    peak_text = " ".join(f"peak_mb_{k}={v:.0f}" for k, v in peaks.items())
    print(
        f"RESULT scoring e2e_rows_per_s={e2e_rate:.0f} ort_rows_per_s={ort_rate:.0f} "
        f"torch_rows_per_s={torch_rate:.0f} e2e_vs_ort={e2e_rate / ort_rate:.2f} "
        f"ort_vs_torch={ort_rate / torch_rate:.2f} {peak_text}"
    )


def sweep(args, root: Path, sizes: list[int]) -> None:
    n = SIZES["1m"]
    folder = root / "1m"
    if n not in sizes:
        run_child("make", folder, args, rows=n)
    print(f"batch sweep at {n:,} rows (end to end in a fresh process each):")
    for rows in SWEEP:
        run = run_child("e2e", folder, args, batch_rows=rows)
        inf = run_child("inference", folder, args, batch_rows=rows, no_torch=True)
        rate = n / run["seconds"]
        print(
            f"  {rows:>7,} rows/batch: end to end {rate:>10,.0f} rows/s, peak RSS "
            f"{run['peak_mb']:6,.0f} MiB; pure ONNX Runtime {inf['ort_rows_per_s']:>10,.0f} "
            f"rows/s; ratio {rate / inf['ort_rows_per_s']:.2f}"
        )


def explained(args, root: Path) -> None:
    """The cost of score()'s default, reasons for every row of the newest as_of."""
    n = args.explain_rows
    if n is None:
        n = EXPLAIN_ROWS // 5 if args.quick else EXPLAIN_ROWS
    if n <= 0:
        return
    folder = root / "explain"
    run_child("make", folder, args, rows=n)
    run = run_child("e2e", folder, args, explain="latest")
    rate = n / run["seconds"]
    print(
        f"with reasons (explain='latest', score()'s default; one as_of, so every row is "
        f"explained), {n:,} rows: {rate:,.0f} rows/s; 10M rows would take "
        f"{SIZES['10m'] / rate / 60:,.0f} min"
    )
    shutil.rmtree(folder, ignore_errors=True)


def profile(args, folder: Path, rows: int, e2e: dict) -> None:
    got = run_child("profile", folder, args)
    total, steps = got["total"], got["steps"]
    # Inside replace() the insert pulls the stream: reading, checks, feeds and inference.
    pulled = steps["read"] + steps["feed"] + steps["inference"] + steps["check"]
    insert = steps["replace"] - steps["commit"] - pulled
    # The insert's own work (delete, window, table write), split as the same rows split
    # when ranked alone and written alone.
    ranked_share = got["rank_alone"] / (got["rank_alone"] + got["write_alone"])
    parts = {
        "read: DuckDB query -> Arrow batches": steps["read"],
        "input check: schema, non-finite scores": steps["check"],
        "feed: Arrow -> numpy (model_inputs.feed)": steps["feed"],
        "inference: session.run (ScoringModel.score)": steps["inference"],
        "rank/decile: the window (share measured apart)": insert * ranked_share,
        "write: delete + insert into the table (the rest of it)": insert * (1 - ranked_share),
        "commit": steps["commit"],
        "the rest: model file, session, registry, as_of list": total - steps["replace"],
    }
    pipelined = e2e[rows]["seconds"]
    print(
        f"where the end-to-end time goes, {rows:,} rows, stages one after the other "
        f"({total:.2f} s in all; {pipelined:.2f} s as score() runs them, overlapped):"
    )
    for step, seconds in parts.items():
        print(f"  {step:<60} {seconds:6.2f} s  {100 * seconds / total:5.1f}%")
    print(
        f"  the write, again on the same rows: ranking alone (window sort, nothing written) "
        f"{got['rank_alone']:.2f} s; the ranked rows copied into an empty table of the same "
        f"layout (no sort) {got['write_alone']:.2f} s"
    )


def _s(start: float) -> str:
    return f"{time.perf_counter() - start:.1f} s"


def _rates(rates: list[float]) -> str:
    return ", ".join(f"{r:,.0f}" for r in rates)


if __name__ == "__main__":
    main()
