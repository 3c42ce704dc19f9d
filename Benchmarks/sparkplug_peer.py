#!/usr/bin/env python3
"""The upb peer of the Sparkplug decoder: decodes the DDATA that vigil-bench-decode wrote
(VIGIL_BENCH_SPARKPLUG_PAYLOAD) with Google's protobuf runtime (upb, C) through pysparkplug's
generated schema, and reads every metric's alias, timestamp and value, as vigild's decoder does.
The per-call Python overhead is included; one call decodes the whole message.

Run with the Sparkplug test's virtual environment (.build/sparkplug-venv, made by the test from
Tests/IntegrationTests/sparkplug/requirements.txt):
  VIGIL_BENCH_SPARKPLUG_PAYLOAD=/tmp/ddata.bin .build/release/vigil-bench-decode
  .build/sparkplug-venv/bin/python3 Benchmarks/sparkplug_peer.py /tmp/ddata.bin
"""
import sys, time

from google.protobuf.internal import api_implementation
from pysparkplug import _protobuf as pb

data = open(sys.argv[1] if len(sys.argv) > 1 else "/tmp/ddata.bin", "rb").read()
rounds, metrics, sink = 3000, 0, 0.0
t0 = time.perf_counter()
for _ in range(rounds):
    p = pb.Payload.FromString(data)
    for m in p.metrics:
        sink += m.alias + (m.timestamp & 1) + m.double_value
    metrics += len(p.metrics)
dt = time.perf_counter() - t0
t1 = time.perf_counter()
for _ in range(rounds):
    metrics_only = len(pb.Payload.FromString(data).metrics)
dt_parse = time.perf_counter() - t1
name = f"peer: protobuf {api_implementation.Type()} decode+read"
print(f"{name:<36}{metrics / dt:12.0f} readings/s  {dt / metrics * 1e6:6.3f} µs/reading  (check {sink:.0f})")
name = f"peer: protobuf {api_implementation.Type()} parse only"
print(f"{name:<36}{metrics / dt_parse:12.0f} readings/s  {dt_parse / metrics * 1e6:6.3f} µs/reading")
