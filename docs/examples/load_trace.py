"""Load a trace exported by `mysql-io export TRACE -o DIR` with polars.

    python3 docs/examples/load_trace.py DIR          # tables for a terminal
    python3 docs/examples/load_trace.py DIR --json   # the same as JSON

Needs polars (`pip install polars`). Every table of the export is a Parquet file: one per event
kind (read_enter, page_cache_add, readahead_window, ...), `reads` (one row per read operation,
as `mysql-io analyze` sees them), `files`, `threads`, `processes` and `status`.
"""
import json
import sys

import polars as pl


def main() -> None:
    out_dir = sys.argv[1]
    reads = pl.read_parquet(f"{out_dir}/reads.parquet")
    files = pl.read_parquet(f"{out_dir}/files.parquet")

    # Bytes a read returned, or asked for when its result was not recorded.
    length = pl.when(pl.col("ret") >= 0).then(pl.col("ret")).otherwise(pl.col("count"))

    # Reads per table: how many, how much, how fast.
    per_table = (
        reads.group_by("table")
        .agg(
            pl.len().alias("reads"),
            length.sum().alias("bytes"),
            (pl.col("latency_ns").mean() / 1000).alias("mean_latency_us"),
        )
        .sort(["reads", "table"], descending=[True, False])
    )

    # Sequentiality per file, as `mysql-io analyze sequentiality` defines it: on each open file
    # description (`stream`), in time order, a read is sequential when it starts where the
    # previous one ended.
    per_file = (
        reads.sort(["stream", "ts"])
        .with_columns(prev_end=(pl.col("pos") + length).shift(1).over("stream"))
        .with_columns(sequential=(pl.col("pos") == pl.col("prev_end")).fill_null(False))
        .group_by("path")
        .agg(pl.len().alias("reads"), pl.col("sequential").mean().alias("seq_ratio"))
        .sort(["reads", "path"], descending=[True, False])
    )

    # Page-cache inserts per file: an event table joined with the files table.
    inserts = (
        pl.read_parquet(f"{out_dir}/page_cache_add.parquet")
        .join(files.select("dev", "ino", "path"), on=["dev", "ino"], how="left")
        .group_by("path")
        .agg(pl.len().alias("inserts"))
        .sort(["inserts", "path"], descending=[True, False])
    )

    if "--json" in sys.argv:
        print(json.dumps({
            "per_table": per_table.to_dicts(),
            "per_file": per_file.to_dicts(),
            "inserts": inserts.to_dicts(),
        }))
    else:
        with pl.Config(tbl_rows=20, tbl_width_chars=100, fmt_str_lengths=40):
            print(per_table)
            print(per_file)
            print(inserts)


if __name__ == "__main__":
    main()
