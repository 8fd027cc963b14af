"""The feature build on DuckDB and on Spark: the same dbt model files, the same raw files.

For each size, synthetic raw Parquet files (order lines in the UCI layout and as many
clickstream events in the Taobao layout, `cartcast.synthetic.generate`, cached as in
bench/features.py) are built by

- DuckDB: `dbt build` of the seed, staging, quarantine, intermediate and the feature marts,
  no data tests (bench/features.py's selection), into a fresh warehouse;
- Spark: the same selection with `--target spark` (dbt-spark's session method on a local
  Spark whose one JVM is capped at 4 GB: `spark.driver.memory`, the executor in local mode),
  without the product text embeddings (a dbt Python model dbt-spark does not run; it is
  left out of the DuckDB side too, so both do the same work).

Each side runs in its own process tree: wall time around it, peak memory the sum of every
process's peak resident set (the JVM included). The ratio is Spark's time over DuckDB's
(above 1: DuckDB is faster).

    python bench/spark.py --quick          # 25,000 order lines: a few minutes
    python bench/spark.py                  # 1M and 10M order lines (long on 2 cores)
    python bench/spark.py --sizes 1m

The last line is `RESULT spark duckdb_s=<a> spark_s=<b> duckdb_peak_gib=<c>
spark_peak_gib=<d> ratio=<b/a>` for the largest size run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from features import NOW, SEED, SIZES, measured, parquet_rows, raw_files

from cartcast.synthetic.generate import relation_expression
from cartcast.warehouse import memory
from cartcast.warehouse.dbt_runner import DbtError, run_dbt
from cartcast.warehouse.paths import Warehouse
from cartcast.warehouse.spark import SQL_ONLY_EXCLUDE, require_spark, spark_env

DEFAULT_SIZES = ["1m", "10m"]
SPARK_MEMORY = "4g"
BUILD = [
    "build",
    "--select", "+path:models/marts", "+path:models/quarantine",
    "--exclude", "test_type:data", "test_type:unit", *SQL_ONLY_EXCLUDE,
]  # fmt: skip
GIB = 1024**3


def partitions_for(lines: int) -> int:
    """Spark's shuffle partitions for a size: the profile's 4 up to 1M order lines, then one
    per 250,000 (at 10M, 4 partitions of the events' 60M snapshot rows each spill for long)."""
    return max(4, lines // 250_000)


def build(engine: str, files: dict[str, Path], work: Path, partitions: int = 4) -> dict:
    warehouse = Warehouse.under(work / "warehouse")
    dbt_vars = {
        "cartcast_now": NOW,
        "online_retail_invoice_lines": relation_expression(files["online_retail"]),
        "taobao_user_behavior": relation_expression(files["taobao"]),
        "spark_raw_files": {
            "online_retail.invoice_lines": {
                "path": str(files["online_retail"]),
                "format": "parquet",
            },
            "taobao.user_behavior": {"path": str(files["taobao"]), "format": "parquet"},
        },
    }
    env = None
    if engine == "spark":
        env = {
            **spark_env(warehouse),
            "CARTCAST_SPARK_DRIVER_MEMORY": SPARK_MEMORY,
            "CARTCAST_SPARK_PARTITIONS": str(partitions),
        }

    def run() -> str | None:
        try:
            run_dbt(BUILD, warehouse, dbt_vars, work_dir=work / engine, extra_env=env)
        except DbtError as err:
            return str(err).splitlines()[0]
        return None

    error, wall, peak = measured(run)
    return {"wall": wall, "peak": peak, "error": error}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one small size")
    parser.add_argument("--sizes", nargs="+", choices=sorted(SIZES), default=None)
    parser.add_argument("--keep", action="store_true", help="keep the warehouses")
    parser.add_argument(
        "--partitions",
        type=int,
        help="Spark's shuffle partitions (default: 4 up to 1M order lines, then one per 250k)",
    )
    args = parser.parse_args()
    require_spark()  # before the DuckDB side, not after it
    print(
        f"DuckDB capped at {memory.memory_limit(os.environ.get(memory.ENV_LIMIT))} "
        f"(${memory.ENV_LIMIT}); Spark's JVM at {SPARK_MEMORY}",
        flush=True,
    )
    sizes = ["quick"] if args.quick else (args.sizes or DEFAULT_SIZES)
    result = None
    for size in sizes:
        lines = SIZES[size]
        files = raw_files(lines, lines, SEED)
        raw_rows = parquet_rows(files["online_retail"]) + parquet_rows(files["taobao"])
        partitions = args.partitions or partitions_for(lines)
        print(
            f"{size}: {raw_rows:,} raw rows (order lines + events); Spark shuffle partitions "
            f"{partitions}",
            flush=True,
        )
        work = Path(tempfile.mkdtemp(prefix=f"cartcast_spark_{size}_"))
        try:
            sides = {
                engine: build(engine, files, work, partitions) for engine in ("duckdb", "spark")
            }
        finally:
            if args.keep:
                print(f"  kept {work}")
            else:
                shutil.rmtree(work, ignore_errors=True)
        for engine, side in sides.items():
            state = f"FAILED: {side['error']}" if side["error"] else "ok"
            print(
                f"  {engine:<7} {side['wall']:8.1f} s  peak {side['peak'] / GIB:5.2f} GiB  "
                f"{raw_rows / side['wall']:>10,.0f} rows/s  {state}",
                flush=True,
            )
        duck, spark = sides["duckdb"], sides["spark"]
        if duck["error"] or spark["error"]:
            continue
        result = (
            f"RESULT spark duckdb_s={duck['wall']:.1f} spark_s={spark['wall']:.1f} "
            f"duckdb_peak_gib={duck['peak'] / GIB:.2f} spark_peak_gib={spark['peak'] / GIB:.2f} "
            f"ratio={spark['wall'] / duck['wall']:.2f}"
        )
    if result is None:
        sys.exit("no size completed on both engines")
    print(result)


if __name__ == "__main__":
    main()
