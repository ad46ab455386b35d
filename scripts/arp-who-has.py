#!/usr/bin/env python3
"""Who answers ARP for an address: the project's own ARP prober (python3 stdlib only).

    arp-who-has.py IFACE TARGET [--count N] [--wait SECONDS] [--interval SECONDS]

Sends N ARP requests for TARGET on IFACE (from the interface's own IPv4 address, or 0.0.0.0
when it has none), collects every reply until WAIT seconds have passed, and prints the sender
MAC of each reply, one per line, sorted and without repeats (two answering hosts show as two
lines). Exits 0 if anyone answered, 1 if nobody did, 2 on a usage or socket error. Needs
CAP_NET_RAW (root). Used by scripts/demo.sh, scripts/chart-test.sh and vipd's lab tests, so
that no particular arping implementation (the `arping` and `iputils-arping` packages print
differently and conflict) is needed.
"""
import argparse
import fcntl
import select
import socket
import struct
import sys
import time

SIOCGIFADDR = 0x8915


def own_ipv4(sock, iface):
    try:
        req = struct.pack("256s", iface.encode()[:15])
        return fcntl.ioctl(sock.fileno(), SIOCGIFADDR, req)[20:24]
    except OSError:
        return b"\x00" * 4


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("iface")
    ap.add_argument("target")
    ap.add_argument("--count", type=int, default=3)
    ap.add_argument("--wait", type=float, default=2.0)
    ap.add_argument("--interval", type=float, default=0.2)
    a = ap.parse_args()
    try:
        tpa = socket.inet_aton(a.target)
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0806))
        s.bind((a.iface, 0x0806))
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        spa = own_ipv4(udp, a.iface)
        udp.close()
    except OSError as e:
        print(f"arp-who-has: {a.iface}: {e}", file=sys.stderr)
        return 2
    mac = s.getsockname()[4]
    req = (b"\xff" * 6 + mac + b"\x08\x06" + b"\x00\x01\x08\x00\x06\x04\x00\x01"
           + mac + spa + b"\x00" * 6 + tpa)
    s.setblocking(False)
    answers = set()
    start = time.monotonic()
    end = start + max(a.wait, a.interval * a.count)
    sent, due = 0, start
    while True:
        now = time.monotonic()
        if now >= end:
            break
        if sent < a.count and now >= due:
            s.send(req)
            sent += 1
            due += a.interval
        timeout = max(0.0, min(end, due if sent < a.count else end) - time.monotonic())
        r, _, _ = select.select([s], [], [], timeout)
        if not r:
            continue
        while True:
            try:
                f, addr = s.recvfrom(2048)
            except BlockingIOError:
                break
            # An ARP reply (opcode 2) whose sender address is the target, not our own frames.
            if (addr[2] != socket.PACKET_OUTGOING and len(f) >= 42 and f[12:14] == b"\x08\x06"
                    and f[20:22] == b"\x00\x02" and f[28:32] == tpa):
                answers.add(f[22:28].hex(":"))
    for m in sorted(answers):
        print(m)
    return 0 if answers else 1


if __name__ == "__main__":
    sys.exit(main())
