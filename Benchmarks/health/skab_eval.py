#!/usr/bin/env python3
"""SKAB evaluation of the health model through `vigil replay` (the production code path).

For each of the 34 labelled files in ../shared/benchmarks/skab (valve1, valve2, other): convert
to `timestamp,<sensor>…` (the label columns are dropped, never shown to the model), replay with
`--commission-rows 400`, and compare the `alarm` column of every scored row with `anomaly`.
Reports pooled false-alarm rate FAR = FP/(FP+TN), missed-alarm rate MAR = FN/(FN+TP) and F1,
next to the trivial baselines and the published PCA T²+Q reference.

Also prints, from the same health column, the missed-alarm rate at a false-alarm rate of 10/15/20 %
with any alarm edge (how far the model's trade-off is from a goal, whatever the edge).

Usage: Benchmarks/health/skab_eval.py [--bin .build/debug] [--data ../shared/benchmarks/skab]
       [--transform SEED] [--parameters NAME=VALUE,...] [--detail]
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
    ap.add_argument("--parameters", metavar="NAME=VALUE,...", help="model parameters for vigil replay (default: the shipped ones)")
    ap.add_argument("--detail", action="store_true", help="per-file counts and where the false alarms fall")
    a = ap.parse_args()
    r = evaluate(a.bin, a.data, a.transform, a.parameters)
    tp, fp, tn, fn = r["tp"], r["fp"], r["tn"], r["fn"]
    pos = (tp + fn) / (tp + fp + tn + fn)
    print(f"# SKAB, 34 files, commissioning on the first 400 rows of each, {tp + fp + tn + fn} scored rows ({pos:.1%} anomalous)")
    print(f"{'model':34s} {'FAR':>7s} {'MAR':>7s} {'F1':>6s}")
    print(f"{'Vigil health model (vigil replay)':34s} {r['far']:7.1%} {r['mar']:7.1%} {r['f1']:6.2f}")
    print(f"{'PCA T²+Q (published reference)':34s} {0.266:7.1%} {0.249:7.1%} {0.76:6.2f}")
    print(f"{'always alarm':34s} {1:7.1%} {0:7.1%} {2 * pos / (1 + pos):6.2f}")
    print(f"{'never alarm':34s} {0:7.1%} {1:7.1%} {0:6.2f}")
    print("# the same health column with any alarm edge (alarm = health <= edge, no hysteresis):")
    print("  " + "; ".join(f"FAR {far:.0%} -> MAR {mar:.1%} (edge {edge:.1f})" for far, (mar, edge) in r["frontier"].items()))
    if a.detail:
        print(f"{'file':14s} {'FA':>5s} {'normal':>6s} {'missed':>6s} {'anomalous':>9s}")
        for name, c in r["files"]:
            print(f"{name:14s} {c['fp']:5d} {c['fp'] + c['tn']:6d} {c['fn']:6d} {c['fn'] + c['tp']:9d}")
        w = r["where"]
        print(f"false-alarm rows: {w['before']} before the file's first anomaly, {w['soon']} within 50 rows after one ended, "
              f"{w['later']} later")

def evaluate(binary, data, transform_seed=None, parameters=None):
    """Replays every labelled file; returns pooled counts, rates, the health column's FAR/MAR
    frontier and per-file counts."""
    files = sorted(f for d in ("valve1", "valve2", "other") for f in glob.glob(os.path.join(data, d, "*.csv")))
    assert len(files) == 34, f"expected 34 labelled files under {data}, found {len(files)}"
    work = tempfile.mkdtemp(prefix="vigil-skab-")
    health, label, per_file, where = [], [], [], {"before": 0, "soon": 0, "later": 0}
    for path in files:
        with open(path) as f:
            rows = list(csv.reader(f, delimiter=";"))
        header, body = rows[0], rows[1:]
        sensors = [h.replace(" ", "_") for h in header[1:9]]
        labels = [float(r[9]) > 0.5 for r in body]
        times, cells = [r[0] for r in body], [r[1:9] for r in body]
        if transform_seed is not None:
            times, sensors, cells = transform(random.Random(f"{transform_seed}:{os.path.relpath(path, data)}"), times, sensors, cells)
        inp, out = os.path.join(work, "in.csv"), os.path.join(work, "out.csv")
        with open(inp, "w") as f:
            f.write("timestamp," + ",".join(sensors) + "\n")
            for t, r in zip(times, cells):
                f.write(t + "," + ",".join(r) + "\n")
        subprocess.run([f"{binary}/vigil", "replay", "--machine", "skab", "--input", inp, "--output", out,
                        "--commission-rows", "400"] + (["--parameters", parameters] if parameters else []), check=True)
        with open(out) as f:
            scored = list(csv.DictReader(f))
        c = {"tp": 0, "fp": 0, "tn": 0, "fn": 0}
        last_anomaly = None
        for i, (row, lab) in enumerate(zip(scored, labels)):
            if lab:
                last_anomaly = i
            if row["status"] == "commissioning":
                continue
            alarm = row["alarm"] == "1"
            c["tp" if alarm and lab else "fp" if alarm else "fn" if lab else "tn"] += 1
            if alarm and not lab:
                where["before" if last_anomaly is None else "soon" if i - last_anomaly <= 50 else "later"] += 1
            health.append(float(row["health"]))
            label.append(lab)
        per_file.append((os.path.relpath(path, data)[:-4], c))
    tp, fp, tn, fn = (sum(c[k] for _, c in per_file) for k in ("tp", "fp", "tn", "fn"))
    return {"tp": tp, "fp": fp, "tn": tn, "fn": fn, "far": fp / (fp + tn), "mar": fn / (fn + tp),
            "f1": 2 * tp / (2 * tp + fp + fn), "frontier": frontier(health, label), "files": per_file, "where": where}

def frontier(health, label, rates=(0.10, 0.15, 0.20)):
    """For each false-alarm rate, the missed-alarm rate and the edge when alarm = health <= edge
    (an edge that alarms about that share of the normal rows)."""
    normal = sorted(h for h, lab in zip(health, label) if not lab)
    anomalous = [h for h, lab in zip(health, label) if lab]
    out = {}
    for far in rates:
        edge = normal[int(far * len(normal))]
        out[far] = (sum(1 for h in anomalous if h > edge) / len(anomalous), edge)
    return out

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
