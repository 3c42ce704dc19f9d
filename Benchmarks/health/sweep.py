#!/usr/bin/env python3
"""Random search over the health model's parameters through `vigil replay` (the production code).

For the shipped parameters and then --runs random sets drawn from a grid around them, prints the
SKAB rates at the default alarm edge, SKAB's missed-alarm rate at a 15 % false-alarm rate with any
edge (the model's trade-off, whatever the edge) and the C-MAPSS FD001 Spearman on the test engines.
What it is for: telling a change that moves the trade-off from one that only moves along it.

Usage: Benchmarks/health/sweep.py [--bin .build/release] [--runs 20] [--seed 1]
"""
import argparse, os, random, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cmapss_eval, skab_eval  # noqa: E402

GRID = {"smoothing": [0.03, 0.05, 0.07, 0.1, 0.15], "fastSmoothing": [0.3, 0.5, 0.7, 1.0],
        "extraShrinkage": [0.3, 0.45, 0.6, 0.75, 0.9], "thresholdFactor": [2.5, 3.5, 5],
        "fastThresholdFactor": [0.7, 1.05, 1.5, 2.1, 2.8], "spreadWindow": [0.1, 0.25, 0.4]}

def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=".build/release")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    skab = os.path.normpath(os.path.join(here, "../../../shared/benchmarks/skab"))
    cmapss = os.path.normpath(os.path.join(here, "../../../shared/benchmarks/cmapss"))
    rng = random.Random(a.seed)
    print(f"{'parameters':100s} {'FAR':>6s} {'MAR':>6s} {'MAR@15':>7s} {'C-MAPSS':>8s}")
    for run in range(a.runs + 1):
        params = None if run == 0 else ",".join(f"{k}={rng.choice(v)}" for k, v in GRID.items())
        s = skab_eval.evaluate(a.bin, skab, parameters=params)
        c = cmapss_eval.evaluate(a.bin, cmapss, parameters=params, training=False)
        print(f"{params or '(shipped)':100s} {s['far']:6.1%} {s['mar']:6.1%} {s['frontier'][0.15][0]:7.1%} {c['rho']:8.3f}", flush=True)

if __name__ == "__main__":
    main()
