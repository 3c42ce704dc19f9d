#!/usr/bin/env python3
"""Heap profile of a release vigild under heaptrack: does memory that nothing frees grow with time?

Runs vigild (health on: commissioning after 10 minutes, hourly retraining) under `heaptrack` with
a simulated plant (--machines x 8 sensors at 1 Hz, 1 % duplicates and reordering, a minute-series
query of a random machine every 3 s) once per duration in --minutes, all at the same time, each
with its own broker and database; stops each with SIGTERM. For each run it prints the peak heap,
and the bytes at that peak and still allocated at exit, grouped by the first Vigil function on the
allocating stack (or the library).
A leak shows as a site whose bytes grow with the duration; a bounded cache or pool does not.

Usage: Benchmarks/heap_profile.py [--minutes 10 25] [--machines 50] [--bin .build/release]
       (needs heaptrack: apt-get install heaptrack)
"""
import argparse, collections, json, os, random, re, shutil, signal, subprocess, sys, tempfile, time, urllib.parse, urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ingest import free_port, wait_port  # noqa: E402

def start(binary, minutes, machines, work):
    bport, http = free_port(), free_port()
    with open(f"{work}/mosquitto.conf", "w") as f:
        f.write(f"listener {bport} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\nmax_queued_bytes 1073741824\n")
    broker = subprocess.Popen(["mosquitto", "-c", f"{work}/mosquitto.conf"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(bport)
    open(f"{work}/vigil.toml", "w").close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    env.update(VIGIL_HEALTH_COMMISSION_MINUTES="10", VIGIL_HEALTH_RETRAIN_HOURS="1")
    # heaptrack runs vigild as its child; the process group lets SIGTERM reach it.
    daemon = subprocess.Popen(["heaptrack", "-o", f"{work}/heap", f"{binary}/vigild", "--config", f"{work}/vigil.toml",
                               "--mqtt-url", f"mqtt://127.0.0.1:{bport}", "--db", f"{work}/vigil.sqlite",
                               "--http", f"127.0.0.1:{http}", "--log-level", "warning"],
                              env=env, stdout=open(f"{work}/vigild.log", "w"), stderr=subprocess.STDOUT, start_new_session=True)
    wait_port(http, timeout=60)
    sim = subprocess.Popen([f"{binary}/vigil-sim", "--broker", f"mqtt://127.0.0.1:{bport}", "--machines", str(machines), "--sensors", "8",
                            "--interval", "1", "--format", "batch", "--duplicates", "0.01", "--reorder", "0.01", "--seed", "3",
                            "--life", "off", "--duration", f"{minutes}m"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return dict(minutes=minutes, work=work, broker=broker, daemon=daemon, sim=sim, http=http)

def stop(run):
    """SIGTERM to vigild (heaptrack's child) once its last journal batch and rollups are in."""
    if run.get("stopped"):
        return
    time.sleep(10)
    out = subprocess.run(["pgrep", "-f", f"vigild --config {run['work']}/vigil.toml"], capture_output=True, text=True).stdout.split()
    for pid in (int(p) for p in out if int(p) != run["daemon"].pid):
        os.kill(pid, signal.SIGTERM)
    run["stopped"] = True

def size(text):
    m = re.match(r"([\d.]+)([KMG]?)", text)
    return float(m.group(1)) * {"": 1, "K": 1e3, "M": 1e6, "G": 1e9}[m.group(2)]

def summary(path, what):
    """Peak heap, and by the first Vigil frame of each stack the bytes alive at the peak
    (what="peak") or at exit (what="leaked")."""
    out = subprocess.run(["heaptrack_print", "-f", path, "-m", "0", "--print-leaks", str(int(what == "leaked")),
                          "--print-peaks", str(int(what == "peak")), "--print-allocators", "0",
                          "--print-temporary", "0", "-n", "5000"], capture_output=True, text=True).stdout
    peak = re.search(r"peak heap memory consumption: ([\d.]+[KMG]?)", out)
    phrase = "leaked over" if what == "leaked" else "peak memory consumed over"
    section = out.split("MEMORY LEAKS" if what == "leaked" else "PEAK MEMORY CONSUMERS", 1)[-1]
    sites = collections.Counter()
    for block in re.split(r"\n(?=[\d.]+[KMG]?B? " + phrase + ")", section):
        m = re.match(r"\s*([\d.]+[KMG]?)B? " + phrase, block)
        if not m:
            continue
        frames = re.findall(r"^\s+(\$s\S+)", block, re.M)
        # The first frame of Vigil's own code, else of a library above the standard library.
        mine = [f for f in frames if "Vigil" in f] or [f for f in frames if not f.startswith("$ss")]
        library = "libsqlite3" if "libsqlite3" in block else "libmosquitto" if "libmosquitto" in block else None
        sites[mine[0] if mine else library or (frames[0] if frames else "(runtime, no Swift frame)")] += size(m.group(1))
    demangle = shutil.which("swift-demangle") or os.path.join(os.path.dirname(os.path.realpath(shutil.which("swift") or "/opt/swift/usr/bin/swift")), "swift-demangle")
    names = subprocess.run([demangle, "--simplified", "--compact"], input="\n".join(sites), capture_output=True, text=True).stdout.splitlines()
    readable = collections.Counter()
    for (site, n), name in zip(sites.items(), names if len(names) == len(sites) else list(sites)):
        readable[name[:100]] += n
    return size(peak.group(1)) if peak else 0, readable

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, nargs="+", default=[10, 25])
    ap.add_argument("--machines", type=int, default=50)
    ap.add_argument("--bin", default=".build/release")
    a = ap.parse_args()
    runs = [start(a.bin, m, a.machines, tempfile.mkdtemp(prefix=f"vigil-heap-{m:g}-")) for m in a.minutes]
    rng = random.Random(1)
    while any(r["sim"].poll() is None for r in runs):
        for r in runs:
            if r["sim"].poll() is None:
                try:  # a random machine's minute series, as the soak asks (the series cache fills)
                    base = f"http://127.0.0.1:{r['http']}"
                    machine = rng.choice(json.loads(urllib.request.urlopen(base + "/api/v1/machines", timeout=10).read()))
                    urllib.request.urlopen(f"{base}/api/v1/machines/{urllib.parse.quote(machine['id'], safe='')}/sensors/"
                                           f"{machine['sensors'][0]}/series?resolution=minute", timeout=10).read()
                except Exception:
                    pass
            else:
                stop(r)
        time.sleep(3)
    for r in runs:
        stop(r)
        r["daemon"].wait()
        r["broker"].terminate()
        r["broker"].wait()
    print(f"# vigild under heaptrack, {a.machines} machines x 8 sensors at 1 Hz")
    for what, label in (("peak", "at the peak"), ("leaked", "still allocated at exit")):
        results = [summary(f"{r['work']}/heap.zst", what) for r in runs]
        if what == "peak":
            print("peak heap: " + ", ".join(f"{m:g} min {p / 1e6:.2f} MB" for m, (p, _) in zip(a.minutes, results)))
        print(f"{label}: " + ", ".join(f"{m:g} min {sum(s.values()) / 1e6:.2f} MB" for m, (_, s) in zip(a.minutes, results)))
        top = collections.Counter()
        for _, s in results:
            top.update(s)
        print(" ".join(f"{m:>8g} min" for m in a.minutes) + "   allocated under")
        for site, _ in top.most_common(12):
            print(" ".join(f"{s.get(site, 0) / 1e6:9.3f} MB" for _, s in results) + "   " + site)

if __name__ == "__main__":
    main()
