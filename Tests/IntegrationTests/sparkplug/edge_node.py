"""A Sparkplug B edge node built on a third-party library (pysparkplug, pinned in
requirements.txt): its payload classes and protobuf encoder, its MQTT client. It plays the
scenario of SparkplugIntegrationTests against a real mosquitto and vigild, and writes every
numeric reading it sent to sent.jsonl so the test can compare what vigild stored.

Handshake with the test: at a step that needs the test (restart vigild, check a death) the
script writes <dir>/ready-<step> and waits for <dir>/go-<step>.

usage: edge_node.py BROKER_PORT WORK_DIR
"""
import json
import os
import sys
import threading
import time

import pysparkplug as spb
from pysparkplug import _protobuf as pb

PORT, WORK = int(sys.argv[1]), sys.argv[2]
GROUP, DEVICE = "plantA", "press 1"
T = spb.DataType
# alias: (name, datatype, value of message k); Serial is a String: not a reading.
DEVICE_METRICS = {
    10: ("Temperature", T.FLOAT, lambda k: 20 + (k % 40) * 0.25),
    11: ("Hydraulics/Pressure", T.DOUBLE, lambda k: 101.325 + k / 1000),
    12: ("Count", T.INT16, lambda k: -300 + k),
    13: ("Running", T.BOOLEAN, lambda k: k % 3 != 0),
    14: ("Serial", T.STRING, lambda k: f"SN-{k}"),
    15: ("Energy", T.UINT64, lambda k: 4_000_000_000 + k * 7),
    16: ("Level", T.INT8, lambda k: -(k % 100)),
}
NODE_METRICS = {1: ("Uptime", T.UINT32, lambda k: 1000 + k)}
sent = open(os.path.join(WORK, "sent.jsonl"), "a", buffering=1)
t0 = int(time.time() * 1000) - 30_000  # readings from 30 s ago on, 10 ms apart


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, file=sys.stderr, flush=True)


def handshake(step, timeout=180):
    open(os.path.join(WORK, "ready-" + step), "w").close()
    deadline = time.time() + timeout
    while not os.path.exists(os.path.join(WORK, "go-" + step)):
        if time.time() > deadline:
            sys.exit(f"the test never said go for {step}")
        time.sleep(0.05)


def machine(edge, device=None):
    ident = lambda s: "".join(c if c.isalnum() or c in "_.:-" else "_" for c in s)
    return "/".join([ident(GROUP), ident(edge)] + ([ident(device)] if device else []))


def sensor(name):
    return name.replace("/", ".")


class EdgeNode:
    def __init__(self, edge, bd_seq):
        self.edge, self.bd_seq, self.seq, self.rebirths = edge, bd_seq, 0, 0
        self.lock = threading.RLock()
        self.client = spb.Client(client_id=f"edge-{edge}-{bd_seq}")
        death = spb.NDeath(timestamp=spb.get_current_timestamp(), bd_seq_metric=self.bd_seq_metric())
        self.client.set_will(spb.Message(spb.Topic(group_id=GROUP, message_type=spb.MessageType.NDEATH, edge_node_id=edge), death, spb.QoS.AT_LEAST_ONCE, False))
        self.client.subscribe(spb.Topic(group_id=GROUP, message_type=spb.MessageType.NCMD, edge_node_id=edge), spb.QoS.AT_LEAST_ONCE, self.on_command)

    def bd_seq_metric(self):
        return spb.Metric(timestamp=spb.get_current_timestamp(), name="bdSeq", datatype=T.INT64, value=self.bd_seq)

    def connect(self):
        connected = threading.Event()
        self.client.connect("127.0.0.1", port=PORT, blocking=False, callback=lambda _: connected.set())
        if not connected.wait(10):
            sys.exit("could not connect to the broker")

    def next_seq(self):
        s = self.seq
        self.seq = (self.seq + 1) % 256
        return s

    def publish_raw(self, kind, payload_bytes, device=None):
        topic = spb.Topic(group_id=GROUP, message_type=kind, edge_node_id=self.edge, device_id=device)
        info = self.client._client.publish(str(topic), payload_bytes, qos=0, retain=False)
        info.wait_for_publish(5)

    def births(self, k=0):
        """NBIRTH (seq 0) and DBIRTH (seq 1) with every metric's name, alias, datatype and value;
        the device's metrics carry engineering units and ranges as properties (as Ignition sends)."""
        with self.lock:
            self.seq = 0
            now = spb.get_current_timestamp()
            node_metrics = (self.bd_seq_metric(),
                            spb.Metric(timestamp=now, name="Node Control/Rebirth", datatype=T.BOOLEAN, value=False),
                            *[spb.Metric(timestamp=t0 + k * 10, name=n, datatype=dt, value=v(k), alias=a) for a, (n, dt, v) in NODE_METRICS.items()])
            self.publish_raw(spb.MessageType.NBIRTH, spb.NBirth(timestamp=now, seq=self.next_seq(), metrics=node_metrics).encode())
            self.record(NODE_METRICS, k, None)
            dbirth = spb.DBirth(timestamp=now, seq=self.next_seq(), metrics=tuple(
                spb.Metric(timestamp=t0 + k * 10, name=n, datatype=dt, value=v(k), alias=a) for a, (n, dt, v) in DEVICE_METRICS.items()))
            message = pb.Payload.FromString(dbirth.encode())
            for m in message.metrics:
                if m.name == "Temperature":
                    for key, kind, field, value in (("engUnit", 12, "string_value", "degC"), ("engLow", 10, "double_value", -40.0),
                                                    ("engHigh", 10, "double_value", 150.0)):
                        m.properties.keys.append(key)
                        pv = m.properties.values.add()
                        pv.type = kind
                        setattr(pv, field, value)
            self.publish_raw(spb.MessageType.DBIRTH, message.SerializeToString(), DEVICE)
            self.record(DEVICE_METRICS, k, DEVICE)

    def record(self, metrics, k, device):
        for a, (n, dt, v) in metrics.items():
            if dt != T.STRING:
                value = v(k)
                sent.write(json.dumps({"machine": machine(self.edge, device), "sensor": sensor(n), "ts": t0 + k * 10,
                                       "value": float(value) if dt != T.BOOLEAN else (1.0 if value else 0.0)}) + "\n")

    def ddata(self, k, drop=False):
        """DDATA of message k: every device metric by alias only."""
        with self.lock:
            seq = self.next_seq()
            if drop:
                return  # lost on the way: its seq is never seen
            metrics = tuple(spb.Metric(timestamp=t0 + k * 10, name=None, datatype=dt, value=v(k), alias=a) for a, (n, dt, v) in DEVICE_METRICS.items())
            self.publish_raw(spb.MessageType.DDATA, spb.DData(timestamp=spb.get_current_timestamp(), seq=seq, metrics=metrics).encode(), DEVICE)
            self.record(DEVICE_METRICS, k, DEVICE)

    def ndeath(self, bd_seq):
        self.publish_raw(spb.MessageType.NDEATH, spb.NDeath(timestamp=spb.get_current_timestamp(),
                                                            bd_seq_metric=spb.Metric(timestamp=None, name="bdSeq", datatype=T.INT64, value=bd_seq)).encode())

    def on_command(self, _client, message):
        for m in message.payload.metrics:
            if m.name == "Node Control/Rebirth" and m.value:
                log(f"{self.edge}: rebirth requested")
                # Not on the MQTT thread: publishing waits for the network loop that runs this.
                threading.Thread(target=self.rebirth).start()

    def rebirth(self):
        self.births(k=self.k_for_rebirth)
        self.rebirths += 1  # counted once the births are out: data may follow

    k_for_rebirth = 0


def main():
    node = EdgeNode("edge1", bd_seq=0)
    node.connect()
    node.births(k=0)
    # 600 DDATA: seq wraps past 255 twice; message 300's DDATA is lost (one missing message).
    for k in range(1, 601):
        node.ddata(k, drop=(k == 300))
        if k % 50 == 0:
            time.sleep(0.05)
    handshake("stream")  # the test checks readings and the missing message, then restarts vigild
    for k in range(601, 701):  # alias-only data to the restarted vigild: the aliases survived
        node.ddata(k)
    handshake("after-restart")
    node.ndeath(bd_seq=77)  # a stale death (an earlier session's bdSeq): ignored
    time.sleep(0.5)
    node.ndeath(bd_seq=0)  # the real one
    handshake("death")  # the test sees the machines offline at once
    node.client.disconnect()
    node = EdgeNode("edge1", bd_seq=1)  # the node restarts with a new bdSeq and is born again
    node.connect()
    node.births(k=701)
    for k in range(702, 721):
        node.ddata(k)
    handshake("reborn")
    # A node vigild has never seen sends alias-only data first: vigild asks it for a rebirth.
    stranger = EdgeNode("edge2", bd_seq=0)
    stranger.connect()
    stranger.seq = 42
    stranger.k_for_rebirth = 800
    with stranger.lock:
        metrics = tuple(spb.Metric(timestamp=t0 + 799 * 10, name=None, datatype=dt, value=v(799), alias=a) for a, (n, dt, v) in DEVICE_METRICS.items())
        stranger.publish_raw(spb.MessageType.DDATA, spb.DData(timestamp=spb.get_current_timestamp(), seq=stranger.next_seq(), metrics=metrics).encode(), DEVICE)
    deadline = time.time() + 20
    while stranger.rebirths == 0 and time.time() < deadline:
        time.sleep(0.05)
    if stranger.rebirths == 0:
        sys.exit("edge2 never received a rebirth command")
    for k in range(801, 811):
        stranger.ddata(k)
    handshake("stranger")
    stranger.client.disconnect()
    node.client.disconnect()
    log("done")


main()
