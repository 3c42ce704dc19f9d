"""DuckDB peer for vigil-bench-rollup: the same columns, minute + day rollups with
GROUP BY time_bucket on one thread. Prints notes, then the best total seconds on the last line."""
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
con.execute("CREATE TABLE r AS SELECT series, epoch_ms(ts) AS t, value FROM columns")
query = """SELECT series, time_bucket(INTERVAL '{w}', t) AS b, count(*), sum(value), avg(value),
min(value), max(value), stddev_pop(value) FROM r GROUP BY series, b"""
best = float("inf")
for _ in range(rounds):
    t0 = time.perf_counter()
    n = len(con.execute(query.format(w="1 minute")).fetchall())
    n += len(con.execute(query.format(w="1 day")).fetchall())
    best = min(best, time.perf_counter() - t0)
print(f"duckdb {duckdb.__version__}, {n} buckets")
print(best)
