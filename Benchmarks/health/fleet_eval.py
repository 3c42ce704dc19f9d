#!/usr/bin/env python3
"""Simulated-fleet evaluation of health through the whole product: vigil-sim → mosquitto →
vigild (gateway, rollups, health service) → HTTP API, scored against vigil-sim's ground truth.

Publishes a month of a fleet (wear to failure, injected faults, `--labels`) into a fresh broker
and release vigild, waits until every machine is scored to the end and the pipeline is idle, then evaluates
each machine's first life (from the start to its first failure):
- lead time: how long before the failure health first reached `alarm`, as a share of the life;
- false alarms: alarm episodes that began while the machine's true wear was below 0.1 (the
  first ≈ 40 % of its life) and outside any injected process fault (+1 h after it), per 100
  machine-days of scored time, each listed with what the alarm said and the nearest injected fault;
- process faults: injected process faults during which health reached `alarm`; sensor faults
  (injected into one sensor) during which an alarm episode began at true wear < 0.1 (a sensor
  fault must never take a machine to `alarm`);
- retraining: model versions created by drift/schedule, and whether health still fell with wear.

Then it judges the sensor-fault detector over the whole month (after each machine's commissioning
day, outside the hours a failed machine is down), from the `sensor_fault` events:
- found: an injected sensor fault for which a fault of the right sensor and kind (`expect` in the
  labels) opened within the allowed latency from its start (spike 1 min, rail 2 min, dropout 5 min,
  stuck and noise 15 min, drift and calibration steps before the fault ends); late, wrong-kind
  and missed ones are listed apart;
- false: sensor faults that opened outside every injected fault of that sensor (from its start to
  an hour after its end), per 100 sensor-days;
- process faults called a sensor fault: any sensor fault opening on the machine during one.

`--live MINUTES` judges the same detectors live instead of on a backlog: the fleet at 1 Hz in
8-reading line-protocol messages (one a machine a second, as firmware publishes), a commissioning
day and an hour of history backfilled (`vigil-sim --backfill 25h`, no fault in them:
`--faults-after 25h`), then MINUTES in real time with `--faults` per machine-day of the kinds
that can begin and be decided within the window (all but drift and calibration unless
`--fault-kinds` says otherwise), into a vigild with its shipped settings — health scored each
minute as it comes, the judge reading raw readings to a few seconds ago. A fault counts when its
allowed latency has passed before the window ends (a drift when it has ended).

Usage: Benchmarks/health/fleet_eval.py [--machines 20] [--days 30] [--seed 7] [--faults 0.5] [--bin .build/release] [--end MS]
       Benchmarks/health/fleet_eval.py --live 90 [--machines 40] [--faults 24] [--seed 7]
"""
import argparse, json, os, subprocess, sys, tempfile, time, urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from ingest import Broker, Vigild  # noqa: E402

def get(url):
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.loads(r.read())

# How long after an injected fault starts a report of its kind still counts as found in time (ms;
# None: before the fault ends).
LATENCY = {"spike": 60_000, "out_of_range": 120_000, "dropout": 300_000, "stuck": 900_000, "noise": 900_000, "drift": None}


def alarm_episodes(hist):
    """When each alarm episode of a health history began."""
    return [h["ts"] for p, h in zip([None] + hist, hist) if h["status"] == "alarm" and (p is None or p["status"] != "alarm")]


def during(t, ts):
    """Whether `ts` falls in injected fault `t` (from a minute before it to 10 minutes after: a
    minute's health is stamped with the minute's start, and health takes minutes to settle)."""
    return t["start"] - 60_000 < ts < t["end"] + 600_000


def events(base, machine, kind):
    out, before = [], None
    while True:
        page = get(f"{base}/events?kind={kind}&machine={machine}&limit=10000" + (f"&before={before}" if before else ""))
        out += page
        if len(page) < 10000:
            return out
        before = page[-1]["id"]


def sensor_faults(base, truth, machines, start, end, live=False):
    """The sensor-fault detector against the labels, over the whole month."""
    commissioned = start + 86_400_000
    found, late, wrong, missed, false, sensor_days = {}, [], [], [], [], 0.0
    process, process_called = 0, []
    latencies = {}
    for m in machines:
        # When the machine was down (failure → repair + 1 h): nothing to judge.
        down, failed = [], None
        for t in sorted((t for t in truth if t.get("machine") == m and t["type"] in ("failure", "maintenance")), key=lambda t: t["ts"]):
            if t["type"] == "failure":
                failed = t["ts"]
            elif failed is not None:
                down.append((failed, t["ts"] + 3_600_000))
                failed = None
        if failed is not None:
            down.append((failed, end))
        sensor_days += 8 * ((end - commissioned) - sum(min(b, end) - max(a, commissioned) for a, b in down if b > commissioned)) / 86_400_000
        opened = [e for e in events(base, m, "sensor_fault")]
        faults = [t for t in truth if t["type"] == "fault" and t["machine"] == m]
        judged_by = lambda t: t["end"] if not live or t["expect"] is None or LATENCY[t["expect"]] is None else t["start"] + LATENCY[t["expect"]]
        eligible = [t for t in faults if t["start"] >= commissioned and judged_by(t) <= end
                    and not any(a < t["end"] + 3_600_000 and t["start"] < b for a, b in down)]
        for t in eligible:
            if t["expect"] is None:
                process += 1
                called = [e for e in opened if t["start"] <= e["at"] < t["end"] + 1_800_000]
                if called:
                    process_called.append(f'{m} {t["start"]}: ' + ", ".join(f'{e["sensor"]}:{e["fault"]["kind"]}' for e in called))
                continue
            kind, limit = t["expect"], LATENCY[t["expect"]]
            mine = [e for e in opened if e["sensor"] == t["sensor"] and t["start"] - 60_000 <= e["at"] < t["end"] + 3_600_000]
            right = [e for e in mine if e["fault"]["kind"] == kind]
            label = f'{m} {t["sensor"]} {t["kind"]}'
            if right and (right[-1]["at"] <= t["end"] if limit is None else min(e["at"] for e in right) - t["start"] <= limit):
                found.setdefault(t["kind"], []).append(label)
                latencies.setdefault(t["kind"], []).append(max(0, min(e["at"] for e in right) - t["start"]) / 1000)
            elif right:
                late.append(f'{label} after {(min(e["at"] for e in right) - t["start"]) / 60_000:.0f} min')
            elif mine:
                wrong.append(f'{label} as {",".join(sorted({e["fault"]["kind"] for e in mine}))}')
            else:
                missed.append(label)
        for e in opened:
            if e["at"] < commissioned or any(a <= e["at"] < b for a, b in down):
                continue
            if not any(t["start"] - 60_000 <= e["at"] < t["end"] + 3_600_000 and (t["expect"] is None or t["sensor"] == e["sensor"]) for t in faults):
                false.append(f'{m} {e["sensor"]}:{e["fault"]["kind"]} at {time.strftime("%m-%d %H:%M", time.gmtime(e["at"] / 1000))}')
    print("\n# sensor faults (after each machine's commissioning day, outside downtime)")
    kinds = sorted({t["kind"] for t in truth if t["type"] == "fault" and t["expect"] is not None})
    total = lambda k: len(found.get(k, [])) + sum(1 for x in late + wrong + missed if x.split(" ")[2] == k)
    print(f"{'injected kind':14s} {'found':>9s} {'median latency':>15s} {'slowest':>9s}")
    for k in kinds:
        lat = sorted(latencies.get(k, []))
        print(f"{k:14s} {len(found.get(k, [])):>4d} / {total(k):<3d} {(f'{lat[len(lat) // 2]:.0f} s' if lat else '-'):>15s} {(f'{lat[-1]:.0f} s' if lat else '-'):>9s}")
    n_found = sum(len(v) for v in found.values())
    n_all = n_found + len(late) + len(wrong) + len(missed)
    print(f"found in time: {n_found}/{n_all}; late: {late}; as another kind: {wrong}; missed: {missed}")
    print(f"false sensor faults: {len(false)} in {sensor_days:.0f} sensor-days = {100 * len(false) / max(sensor_days, 1e-9):.2f} per 100 sensor-days {false}")
    print(f"process faults called a sensor fault: {len(process_called)}/{process} {process_called}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--machines", type=int, default=20)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--life", default="8d-25d")
    ap.add_argument("--faults", help="injected faults per machine-day (default 0.5; live: 24)")
    ap.add_argument("--fault-kinds", help="only these kinds of injected fault (vigil-sim --fault-kinds, e.g. drift,calibration)")
    ap.add_argument("--bin", default=".build/release")
    ap.add_argument("--live", type=int, metavar="MINUTES", help="judge live: a commissioning day and an hour backfilled at 1 Hz, "
                    "then MINUTES in real time with faults (see above)")
    ap.add_argument("--end", type=int, help="epoch ms at which the simulated month ends (a past whole hour, to compare runs of "
                    "different hours on the same fleet lives; default: the last full hour)")
    a = ap.parse_args()
    if a.live is not None:
        a.faults = a.faults or "24"
        return live(a)
    a.faults = a.faults or "0.5"
    work = tempfile.mkdtemp(prefix="vigil-fleet-")
    broker = Broker(work)
    d = Vigild(a.bin, work, broker, {"VIGIL_ROLLUP_FLUSH_DELAY_SECONDS": "1", "VIGIL_HEALTH_COMMISSION_MINUTES": "1440"})
    base = d.base + "/api/v1"
    try:
        now = int(time.time() * 1000) // 3_600_000 * 3_600_000
        if a.end is not None:
            if a.end > now or a.end % 3_600_000:
                sys.exit("--end must be a whole hour in the past")
            now = a.end
        start = now - (a.days + 1) * 86_400_000
        labels = os.path.join(work, "truth.jsonl")
        t0 = time.time()
        subprocess.run([f"{a.bin}/vigil-sim", "--broker", f"mqtt://127.0.0.1:{broker.port}", "--machines", str(a.machines),
                        "--sensors", "8", "--interval", "10", "--start", str(start), "--duration", f"{a.days}d",
                        "--speedup", "1000000", "--life", a.life, "--faults", a.faults, "--seed", str(a.seed),
                        "--labels", labels, "--format", "batch", "--batch", "60", "--quiet"]
                       + (["--fault-kinds", a.fault_kinds] if a.fault_kinds else []), check=True)
        sim_s = time.time() - t0
        truth = [json.loads(l) for l in open(labels)]
        machines = sorted({t["machine"] for t in truth if "machine" in t} | {m["id"] for m in get(f"{base}/machines")})
        end = start + a.days * 86_400_000
        first_failure = {m: min((t["ts"] for t in truth if t["type"] == "failure" and t["machine"] == m), default=None) for m in machines}
        # Wait until every machine is scored to the end (less a failed machine's downtime).
        deadline = time.time() + 1800
        while True:
            done = 0
            for m in machines:
                target = end - 5 * 3_600_000
                if get(f"{base}/machines/{m}/health/history?from={target}&limit=1"):
                    done += 1
            if done == len(machines):
                break
            if time.time() > deadline:
                print(f"timed out: {done}/{len(machines)} machines scored through their first failure")
                break
            time.sleep(5)
        # Then until the pipeline is idle (every machine's health and the newest event unchanged for
        # 20 s): a machine scored past end - 5 h may still be judging its last hours, and a fault
        # ending near the month's end would otherwise be found or not by when this run looks.
        last, still = None, 0
        while still < 4 and time.time() < deadline:
            now_state = (json.dumps([(m["id"], m.get("health")) for m in get(f"{base}/machines")], sort_keys=True),
                         json.dumps(get(f"{base}/events?limit=1"), sort_keys=True))
            still = still + 1 if now_state == last else 0
            last = now_state
            time.sleep(5)
        pipeline_s = time.time() - t0

        leads, reached, false_alarms, machine_days, retrains, false_detail = [], 0, 0, 0.0, {}, []
        process_total, process_alarmed, sensor_total, sensor_alarmed = 0, 0, 0, []
        trend = []
        rows = []
        for m in machines:
            fail = first_failure[m]
            stop = fail or end
            hist = [h for h in get(f"{base}/machines/{m}/health/history?limit=100000") if h["ts"] < stop]
            wear = sorted((t["ts"], t["wear"]) for t in truth if t["type"] == "wear" and t["machine"] == m and t["ts"] < stop)
            faults = [t for t in truth if t["type"] == "fault" and t["machine"] == m and t["start"] < stop]
            process = [(t["start"], t["end"] + 3_600_000) for t in faults if t["expect"] is None]
            def wear_at(ts):
                w = 0.0
                for t, v in wear:
                    if t > ts:
                        break
                    w = v
                return w
            models = get(f"{base}/machines/{m}/models")
            for v in models:
                if v["trigger"] in ("drift", "schedule"):
                    key = f'{v["trigger"]} {v["gateDecision"]}'
                    retrains[key] = retrains.get(key, 0) + 1
            if not hist:
                rows.append((m, fail, None, None, 0))
                continue
            machine_days += (hist[-1]["ts"] - hist[0]["ts"]) / 86_400_000
            episodes = alarm_episodes(hist)
            # A minute's health is stamped with the minute's start: an alarm decided on the minute a
            # fault began in is that fault's.
            fa = [e for e in episodes if wear_at(e) < 0.1 and not any(s - 60_000 < e < f for s, f in process)]
            false_alarms += len(fa)
            # What each false alarm said, and the injected fault nearest to it (for diagnosis).
            if fa:
                alarms = [x for x in events(base, m, "status_changed") if "→ alarm" in x.get("detail", "")]
                for e in fa:
                    said = min(alarms, key=lambda x: abs(x["at"] - e), default=None)
                    near = min(faults, key=lambda t: 0 if t["start"] <= e <= t["end"] else min(abs(e - t["start"]), abs(e - t["end"])), default=None)
                    where = "-" if near is None else (f'{near["kind"]} {near.get("sensor") or ""} {(near["start"] - e) / 60_000:+.0f}..'
                                                      f'{(near["end"] - e) / 60_000:+.0f} min')
                    false_detail.append(f'{m} {time.strftime("%m-%d %H:%M", time.gmtime(e / 1000))} wear {wear_at(e):.3f}: '
                                        f'{said["detail"] if said else "?"}; nearest fault: {where}')
            for t in faults:
                if t["start"] < hist[0]["ts"]:
                    continue  # during commissioning
                if t["expect"] is None:
                    process_total += 1
                    process_alarmed += any(h["status"] == "alarm" for h in hist if during(t, h["ts"]))
                else:
                    sensor_total += 1
                    sensor_alarmed += [f'{m} {t["kind"]} {t["sensor"]}' for e in episodes
                                       if during(t, e) and wear_at(e) < 0.1][:1]
            first_alarm = next((h["ts"] for h in hist if h["status"] == "alarm" and wear_at(h["ts"]) >= 0.1), None)
            lead = None
            if fail is not None:
                life = fail - start  # the first life as observed (it began before the simulation)
                if first_alarm is not None:
                    reached += 1
                    lead = (fail - first_alarm) / life
                    leads.append(lead)
            day = 1440
            trend.append((sum(h["health"] for h in hist[:day]) / min(day, len(hist)), sum(h["health"] for h in hist[-day:]) / min(day, len(hist))))
            rows.append((m, fail, first_alarm, lead, len(fa)))
        failures = sum(1 for m in machines if first_failure[m] is not None)
        print(f"# simulated fleet: {len(machines)} machines × 8 sensors at 0.1 Hz, {a.days} days, life {a.life}, "
              f"{a.faults} faults/machine-day, seed {a.seed}; commissioning on the first 1,440 minutes")
        print(f"vigil-sim published in {sim_s:.0f} s; the whole pipeline had scored every machine after {pipeline_s:.0f} s")
        print(f"{'machine':16s} {'first failure':>22s} {'first alarm':>22s} {'lead':>7s} {'false alarms':>12s}")
        fmt = lambda ms: time.strftime("%Y-%m-%d %H:%M", time.gmtime(ms / 1000)) if ms else "-"
        for m, fail, fa_ts, lead, n in rows:
            print(f"{m:16s} {fmt(fail):>22s} {fmt(fa_ts):>22s} {('%.1f %%' % (lead * 100)) if lead is not None else '-':>7s} {n:>12d}")
        leads.sort()
        median = leads[len(leads) // 2] if leads else 0
        print(f"failures: {failures}; reached alarm before failing: {reached}/{failures}; median lead {median:.1%} of life")
        print(f"false alarms: {false_alarms} in {machine_days:.0f} scored machine-days = {100 * false_alarms / max(machine_days, 1e-9):.2f} per 100 machine-days")
        for line in false_detail:
            print(f"  {line}")
        print(f"process faults during which health reached alarm: {process_alarmed}/{process_total}")
        print(f"sensor faults during which an alarm episode began at wear < 0.1: {len(sensor_alarmed)}/{sensor_total} {sensor_alarmed or ''}")
        fell = sum(1 for e, l in trend if l < e)
        print(f"retraining candidates (trigger and gate decision): {dict(sorted(retrains.items())) or 'none'}; health lower in the last day than the first day of the first life: {fell}/{len(trend)} machines")
        sensor_faults(base, truth, machines, start, end)
    finally:
        d.stop()
        broker.stop()

def live(a):
    """The sensor-fault detector and health judged as they run live (see the module's doc)."""
    work = tempfile.mkdtemp(prefix="vigil-fleet-live-")
    broker = Broker(work)
    d = Vigild(a.bin, work, broker)
    base = d.base + "/api/v1"
    kinds = a.fault_kinds or "spike,spike_burst,stuck,stuck_wobble,rail,noise,dropout,process"
    try:
        labels = os.path.join(work, "truth.jsonl")
        t0 = time.time()
        sim = subprocess.run([f"{a.bin}/vigil-sim", "--broker", f"mqtt://127.0.0.1:{broker.port}", "--machines", str(a.machines),
                              "--sensors", "8", "--interval", "1", "--backfill", "25h", "--duration", f"{25 * 60 + a.live}m",
                              "--life", "off", "--faults", a.faults, "--faults-after", "25h", "--fault-kinds", kinds,
                              "--seed", str(a.seed), "--labels", labels, "--format", "line", "--quiet"], check=True)
        start = int(t0 * 1000) - 25 * 3_600_000  # the stream's first reading (vigil-sim --backfill)
        end = start + (25 * 60 + a.live) * 60_000
        truth = [json.loads(l) for l in open(labels)]
        machines = sorted({t["machine"] for t in truth if "machine" in t} | {m["id"] for m in get(f"{base}/machines")})
        # What is decided within a minute of the stream's end still counts for faults that allowed it.
        time.sleep(60)
        print(f"# live: {len(machines)} machines × 8 sensors at 1 Hz, 25 h backfilled then {a.live} min in real time "
              f"({time.time() - t0:.0f} s in all), faults {a.faults}/machine-day of {kinds}, seed {a.seed}, vigild's shipped settings")
        process_total, process_alarmed, sensor_total, sensor_alarmed, false_alarms = 0, 0, 0, [], []
        for m in machines:
            hist = get(f"{base}/machines/{m}/health/history?from={start + 86_400_000}&limit=100000")
            episodes = alarm_episodes(hist)
            faults = [t for t in truth if t["type"] == "fault" and t["machine"] == m]
            for t in faults:
                if t["expect"] is None:
                    process_total += 1
                    process_alarmed += any(h["status"] == "alarm" for h in hist if during(t, h["ts"]))
                else:
                    sensor_total += 1
                    sensor_alarmed += [f'{m} {t["kind"]} {t["sensor"]}' for e in episodes if during(t, e)][:1]
            false_alarms += [f'{m} {time.strftime("%H:%M", time.gmtime(e / 1000))}' for e in episodes
                             if not any(during(t, e) for t in faults)]
        print(f"process faults during which health reached alarm: {process_alarmed}/{process_total}")
        print(f"sensor faults during which an alarm episode began: {len(sensor_alarmed)}/{sensor_total} {sensor_alarmed or ''}")
        print(f"alarm episodes outside every injected fault: {len(false_alarms)} {false_alarms or ''}")
        sensor_faults(base, truth, machines, start, end, live=True)
    finally:
        d.stop()
        broker.stop()


if __name__ == "__main__":
    main()
