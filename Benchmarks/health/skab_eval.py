#!/usr/bin/env python3
"""SKAB evaluation of the health model through `vigil replay` (the production code path).

For each of the 34 labelled files in ../shared/benchmarks/skab (valve1, valve2, other): convert
to `timestamp,<sensor>…` (the label columns are dropped, never shown to the model), replay with
`--commission-rows 400`, and compare the `alarm` column of every scored row with `anomaly`.
Reports pooled false-alarm rate FAR = FP/(FP+TN), missed-alarm rate MAR = FN/(FN+TP) and F1,
next to the trivial baselines and the published PCA T²+Q reference.

Usage: Benchmarks/health/skab_eval.py [--bin .build/debug] [--data ../shared/benchmarks/skab]
"""
import argparse, csv, glob, os, random, subprocess, tempfile
from datetime import datetime, timedelta

def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=".build/debug")
    ap.add_argument("--data", default=os.path.normpath(os.path.join(here, "../../../shared/benchmarks/skab")))
    ap.add_argument("--transform", type=int, metavar="SEED",
                    help="change units first: per file, every sensor x -> a*x + b (random a of either sign, "
                         "|a| in 1e-3..1e3, b up to 1e4 sensor spreads), columns shuffled and renamed, time shifted")
    a = ap.parse_args()
    files = sorted(f for d in ("valve1", "valve2", "other") for f in glob.glob(os.path.join(a.data, d, "*.csv")))
    assert len(files) == 34, f"expected 34 labelled files under {a.data}, found {len(files)}"
    tp = fp = tn = fn = 0
    work = tempfile.mkdtemp(prefix="vigil-skab-")
    for path in files:
        with open(path) as f:
            rows = list(csv.reader(f, delimiter=";"))
        header, body = rows[0], rows[1:]
        sensors = [h.replace(" ", "_") for h in header[1:9]]
        labels = [float(r[9]) > 0.5 for r in body]
        times, cells = [r[0] for r in body], [r[1:9] for r in body]
        if a.transform is not None:
            times, sensors, cells = transform(random.Random(f"{a.transform}:{os.path.relpath(path, a.data)}"), times, sensors, cells)
        inp, out = os.path.join(work, "in.csv"), os.path.join(work, "out.csv")
        with open(inp, "w") as f:
            f.write("timestamp," + ",".join(sensors) + "\n")
            for t, r in zip(times, cells):
                f.write(t + "," + ",".join(r) + "\n")
        subprocess.run([f"{a.bin}/vigil", "replay", "--machine", "skab", "--input", inp, "--output", out,
                        "--commission-rows", "400"], check=True)
        with open(out) as f:
            scored = list(csv.DictReader(f))
        for row, label in zip(scored, labels):
            if row["status"] == "commissioning":
                continue
            alarm = row["alarm"] == "1"
            tp += alarm and label
            fp += alarm and not label
            tn += (not alarm) and not label
            fn += (not alarm) and label
    far, mar = fp / (fp + tn), fn / (fn + tp)
    f1 = 2 * tp / (2 * tp + fp + fn)
    pos = (tp + fn) / (tp + fp + tn + fn)
    print(f"# SKAB, 34 files, commissioning on the first 400 rows of each, {tp + fp + tn + fn} scored rows ({pos:.1%} anomalous)")
    print(f"{'model':34s} {'FAR':>7s} {'MAR':>7s} {'F1':>6s}")
    print(f"{'Vigil health model (vigil replay)':34s} {far:7.1%} {mar:7.1%} {f1:6.2f}")
    print(f"{'PCA T²+Q (published reference)':34s} {0.266:7.1%} {0.249:7.1%} {0.76:6.2f}")
    print(f"{'always alarm':34s} {1:7.1%} {0:7.1%} {2 * pos / (1 + pos):6.2f}")
    print(f"{'never alarm':34s} {0:7.1%} {1:7.1%} {0:6.2f}")

def transform(rng, times, sensors, cells):
    """A change of units, order, names and clock that must not change any alarm."""
    p = len(sensors)
    cols = [[float(r[j]) for r in cells] for j in range(p)]
    out = []
    for col in cols:
        spread = (max(col) - min(col)) or 1.0
        a = rng.choice([-1, 1]) * 10 ** rng.uniform(-3, 3)
        b = rng.uniform(-1e4, 1e4) * spread * abs(a)
        out.append([repr(a * x + b) for x in col])
    order = list(range(p))
    rng.shuffle(order)
    names = [f"s{rng.randrange(10**6)}_{k}" for k in range(p)]
    shift = timedelta(seconds=rng.randrange(-10**8, 10**8))
    fmt = "%Y-%m-%d %H:%M:%S"
    times = [(datetime.strptime(t, fmt) + shift).strftime(fmt) for t in times]
    return times, names, [[out[j][i] for j in order] for i in range(len(times))]

if __name__ == "__main__":
    main()
