#!/usr/bin/env python3
"""Sensor-fault detection on real pump data (SKAB, 1 Hz, 8 sensors), through `vigil replay` —
the production detector and scorer.

1. False sensor faults: faults opened on rows labelled normal, in the anomaly-free file and in the
   34 labelled files (commissioned on each file's first 400 rows, as the health protocol does),
   per 100 sensor-days of normal rows.
2. SKAB's labelled anomalies are process anomalies (valve closures, cavitation, imbalance…): how
   many of them opened a sensor fault, with the sensors and kinds.
3. Faults injected into the real series (stuck, stuck with a one-step wobble, spike, spike burst,
   dropout, rail value, drift, noise) at random points of normal rows after commissioning, one
   per replay, on a random sensor: found when a fault of the right sensor and kind opens between
   the injection's start and its end (+ the allowed latency), with the latency. Each injection
   goes into the next file (in turn) whose normal rows after commissioning hold it.

Usage: Benchmarks/health/sensor_faults_skab.py [--data ../shared/benchmarks/skab] [--bin .build/release]
       [--injections 6] [--seed 1]
"""
import argparse, csv, glob, os, random, subprocess, sys, tempfile

KINDS = ["stuck", "stuck_wobble", "spike", "spike_burst", "dropout", "rail", "drift", "noise"]
EXPECT = {"stuck": "stuck", "stuck_wobble": "stuck", "spike": "spike", "spike_burst": "spike", "dropout": "dropout",
          "rail": "out_of_range", "drift": "drift", "noise": "noise"}
LENGTH = {"stuck": 600, "stuck_wobble": 600, "spike": 1, "spike_burst": 3, "dropout": 300, "rail": 300, "drift": 500, "noise": 300}
# Allowed latency (rows = seconds at 1 Hz).
LATENCY = {"stuck": 900, "stuck_wobble": 900, "spike": 60, "spike_burst": 60, "dropout": 300, "rail": 60, "drift": 500, "noise": 300}


def read(path):
    with open(path) as f:
        rows = list(csv.reader(f, delimiter=";"))
    header, body = rows[0], [r for r in rows[1:] if r]
    sensors = [h.replace(" ", "_") for h in header[1:9]]
    labels = [len(r) > 9 and float(r[9]) > 0.5 for r in body]
    return sensors, [r[0] for r in body], [[float(x) for x in r[1:9]] for r in body], labels


def replay(binary, work, sensors, times, cells):
    inp, out = os.path.join(work, "in.csv"), os.path.join(work, "out.csv")
    with open(inp, "w") as f:
        f.write("timestamp," + ",".join(sensors) + "\n")
        for t, r in zip(times, cells):
            f.write(t + "," + ",".join("" if x is None else repr(x) for x in r) + "\n")
    subprocess.run([f"{binary}/vigil", "replay", "--machine", "skab", "--input", inp, "--output", out,
                    "--commission-rows", "400"], check=True)
    with open(out) as f:
        return [set(x for x in r["sensor_faults"].split(";") if x) for r in csv.DictReader(f)]


def openings(faults):
    """(row, 'sensor:kind') for every fault that opened."""
    out, before = [], set()
    for i, now in enumerate(faults):
        out += [(i, f) for f in sorted(now - before)]
        before = now
    return out


def inject(rng, kind, col, start, length):
    """The column with `kind` injected over [start, start + length)."""
    c = list(col)
    seg = col[max(0, start - 400):start]
    spread = (max(seg) - min(seg)) or abs(col[start]) or 1.0
    diffs = sorted(abs(a - b) for a, b in zip(col[1:start], col[:start - 1]) if a != b)
    step = diffs[0] if diffs else spread / 1000
    end = min(len(c), start + length)
    if kind in ("stuck", "stuck_wobble"):
        v = col[start]
        for i in range(start, end):
            c[i] = v + (step * rng.choice([-1, 0, 1]) if kind == "stuck_wobble" else 0)
    elif kind in ("spike", "spike_burst"):
        sign = rng.choice([-1, 1])
        for i in range(start, end):
            c[i] = col[i] + sign * rng.uniform(3, 6) * spread
    elif kind == "dropout":
        for i in range(start, end):
            c[i] = None
    elif kind == "rail":
        rail = rng.choice([0.0, -9999.0, min(seg) - 20 * spread])
        for i in range(start, end):
            c[i] = rail
    elif kind == "drift":
        for i in range(start, end):
            c[i] = col[i] + (i - start) / length * rng.uniform(1.0, 2.0) * spread * rng.choice([-1, 1])
    elif kind == "noise":
        noise = [b - a for a, b in zip(col[start - 200:start - 1], col[start - 199:start])]
        sd = (sum(x * x for x in noise) / max(1, len(noise))) ** 0.5 or spread / 100
        for i in range(start, end):
            c[i] = col[i] + rng.gauss(0, 1) * 8 * sd
    return c


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--data", default=os.path.join(here, "../../../shared/benchmarks/skab"))
    ap.add_argument("--bin", default=".build/release")
    ap.add_argument("--injections", type=int, default=6, help="injections of each kind (over the files)")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="vigil-skab-sf-")
    files = sorted(f for d in ("valve1", "valve2", "other") for f in glob.glob(os.path.join(a.data, d, "*.csv")))
    free = os.path.join(a.data, "anomaly-free", "anomaly-free.csv")

    # 1 + 2: as they are.
    normal_rows, false_faults, anomaly_calls, anomalies = 0, [], [], 0
    for path in [free] + files:
        sensors, times, cells, labels = read(path)
        faults = replay(a.bin, work, sensors, times, cells)
        normal_rows += sum(1 for i, lab in enumerate(labels) if i >= 400 and not lab)
        name = os.path.relpath(path, a.data)
        in_anomaly, seen = False, set()
        for i, lab in enumerate(labels):
            if lab and not in_anomaly:
                anomalies += 1
                seen = set()
            in_anomaly = lab
        for i, f in openings(faults):
            # An opening within 60 rows after an anomaly ended still belongs to it.
            near = any(labels[max(0, i - 60):i + 1])
            if labels[i] or near:
                anomaly_calls.append((name, i, f))
            else:
                false_faults.append((name, i, f))
    sensor_days = normal_rows * 8 / 86400
    print(f"normal rows after commissioning: {normal_rows} ({sensor_days:.2f} sensor-days)")
    print(f"false sensor faults: {len(false_faults)} ({len(false_faults) / sensor_days * 100 / 100:.2f} per sensor-day, "
          f"{len(false_faults) / sensor_days * 100:.1f} per 100 sensor-days)")
    for name, i, f in false_faults:
        print(f"  {name} row {i}: {f}")
    print(f"labelled anomalies: {anomalies}; sensor faults opened during them (or within 60 s after): {len(anomaly_calls)}")
    for name, i, f in anomaly_calls:
        print(f"  {name} row {i}: {f}")

    # 3: injections into normal stretches.
    rng = random.Random(a.seed)
    results = {k: [] for k in KINDS}
    candidates = [free] + files
    for kind in KINDS:
        for n in range(a.injections):
            length = LENGTH[kind]
            # A file with a normal stretch after commissioning (and a minute of settling) that
            # holds the fault and its latency, at least 60 rows clear of a labelled anomaly.
            first = (n * 7 + KINDS.index(kind)) % len(candidates) if n else 0
            for k in range(len(candidates)):
                path = candidates[(first + k) % len(candidates)] if n else free
                sensors, times, cells, labels = read(path)
                ok = [i for i in range(460, len(cells) - length - LATENCY[kind])
                      if not any(labels[i - 60:i + length + LATENCY[kind]])]
                if ok:
                    break
            if not ok:
                continue
            start = rng.choice(ok)
            j = rng.randrange(8)
            col = inject(rng, kind, [r[j] for r in cells], start, length)
            new = [list(r) for r in cells]
            for i in range(len(new)):
                new[i][j] = col[i]
            faults = replay(a.bin, work, sensors, times, new)
            # A rail inside what the sensor reads is a dead sensor that does not move: stuck.
            want = {f"{sensors[j]}:{EXPECT[kind]}"} | ({f"{sensors[j]}:stuck"} if kind == "rail" else set())
            hit = next((i for i, f in openings(faults) if f in want and start <= i <= start + length + LATENCY[kind]), None)
            wrong = [f for i, f in openings(faults) if start <= i <= start + length + 60 and f not in want]
            results[kind].append((hit is not None, (hit - start) if hit is not None else None, wrong, os.path.relpath(path, a.data), sensors[j]))
    print(f"{'injected':14s} {'found':>7s} {'latency s (median, max)':>24s}  other faults opened meanwhile")
    total, found = 0, 0
    for kind in KINDS:
        r = results[kind]
        hits = [x for x in r if x[0]]
        lat = sorted(x[1] for x in hits)
        total += len(r)
        found += len(hits)
        others = sorted({w for x in r for w in x[2]})
        print(f"{kind:14s} {len(hits):3d}/{len(r):<3d} {(f'{lat[len(lat) // 2]}, {lat[-1]}' if lat else '-'):>24s}  {', '.join(others)}")
        for x in r:
            if not x[0]:
                print(f"    missed: {x[3]} {x[4]}")
    print(f"all injected: {found}/{total} found")


if __name__ == "__main__":
    main()
