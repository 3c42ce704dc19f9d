#!/usr/bin/env python3
"""A numpy replica of the `vigil-health-2` scorer, for trying changes to the model in seconds,
and the structural variants tried on SKAB and C-MAPSS (docs/health.md, "What holds SKAB back").

The replica is not the product: `--check` first replays every SKAB file through `vigil replay`
and fails unless the replica's alarm column is identical and its health within 0.01 (the CSV's
two decimals). Each variant then reports, on SKAB, FAR/MAR at its default edge and the
missed-alarm rate at 10/15/20 % false alarms with any edge, and C-MAPSS FD001's Spearman.

Usage: Benchmarks/health/replica.py [--check] [--bin .build/release]   (needs numpy and scipy)
"""
import argparse, csv, glob, os, subprocess, sys, tempfile
import numpy as np
from scipy.stats import spearmanr

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import skab_eval  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SKAB = os.path.normpath(os.path.join(HERE, "../../../shared/benchmarks/skab"))
CMAPSS = os.path.normpath(os.path.join(HERE, "../../../shared/benchmarks/cmapss"))
SHIPPED = dict(smoothing=0.07, fast=0.5, shrink=0.6, edge=3.5, fast_edge=1.5, window=0.25)

# --- the model, as Sources/VigilHealth/HealthModel.swift and HealthScorer.swift compute it ---

def standardize(X, center, scale):
    d = X - center
    z = np.where(scale > 0, d / np.where(scale > 0, scale, 1), 0.0)
    moved = np.abs(d) > 1e-9 * np.maximum(np.abs(X), np.abs(center))
    return np.where((scale == 0) & moved, np.sign(d) * 6.0, z)  # a flat sensor that moves: 6 spreads

def long_run_variance(c, window):
    n, d = len(c), c - c.mean()
    ac = lambda lag: (d[lag:] * d[:n - lag]).sum() / n
    v = ac(0)
    return v, v + sum(2 * (1 - lag / (window + 1)) * ac(lag) for lag in range(1, window + 1))

def ledoit_wolf(z):
    n, p = z.shape
    d = z - z.mean(0)
    s = d.T @ d / n
    mu = np.trace(s) / p
    d2 = ((s - mu * np.eye(p)) ** 2).sum()
    b2 = min(sum(((np.outer(r, r) - s) ** 2).sum() for r in d) / n / n, d2)
    k = b2 / d2 if d2 > 0 else 1
    return (1 - k) * s + k * mu * np.eye(p), z.mean(0)

def train(X, prm, covariance=ledoit_wolf, statistics=None, peak=np.max, floor=0.0):
    statistics = statistics or smoothed_statistics
    n, p = X.shape
    window = min(n - 1, int(n * prm["window"]))
    center, scale = np.median(X, 0), np.zeros(p)
    for j in range(p):
        c = X[:, j]
        if not c.max() - c.min() > 1e-9 * max(abs(c.min()), abs(c.max())):
            continue
        v, lr = long_run_variance(c, window)
        steps = np.diff(np.unique(c))
        spread = max(1.4826 * np.median(np.abs(c - center[j])), np.sqrt(v), steps.min() if len(steps) else 0)
        scale[j] = spread * np.sqrt(max(1, lr / max(v, 1e-300)))
    cov, mean = covariance(standardize(X, center, scale))
    mu = np.trace(cov) / p
    m = dict(center=center, scale=scale, mean=mean, edge=1.0, fast_edge=1.0,
             precision=np.linalg.inv((1 - prm["shrink"]) * cov + prm["shrink"] * mu * np.eye(p)))
    slow, fast = statistics(m, X, prm)
    warm = min(n // 4, int(np.ceil(3 / max(prm["smoothing"], 0.01)))) if n > 60 else 0
    m["edge"] = max(peak(slow[warm:]), p * 1e-3, floor * p / prm["edge"]) * prm["edge"]
    m["fast_edge"] = max(peak(fast[warm:]), p * 1e-3) * prm["fast_edge"]
    return m

def smoothed_statistics(m, X, prm):
    z = standardize(X, m["center"], m["scale"])
    a, b, P, mu = prm["smoothing"], prm["fast"], m["precision"], m["mean"]
    slow, fast = np.zeros(len(z)), np.zeros(len(z))
    s = f = None
    for i, r in enumerate(z):
        s = r.copy() if s is None else a * r + (1 - a) * s
        f = r.copy() if f is None else b * r + (1 - b) * f
        slow[i], fast[i] = max(0, (s - mu) @ P @ (s - mu)), max(0, (f - mu) @ P @ (f - mu))
    return slow, fast

def health(m, X, prm, statistics=None):
    slow, fast = (statistics or smoothed_statistics)(m, X, prm)
    return 100 * 2.0 ** -np.maximum(slow / m["edge"], fast / m["fast_edge"])

def alarms(H, edge=50, hysteresis=5):
    """The alarm column of the status bands: entered at health <= edge, left above edge + hysteresis."""
    out, on = np.zeros(len(H), bool), False
    for i, h in enumerate(H):
        on = h <= edge or (on and h <= edge + hysteresis)
        out[i] = on
    return out

# --- data and measures ---

def skab_files():
    files = sorted(f for d in ("valve1", "valve2", "other") for f in glob.glob(os.path.join(SKAB, d, "*.csv")))
    out = []
    for path in files:
        rows = list(csv.reader(open(path), delimiter=";"))
        out.append((os.path.relpath(path, SKAB), [r[0] for r in rows[1:]], rows[0][1:9],
                    np.array([[float(v) for v in r[1:9]] for r in rows[1:]]), np.array([float(r[9]) > 0.5 for r in rows[1:]])))
    return out

def skab(files, score, n0=400, hysteresis=5):
    """score(X, n0) -> health per row. Returns FAR, MAR at the 50 edge and MAR at 10/15/20 % FAR."""
    H, Y = [], []
    for _, _, _, X, y in files:
        H.append(score(X, n0)[n0:])
        Y.append(y[n0:])
    al = np.concatenate([alarms(h, hysteresis=hysteresis) for h in H])
    H, Y = np.concatenate(H), np.concatenate(Y)
    far, mar = (al & ~Y).sum() / (~Y).sum(), (~al & Y).sum() / Y.sum()
    return far, mar, [mar for mar, _ in skab_eval.frontier(H.tolist(), Y.tolist()).values()]

def cmapss(score_last):
    def units(path):
        a = np.loadtxt(path)
        return {int(u): a[a[:, 0] == u][:, 5:] for u in np.unique(a[:, 0])}
    train_units, test_units = units(os.path.join(CMAPSS, "train_FD001.txt")), units(os.path.join(CMAPSS, "test_FD001.txt"))
    rul = np.loadtxt(os.path.join(CMAPSS, "RUL_FD001.txt"))
    reference = np.vstack([train_units[u][:30] for u in sorted(train_units)])
    return spearmanr(score_last(reference, [test_units[u] for u in sorted(test_units)]), rul).correlation

# --- the variants tried ---

def newey_west_covariance(z, share=0.25):
    n, _ = z.shape
    d, w = z - z.mean(0), min(n - 1, int(n * share))
    O = d.T @ d / n
    for lag in range(1, w + 1):
        G = d[lag:].T @ d[:n - lag] / n
        O += (1 - lag / (w + 1)) * (G + G.T)
    ev, V = np.linalg.eigh(O)
    return V @ np.diag(np.maximum(ev, 1e-6 * ev.max())) @ V.T, z.mean(0)

def window_statistics(kind, length):
    """The slow horizon as a finite weighted window instead of an exponential one."""
    k = np.arange(length)
    w = {"boxcar": np.ones(length), "triangle": (length - k).astype(float)}[kind]
    def statistics(m, X, prm):
        z = standardize(X, m["center"], m["scale"])
        b, P, mu = prm["fast"], m["precision"], m["mean"]
        slow, fast, f = np.zeros(len(z)), np.zeros(len(z)), None
        for i in range(len(z)):
            seg = z[max(0, i - length + 1):i + 1][::-1]
            s = (w[:len(seg), None] * seg).sum(0) / w[:len(seg)].sum()
            f = z[i].copy() if f is None else b * z[i] + (1 - b) * f
            slow[i], fast[i] = max(0, (s - mu) @ P @ (s - mu)), max(0, (f - mu) @ P @ (f - mu))
        return slow, fast
    return statistics

def dispersion(X, n0, smoothing=0.1, factor=2.5):
    """A variance chart beside the mean charts: per sensor, the smoothed squared step between rows
    over its commissioning mean; the largest sensor's ratio over factor x its commissioning peak."""
    q = np.diff(X, axis=0, prepend=X[:1]) ** 2
    ref = q[1:n0].mean(0)
    ok = ref > 0
    v, out = q[0], np.zeros(len(X))
    for i in range(len(X)):
        v = smoothing * q[i] + (1 - smoothing) * v
        out[i] = np.where(ok, v / np.where(ok, ref, 1), 0).max()
    warm = int(np.ceil(3 / smoothing))
    return out / (out[warm:n0].max() * factor)

def variants():
    v = {"shipped": {}}
    v["long-run (Newey-West) covariance"] = dict(covariance=newey_west_covariance)
    for kind, length in (("boxcar", 28), ("triangle", 40)):
        v[f"slow horizon: {kind} window of {length}"] = dict(statistics=window_statistics(kind, length))
    v["edges on the 99th percentile, not the peak"] = dict(peak=lambda t: np.quantile(t, 0.99))
    v["slow edge at least T2 = 1 per sensor"] = dict(floor=1.0)
    v["plus a dispersion chart"] = dict(dispersion=True)
    v["hysteresis 10 instead of 5"] = dict(hysteresis=10)
    return v

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="compare the replica with vigil replay on SKAB first")
    ap.add_argument("--bin", default=".build/release")
    a = ap.parse_args()
    files = skab_files()
    if a.check:
        work = tempfile.mkdtemp(prefix="vigil-replica-")
        for name, times, header, X, _ in files:
            inp, out = os.path.join(work, "in.csv"), os.path.join(work, "out.csv")
            with open(inp, "w") as f:
                f.write("timestamp," + ",".join(h.replace(" ", "_") for h in header) + "\n")
                f.writelines(t + "," + ",".join(repr(float(x)) for x in r) + "\n" for t, r in zip(times, X))
            subprocess.run([f"{a.bin}/vigil", "replay", "--machine", "m", "--input", inp, "--output", out], check=True)
            rows = [r for r in csv.DictReader(open(out)) if r["status"] != "commissioning"]
            H = health(train(X[:400], SHIPPED), X, SHIPPED)[400:]
            assert np.abs(H - [float(r["health"]) for r in rows]).max() <= 0.0051, name
            assert (alarms(H) == np.array([r["alarm"] == "1" for r in rows])).all(), name
        print("replica = vigil replay on all 34 SKAB files (alarms identical, health within 0.005)")
    print(f"{'variant':44s} {'FAR':>6s} {'MAR':>6s}   MAR at FAR 10/15/20 %   C-MAPSS")
    for label, kw in variants().items():
        statistics, hysteresis, disp = kw.pop("statistics", None), kw.pop("hysteresis", 5), kw.pop("dispersion", False)
        model = lambda X: train(X, SHIPPED, statistics=statistics, **kw)
        def score(X, n0):
            H = health(model(X[:n0]), X, SHIPPED, statistics)
            return np.minimum(H, 100 * 2.0 ** -dispersion(X, n0)) if disp else H
        far, mar, front = skab(files, score, hysteresis=hysteresis)
        rho = cmapss(lambda ref, tests: [health(m, X, SHIPPED, statistics)[-1] for m in [model(ref)] for X in tests])
        print(f"{label:44s} {far:6.1%} {mar:6.1%}   {front[0]:5.1%} {front[1]:5.1%} {front[2]:5.1%}   {rho:7.3f}", flush=True)

if __name__ == "__main__":
    main()
