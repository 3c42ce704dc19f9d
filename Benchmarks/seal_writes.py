#!/usr/bin/env python3
"""What sealing writes (issue 27): bytes written per reading moved from rows into chunks.

A fresh database made by the release `vigild` is filled with `--hours` of `--series` series at
1 Hz as a live plant leaves them: row tables written in 10-second commits in key order, one
table per 6-hour span, in schema 18's layout (a row a reading, one integer key: 10-second slot
from 2 s past the 10 s, series, time in the slot), which a first run of `vigild` (rebuilding
an empty range) migrates to today's (`Sources/VigilStore/RowTable.swift`: a row a series and slot, its readings
in the chunk format; in key order, as a live plant's commits append them). Then `vigild --seal`
runs under `strace`, and every byte it
writes to the WAL and to the database file (checkpoints, and the VACUUM that gives the freed
pages back) is divided by the readings it sealed. The readings are checked back: the chunks
hold them all, and no row is left.

Usage: Benchmarks/seal_writes.py [--series 160] [--hours 6] [--bin .build/release]
"""
import argparse, os, random, re, shutil, sqlite3, subprocess, sys, tempfile, time

SPAN = 21_600_000  # ChunkSpan.millis
SLOT = 10_000  # RowTable.bucketMillis
OFFSET = 2_000  # RowTable.bucketOffset


def bucket(ts):
    return (ts - OFFSET) // SLOT


def key(ts, sid):
    """Schema 18's RowTable key: (slot in the span << 46) + (series << 14) + time in the slot."""
    b = bucket(ts)
    return ((b - bucket(ts // SPAN * SPAN)) << 46) + (sid << 14) + (ts - (b * SLOT + OFFSET))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--series", type=int, default=160)
    ap.add_argument("--hours", type=int, default=6)
    ap.add_argument("--bin", default=".build/release")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="vigil-seal-writes-")
    try:
        db, cfg = os.path.join(work, "vigil.sqlite"), os.path.join(work, "vigil.toml")
        open(cfg, "w").close()
        vigild = [f"{args.bin}/vigild", "--config", cfg, "--db", db, "--seal"]
        subprocess.run(vigild, check=True, capture_output=True)  # the schema, from vigild itself
        c = sqlite3.connect(db)
        c.execute("PRAGMA journal_mode=WAL")
        for s in range(args.series):
            c.execute("INSERT INTO series(machine, sensor) VALUES(?,?)", (f"m{s // 8}", f"s{s % 8}"))
        ids = [r[0] for r in c.execute("SELECT id FROM series ORDER BY id")]
        t0 = 1_700_000_000_000 // SPAN * SPAN
        for span in range(t0 // SPAN, (t0 + args.hours * 3_600_000 - 1) // SPAN + 1):
            c.execute(f'CREATE TABLE "reading_{span}"(key INTEGER PRIMARY KEY, value REAL NOT NULL, seq INTEGER)')
        rnd = random.Random(1)
        for commit in range(args.hours * 360 + 1):
            # A live commit at 2 s past the 10 s: the slot from 8 s before the 10 s to 2 s past.
            rows = sorted((ts // SPAN, key(ts, sid), round(20 + rnd.random(), 2), sec)
                          for sec in range(commit * 10 - 8, commit * 10 + 2) if 0 <= sec < args.hours * 3600 for sid in ids
                          for ts in [t0 + sec * 1000 + rnd.randint(0, 40)])
            for span in sorted({r[0] for r in rows}):  # none after the last second
                c.executemany(f'INSERT INTO "reading_{span}"(key, value, seq) VALUES(?,?,?)', [r[1:] for r in rows if r[0] == span])
            c.commit()
        c.execute("PRAGMA user_version = 18")
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        c.close()
        # Schema 18's rows become today's: opened by a run that rebuilds an empty range.
        t = time.time()
        subprocess.run([f"{args.bin}/vigild", "--config", cfg, "--db", db, "--rebuild-rollups", "--from", "0", "--to", "1"],
                       check=True, capture_output=True)
        packed = time.time() - t
        c = sqlite3.connect(db)
        assert c.execute("SELECT sum(count) FROM reading_slot").fetchone()[0] == args.series * args.hours * 3600
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        c.execute("VACUUM")  # the file as rows a slot, as a live plant leaves it (without the old tables' free pages)
        c.close()
        readings = args.series * args.hours * 3600
        size = os.path.getsize(db)
        trace = os.path.join(work, "strace.out")
        t = time.time()
        subprocess.run(["strace", "-f", "-y", "-e", "trace=pwrite64,write", "-e", "signal=none", "-s", "0", "-o", trace] + vigild,
                       check=True, capture_output=True)
        seconds = time.time() - t
        wal = main_file = 0
        for line in open(trace):
            m = re.search(r'pwrite64\(\d+<([^>]*)>, .*, (\d+), \d+\)\s+=\s+(\d+)', line)
            if m and m.group(1).endswith("-wal"):
                wal += int(m.group(3))
            elif m and m.group(1) == db:
                main_file += int(m.group(3))
        c = sqlite3.connect(db)
        rows_left = c.execute("SELECT coalesce(sum(count), 0) FROM reading_slot").fetchone()[0]
        sealed = c.execute("SELECT coalesce(sum(count), 0) FROM chunk").fetchone()[0]
        assert rows_left == 0 and sealed == readings, f"{rows_left} rows left, {sealed} of {readings} sealed"
        print(f"schema 18's rows packed into rows a slot by vigild's migration in {packed:.1f} s")
        print(f"{readings:,} readings ({args.series} series × {args.hours} h at 1 Hz, rows {size / readings:.1f} B/reading) "
              f"sealed by `vigild --seal` in {seconds:.1f} s: wrote WAL {wal / readings:.1f} B/reading, "
              f"database file {main_file / readings:.1f} B/reading")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
