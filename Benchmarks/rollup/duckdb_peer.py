"""DuckDB peer for vigil-bench-rollup: the same columns, minute + day rollups on one thread, two
ways: GROUP BY time_bucket over a TIMESTAMP column, and GROUP BY an integer bucket key (ts //
width) over the raw int64 column, which is DuckDB's faster form. Prints one line per way:
"<name> <best total seconds> <buckets>"."""
import sys
import time

import duckdb
import numpy as np

folder, series, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
ts = np.fromfile(f"{folder}/ts.bin", dtype=np.int64)
value = np.fromfile(f"{folder}/value.bin", dtype=np.float64)
sid = np.repeat(np.arange(series, dtype=np.int32), len(ts) // series)
con = duckdb.connect()
con.execute("SET threads = 1")
columns = {"series": sid, "ts": ts, "value": value}
con.execute("CREATE TABLE r AS SELECT series, ts, epoch_ms(ts) AS t, value FROM columns")
stats = "count(*), sum(value), avg(value), min(value), max(value), stddev_pop(value)"
ways = {
    "time_bucket": [f"SELECT series, time_bucket(INTERVAL '{w}', t) AS b, {stats} FROM r GROUP BY series, b"
                    for w in ("1 minute", "1 day")],
    "integer_key": [f"SELECT series, ts // {w} AS b, {stats} FROM r GROUP BY series, b" for w in (60_000, 86_400_000)],
}
for name, queries in ways.items():
    best, n = float("inf"), 0
    for _ in range(rounds):
        t0 = time.perf_counter()
        n = sum(len(con.execute(q).fetchall()) for q in queries)
        best = min(best, time.perf_counter() - t0)
    print(f"{name} {best} {n}")
