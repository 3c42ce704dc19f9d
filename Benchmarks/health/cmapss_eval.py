#!/usr/bin/env python3
"""NASA C-MAPSS FD001 evaluation of the health model through `vigil replay`.

Each engine is a machine with one row per cycle and its 21 sensors (the 3 operating settings
are not sensors and are left out). The fleet reference is the first 30 cycles of every training
engine (`vigil replay --reference`), since test engines can be as short as 31 cycles. Reports the
Spearman rank correlation between each test engine's health at its last cycle and its true
remaining life (RUL_FD001), next to the "age only" baseline (fewer cycles run = more life left),
and, on the 100 run-to-failure training engines, how health trends toward failure.

Usage: Benchmarks/health/cmapss_eval.py [--bin .build/debug] [--data ../shared/benchmarks/cmapss]
       [--transform SEED] [--parameters NAME=VALUE,...]
"""
import argparse, csv, os, random, subprocess, tempfile

def rank(xs):
    order = sorted(range(len(xs)), key=lambda i: xs[i])
    r = [0.0] * len(xs)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and xs[order[j + 1]] == xs[order[i]]:
            j += 1
        for k in range(i, j + 1):
            r[order[k]] = (i + j) / 2
        i = j + 1
    return r

def spearman(a, b):
    ra, rb = rank(a), rank(b)
    n = len(a)
    ma, mb = sum(ra) / n, sum(rb) / n
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb))
    va = sum((x - ma) ** 2 for x in ra) ** 0.5
    vb = sum((y - mb) ** 2 for y in rb) ** 0.5
    return cov / (va * vb)

def units(path):
    out = {}
    for line in open(path):
        f = line.split()
        if f:
            out.setdefault(int(f[0]), []).append([float(x) for x in f[1:]])
    return out

# The fleet's units: identity unless --transform gives every sensor x -> a*x + b (random a of either
# sign, |a| in 1e-3..1e3, b up to 1e4 times the sensor's level), its columns shuffled and renamed,
# and cycle numbers shifted. The same for every engine, as one gateway's configuration would be.
UNITS = {"names": [f"s{i}" for i in range(1, 22)], "order": list(range(21)), "a": [1.0] * 21, "b": [0.0] * 21, "shift": 0}

def set_units(seed):
    rng = random.Random(seed)
    UNITS["a"] = [rng.choice([-1, 1]) * 10 ** rng.uniform(-3, 3) for _ in range(21)]
    UNITS["b"] = [rng.uniform(-1e4, 1e4) * abs(a) for a in UNITS["a"]]
    rng.shuffle(UNITS["order"])
    UNITS["names"] = [f"x{rng.randrange(10**6)}_{k}" for k in range(21)]
    UNITS["shift"] = rng.randrange(10**6)

def write(path, rows):
    u = UNITS
    with open(path, "w") as f:
        f.write("timestamp," + ",".join(u["names"]) + "\n")
        for r in rows:
            cells = [u["a"][j] * r[4 + j] + u["b"][j] for j in range(21)]
            f.write(str(int(r[0]) + u["shift"]) + "," + ",".join(repr(cells[j]) for j in u["order"]) + "\n")

def replay(binary, work, name, rows, reference, parameters=None):
    inp, out = os.path.join(work, f"{name}.csv"), os.path.join(work, f"{name}.out.csv")
    write(inp, rows)
    subprocess.run([f"{binary}/vigil", "replay", "--machine", name, "--input", inp, "--output", out, "--reference", reference]
                   + (["--parameters", parameters] if parameters else []), check=True)
    with open(out) as f:
        return list(csv.DictReader(f))

def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=".build/debug")
    ap.add_argument("--data", default=os.path.normpath(os.path.join(here, "../../../shared/benchmarks/cmapss")))
    ap.add_argument("--transform", type=int, metavar="SEED", help="change the units, order, names and clock first (see UNITS)")
    ap.add_argument("--parameters", metavar="NAME=VALUE,...", help="model parameters for vigil replay (default: the shipped ones)")
    a = ap.parse_args()
    if a.transform is not None:
        set_units(a.transform)
    r = evaluate(a.bin, a.data, a.parameters)
    print(f"# C-MAPSS FD001: fleet reference = first 30 cycles of the 100 training engines; 100 test engines")
    print(f"Spearman(health at last test cycle, true RUL): Vigil {r['rho']:.3f}   age-only baseline {r['rho_age']:.3f}")
    print(f"training engines run to failure: median Spearman(health, -cycle) {r['trend']:.3f}; "
          f"{r['alarmed']}/100 reach alarm before failure; median lead {r['lead']:.1%} of life")

def evaluate(binary, data, parameters=None, training=True):
    """Test engines: Spearman of last-cycle health against true RUL; with `training`, also the
    100 run-to-failure engines' trends, alarms and lead times."""
    train, test = units(os.path.join(data, "train_FD001.txt")), units(os.path.join(data, "test_FD001.txt"))
    rul = [float(x) for x in open(os.path.join(data, "RUL_FD001.txt")).read().split()]
    work = tempfile.mkdtemp(prefix="vigil-cmapss-")
    reference = os.path.join(work, "reference.csv")
    write(reference, [r for u in sorted(train) for r in train[u][:30]])

    last_health, ages = [], []
    for u in sorted(test):
        out = replay(binary, work, f"test{u}", test[u], reference, parameters)
        last_health.append(float(out[-1]["health"]))
        ages.append(len(test[u]))
    result = {"rho": spearman(last_health, rul[:len(last_health)]), "rho_age": spearman([-x for x in ages], rul[:len(ages)])}
    if not training:
        return result
    trend, alarmed, lead = [], 0, []
    for u in sorted(train):
        out = replay(binary, work, f"train{u}", train[u], reference, parameters)
        h = [float(r["health"]) for r in out]
        trend.append(spearman(h, [-i for i in range(len(h))]))
        first_alarm = next((i for i, r in enumerate(out) if r["status"] == "alarm"), None)
        if first_alarm is not None:
            alarmed += 1
            lead.append((len(out) - first_alarm) / len(out))
    lead.sort()
    result.update(trend=sorted(trend)[len(trend) // 2], alarmed=alarmed, lead=lead[len(lead) // 2] if lead else 0)
    return result

if __name__ == "__main__":
    main()
