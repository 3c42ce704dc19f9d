#!/usr/bin/env python3
"""Where vigild's writes go, table by table, at a live plant's rate (issue 27).

`Benchmarks/live_writes.py` says how many bytes a reading costs; this says which of vigild's
tables they are spent on. One run: a fresh mosquitto broker, a fresh release `vigild` under
`strace` (every `pwrite64` and `write`, with the file each went to), `vigil-sim` publishing
M machines × 8 sensors at 1 Hz in real time as line protocol. After the warm-up, every write for
`--seconds` is attributed:

- a WAL frame (its 24-byte header names the page) and a checkpoint's write into the database
  file (its offset is the page) go to the table or index that owns that page at the end of the
  run (SQLite's `dbstat`; a page freed and reused by another table meanwhile is counted under
  its last owner);
- the ingest journal, the WAL's headers and everything else by file.

Bytes are divided by the readings that arrived meanwhile.

Usage: Benchmarks/write_sources.py [--machines 20] [--seconds 180] [--warmup 90] [--apply-interval N]
                                   [--commission-minutes N] [--backfill 12h] [--bin .build/release]
"""
import argparse, collections, os, re, shutil, signal, sqlite3, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from live_writes import add_stream_arguments, start_broker, start_sim, start_vigild  # noqa: E402
from storage_peers import get_json, which  # noqa: E402

WRITE = re.compile(r'^(\d+)\s+(?:\d+\.\d+\s+)?(pwrite64|write)\((\d+)<([^>]*)>, "((?:\\x[0-9a-f]{2})*)"(?:\.\.\.)?, (\d+)(?:, (\d+))?\)\s+=\s+(-?\d+)')


def readings_stored(base):
    return get_json(base + "/healthz")["readingsStored"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_stream_arguments(ap, seconds=180, warmup=90)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="vigil-write-sources-")
    procs = []
    try:
        broker, port = start_broker(work)
        procs.append(broker)
        vigild, base = start_vigild(args, work, port)
        procs.append(vigild)
        db = os.path.join(work, "vigil", "vigil.sqlite")
        trace = os.path.join(work, "strace.out")
        procs.append(start_sim(args, port))
        time.sleep(args.warmup)
        # Every thread of vigild, from now on.
        tracer = subprocess.Popen([which("strace"), "-f", "-y", "-s", "4", "-x", "-e", "trace=pwrite64,write", "-e", "signal=none",
                                   "-o", trace, "-p", str(vigild.pid)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1)
        n0 = readings_stored(base)
        start_line = sum(1 for _ in open(trace, errors="replace"))
        time.sleep(args.seconds)
        n1 = readings_stored(base)
        end_line = sum(1 for _ in open(trace, errors="replace"))
        readings = n1 - n0
        tracer.send_signal(signal.SIGINT)
        tracer.wait()
        procs[-1].terminate()
        procs[-1].wait()
        # The page owners as they are now (a copy, so vigild's own close cannot move them first).
        snap = os.path.join(work, "snapshot.sqlite")
        for suffix in ("", "-wal"):
            if os.path.exists(db + suffix):
                shutil.copy(db + suffix, snap + suffix)
        owner = dict(sqlite3.connect(snap).execute("SELECT pageno, name FROM dbstat"))
        page_size = sqlite3.connect(snap).execute("PRAGMA page_size").fetchone()[0]
        totals = collections.Counter()
        with open(trace, errors="replace") as f:
            for i, line in enumerate(f):
                if i < start_line or i >= end_line:
                    continue
                m = WRITE.match(line)
                if not m or int(m.group(8)) <= 0:
                    continue
                _, call, _, path, head, size, offset, written = m.groups()
                size, written = int(size), int(written)
                if path.endswith(".sqlite-wal") and size == 24 and len(head) == 16:
                    page = int(head.replace("\\x", ""), 16)
                    totals[("WAL", owner.get(page, "(freed)"))] += 24
                    wal_page = page
                elif path.endswith(".sqlite-wal") and size == page_size:
                    totals[("WAL", owner.get(wal_page, "(freed)"))] += written
                elif path == db and offset is not None:
                    totals[("checkpoint", owner.get(int(offset) // page_size + 1, "(freed)"))] += written
                else:
                    totals[("file", re.sub(r"\d+", "N", os.path.basename(path)))] += written
        print(f"{args.machines} machines × 8 sensors at 1 Hz, {args.seconds} s after {args.warmup} s: {readings} readings")
        print(f"{'where':<12} {'table / file':<34} {'bytes':>12} {'B/reading':>10}")
        for (where, name), b in sorted(totals.items(), key=lambda kv: -kv[1]):
            if b * 200 < sum(totals.values()):
                continue
            print(f"{where:<12} {name:<34} {b:>12,} {b / max(readings, 1):>10.1f}")
        print(f"{'all':<12} {'':<34} {sum(totals.values()):>12,} {sum(totals.values()) / max(readings, 1):>10.1f}")
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    p.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
