#!/usr/bin/env python3
"""Regenerates the seed corpus of the parse_advert fuzz target (stdlib only).

Each of the 16 keepalived 2.2.7 captures in vrrp-core/tests/data/keepalived-vectors.json
becomes fuzz/corpus/parse_advert/seed-<name>: the target's prefix (flags byte, source,
destination if unicast) followed by the captured VRRP message (hex_vrrp_payload). A few
hand-made seeds (EXTRA) follow. Files that libFuzzer adds to the directory (named by their
SHA-1) are left alone.

Usage: python3 fuzz/make-corpus.py
"""

import ipaddress
import json
import sys
from pathlib import Path

FUZZ = Path(__file__).resolve().parent
VECTORS = FUZZ.parent / "vrrp-core" / "tests" / "data" / "keepalived-vectors.json"
OUT = FUZZ / "corpus" / "parse_advert"

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
    return 0


if __name__ == "__main__":
    sys.exit(main())
