#!/usr/bin/env python3
"""Regenerates the seed corpora of the fuzz targets (stdlib only).

- parse_advert: each of the 16 keepalived 2.2.7 captures in
  vrrp-core/tests/data/keepalived-vectors.json (a copy of ../shared/vectors) becomes
  fuzz/corpus/parse_advert/seed-<name>: the target's prefix (flags byte, source, destination
  if unicast) followed by the captured VRRP message (hex_vrrp_payload). A few hand-made seeds
  (EXTRA) follow.
- router_inputs: each capture becomes a scenario, fuzz/corpus/router_inputs/seed-<name>,
  written in the `arbitrary` encoding of the target's `Input` (see ArbitraryWriter): an
  instance configured like the capture's receiver (same version, family, VRID 51, interval,
  addresses, password or unicast peers, priority 100 below the sender's 150) is started, gets
  the captured message from the captured source several times, lets its timers run out
  (becoming Master), gets the message again (yielding, or answering a priority 0), and hands
  over. `cargo fuzz fmt router_inputs FILE` prints what a seed decodes to.
- config: the YAML files in CONFIGS (one with vipd's health `checks`), as
  fuzz/corpus/config/seed-<name>.yaml.

Files that libFuzzer adds to the directories (named by their SHA-1) are left alone.

Usage: python3 fuzz/make-corpus.py
"""

import ipaddress
import json
import sys
from pathlib import Path

FUZZ = Path(__file__).resolve().parent
VECTORS = FUZZ.parent / "vrrp-core" / "tests" / "data" / "keepalived-vectors.json"
CORPUS = FUZZ / "corpus"
OUT = CORPUS / "parse_advert"

# The flags byte of fuzz_targets/parse_advert.rs.
IPV6 = 1 << 0
V3_AS_V2 = 1 << 1  # keepalived's captures all use the pseudo-header: never set here
UNICAST = 1 << 2


def seed(vector: dict) -> bytes:
    src = ipaddress.ip_address(vector["src"])
    dst = ipaddress.ip_address(vector["dst"])
    if src.version != dst.version:
        raise ValueError(f"{vector['name']}: mixed families")
    flags = IPV6 if src.version == 6 else 0
    prefix = src.packed
    if not dst.is_multicast:
        flags |= UNICAST
        prefix += dst.packed
    return bytes([flags]) + prefix + bytes.fromhex(vector["hex_vrrp_payload"])


# Hand-made seeds, as (name, flags, src, dst or None, message hex).
EXTRA = [
    # The checksum field holds 0xffff, one's-complement negative zero, where emit writes
    # 0x0000: it verifies, and must parse (found by this target, see README.md).
    (
        "checksum-negative-zero",
        IPV6,
        "fe80::99:ff:fe00:b",
        None,
        "3133000100ffffffff64fd0bd29900000000000000000100",
    ),
]


# --------------------------------------------------------------------------------------------
# router_inputs: the `arbitrary` 1.x encoding of fuzz_targets/router_inputs.rs's `Input`.
#
# Integers are little-endian of their size; a bool is a byte whose low bit is set; an
# Option is a bool then the value; an array is its elements; a Vec (including the last field,
# which libfuzzer-sys decodes with take_rest) is, per element, a "continue" byte of 1 then
# the element, and a 0 byte at the end; a derived enum is a u32 `x` selecting variant
# (x * variant_count) >> 32, then the variant's fields in order. Keep the field and variant
# order here in step with the Rust types.


class ArbitraryWriter:
    def __init__(self):
        self.out = bytearray()

    def u8(self, v):
        self.out += bytes([v & 0xFF])

    def i8(self, v):
        self.out += (v & 0xFF).to_bytes(1, "little")

    def u16(self, v):
        self.out += v.to_bytes(2, "little")

    def bool(self, v):
        self.u8(1 if v else 0)

    def variant(self, index, count):
        self.out += ((index * 2**32 + count - 1) // count).to_bytes(4, "little")

    def option(self, value, write):
        self.bool(value is not None)
        if value is not None:
            write(value)

    def vec(self, items, write):
        for item in items:
            self.u8(1)
            write(item)
        self.u8(0)


STEP_VARIANTS = [
    "Advance", "Timeout", "LateTimeout", "SpuriousTimeout", "Packet", "SetPriority",
    "SetTrack", "SetLinkUp", "SetPrimary", "Startup", "Shutdown", "Handover", "StartupOne",
    "ShutdownOne", "HandoverOne",
]
SECRET_CAPTURED = 0  # Secret::Captured, the captures' "secret12"


def host_index(addr):
    """The index of `host()` in router_inputs.rs that gives `addr`."""
    a = ipaddress.ip_address(addr)
    if a.version == 4:
        v4 = [f"10.99.0.{11 + i}" for i in range(4)] + ["10.98.0.1"]
        return v4.index(str(a))
    v6 = [f"fe80::99:ff:fe00:{0xb + i:x}" for i in range(3)] + ["fd00:99::11", "fd00:99::12"]
    return v6.index(str(a))


def write_spec(w, vector, password):
    v2 = vector["version"] == 2
    ipv6 = vector["family"] == "ipv6"
    unicast = not ipaddress.ip_address(vector["dst"]).is_multicast
    w.bool(False)  # interface 0
    w.u8(0)  # VRID 51
    w.bool(ipv6)
    w.bool(v2)
    w.u8(100)  # priority, below the captures' 150
    w.u16(vector["advert_int"] - 1)  # v2: 1 + x % 3 seconds; v3: 1 + x % 300 centiseconds
    w.bool(True)  # preempt
    w.u8(0)  # preempt_delay
    w.u8(len(vector["addresses"]) - 1)  # vips
    # IPv4 unicast: the capture's sender and another peer; keepalived's IPv6 unicast uses
    # global addresses, which vipd refuses as peers: receive it as multicast does, relaxed.
    peers = [host_index(vector["src"]), 2] if unicast and not ipv6 else None
    w.option(peers, lambda p: (w.u8(p[0]), w.u8(p[1])))
    w.bool(False)  # checksum_as_v2
    w.bool(False)  # strict
    w.option(password, lambda s: w.variant(s, 2))
    for v in (50, 3, 0, 1):  # garp delay 5 s, repeat 3, no refresh, refresh_repeat 1
        w.u8(v)
    # tracks: one of weight -60, up; none; one of weight 0 (fault when down), up
    w.option((-30, True), lambda t: (w.i8(t[0]), w.bool(t[1])))
    w.option(None, None)
    w.option((0, True), lambda t: (w.i8(t[0]), w.bool(t[1])))
    w.option(1, w.u8)  # primary: 10.99.0.12 / fe80::99:ff:fe00:c
    w.option(64 if ipv6 and unicast else None, w.u8)


def write_packet(w, vector):
    ipv6 = vector["family"] == "ipv6"
    dst = ipaddress.ip_address(vector["dst"])
    w.u8(0)  # interface 0
    w.bool(ipv6)
    w.u8(host_index(vector["src"]))
    if dst.is_multicast:
        w.variant(0, 3)  # Dst::Group
    else:
        w.variant(1, 3)  # Dst::Unicast
        w.u8(host_index(vector["dst"]))
    hop = vector.get("ttl", vector.get("hop_limit", 255))
    w.option(None if hop == 255 else hop, w.u8)
    w.variant(1, 2)  # Body::Raw
    w.vec(bytes.fromhex(vector["hex_vrrp_payload"]), w.u8)


def step(w, name, *fields):
    w.variant(STEP_VARIANTS.index(name), len(STEP_VARIANTS))
    for f in fields:
        f()


def router_seed(vector):
    w = ArbitraryWriter()
    password = SECRET_CAPTURED if vector.get("auth_type") == 1 else None
    w.vec([vector], lambda v: write_spec(w, v, password))
    packet = lambda: write_packet(w, vector)  # noqa: E731
    steps = [
        ("Startup",),
        ("Packet", packet),
        ("Advance", lambda: w.u16(50)),
        ("Packet", packet),
        ("Timeout",),
        ("Timeout",),
        ("Timeout",),
        ("Timeout",),
        ("Packet", packet),
        ("LateTimeout", lambda: w.u8(7)),
        ("SetTrack", lambda: w.u8(0), lambda: w.u8(0), lambda: w.bool(False)),
        ("Timeout",),
        ("SetLinkUp", lambda: w.u8(0), lambda: w.bool(False)),
        ("SetLinkUp", lambda: w.u8(0), lambda: w.bool(True)),
        ("Timeout",),
        ("Timeout",),
        ("Handover",),
        ("Packet", packet),
        ("Timeout",),
        ("Startup",),
        ("Timeout",),
    ]
    w.vec(steps, lambda s: step(w, s[0], *s[1:]))
    return bytes(w.out)


# --------------------------------------------------------------------------------------------
# config: YAML files for vipd::config::Config::from_yaml.

CONFIGS = {
    "minimal": "instances: [{interface: eth0, vrid: 51, vips: [10.0.0.1/24]}]\n",
    "documented": """\
instances:
  - name: VI_CONTROL_PLANE
    interface: eth0
    vip_interface: eth0
    vrid: 51
    version: 3
    priority: 100
    advert_interval: 1s
    preempt: true
    preempt_delay: 0s
    vips: [192.168.1.100/24]
    unicast_peers: []
    garp: { master_delay: 5s, master_repeat: 5, master_refresh: 0s, master_refresh_repeat: 1 }
    vip_lifetime: 5s
""",
    "v2-password-two-instances": """\
instances:
  - interface: eth0
    vrid: 51
    version: 2
    priority: 150
    advert_interval: 1s
    password: secret12
    vips: [10.99.0.100/24, 10.99.0.101/24, 10.99.0.102/24]
  - interface: eth0
    vrid: 52
    version: 3
    advert_interval: 100ms
    preempt: false
    preempt_delay: 30s
    vips: [10.99.1.100/24]
    v3_checksum_as_v2: true
""",
    "ipv6-unicast-notify": """\
instances:
  - name: v6
    interface: eth1
    vrid: 7
    priority: 255
    advert_interval: 40ms
    vips: ["fd00:99::100/64"]
    unicast_peers: ["fe80::99:ff:fe00:c", "fe80::99:ff:fe00:d"]
    unicast_min_hop_limit: 64
    strict_address_list: true
    vip_lifetime: forever
    notify:
      command: [/usr/local/bin/notify, --all]
      master: [/bin/true]
      timeout: 2500ms
""",
    "checks": """\
instances:
  - interface: eth0
    vrid: 51
    priority: 150
    advert_interval: 100ms
    vips: [10.200.0.100/24]
    checks:
      - { name: flap, exec: { command: ["test", "-e", "/tmp/x"] }, interval: 200ms, action: fault }
      - { name: weight, file: { path: /tmp/x }, weight: -60 }
      - name: service
        http: { url: "http://127.0.0.1:8080/healthz" }
        interval: 1s
        rise: 2
        fall: 3
        weight: -30
        initial: up
""",
    "invalid": """\
instances:
  - interface: eth0
    vrid: 0
    version: 2
    priority: 300
    advert_interval: 150ms
    vips: [10.0.0.1/24, "fd00::1/64", 10.0.0.1/24, nonsense]
    unicast_peers: ["fd00::2"]
""",
}


def main() -> int:
    vectors = json.loads(VECTORS.read_text())
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("seed-*"):
        old.unlink()
    for vector in vectors:
        path = OUT / f"seed-{vector['name']}"
        path.write_bytes(seed(vector))
    for name, flags, src, dst, message in EXTRA:
        prefix = ipaddress.ip_address(src).packed
        if dst is not None:
            flags |= UNICAST
            prefix += ipaddress.ip_address(dst).packed
        (OUT / f"seed-{name}").write_bytes(bytes([flags]) + prefix + bytes.fromhex(message))
    count = len(vectors) + len(EXTRA)
    print(f"wrote {count} seeds to {OUT.relative_to(FUZZ.parent)}")

    router = CORPUS / "router_inputs"
    router.mkdir(parents=True, exist_ok=True)
    for old in router.glob("seed-*"):
        old.unlink()
    for vector in vectors:
        (router / f"seed-{vector['name']}").write_bytes(router_seed(vector))
    print(f"wrote {len(vectors)} seeds to {router.relative_to(FUZZ.parent)}")

    config = CORPUS / "config"
    config.mkdir(parents=True, exist_ok=True)
    for old in config.glob("seed-*"):
        old.unlink()
    for name, text in CONFIGS.items():
        (config / f"seed-{name}.yaml").write_text(text)
    print(f"wrote {len(CONFIGS)} seeds to {config.relative_to(FUZZ.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
