#!/usr/bin/env python3
"""Soak: three vipd nodes in network namespaces under random faults, watched every 50 ms.

Run as root from anywhere (python3 stdlib only; needs iproute2 and nftables):

    sudo python3 scripts/soak.py                      # 10 minutes
    sudo python3 scripts/soak.py --duration 60        # what CI runs (scripts/test.sh)
    sudo python3 scripts/soak.py --seed 42 --faults kill,partition --keep-logs
    sudo python3 scripts/soak.py --keepalived 3        # node3 runs keepalived: a mixed cluster

The lab is benches/vs_keepalived.py's, imported from it: a bridge in a switch namespace,
nodes 10.200.0.1-3/24 (priorities 150/100/50, MACs 02:00:00:00:00:01-03), an observer
10.200.0.9 whose AF_PACKET socket asks who has the VIP 10.200.0.100 every 5 ms. Each node
runs `vipd run` (VRRPv3, VRID 51, 0.1 s adverts, preempt, JSON logs). Namespaces are named
vs<pid>-*; on any exit (error, Ctrl-C, SIGTERM) every process this run started is killed by
its PID and every namespace it made is deleted.

With --keepalived N, node N runs keepalived 2.2.7 instead of vipd, with the same instance
(VRRPv3, VRID 51, its priority, 0.1 s adverts, preemption, the VIP on eth0): the cluster of a
rolling migration, where vipd and keepalived elect each other under the same faults. Its
state comes from keepalived's "Entering ... STATE" log lines; its health check is a
`vrrp_script` (`test -e` of the same file, 1 s interval, no weight: the instance goes Fault,
like vipd's `action: fault`); a kill stops keepalived's parent and SIGKILLs its VRRP child and
the parent (keepalived, unlike vipd, gives its VIP no lifetime, so the VIP stays on the node
until keepalived starts again and removes it).

Faults, drawn from a random.Random seeded by --seed (printed; the same seed gives the same
kinds, durations and choices, where "the master" is whoever holds the VIP at the time, but
not the same timings), one at a time: after a quiet gap of 1-3 s a fault hits a node (the
current master half of the time) for 1-3 s (packet loss 3-6 s), is healed, and --settle
seconds later the VIPs are checked. The kinds (--faults):

    kill       SIGKILL of vipd, restarted when healed
    term       SIGTERM (vipd hands over and exits), restarted when healed
    link       the node's veth (eth0) down, then up
    partition  the node's bridge port disabled (`bridge link set dev pN state 0`: the node
               keeps its carrier and hears nobody), then forwarding again
    health     a health check fails (its file is removed), then passes: needs vipd's
               `checks`; skipped, with a line saying so, when `vipd check-config` refuses them
    loss       20% of VRRP packets (IP protocol 112) dropped both ways in the node's
               namespace: nftables `numgen random mod 100 < 20 drop`

A sampler thread records every 50 ms which nodes hold the VIP (`ip -n NS -4 addr`), which
vipd processes live and the state their logs last reported; the observer's ARP replies give
who answers for the VIP. RSS and open file descriptors of every vipd process are read every
second. At the end it prints:

    - two masters outside partitions: time with two or more live nodes holding the VIP
      while no partition or link fault is active (nor within --settle of its heal); the same
      inside partitions, and the time two MACs answered ARP in one 50 ms window;
    - no VIP while an eligible node lived: time with no live node (that the observer can
      reach) holding the VIP, beyond a grace of Master_Down_Interval (+ one sample) after
      each fault event; and the same for ARP answers;
    - stale VIPs after each settle: a VIP on a node that is not the one Master, a Master
      without the VIP, or more or fewer than one holder;
    - RSS and fd growth per vipd process incarnation (restarts start a new one), from 2 s
      after its start to its last sample, with the long-lived ones marked.

Exit status: 0 when the zero-goals hold, 1 when not, 2 when the lab could not run.
 - Two masters outside partitions: an episode of one 50 ms sample is tolerated (the
   sampler reads the three nodes one after another in a few ms, so a handover, where the
   new master adds the VIP an instant before the old one removes it, can be caught
   mid-way); two or more consecutive samples fail, except under packet loss, where a backup
   that misses three adverts in a row rightly takes over (RFC 5798 6.4.2) until the next
   advert it hears: there an episode fails only when it lasts over 1 s (ten adverts).
 - Stale VIPs after settle: none tolerated.
 - No VIP while an eligible node lived, beyond the grace (Master_Down_Interval and one sample
   after each fault event): a gap of one 50 ms sample is tolerated (the sampler reads the
   nodes one after another, so a handover where the old master removes the VIP an instant
   before the new one adds it can be caught mid-way); two or more consecutive samples fail.
Growth is reported, not judged.
"""

import argparse
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "benches"))
import vs_keepalived as lab  # noqa: E402  (the namespace lab and its ARP observer)

lab.PREFIX = "vs%d-" % os.getpid()
NODES = lab.NODES
PRIO = lab.PRIO
VIP = lab.VIP
VRID = lab.VRID
ADVERT_CS = 10  # 0.1 s
SAMPLE = 0.05
FAULTS = ("kill", "term", "link", "partition", "health", "loss")
# Master_Down_Interval (RFC 5798 6.1) of each node, in seconds: 3 * interval + skew.
MDI = {n: (3 * ADVERT_CS + (256 - p) * ADVERT_CS // 256) / 100 for n, p in PRIO.items()}
GRACE = max(MDI.values()) + SAMPLE
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def log(*a):
    print("#", *a, file=sys.stderr, flush=True)


def now():
    return time.monotonic()


# --------------------------------------------------------------------------------------------
# vipd configuration, and whether this vipd takes health checks.


def vipd_conf(node, check):
    lines = [
        "instances:",
        "  - name: VI_%d" % VRID,
        "    interface: eth0",
        "    vrid: %d" % VRID,
        "    version: 3",
        "    priority: %d" % PRIO[node],
        "    advert_interval: %dms" % (ADVERT_CS * 10),
        "    preempt: true",
        "    vips: ['%s/24']" % VIP,
    ]
    if check:
        lines.append("    checks: [%s]" % check)
    return "\n".join(lines) + "\n"


def keepalived_conf(node, probe, check):
    lines = [
        "global_defs {",
        "    router_id node%d" % node,
        "    script_user root",
        "}",
    ]
    if check:
        lines += [
            "vrrp_script flap {",
            '    script "/usr/bin/test -e %s"' % probe,
            "    interval 1",
            "    fall 1",
            "    rise 1",
            "}",
        ]
    lines += [
        "vrrp_instance VI_%d {" % VRID,
        "    state BACKUP",
        "    interface eth0",
        "    virtual_router_id %d" % VRID,
        "    version 3",
        "    priority %d" % PRIO[node],
        "    advert_int %g" % (ADVERT_CS / 100),
        "    virtual_ipaddress {",
        "        %s/24 dev eth0" % VIP,
        "    }",
    ]
    if check:
        lines += ["    track_script {", "        flap", "    }"]
    lines.append("}")
    return "\n".join(lines) + "\n"


def health_checks(vipd, tmp):
    """The `checks` entry to use (a template with {path}), or None with why not."""
    shapes = [
        '{ name: flap, exec: { command: ["test", "-e", "{path}"] }, interval: 200ms, '
        'action: fault }',
        "{ name: flap, file: { path: {path} }, weight: -60 }",
    ]
    why = "vipd/src/config.rs has no `checks` yet"
    for shape in shapes:
        conf = os.path.join(tmp, "check-config.yaml")
        with open(conf, "w") as f:
            f.write(vipd_conf(1, shape.replace("{path}", os.path.join(tmp, "probe"))))
        p = subprocess.run([vipd, "check-config", "--offline", conf], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
        if p.returncode == 0:
            return shape, None
        why = (p.stdout.strip().splitlines() or ["?"])[0]
    return None, why


# --------------------------------------------------------------------------------------------
# The daemons, one incarnation per start.


class Incarnation:
    def __init__(self, node, proc, logfile, impl):
        self.node, self.p, self.pid, self.log = node, proc, proc.pid, logfile
        self.impl = impl
        self.start = now()
        self.end = None
        self.state = "INIT"  # from the log
        self.offset = 0
        self.partial = b""
        self.mem = []  # (t, rss kB, fds)
        self.how = None  # how it ended

    def alive(self):
        return self.end is None and self.p.poll() is None

    def read_log(self):
        try:
            with open(self.log, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except OSError:
            return
        self.offset += len(data)
        data = self.partial + data
        lines = data.split(b"\n")
        self.partial = lines.pop()
        for line in lines:
            if self.impl == "keepalived":
                m = re.search(rb"Entering (\w+) STATE", line)
                if m:
                    self.state = m.group(1).decode()
                continue
            if b"state changed" not in line:
                continue
            try:
                ev = json.loads(ANSI.sub("", line.decode("utf-8", "replace")))
            except ValueError:
                m = re.search(r"\bto=(\w+)", ANSI.sub("", line.decode("utf-8", "replace")))
                if m:
                    self.state = m.group(1)
                continue
            to = ev.get("to") or ev.get("fields", {}).get("to")
            if to:
                self.state = str(to)

    def sample_mem(self):
        try:
            with open("/proc/%d/status" % self.pid) as f:
                rss = next((int(x.split()[1]) for x in f if x.startswith("VmRSS:")), 0)
            fds = len(os.listdir("/proc/%d/fd" % self.pid))
        except (OSError, StopIteration):
            return
        self.mem.append((now(), rss, fds))


class Daemon:
    def __init__(self, node, vipd, tmp, check, impl="vipd"):
        self.node, self.vipd, self.tmp, self.impl = node, vipd, tmp, impl
        self.probe = os.path.join(tmp, "n%d.healthy" % node)
        open(self.probe, "w").close()
        if impl == "keepalived":
            self.conf = os.path.join(tmp, "n%d.keepalived.conf" % node)
            text = keepalived_conf(node, self.probe, check)
        else:
            self.conf = os.path.join(tmp, "n%d.yaml" % node)
            text = vipd_conf(node, check.replace("{path}", self.probe) if check else None)
        with open(self.conf, "w") as f:
            f.write(text)
        self.incarnations = []

    @property
    def cur(self):
        return self.incarnations[-1] if self.incarnations else None

    def alive(self):
        return self.cur is not None and self.cur.alive()

    def start(self):
        k = len(self.incarnations) + 1
        logfile = os.path.join(self.tmp, "n%d.%d.log" % (self.node, k))
        if self.impl == "keepalived":
            pids = os.path.join(self.tmp, "n%d.%d" % (self.node, k))
            argv = ["keepalived", "-n", "-l", "-P", "-f", self.conf,
                    "-p", pids + ".pid", "-r", pids + ".vrrp.pid"]
        else:
            argv = [self.vipd, "run", "-c", self.conf, "--log-format", "json"]
        p = lab.spawn(["ip", "netns", "exec", lab.ns("n%d" % self.node)] + argv, logfile)
        self.incarnations.append(Incarnation(self.node, p, logfile, self.impl))

    def signal(self, sig, wait):
        """Sends `sig` to the current incarnation; waits up to `wait` s for it to exit."""
        inc = self.cur
        if inc is None or not inc.alive():
            return None
        t0 = now()
        if sig == signal.SIGKILL and self.impl == "keepalived":
            # The parent would restart its VRRP child: stop it, then kill both.
            lab.kill_tree(inc.p)
            inc.how = "SIGKILL of keepalived and its VRRP child"
        else:
            os.kill(inc.pid, sig)
            try:
                inc.p.wait(wait)
            except subprocess.TimeoutExpired:
                os.kill(inc.pid, signal.SIGKILL)
                inc.p.wait(5)
                inc.how = "%s, SIGKILL after %.0f s" % (signal.Signals(sig).name, wait)
            else:
                inc.how = "%s, exited in %.2f s (status %s)" % (
                    signal.Signals(sig).name, now() - t0, inc.p.returncode)
        inc.end = now()
        if inc.p in lab.STARTED:
            lab.STARTED.remove(inc.p)
        return now() - t0


# --------------------------------------------------------------------------------------------
# Faults.


def nft(node, on):
    n = lab.ns("n%d" % node)
    if on:
        rule = "meta l4proto 112 numgen random mod 100 < 20 drop"
        text = ("table inet vipd_soak {\n"
                "  chain input { type filter hook input priority 0; policy accept; %s; }\n"
                "  chain output { type filter hook output priority 0; policy accept; %s; }\n"
                "}\n" % (rule, rule))
        p = subprocess.run(["ip", "netns", "exec", n, "nft", "-f", "-"], input=text, text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if p.returncode != 0:
            raise RuntimeError("nft: " + p.stderr.strip())
    else:
        lab.run("ip", "netns", "exec", n, "nft", "delete", "table", "inet", "vipd_soak",
                check=False)


class Faults:
    def __init__(self, daemons, partition_how):
        self.d = daemons
        self.partition_how = partition_how
        self.lock = threading.Lock()
        self.active = {}  # kind -> node
        self.events = []  # (t, kind, node, "on"|"off")

    def snapshot(self):
        with self.lock:
            return dict(self.active)

    def _mark(self, kind, node, phase):
        with self.lock:
            if phase == "on":
                self.active[kind] = node
            else:
                self.active.pop(kind, None)
            self.events.append((now(), kind, node, phase))

    def apply(self, kind, node):
        d = self.d[node]
        if kind == "kill":
            self._mark(kind, node, "on")
            d.signal(signal.SIGKILL, 5)
        elif kind == "term":
            self._mark(kind, node, "on")
            d.signal(signal.SIGTERM, 8)
        elif kind == "link":
            lab.run("ip", "-n", lab.ns("n%d" % node), "link", "set", "eth0", "down")
            self._mark(kind, node, "on")
        elif kind == "partition":
            self.port(node, False)
            self._mark(kind, node, "on")
        elif kind == "health":
            os.unlink(d.probe)
            self._mark(kind, node, "on")
        elif kind == "loss":
            nft(node, True)
            self._mark(kind, node, "on")

    def heal(self, kind, node):
        d = self.d[node]
        if kind in ("kill", "term"):
            d.start()
        elif kind == "link":
            lab.run("ip", "-n", lab.ns("n%d" % node), "link", "set", "eth0", "up")
        elif kind == "partition":
            self.port(node, True)
        elif kind == "health":
            open(d.probe, "w").close()
        elif kind == "loss":
            nft(node, False)
        self._mark(kind, node, "off")

    def port(self, node, up):
        dev = "p%d" % node
        if self.partition_how == "state":
            lab.run("ip", "netns", "exec", lab.ns("sw"), "bridge", "link", "set", "dev", dev,
                    "state", "3" if up else "0")
        else:
            lab.run("ip", "-n", lab.ns("sw"), "link", "set", dev, "up" if up else "down")


def partition_method():
    """`state` if the bridge takes a port state by hand (the node keeps its carrier)."""
    sw = lab.ns("sw")
    p = subprocess.run(["ip", "netns", "exec", sw, "bridge", "link", "set", "dev", "p9",
                        "state", "3"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return "state" if p.returncode == 0 else "down"


# --------------------------------------------------------------------------------------------
# The sampler.


def holders_of(node):
    out = lab.run("ip", "-n", lab.ns("n%d" % node), "-4", "-o", "addr", "show", "dev", "eth0",
                  check=False)
    return (" %s/" % VIP) in out


class Sampler(threading.Thread):
    def __init__(self, daemons, faults, observer):
        super().__init__(daemon=True)
        self.d, self.faults, self.obs = daemons, faults, observer
        self.samples = []  # dicts
        self.stop_flag = threading.Event()
        self.mac_node = {lab.mac(n): n for n in NODES}
        self.error = None

    def run(self):
        try:
            self._run()
        except Exception as e:  # reported by the main thread
            self.error = e

    def _run(self):
        due = now()
        last_mem = 0.0
        arp_seen = 0
        while not self.stop_flag.is_set():
            t = now()
            holders = {n for n in NODES if holders_of(n)}
            alive, states = set(), {}
            for n, d in self.d.items():
                inc = d.cur
                if inc is not None:
                    inc.read_log()
                if d.alive():
                    alive.add(n)
                    states[n] = inc.state
            with self.obs.lock:
                replies = self.obs.replies[arp_seen:]
                arp_seen = len(self.obs.replies)
            arp = {self.mac_node.get(m, m) for _tr, m in replies}
            self.samples.append({"t": t, "holders": holders, "alive": alive, "states": states,
                                 "faults": self.faults.snapshot(), "arp": arp})
            if t - last_mem >= 1.0:
                last_mem = t
                for d in self.d.values():
                    if d.alive():
                        d.cur.sample_mem()
            due += SAMPLE
            delay = due - now()
            if delay < 0:
                due = now()
            else:
                time.sleep(delay)


# --------------------------------------------------------------------------------------------
# Analysis.


def analyse(samples, events, settle, settle_checks):
    """The report's figures from the samples and the fault events."""
    heals = {}
    for t, kind, node, phase in events:
        if phase == "off":
            heals.setdefault(kind, []).append(t)
    event_times = sorted(t for t, _k, _n, _p in events)
    partition_ends = sorted(t for t, k, _n, p in events
                            if p == "off" and k in ("partition", "link"))

    def within(ts, t, span):
        # Any event time in (t - span, t].
        for x in ts:
            if t - span < x <= t:
                return True
        return False

    per_sample = []  # (t, dt, no live reachable holder while eligible, two live holders)
    r = {"two_out": 0.0, "two_in": 0.0, "two_loss": 0.0, "arp_two_out": 0.0,
         "no_vip": 0.0, "no_vip_raw": 0.0, "no_arp": 0.0, "dead_holder": 0.0,
         "episodes": [], "gaps": []}
    episode = None
    gap = None
    prev_t = None
    for s in samples:
        t = s["t"]
        dt = min(t - prev_t, 0.2) if prev_t is not None else SAMPLE
        prev_t = t
        f = s["faults"]
        part = ({f[k] for k in ("partition", "link") if k in f})
        in_partition = bool(part) or within(partition_ends, t, settle)
        loss = "loss" in f
        live_holders = s["holders"] & s["alive"]
        if s["holders"] - s["alive"]:
            r["dead_holder"] += dt
        # Two masters.
        if len(live_holders) >= 2:
            if in_partition:
                r["two_in"] += dt
            else:
                r["two_out"] += dt
                if loss:
                    r["two_loss"] += dt
        if len(live_holders) >= 2 and not in_partition:
            if episode is None:
                episode = {"start": t, "samples": 0, "loss": False, "nodes": set()}
            episode["samples"] += 1
            episode["end"] = t
            episode["loss"] = episode["loss"] or loss
            episode["nodes"] |= live_holders
        elif episode is not None:
            r["episodes"].append(episode)
            episode = None
        if len(s["arp"]) >= 2 and not in_partition:
            r["arp_two_out"] += dt
        # No VIP while an eligible node lived: reachable, alive, link up, healthy.
        eligible = {n for n in s["alive"]
                    if n not in part and not (f.get("health") == n)}
        reachable_holders = live_holders - part
        if eligible and not reachable_holders:
            r["no_vip_raw"] += dt
            if not within(event_times, t, GRACE):
                r["no_vip"] += dt
                if gap is None:
                    gap = {"start": t, "end": t}
                gap["end"] = t
        elif gap is not None:
            r["gaps"].append(gap)
            gap = None
        if eligible and not s["arp"] and not within(event_times, t, GRACE):
            r["no_arp"] += dt
        per_sample.append((t, dt, bool(eligible and not reachable_holders),
                           len(live_holders) >= 2 and not in_partition))
    if episode is not None:
        r["episodes"].append(episode)
    if gap is not None:
        r["gaps"].append(gap)
    bad = []
    for e in r["episodes"]:
        span = e["end"] - e["start"] + SAMPLE
        if (e["loss"] and span > 1.0) or (not e["loss"] and e["samples"] >= 2):
            bad.append(e)
    r["bad_episodes"] = bad
    # Per fault: the longest stretch without a VIP, from its onset to `settle` after its heal.
    cycles = []
    onsets = {}
    for t, kind, node, phase in events:
        if phase == "on":
            onsets[kind] = t
        elif kind in onsets:
            cycles.append((kind, node, onsets.pop(kind), t))
    r["cycles"] = []
    for kind, node, t_on, t_off in cycles:
        longest = run = 0.0
        two = 0.0
        for t, dt, none, dual in per_sample:
            if t_on <= t <= t_off + settle:
                run = run + dt if none else 0.0
                longest = max(longest, run)
                two += dt if dual else 0.0
        r["cycles"].append({"kind": kind, "node": node, "longest_gap": longest, "two": two})
    if len(samples) > 1:
        steps = sorted(b["t"] - a["t"] for a, b in zip(samples, samples[1:]))
        r["sampling"] = (len(samples), steps[len(steps) // 2], steps[-1])
    r["stale"] = [c for c in settle_checks if c["problem"]]
    r["bad_gaps"] = [g for g in r["gaps"] if g["end"] > g["start"]]
    return r


def settle_check(daemons, kind, node, t_fault):
    holders = {n for n in NODES if holders_of(n)}
    masters = set()
    for n, d in daemons.items():
        if d.cur is not None:
            d.cur.read_log()
        if d.alive() and d.cur.state == "MASTER":
            masters.add(n)
    problem = []
    for n in sorted(holders):
        if not daemons[n].alive():
            problem.append("node%d holds the VIP with no vipd running" % n)
        elif n not in masters:
            problem.append("node%d holds the VIP as %s" % (n, daemons[n].cur.state))
    for n in sorted(masters - holders):
        problem.append("node%d is MASTER without the VIP" % n)
    if len(holders) != 1 and not problem:
        problem.append("%d holders" % len(holders))
    preferred = max((n for n in NODES if daemons[n].alive()), key=lambda n: PRIO[n],
                    default=None)
    return {"t": now(), "kind": kind, "node": node, "holders": holders, "masters": masters,
            "problem": "; ".join(problem),
            "not_preferred": bool(masters) and masters != {preferred}}


def fmt_s(x):
    return "%.2f s" % x


def report(args, r, faults_run, daemons, settle_checks, duration, notes, t0):
    print()
    mixed = " (node%d: keepalived)" % args.keepalived if args.keepalived else ""
    print("vipd soak: %.0f s, seed %d, 3 nodes%s, %d ms adverts, %d faults" % (
        duration, args.seed, mixed, ADVERT_CS * 10, len(faults_run)))
    kinds = {}
    for kind, node, _m in faults_run:
        kinds.setdefault(kind, []).append(node)
    print("faults: " + ", ".join("%s %d" % (k, len(v)) for k, v in sorted(kinds.items())))
    for n in notes:
        print("note: " + n)
    print()
    rows = [
        ("two masters outside partitions (live holders >= 2)", fmt_s(r["two_out"])),
        ("  of which under 20% packet loss", fmt_s(r["two_loss"])),
        ("  episodes (outside partitions) / failing", "%d / %d" % (
            len(r["episodes"]), len(r["bad_episodes"]))),
        ("two masters inside partitions (expected)", fmt_s(r["two_in"])),
        ("two MACs answering ARP in one 50 ms window, outside partitions",
         fmt_s(r["arp_two_out"])),
        ("VIP on a node whose vipd is dead (SIGKILL leftover)", fmt_s(r["dead_holder"])),
        ("no VIP while an eligible node lived, beyond %.2f s grace" % GRACE,
         fmt_s(r["no_vip"])),
        ("  the same without the grace", fmt_s(r["no_vip_raw"])),
        ("  gaps beyond the grace / failing (two samples or more)", "%d / %d" % (
            len(r["gaps"]), len(r["bad_gaps"]))),
        ("no ARP answer in a 50 ms window, beyond the grace", fmt_s(r["no_arp"])),
        ("settle checks / with stale or missing VIPs", "%d / %d" % (
            len(settle_checks), len(r["stale"]))),
        ("settle checks where the master was not the preferred node",
         "%d" % sum(1 for c in settle_checks if c["not_preferred"])),
    ]
    w = max(len(a) for a, _ in rows)
    for a, b in rows:
        print("%-*s  %s" % (w, a, b))
    if r["gaps"]:
        worst = sorted(r["gaps"], key=lambda g: g["start"] - g["end"])[:5]
        print("longest no-VIP gaps beyond the grace: " + ", ".join(
            "%.2f s at +%.1f s" % (g["end"] - g["start"] + SAMPLE, g["start"] - t0)
            for g in worst))
    bad = [id(e) for e in r["bad_episodes"]]
    for i, e in enumerate(r["episodes"]):
        if i >= 20 and id(e) not in bad:
            continue
        print("%s two masters %s outside partitions: %d sample(s) at +%.1f s%s" % (
            "FAIL" if id(e) in bad else "tolerated", sorted(e["nodes"]), e["samples"],
            e["start"] - t0, " (under loss)" if e["loss"] else ""))
    if len(r["episodes"]) > 20:
        print("(%d more tolerated episodes not listed)" % (len(r["episodes"]) - 20 - sum(
            1 for e in r["episodes"][20:] if id(e) in bad)))
    for g in r["bad_gaps"]:
        print("FAIL no VIP while an eligible node lived: %.2f s at +%.1f s" % (
            g["end"] - g["start"] + SAMPLE, g["start"] - t0))
    for c in r["stale"]:
        print("FAIL after %s of node%d, settled at +%.1f s: %s" % (
            c["kind"], c["node"], c["t"] - t0, c["problem"]))
    if r.get("sampling"):
        n, med, worst = r["sampling"]
        print("samples: %d, interval median %.0f ms, longest %.0f ms" % (n, med * 1000,
                                                                         worst * 1000))
    print()
    print("per fault kind (window: onset to %.1f s after the heal; on-master = the fault hit the"
          " VIP holder)" % args.settle)
    print("%-10s %6s %10s %22s %22s" % ("kind", "count", "on-master", "longest no-VIP gap",
                                        "two-masters time"))
    by_kind = {}
    for (kind, node, on_master), c in zip(faults_run, r["cycles"]):
        k = by_kind.setdefault(kind, {"n": 0, "m": 0, "gap": 0.0, "gap_m": 0.0, "two": 0.0})
        k["n"] += 1
        k["m"] += on_master
        k["gap"] = max(k["gap"], c["longest_gap"])
        if on_master:
            k["gap_m"] = max(k["gap_m"], c["longest_gap"])
        k["two"] += c["two"]
    for kind, k in sorted(by_kind.items()):
        print("%-10s %6d %10d %22s %22s" % (kind, k["n"], k["m"], "%.2f s (master %.2f s)" % (
            k["gap"], k["gap_m"]), fmt_s(k["two"])))
    print()
    print("memory and file descriptors per daemon process (from 2 s after start to the end;")
    print("* keepalived: its parent process only)")
    print("%-6s %-4s %8s %9s %11s %8s %9s %9s  %s" % (
        "node", "inc", "pid", "life", "RSS kB", "dRSS", "fds", "dfds", "ended"))
    for n, d in sorted(daemons.items()):
        for k, inc in enumerate(d.incarnations, 1):
            end = inc.end if inc.end is not None else now()
            mem = [m for m in inc.mem if m[0] >= inc.start + 2.0] or inc.mem
            if mem:
                a, b = mem[0], mem[-1]
                rss = "%d->%d" % (a[1], b[1])
                drss = "%+d" % (b[1] - a[1])
                fds = "%d->%d" % (a[2], b[2])
                dfds = "%+d" % (b[2] - a[2])
            else:
                rss = drss = fds = dfds = "-"
            long_lived = inc.end is None and k == 1
            print("%-6s %-4s %8d %8.0fs %11s %8s %9s %9s  %s" % (
                "node%d" % n + ("*" if d.impl == "keepalived" else ""), k, inc.pid,
                end - inc.start, rss, drss, fds, dfds,
                inc.how or ("running (long-lived)" if long_lived else "running")))


# --------------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--duration", type=float, default=600.0, help="seconds (default 600)")
    ap.add_argument("--seed", type=int, default=None, help="fault sequence seed (default random)")
    ap.add_argument("--faults", default=",".join(FAULTS),
                    help="comma-separated kinds (default all: %s)" % ",".join(FAULTS))
    ap.add_argument("--settle", type=float, default=2.0,
                    help="seconds after a heal before the VIPs are checked (default 2)")
    ap.add_argument("--no-build", action="store_true", help="use target/release/vipd as is")
    ap.add_argument("--keep-logs", action="store_true", help="keep the vipd logs")
    ap.add_argument("--keepalived", type=int, default=None, metavar="N",
                    help="node N (%s) runs keepalived instead of vipd" % "/".join(map(str, NODES)))
    args = ap.parse_args()
    if args.seed is None:
        args.seed = int.from_bytes(os.urandom(4), "little")
    kinds = [k for k in args.faults.split(",") if k]
    for k in kinds:
        if k not in FAULTS:
            ap.error("unknown fault %r" % k)
    if args.keepalived is not None and args.keepalived not in NODES:
        ap.error("--keepalived: node %d does not exist (nodes: %s)"
                 % (args.keepalived, ", ".join(map(str, NODES))))
    if os.geteuid() != 0:
        sys.exit("needs root (network namespaces)")
    print("soak: seed %d, %.0f s, faults %s" % (args.seed, args.duration, ",".join(kinds)),
          flush=True)
    vipd = os.path.join(ROOT, "target", "release", "vipd")
    if not args.no_build:
        log("cargo build --release --locked -p vipd")
        subprocess.run(["cargo", "build", "--release", "-q", "--locked", "-p", "vipd"], cwd=ROOT,
                       check=True)
    tools = ("ip", "bridge", "nft") + (("keepalived",) if args.keepalived else ())
    for tool in tools:
        if subprocess.run(["which", tool], stdout=subprocess.DEVNULL).returncode != 0:
            sys.exit("missing %s (apt-get install iproute2 nftables keepalived)" % tool)

    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, lab.on_signal)
    tmp = tempfile.mkdtemp(prefix="vipd-soak.")
    notes = []
    code = 2
    sampler = None
    try:
        import shutil
        # A private copy: a concurrent `cargo build` may replace target/release/vipd mid-run.
        shutil.copy2(vipd, os.path.join(tmp, "vipd"))
        vipd = os.path.join(tmp, "vipd")
        check, why = health_checks(vipd, tmp)
        if "health" in kinds and check is None:
            kinds.remove("health")
            print("health-check flaps: SKIPPED: this vipd does not take `checks` (%s)" % why,
                  flush=True)
        elif check is not None:
            print("health-check flaps: on, with checks: [%s]" % check.replace(
                "{path}", os.path.join(tmp, "nN.healthy")), flush=True)
        env = lab.Lab()
        how = partition_method()
        if how != "state":
            notes.append("partitions take the bridge port down (the node loses its carrier): "
                         "this bridge refuses a manual port state")
        daemons = {n: Daemon(n, vipd, tmp, check,
                             "keepalived" if n == args.keepalived else "vipd") for n in NODES}
        if args.keepalived:
            v = subprocess.run(["keepalived", "--version"], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True).stdout.strip()
            print("node%d runs %s" % (args.keepalived, (v.splitlines() or ["keepalived"])[0]),
                  flush=True)
        faults = Faults(daemons, how)
        for d in daemons.values():
            d.start()
        # Wait for the first master before measuring.
        t_end = now() + 15
        while now() < t_end and sum(holders_of(n) for n in NODES) != 1:
            time.sleep(0.05)
        sampler = Sampler(daemons, faults, env.observer)
        rng = random.Random(args.seed)
        t0 = now()
        sampler.start()
        settle_checks = []
        faults_run = []
        deadline = t0 + args.duration
        while now() < deadline:
            time.sleep(rng.uniform(1.0, 3.0))
            if now() >= deadline:
                break
            kind = rng.choice(kinds)
            live = [n for n in NODES if daemons[n].alive() and holders_of(n)]
            # The same draws whatever the state, so that a seed gives the same sequence.
            to_master, pick = rng.random() < 0.5, rng.choice(NODES)
            node = live[0] if live and to_master else pick
            hold = rng.uniform(3.0, 6.0) if kind == "loss" else rng.uniform(1.0, 3.0)
            print("+%6.1f s  %-9s node%d for %.1f s" % (now() - t0, kind, node, hold),
                  flush=True)
            faults.apply(kind, node)
            faults_run.append((kind, node, node in live))
            time.sleep(hold)
            faults.heal(kind, node)
            time.sleep(args.settle)
            c = settle_check(daemons, kind, node, now())
            settle_checks.append(c)
            if c["problem"]:
                print("          settle: %s" % c["problem"], flush=True)
            if sampler.error:
                raise sampler.error
        sampler.stop_flag.set()
        sampler.join(2)
        duration = now() - t0
        r = analyse(sampler.samples, faults.events, args.settle, settle_checks)
        report(args, r, faults_run, daemons, settle_checks, duration, notes, t0)
        code = 1 if (r["bad_episodes"] or r["stale"] or r["bad_gaps"]) else 0
        print("\nresult: %s (seed %d)" % ("PASS" if code == 0 else "FAIL", args.seed))
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if sampler is not None:
            sampler.stop_flag.set()
        lab.cleanup()
        if args.keep_logs:
            log("logs kept in", tmp)
        else:
            import shutil
            shutil.rmtree(tmp, ignore_errors=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
