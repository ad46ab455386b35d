#!/usr/bin/env python3
"""vipd against keepalived 2.2.7 on the same three-node lab (a benchmark, not a test).

Run as root from anywhere (python3 stdlib only; needs iproute2 and keepalived):

    sudo python3 benches/vs_keepalived.py --quick          # smoke run, a few minutes
    sudo python3 benches/vs_keepalived.py --reps 5          # the full pass

The lab is the demo's: a bridge in a switch namespace, nodes 10.200.0.1-3/24 (MACs
02:00:00:00:00:01-03, priorities 150/100/50), an observer 10.200.0.9, VIP 10.200.0.100/24 on
VRID 51, VRRPv3, preempt on. The same lab runs vipd (`vipd run -c FILE`) and keepalived
(`keepalived -n -l -P -f CONF -p PIDFILE -r VRRP_PIDFILE`) with the same settings, at advert
intervals of 1 s and 0.1 s. The observer (a raw AF_PACKET socket, this file run with
`--_observer` in the observer's namespace) asks who has the VIP every 5 ms and records each
reply's time (CLOCK_MONOTONIC, shared by all namespaces) and sender MAC.

Measured, per implementation and interval, over --reps repetitions (medians):
  1. cold start: the three daemons started together -> first ARP reply for the VIP;
  2. crash failover: SIGKILL of all of node1's processes -> first reply from node2's MAC;
  3. graceful handover: SIGTERM to node1 -> the longest gap between consecutive replies (any
     MAC) from the signal to 3 s after node2's first reply;
  4. RSS per node (VmRSS, keepalived parent + VRRP child);
  5. CPU per node over --steady seconds of steady state (utime+stime, % of one core; also the
     same from the scheduler's nanosecond counters, /proc/PID/task/*/schedstat).
Then 1, 50 and 255 instances on one interface at 0.1 s: CPU and RSS per node over
--scale-steady seconds.

Every namespace is named vb<pid>-*, every process is signalled by its own PID, and all of it
is removed on exit, error, Ctrl-C or SIGTERM.
"""

import argparse
import datetime
import json
import os
import platform
import select
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
VIPD = os.path.join(os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target"),
                    "release", "vipd")
PREFIX = "vb%d-" % os.getpid()
NODES = (1, 2, 3)
PRIO = {1: 150, 2: 100, 3: 50}
VIP = "10.200.0.100"
OBS_IP = "10.200.0.9"
VRID = 51
PROBE_INTERVAL = 0.005
CLK_TCK = os.sysconf("SC_CLK_TCK")
SO_TIMESTAMPNS = 35
GAP_WINDOW = 4.0  # seconds of adverts captured for the gap table
SECTIONS = ("gaps", "timing", "scale")
IMPLS = ("vipd", "keepalived")


def mac(n):
    return "02:00:00:00:00:%02x" % n


def skew(prio, adv):
    """RFC 5798's Skew_Time, in seconds: ((256 - Priority) * Master_Adver_Interval) / 256."""
    return (256 - prio) * adv / 256.0


def mdi(prio, adv):
    """RFC 5798's Master_Down_Interval, in seconds: 3 * Master_Adver_Interval + Skew_Time."""
    return 3 * adv + skew(prio, adv)


def log(*a):
    print("#", *a, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# The observer, run as `ip netns exec OBS python3 vs_keepalived.py --_observer IFACE SRC VIP`.
# Commands on stdin, one a line: `probe 0|1` stops/starts the 5 ms ARP requests, `quit` ends.
# Output lines: `R t mac` (a reply to our request), `V t mac vrid prio` (a VRRP advert),
# `ready`; t is CLOCK_MONOTONIC in seconds.


def observer_main(iface, src_ip, target):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))  # ETH_P_ALL
    s.bind((iface, 0))
    # Kernel receive timestamps (CLOCK_REALTIME), mapped onto CLOCK_MONOTONIC with one offset
    # read at start: advert gaps are then the wire's, not this script's scheduling.
    s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    offset = time.time() - time.monotonic()
    own = s.getsockname()[4]
    spa, tpa = socket.inet_aton(src_ip), socket.inet_aton(target)
    req = (b"\xff" * 6 + own + b"\x08\x06" + b"\x00\x01\x08\x00\x06\x04\x00\x01"
           + own + spa + b"\x00" * 6 + tpa)
    s.setblocking(False)
    out = sys.stdout
    probing = True
    due = time.monotonic()
    buf = b""
    print("ready", flush=True)
    while True:
        now = time.monotonic()
        if probing and now >= due:
            try:
                s.send(req)
            except OSError:
                pass
            due += PROBE_INTERVAL
            if due < now:
                due = now + PROBE_INTERVAL
        wait = max(0.0, due - time.monotonic()) if probing else 0.5
        r, _, _ = select.select([s, 0], [], [], wait)
        lines = []
        if s in r:
            while True:
                try:
                    f, anc, _, addr = s.recvmsg(2048, 64)
                except BlockingIOError:
                    break
                t = time.monotonic()
                for lvl, typ, data in anc:
                    if lvl == socket.SOL_SOCKET and typ == SO_TIMESTAMPNS and len(data) >= 16:
                        sec, nsec = struct.unpack("qq", data[:16])
                        t = sec + nsec / 1e9 - offset
                if addr[2] == socket.PACKET_OUTGOING or len(f) < 34:
                    continue
                et = f[12:14]
                if (et == b"\x08\x06" and len(f) >= 42 and f[20:22] == b"\x00\x02"
                        and f[28:32] == tpa and f[38:42] == spa):
                    lines.append("R %.6f %s" % (t, f[22:28].hex(":")))
                elif et == b"\x08\x00" and f[23] == 112:
                    ihl = (f[14] & 0x0F) * 4
                    v = f[14 + ihl:]
                    if len(v) >= 8:
                        lines.append("V %.6f %s %d %d" % (t, f[6:12].hex(":"), v[1], v[2]))
        if lines:
            out.write("\n".join(lines) + "\n")
            out.flush()
        if 0 in r:
            data = os.read(0, 4096)
            if not data:
                return
            buf += data
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                cmd = line.strip()
                if cmd == b"quit":
                    return
                if cmd == b"probe 1":
                    probing, due = True, time.monotonic()
                elif cmd == b"probe 0":
                    probing = False


# --------------------------------------------------------------------------------------------
# Bookkeeping of everything this run creates, for cleanup.

STARTED = []  # Popen objects we started
NAMESPACES = []  # namespaces we created
TMPDIR = None


def run(*argv, check=True, quiet=False):
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if check and p.returncode != 0:
        raise RuntimeError("%s failed: %s" % (" ".join(argv), p.stderr.strip()))
    return p.stdout


def ns(name):
    return PREFIX + name


def children_of(pid):
    """PIDs whose parent is `pid` (from /proc)."""
    kids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        rest = st[st.rfind(")") + 2:].split()
        if int(rest[1]) == pid:
            kids.append(int(d))
    return kids


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read()
        return st[st.rfind(")") + 2] != "Z"
    except OSError:
        return False


def spawn(argv, logfile):
    """Starts argv in its own session (Ctrl-C reaches only us), with SIGKILL on our death."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)

    def pre():
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG

    f = open(logfile, "ab")
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT,
                         start_new_session=True, preexec_fn=pre)
    f.close()
    STARTED.append(p)
    return p


def kill_tree(p):
    """SIGKILLs a started process and its children: the parent is stopped first, so that it
    neither reacts to its child's death nor (keepalived) lets the child see its own."""
    if p.poll() is not None:
        return
    kids = children_of(p.pid)
    try:
        os.kill(p.pid, signal.SIGSTOP)
    except ProcessLookupError:
        pass
    for k in kids:
        try:
            os.kill(k, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        os.kill(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        p.wait(5)
    except subprocess.TimeoutExpired:
        pass


def cleanup():
    for p in STARTED:
        try:
            kill_tree(p)
        except Exception as e:  # keep cleaning
            log("cleanup:", e)
    STARTED.clear()
    for n in reversed(NAMESPACES):
        subprocess.run(["ip", "netns", "del", n], stderr=subprocess.DEVNULL)
    NAMESPACES.clear()
    if TMPDIR and os.path.isdir(TMPDIR) and not KEEP_TMP:
        import shutil
        shutil.rmtree(TMPDIR, ignore_errors=True)


KEEP_TMP = False


def on_signal(signum, _frame):
    raise KeyboardInterrupt("signal %d" % signum)


# --------------------------------------------------------------------------------------------
# The lab.


class Observer:
    def __init__(self):
        self.lock = threading.Lock()
        self.replies = []  # (t, mac)
        self.adverts = []  # (t, mac, vrid, prio)
        self.p = subprocess.Popen(
            ["ip", "netns", "exec", ns("obs"), sys.executable, os.path.abspath(__file__),
             "--_observer", "eth0", OBS_IP, VIP],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            start_new_session=True, text=True, bufsize=1)
        STARTED.append(self.p)
        line = self.p.stdout.readline()
        if line.strip() != "ready":
            raise RuntimeError("observer did not start")
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        for line in self.p.stdout:
            f = line.split()
            if not f:
                continue
            with self.lock:
                if f[0] == "R":
                    self.replies.append((float(f[1]), f[2]))
                elif f[0] == "V":
                    self.adverts.append((float(f[1]), f[2], int(f[3]), int(f[4])))

    def probe(self, on):
        self.p.stdin.write("probe %d\n" % (1 if on else 0))
        self.p.stdin.flush()

    def clear(self):
        with self.lock:
            self.replies.clear()
            self.adverts.clear()

    def wait_reply(self, since, macs=None, timeout=15.0):
        """The time of the first reply at or after `since` (from one of `macs`), or None."""
        end = time.monotonic() + timeout
        i = 0
        while True:
            with self.lock:
                rs = self.replies[i:]
            for t, m in rs:
                if t >= since and (macs is None or m in macs):
                    return t, m
            i += len(rs)
            if time.monotonic() > end:
                return None
            time.sleep(0.002)

    def replies_between(self, a, b):
        with self.lock:
            return [(t, m) for t, m in self.replies if a <= t <= b]

    def last_reply_before(self, t0):
        with self.lock:
            before = [t for t, _ in self.replies if t < t0]
        return before[-1] if before else None

    def adverts_between(self, a, b):
        with self.lock:
            return [x for x in self.adverts if a <= x[0] <= b]

    def stop(self):
        try:
            self.p.stdin.write("quit\n")
            self.p.stdin.flush()
            self.p.wait(3)
        except Exception:
            kill_tree(self.p)


class Lab:
    def __init__(self):
        run("ip", "netns", "add", ns("sw"))
        NAMESPACES.append(ns("sw"))
        run("ip", "-n", ns("sw"), "link", "add", "br0", "type", "bridge")
        run("ip", "-n", ns("sw"), "link", "set", "br0", "up")
        self._attach("obs", 9, OBS_IP + "/24")
        for n in NODES:
            self._attach("n%d" % n, n, "10.200.0.%d/24" % n)
        self.observer = Observer()

    def _attach(self, name, num, cidr):
        n = ns(name)
        run("ip", "netns", "add", n)
        NAMESPACES.append(n)
        tmp = PREFIX + "a%d" % num
        run("ip", "link", "add", tmp, "netns", n, "type", "veth", "peer", "name", "p%d" % num,
            "netns", ns("sw"))
        run("ip", "-n", n, "link", "set", tmp, "name", "eth0")
        run("ip", "-n", n, "link", "set", "eth0", "address", mac(num))
        run("ip", "-n", n, "addr", "add", cidr, "dev", "eth0")
        run("ip", "-n", n, "link", "set", "lo", "up")
        run("ip", "-n", n, "link", "set", "eth0", "up")
        run("ip", "-n", ns("sw"), "link", "set", "p%d" % num, "master", "br0")
        run("ip", "-n", ns("sw"), "link", "set", "p%d" % num, "up")

    def vips(self, n, prefix):
        out = run("ip", "-n", ns("n%d" % n), "-4", "-o", "addr", "show", "dev", "eth0")
        words = out.split()
        return [b.split("/")[0] for a, b in zip(words, words[1:])
                if a == "inet" and b.startswith(prefix)]

    def clear_vips(self):
        for n in NODES:
            run("ip", "-n", ns("n%d" % n), "addr", "flush", "dev", "eth0", "to", VIP + "/32",
                check=False)
            run("ip", "-n", ns("n%d" % n), "addr", "flush", "dev", "eth0", "to", "10.201.0.0/16",
                check=False)


# --------------------------------------------------------------------------------------------
# Configurations.


def instances(count, adv):
    """(vrid, vip cidr) for the 3-node test (count 0) or the scale test (VRIDs 1..count)."""
    if count == 0:
        return [(VRID, VIP + "/24")]
    return [(v, "10.201.%d.1/24" % v) for v in range(1, count + 1)]


def vipd_conf(node, adv, count):
    ms = int(round(adv * 1000))
    lines = ["instances:"]
    for vrid, cidr in instances(count, adv):
        lines += [
            "  - name: VI_%d" % vrid,
            "    interface: eth0",
            "    vrid: %d" % vrid,
            "    version: 3",
            "    priority: %d" % PRIO[node],
            "    advert_interval: %dms" % ms,
            "    preempt: true",
            "    vips: ['%s']" % cidr,
        ]
    return "\n".join(lines) + "\n"


def keepalived_conf(node, adv, count):
    out = ["global_defs {", "    router_id node%d" % node, "}"]
    for vrid, cidr in instances(count, adv):
        out += [
            "vrrp_instance VI_%d {" % vrid,
            "    state BACKUP",
            "    interface eth0",
            "    virtual_router_id %d" % vrid,
            "    version 3",
            "    priority %d" % PRIO[node],
            "    advert_int %s" % ("%g" % adv),
            "    virtual_ipaddress {",
            "        %s dev eth0" % cidr,
            "    }",
            "}",
        ]
    return "\n".join(out) + "\n"


class Node:
    """One daemon on one node."""

    def __init__(self, impl, n, adv, count, tag):
        self.impl, self.n = impl, n
        d = os.path.join(TMPDIR, "%s-%s-n%d" % (tag, impl, n))
        os.makedirs(d, exist_ok=True)
        self.dir = d
        self.log = os.path.join(d, "log")
        self.vrrp_pidfile = os.path.join(d, "vrrp.pid")
        if impl == "vipd":
            conf = os.path.join(d, "vipd.yaml")
            with open(conf, "w") as f:
                f.write(vipd_conf(n, adv, count))
            argv = [VIPD, "run", "-c", conf]
        else:
            conf = os.path.join(d, "keepalived.conf")
            with open(conf, "w") as f:
                f.write(keepalived_conf(n, adv, count))
            argv = ["keepalived", "-n", "-l", "-P", "-f", conf,
                    "-p", os.path.join(d, "keepalived.pid"), "-r", self.vrrp_pidfile]
        self.argv = argv

    def start(self):
        self.p = spawn(["ip", "netns", "exec", ns("n%d" % self.n)] + self.argv, self.log)

    def pids(self):
        """The main PID and, for keepalived, its VRRP child (from the pid file and /proc)."""
        if self.p.poll() is not None:
            return []
        ps = [self.p.pid]
        kids = set(children_of(self.p.pid))
        if self.impl == "keepalived":
            try:
                with open(self.vrrp_pidfile) as f:
                    c = int(f.read().strip())
                if c in kids or alive(c):
                    kids.add(c)
            except (OSError, ValueError):
                pass
        return ps + sorted(k for k in kids if alive(k))

    def wait_child(self, timeout=10.0):
        """keepalived: waits until the VRRP child is up and its pid file written."""
        if self.impl != "keepalived":
            return
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if len(self.pids()) >= 2 and os.path.exists(self.vrrp_pidfile):
                return
            time.sleep(0.01)
        raise RuntimeError("node%d: keepalived's VRRP child did not start" % self.n)

    def crash(self):
        """SIGKILLs every process of the node; returns the time of the first SIGKILL."""
        ps = self.pids()
        main, kids = ps[0], ps[1:]
        if kids:
            os.kill(main, signal.SIGSTOP)
        t = time.monotonic()
        for k in kids:
            os.kill(k, signal.SIGKILL)
        os.kill(main, signal.SIGKILL)
        self.p.wait(5)
        return t

    def master_entries(self):
        """How many times the log says an instance of this node became Master."""
        key = b"to=MASTER" if self.impl == "vipd" else b"Entering MASTER STATE"
        try:
            with open(self.log, "rb") as f:
                return f.read().count(key)
        except OSError:
            return 0

    def engine_started(self, wall_offset):
        """vipd: when its engine started (the log's `reason=startup` line, UTC wall clock),
        on the CLOCK_MONOTONIC time line; None for keepalived or if not found."""
        if self.impl != "vipd":
            return None
        try:
            with open(self.log, errors="replace") as f:
                for line in f:
                    if "reason=startup" in line:
                        stamp = line.split()[0].rstrip("Z")
                        wall = datetime.datetime.fromisoformat(stamp).replace(
                            tzinfo=datetime.timezone.utc).timestamp()
                        return wall - wall_offset
        except (OSError, ValueError, IndexError):
            pass
        return None

    def term(self):
        t = time.monotonic()
        os.kill(self.p.pid, signal.SIGTERM)
        return t

    def stop(self):
        kill_tree(self.p)
        if self.p in STARTED:
            STARTED.remove(self.p)


def raw_drops(n):
    """Packets dropped on node n's raw sockets (the last column of /proc/net/raw)."""
    out = run("ip", "netns", "exec", ns("n%d" % n), "cat", "/proc/net/raw", check=False)
    total = 0
    for line in out.splitlines()[1:]:
        f = line.split()
        if f and f[-1].isdigit():
            total += int(f[-1])
    return total


def proc_cpu(pid):
    """(utime+stime ticks, schedstat ns summed over threads) of a live process."""
    with open("/proc/%d/stat" % pid) as f:
        st = f.read()
    rest = st[st.rfind(")") + 2:].split()
    ticks = int(rest[11]) + int(rest[12])
    ns_ = 0
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            try:
                with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                    ns_ += int(f.read().split()[0])
            except OSError:
                pass
    except OSError:
        pass
    return ticks, ns_


def proc_rss(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def node_cpu(node):
    tk, nsum = 0, 0
    pids = node.pids()
    for p in pids:
        a, b = proc_cpu(p)
        tk += a
        nsum += b
    return tk, nsum, tuple(pids)


def node_rss(node):
    return sum(proc_rss(p) for p in node.pids())


def measure_steady(nodes, seconds):
    """CPU (% of one core) per node over `seconds`: (from utime+stime, from schedstat)."""
    before = {n.n: node_cpu(n) for n in nodes}
    t0 = time.monotonic()
    time.sleep(seconds)
    after = {n.n: node_cpu(n) for n in nodes}
    dt = time.monotonic() - t0
    res = {}
    for n in nodes:
        b, a = before[n.n], after[n.n]
        if a[2] != b[2]:
            log("node%d: process set changed during the window: %s -> %s" % (n.n, b[2], a[2]))
        res[n.n] = (100.0 * (a[0] - b[0]) / CLK_TCK / dt, 100.0 * (a[1] - b[1]) / 1e9 / dt)
    return res


# --------------------------------------------------------------------------------------------
# The scenarios.


def stop_all(lab, nodes):
    for n in nodes:
        n.stop()
    lab.clear_vips()
    time.sleep(0.3)


def start_all(impl, adv, count, tag, which=NODES):
    nodes = [Node(impl, n, adv, count, tag) for n in which]
    t0 = time.monotonic()
    for n in nodes:
        n.start()
    return nodes, t0


def one_run(lab, impl, adv, kind, steady, rep, notes):
    """One cold start followed by a crash or a graceful stop of the master. Returns a dict."""
    obs = lab.observer
    lab.clear_vips()
    obs.probe(True)
    time.sleep(0.05)
    tag = "%s-%g-%s-%d" % (kind, adv, impl, rep)
    wall_offset = time.time() - time.monotonic()
    nodes, t0 = start_all(impl, adv, 0, tag)
    r = {"impl": impl, "adv": adv, "kind": kind, "rep": rep}
    try:
        got = obs.wait_reply(t0, timeout=10 + 6 * adv)
        if got is None:
            raise RuntimeError("%s: nobody answered for the VIP after the start" % tag)
        r["cold_start"] = got[0] - t0
        r["cold_over_model"] = r["cold_start"] - mdi(PRIO[1], adv)
        r["cold_first_mac"] = got[1]
        # Where the time goes: node1's first advert on the wire (kernel timestamp, free of the
        # probes' 5 ms steps), and for vipd the engine's start from its log.
        first = [a[0] for a in obs.adverts_between(t0, got[0] + 1)
                 if a[1] == mac(1) and a[2] == VRID and a[3] == PRIO[1]]
        if first:
            r["cold_advert_over_model"] = first[0] - t0 - mdi(PRIO[1], adv)
            engine = nodes[0].engine_started(wall_offset)
            if engine is not None:
                r["cold_process_start"] = engine - t0
                r["cold_engine_advert_over_model"] = first[0] - engine - mdi(PRIO[1], adv)
        if got[1] != mac(1):
            notes.append("%s: first answer at cold start from %s, not node1" % (tag, got[1]))
        for n in nodes:
            n.wait_child()
        time.sleep(max(1.0, 3 * adv))
        holders = [n for n in NODES if lab.vips(n, VIP)]
        r["holders_before"] = holders
        if holders != [1]:
            notes.append("%s: VIP held by %s before the stop (expected node1 only)"
                         % (tag, holders))
        if steady > 0:
            obs.probe(False)
            time.sleep(0.2)
            cpu = measure_steady(nodes, steady)
            r["cpu_ticks"] = {k: v[0] for k, v in cpu.items()}
            r["cpu_sched"] = {k: v[1] for k, v in cpu.items()}
            obs.probe(True)
            time.sleep(max(0.3, 2 * adv))
        r["rss"] = {n.n: node_rss(n) for n in nodes}
        r["pids"] = {n.n: nodes[n.n - 1].pids() for n in nodes}
        master = nodes[0]
        if kind == "crash":
            tk = master.crash()
            got = obs.wait_reply(tk, macs={mac(2)}, timeout=10 + 6 * adv)
            if got is None:
                raise RuntimeError("%s: node2 never answered after the kill" % tag)
            r["failover"] = got[0] - tk
            time.sleep(0.2)
            prio0 = [a for a in obs.adverts_between(tk, got[0])
                     if a[1] == mac(1) and a[2] == VRID]
            r["adverts_from_dead_master"] = len(prio0)
            r["dead_master_still_holds_vip"] = bool(lab.vips(1, VIP))
            # Wait past node3's Master_Down_Interval, so that a second Backup taking over
            # (node3, priority 50) would be seen too.
            time.sleep(max(0.0, mdi(PRIO[3], adv) - mdi(PRIO[2], adv) + 2 * adv - 0.2))
            last = [a[0] for a in obs.adverts_between(tk - 3 * adv - 1, tk)
                    if a[1] == mac(1) and a[2] == VRID]
            after = [a for a in obs.adverts_between(tk, time.monotonic())
                     if a[1] != mac(1) and a[2] == VRID and a[3] > 0]
            takers = []
            for a in after:
                if a[1] not in takers:
                    takers.append(a[1])
            r["takers"] = ["node%d" % n for t in takers for n in NODES if mac(n) == t]
            if last and after:
                r["detection"] = after[0][0] - last[-1]
                r["detection_over_model"] = r["detection"] - mdi(PRIO[2], adv)
            if r["takers"] != ["node2"]:
                notes.append("%s: after the crash, Master adverts came from %s (expected node2 "
                             "only)" % (tag, r["takers"] or "nobody"))
        else:
            ts = master.term()
            got = obs.wait_reply(ts, macs={mac(2)}, timeout=10 + 6 * adv)
            if got is None:
                raise RuntimeError("%s: node2 never answered after SIGTERM" % tag)
            t2 = got[0]
            r["handover_node2"] = t2 - ts
            end = t2 + 3.0
            while time.monotonic() < end + 0.05:
                time.sleep(0.05)
            prev = obs.last_reply_before(ts)
            times = ([prev] if prev is not None else [ts]) + [
                t for t, _ in obs.replies_between(ts, end)]
            gap, at = 0.0, ts
            for a, b in zip(times, times[1:]):
                if b - a > gap:
                    gap, at = b - a, a
            r["outage"] = gap
            r["outage_starts_after_signal"] = at - ts
            macs = sorted({m for _, m in obs.replies_between(ts, end)})
            r["answering_macs"] = macs
            ad = obs.adverts_between(ts, t2)
            r["prio0_adverts_from_node1"] = sum(1 for a in ad if a[1] == mac(1) and a[3] == 0)
            try:
                master.p.wait(5)
                r["node1_exit"] = master.p.returncode
            except subprocess.TimeoutExpired:
                r["node1_exit"] = None
                notes.append("%s: node1 had not exited 5 s after SIGTERM" % tag)
    finally:
        stop_all(lab, nodes)
        obs.clear()
    return r


def gap_run(lab, impl, adv, notes):
    """Two nodes (node1 150, node2 100), one instance: the gaps between node1's adverts on the
    wire over GAP_WINDOW seconds of steady state (kernel receive timestamps)."""
    obs = lab.observer
    lab.clear_vips()
    obs.probe(True)
    tag = "gaps-%g-%s" % (adv, impl)
    nodes, t0 = start_all(impl, adv, 0, tag, which=(1, 2))
    r = {"impl": impl, "adv": adv}
    try:
        got = obs.wait_reply(t0, macs={mac(1)}, timeout=10 + 6 * adv)
        if got is None:
            raise RuntimeError("%s: node1 never answered for the VIP" % tag)
        for n in nodes:
            n.wait_child()
        obs.probe(False)
        time.sleep(1.0)
        a = time.monotonic()
        time.sleep(GAP_WINDOW)
        b = time.monotonic()
        time.sleep(0.2)
        ts = [x[0] for x in obs.adverts_between(a, b)
              if x[1] == mac(1) and x[2] == VRID and x[3] == PRIO[1]]
        gaps = [y - x for x, y in zip(ts, ts[1:])]
        if len(gaps) < 2:
            raise RuntimeError("%s: %d adverts from node1 in %g s" % (tag, len(ts), GAP_WINDOW))
        r["gaps"] = gaps
        others = [x for x in obs.adverts_between(a, b) if x[1] != mac(1) and x[3] > 0]
        if others:
            notes.append("%s: %d adverts from another node during the window"
                         % (tag, len(others)))
    finally:
        stop_all(lab, nodes)
        obs.clear()
        obs.probe(True)
    return r


def scale_run(lab, impl, count, steady, notes, adv=0.1):
    lab.clear_vips()
    tag = "scale%d-%s" % (count, impl)
    nodes, t0 = start_all(impl, adv, count, tag)
    r = {"impl": impl, "count": count}
    try:
        for n in nodes:
            n.wait_child()
        limit = 20 + count * 0.1
        end = t0 + limit
        while True:
            h = [len(lab.vips(n, "10.201.")) for n in NODES]
            if h == [count, 0, 0]:
                r["all_vips_on_node1"] = time.monotonic() - t0
                break
            if time.monotonic() > end:
                r["all_vips_on_node1"] = None
                r["not_converged_after"] = limit
                notes.append(
                    "%s: not converged %.0f s after the start: VIPs per node %s (expected "
                    "[%d, 0, 0]), Master entries per node %s, raw-socket drops per node %s; "
                    "measured anyway" % (tag, limit, h, count,
                                         [n.master_entries() for n in nodes],
                                         [raw_drops(n) for n in NODES]))
                log(notes[-1])
                break
            time.sleep(0.1)
        r["vips_before"] = h
        time.sleep(2.0)
        m0 = {n.n: n.master_entries() for n in nodes}
        d0 = {n: raw_drops(n) for n in NODES}
        cpu = measure_steady(nodes, steady)
        r["master_entries_in_window"] = {n.n: n.master_entries() - m0[n.n] for n in nodes}
        r["master_entries_total"] = {n.n: n.master_entries() for n in nodes}
        r["raw_drops_in_window"] = {n: raw_drops(n) - d0[n] for n in NODES}
        r["cpu_ticks"] = {k: v[0] for k, v in cpu.items()}
        r["cpu_sched"] = {k: v[1] for k, v in cpu.items()}
        r["rss"] = {n.n: node_rss(n) for n in nodes}
        h = [len(lab.vips(n, "10.201.")) for n in NODES]
        r["vips_after"] = h
        if h != [count, 0, 0] and r["all_vips_on_node1"] is not None:
            notes.append("%s: VIPs per node %s after the window, expected [%d, 0, 0]"
                         % (tag, h, count))
    finally:
        stop_all(lab, nodes)
    return r


# --------------------------------------------------------------------------------------------
# Reporting.


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, unit):
    if x is None:
        return "–"
    if unit == "ms":
        return "%.0f ms" % (x * 1000) if x >= 0.1 else "%.1f ms" % (x * 1000)
    if unit == "kB":
        return "%.0f kB" % x
    if unit == "%":
        return "%.3f %%" % x
    return str(x)


def ratio(a, b):
    if a is None or b is None or a < 0 or b <= 0:
        return "–"
    return "%.2f" % (a / b)


def rng(xs, unit):
    xs = [x for x in xs if x is not None]
    if not xs:
        return "–"
    return "%s–%s" % (fmt(min(xs), unit), fmt(max(xs), unit))


def p99(xs):
    """The 99th percentile (nearest rank) of a non-empty list."""
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, -(-99 * len(s) // 100) - 1))]


def fmt_gap(g):
    """mean (min–max, p99) of a list of gaps in seconds, in ms with two decimals."""
    return "%.2f ms (%.2f–%.2f, p99 %.2f, n=%d)" % (
        1000 * statistics.mean(g), 1000 * min(g), 1000 * max(g), 1000 * p99(g), len(g))


def report_gaps(gaps, impls, P):
    P()
    P("### Advert gaps on the wire (two nodes, one instance, %g s per run; mean (min–max, p99))"
      % GAP_WINDOW)
    P()
    P("| advert interval | " + " | ".join("%s: mean (min–max, p99) gap" % i for i in impls)
      + " | " + " | ".join("%s: mean − interval, max − interval" % i for i in impls) + " |")
    P("|" + "---|" * (1 + 2 * len(impls)))
    for adv in sorted({r["adv"] for r in gaps}):
        cells, dev = [], []
        for i in impls:
            g = [x for r in gaps if r["impl"] == i and r["adv"] == adv for x in r["gaps"]]
            cells.append(fmt_gap(g) if g else "–")
            dev.append("%+.2f %%, %+.2f ms" % (100 * (statistics.mean(g) - adv) / adv,
                                               1000 * (max(g) - adv)) if g else "–")
        P("| %g ms | %s | %s |" % (adv * 1000, " | ".join(cells), " | ".join(dev)))


def report_cpu30(results, scale, impls, P, args):
    """CPU per 30 s from the scheduler's run time: Master (node1) and Backups."""
    P()
    P("### CPU per 30 s (scheduler run time; medians (min–max) over repetitions; ratio = "
      "vipd / keepalived, the issue's goal is at most 0.50)")
    P()
    P("| case | node | " + " | ".join("%s ms per 30 s" % i for i in impls) + " | ratio |")
    P("|" + "---|" * (3 + len(impls)))

    def row(label, rs_by_impl):
        for n in NODES:
            meds, cells = {}, []
            for i in impls:
                # % of one core -> ms per 30 s.
                xs = [300.0 * r["cpu_sched"][n] for r in rs_by_impl[i]
                      if n in r.get("cpu_sched", {})]
                meds[i] = med(xs)
                cells.append("%s (%s)" % ("%.1f" % meds[i] if xs else "–",
                                          "–".join("%.1f" % v for v in (min(xs), max(xs)))
                                          if xs else "–"))
            P("| %s | node%d (%d)%s | %s | %s |" % (
                label, n, PRIO[n], " Master" if n == 1 else " Backup", " | ".join(cells),
                ratio(meds.get("vipd"), meds.get("keepalived"))))

    for adv in args.intervals:
        row("1 instance, %g s" % adv, {i: [r for r in results if r["impl"] == i
                                           and r["adv"] == adv and r["kind"] == "crash"]
                                       for i in impls})
    for count in args.scale:
        row("%d instances, %g s" % (count, args.scale_interval),
            {i: [r for r in scale if r["impl"] == i and r["count"] == count] for i in impls})


def report(results, scale, args, meta, notes, gaps=()):
    impls = [i for i in IMPLS if i in args.impls]
    P = print
    P()
    P("## vipd vs keepalived: results")
    P()
    P("- command: `%s`" % meta["command"])
    P("- date: %s (start) to %s (end)" % (meta["start"], meta["end"]))
    P("- machine: %s, %d CPUs, kernel %s" % (meta["cpu"], meta["ncpu"], meta["kernel"]))
    P("- load average at start: %s; at end: %s" % (meta["load_start"], meta["load_end"]))
    P("- vipd: %s (release build of commit %s plus the working tree); keepalived: %s"
      % (meta["vipd_version"], meta["git"], meta["keepalived_version"]))
    P("- repetitions: %d per implementation and interval (cold start is sampled in both the "
      "crash and the graceful run, so twice per repetition); steady state %g s; scale "
      "steady state %g s" % (args.reps, args.steady, args.scale_steady))
    if gaps:
        report_gaps(gaps, impls, P)
    if results or scale:
        report_cpu30(results, scale, impls, P, args)
    if results:
        report_timing(results, args, impls, P)
    if scale:
        report_scale(scale, args, impls, P)
    report_notes(results, impls, notes, P)


def report_timing(results, args, impls, P):
    P()
    P("### Timing (medians; ratio = vipd / keepalived)")
    P()
    P("RFC 5798 model: Master_Down_Interval = 3 x interval + (256 - priority) x interval / 256; "
      "cold start is compared with node1's (150), crash detection (node1's last advert on the "
      "wire -> the new Master's first) with node2's (100).")
    P()
    hdr = "| metric | advert | " + " | ".join(
        "%s median (min–max, n)" % i for i in impls) + " | ratio |"
    P(hdr)
    P("|" + "---|" * (3 + len(impls)))
    for metric, kind, label in (("cold_start", None, "cold start to VIP"),
                                ("cold_over_model", None,
                                 "cold start to VIP minus the model's Master_Down_Interval"),
                                ("cold_advert_over_model", None,
                                 "cold start to node1's first advert minus the model"),
                                ("cold_process_start", None,
                                 "of which: spawn -> engine started (vipd's log)"),
                                ("cold_engine_advert_over_model", None,
                                 "of which: engine started -> first advert, minus the model"),
                                ("detection", "crash",
                                 "crash detection: last advert of node1 -> first of the new "
                                 "Master"),
                                ("detection_over_model", "crash",
                                 "crash detection minus the model (node2's "
                                 "Master_Down_Interval)"),
                                ("failover", "crash", "crash failover (SIGKILL) to node2"),
                                ("handover_node2", "graceful",
                                 "graceful (SIGTERM): node2 first answers"),
                                ("outage", "graceful", "graceful (SIGTERM): ARP outage")):
        for adv in args.intervals:
            cells, meds = [], {}
            for i in impls:
                xs = [r.get(metric) for r in results
                      if r["impl"] == i and r["adv"] == adv and (kind is None or r["kind"] == kind)]
                xs = [x for x in xs if x is not None]
                meds[i] = med(xs)
                cells.append("%s (%s, %d)" % (fmt(meds[i], "ms"), rng(xs, "ms"), len(xs)))
            P("| %s | %g s | %s | %s |" % (label, adv, " | ".join(cells),
                                           ratio(meds.get("vipd"), meds.get("keepalived"))))
    for i in impls:
        cr = [r for r in results if r["impl"] == i and r["kind"] == "crash"]
        for adv in args.intervals:
            tk = [",".join(r.get("takers", [])) or "nobody" for r in cr if r["adv"] == adv]
            if tk:
                P()
                P("- %s, %g s: Masters after the crash, per repetition: %s" % (
                    i, adv, "; ".join(tk)))
    P()
    P("### Memory and CPU per node, 3-node lab (medians over repetitions; node1 is the master)")
    P()
    P("RSS: VmRSS after the steady window (keepalived: parent + VRRP child). CPU: %% of one core "
      "over the steady window, from utime+stime (clock ticks of 1/%d s) and, in brackets, from "
      "the scheduler's nanosecond run time (`/proc/PID/task/*/schedstat`)." % CLK_TCK)
    P()
    P("| advert | node | " + " | ".join("%s RSS" % i for i in impls) + " | RSS ratio | "
      + " | ".join("%s CPU (sched)" % i for i in impls) + " | CPU ratio (sched) |")
    P("|" + "---|" * (4 + 2 * len(impls)))
    for adv in args.intervals:
        for n in NODES:
            rss, cpu_t, cpu_s = {}, {}, {}
            for i in impls:
                rs = [r for r in results if r["impl"] == i and r["adv"] == adv
                      and r["kind"] == "crash"]
                rss[i] = med([r["rss"][n] for r in rs if "rss" in r])
                cpu_t[i] = med([r["cpu_ticks"][n] for r in rs if "cpu_ticks" in r])
                cpu_s[i] = med([r["cpu_sched"][n] for r in rs if "cpu_sched" in r])
            P("| %g s | node%d (%d) | %s | %s | %s | %s |" % (
                adv, n, PRIO[n], " | ".join(fmt(rss[i], "kB") for i in impls),
                ratio(rss.get("vipd"), rss.get("keepalived")),
                " | ".join("%s (%s)" % (fmt(cpu_t[i], "%"), fmt(cpu_s[i], "%")) for i in impls),
                ratio(cpu_s.get("vipd"), cpu_s.get("keepalived"))))


def report_scale(scale, args, impls, P):
    if scale:
        P()
        P("### Scale: N instances on one interface, %g s adverts (one window each)"
          % args.scale_interval)
        P()
        P("| N | node | " + " | ".join("%s RSS" % i for i in impls) + " | RSS ratio | "
          + " | ".join("%s CPU (sched)" % i for i in impls) + " | CPU ratio (sched) |")
        P("|" + "---|" * (4 + 2 * len(impls)))
        for count in args.scale:
            for n in NODES:
                rss, cpu_t, cpu_s = {}, {}, {}
                for i in impls:
                    rs = [r for r in scale if r["impl"] == i and r["count"] == count
                          and "rss" in r]
                    rss[i] = med([r["rss"][n] for r in rs])
                    cpu_t[i] = med([r["cpu_ticks"][n] for r in rs])
                    cpu_s[i] = med([r["cpu_sched"][n] for r in rs])
                P("| %d | node%d (%d) | %s | %s | %s | %s |" % (
                    count, n, PRIO[n], " | ".join(fmt(rss[i], "kB") for i in impls),
                    ratio(rss.get("vipd"), rss.get("keepalived")),
                    " | ".join("%s (%s)" % (fmt(cpu_t[i], "%"), fmt(cpu_s[i], "%"))
                               for i in impls),
                    ratio(cpu_s.get("vipd"), cpu_s.get("keepalived"))))
        P()
        P("| N | impl | start until node1 holds all N VIPs, others none | Master entries "
          "per node since start (node1/2/3) | of those in the window | raw-socket drops in "
          "the window (node1/2/3) |")
        P("|---|---|---|---|---|---|")
        for r in scale:
            P("| %d | %s | %s | %s | %s | %s |" % (
                r["count"], r["impl"],
                fmt(r.get("all_vips_on_node1"), "ms") if r.get("all_vips_on_node1") is not None
                else "not within %g s (VIPs per node %s, at window end %s)" % (
                    r.get("not_converged_after"), r.get("vips_before"), r.get("vips_after")),
                "/".join(str(r.get("master_entries_total", {}).get(n, "?")) for n in NODES),
                "/".join(str(r.get("master_entries_in_window", {}).get(n, "?")) for n in NODES),
                "/".join(str(r.get("raw_drops_in_window", {}).get(n, "?")) for n in NODES)))


def report_notes(results, impls, notes, P):
    P()
    P("### Observations")
    P()
    for i in impls:
        cr = [r for r in results if r["impl"] == i and r["kind"] == "crash"]
        gr = [r for r in results if r["impl"] == i and r["kind"] == "graceful"]
        if cr:
            P("- %s, crash: adverts from the killed master seen after the kill: %s; killed "
              "master still holds the VIP after node2 took over: %s" % (
                  i, sorted({r.get("adverts_from_dead_master") for r in cr}),
                  sorted({r.get("dead_master_still_holds_vip") for r in cr})))
        if gr:
            P("- %s, graceful: priority-0 adverts from node1: %s; node1 exit codes: %s; MACs "
              "answering in the window: %s; outage began %s after the signal (median)" % (
                  i, sorted({r.get("prio0_adverts_from_node1") for r in gr}),
                  sorted({str(r.get("node1_exit")) for r in gr}),
                  sorted({",".join(r.get("answering_macs", [])) for r in gr}),
                  fmt(med([r.get("outage_starts_after_signal") for r in gr]), "ms")))
    for n in notes:
        P("- note: %s" % n)
    if not notes:
        P("- no anomalies: node1 answered first at every cold start and was the only holder "
          "before every stop")


# --------------------------------------------------------------------------------------------


def main():
    global TMPDIR, KEEP_TMP, VIPD, GAP_WINDOW
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--steady", type=float, default=60.0)
    ap.add_argument("--scale-steady", type=float, default=30.0)
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: 1 repetition, 3 s windows (not a measurement)")
    ap.add_argument("--only", choices=IMPLS)
    ap.add_argument("--no-scale", action="store_true", help="skip the 1/50/255-instance runs")
    ap.add_argument("--scale-counts", default="1,50,255",
                    help="instance counts of the scale runs, comma-separated (default 1,50,255)")
    ap.add_argument("--skip-timing", action="store_true", help="only the scale runs")
    ap.add_argument("--sections", default=",".join(SECTIONS),
                    help="what to run, comma-separated among %s (default all): gaps = the "
                    "advert gap table (two nodes); timing = cold start, crash detection and "
                    "failover, graceful handover, CPU and RSS per interval (three nodes); "
                    "scale = N instances" % ",".join(SECTIONS))
    ap.add_argument("--intervals", default="1,0.1,0.01",
                    help="advert intervals of the timing runs, in seconds (default 1,0.1,0.01)")
    ap.add_argument("--gap-intervals", default="0.01,0.1",
                    help="advert intervals of the gap table, in seconds (default 0.01,0.1)")
    ap.add_argument("--gap-reps", type=int, default=1,
                    help="gap runs per implementation and interval, alternating the "
                    "implementations (default 1); the table pools their gaps")
    ap.add_argument("--gap-window", type=float, default=GAP_WINDOW,
                    help="seconds of adverts captured per gap run (default %g)" % GAP_WINDOW)
    ap.add_argument("--scale-interval", type=float, default=0.1,
                    help="advert interval of the scale runs, in seconds (default 0.1)")
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--vipd", help="the vipd binary to run (default: the release build, "
                    "$CARGO_TARGET_DIR/release/vipd or target/release/vipd; implies --no-build)")
    ap.add_argument("--json", help="also write the raw results here")
    ap.add_argument("--keep-logs", action="store_true", help="keep the daemons' logs")
    args = ap.parse_args()
    if args.quick:
        args.reps, args.steady, args.scale_steady = 1, 3.0, 3.0
    args.impls = [args.only] if args.only else list(IMPLS)
    sections = [x for x in args.sections.split(",") if x]
    bad = [x for x in sections if x not in SECTIONS]
    if bad:
        sys.exit("--sections: unknown %s (known: %s)" % (",".join(bad), ",".join(SECTIONS)))
    args.intervals = [float(x) for x in args.intervals.split(",") if x]
    args.gap_intervals = [float(x) for x in args.gap_intervals.split(",") if x]
    if "gaps" not in sections:
        args.gap_intervals = []
    if "timing" not in sections:
        args.skip_timing = True
    if "scale" not in sections:
        args.no_scale = True
    args.scale = [] if args.no_scale else [int(n) for n in args.scale_counts.split(",") if n]
    KEEP_TMP = args.keep_logs
    GAP_WINDOW = args.gap_window
    if args.vipd:
        VIPD = os.path.abspath(args.vipd)
        args.no_build = True

    if os.geteuid() != 0:
        sys.exit("needs root (network namespaces)")
    if not args.no_build and "vipd" in args.impls:
        log("cargo build --release -p vipd")
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "vipd"], cwd=ROOT, check=True)

    with open("/proc/loadavg") as f:
        load_start = " ".join(f.read().split()[:3])
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    meta = {
        "command": "python3 benches/vs_keepalived.py " + " ".join(sys.argv[1:]),
        "start": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "kernel": platform.release(),
        "cpu": cpu,
        "ncpu": os.cpu_count(),
        "load_start": load_start,
        "vipd_version": run(VIPD, "--version", check=False).strip() if os.path.exists(VIPD)
        else "?",
        "git": subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        .stdout.strip() or "?",
        "keepalived_version": subprocess.run(["keepalived", "--version"], stdout=subprocess.PIPE,
                                             stderr=subprocess.STDOUT, text=True)
        .stdout.splitlines()[0].strip(),
    }
    log("load average at start:", load_start)

    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)
    TMPDIR = tempfile.mkdtemp(prefix="vs-keepalived.")
    if "vipd" in args.impls:
        # A private copy: a concurrent `cargo build` may replace target/release/vipd mid-run.
        import shutil
        shutil.copy2(VIPD, os.path.join(TMPDIR, "vipd"))
        VIPD = os.path.join(TMPDIR, "vipd")
    results, scale, notes, gaps = [], [], [], []
    done = False
    lab = None
    try:
        lab = Lab()
        for adv in [a for a in args.gap_intervals for _ in range(args.gap_reps)]:
            for impl in args.impls:
                try:
                    r = gap_run(lab, impl, adv, notes)
                except (RuntimeError, OSError, subprocess.SubprocessError) as e:
                    notes.append("gaps %s %g s failed: %s" % (impl, adv, e))
                    log(notes[-1])
                    continue
                gaps.append(r)
                log("gaps %s %g s: %s" % (impl, adv, fmt_gap(r["gaps"])))
        if args.skip_timing:
            args.reps = 0
        for rep in range(args.reps):
            for adv in args.intervals:
                for impl in args.impls:
                    for kind in ("crash", "graceful"):
                        try:
                            r = one_run(lab, impl, adv, kind,
                                        args.steady if kind == "crash" else 0, rep, notes)
                        except (RuntimeError, OSError, subprocess.SubprocessError) as e:
                            notes.append("rep %d %s %g s %s failed: %s" % (rep + 1, impl, adv,
                                                                          kind, e))
                            log(notes[-1])
                            continue
                        results.append(r)
                        log("rep %d %s %g s %s: %s" % (rep + 1, impl, adv, kind, ", ".join(
                            "%s=%.3f" % (k, r[k]) for k in
                            ("cold_start", "cold_over_model", "cold_advert_over_model",
                             "cold_process_start", "failover", "detection",
                             "detection_over_model", "handover_node2", "outage",
                             "outage_starts_after_signal") if k in r)
                            + (" takers=%s" % r["takers"] if "takers" in r else "")))
        lab.observer.stop()
        for count in args.scale:
            for impl in args.impls:
                try:
                    r = scale_run(lab, impl, count, args.scale_steady, notes,
                                  adv=args.scale_interval)
                except (RuntimeError, OSError, subprocess.SubprocessError) as e:
                    notes.append("scale %d %s failed: %s" % (count, impl, e))
                    log(notes[-1])
                    continue
                scale.append(r)
                log("scale %d %s: cpu(sched) %s rss %s" % (count, impl, r.get("cpu_sched"),
                                                           r.get("rss")))
        done = True
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        cleanup()
        if not done:
            notes.append("the run was interrupted: partial results")
        with open("/proc/loadavg") as f:
            meta["load_end"] = " ".join(f.read().split()[:3])
        meta["end"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"meta": meta, "results": results, "scale": scale, "gaps": gaps,
                           "notes": notes}, f, indent=1, default=str)
        if results or scale or gaps:
            report(results, scale, args, meta, notes, gaps)
        if KEEP_TMP:
            log("logs kept in", TMPDIR)


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "--_observer":
        try:
            observer_main(sys.argv[2], sys.argv[3], sys.argv[4])
        except (KeyboardInterrupt, BrokenPipeError):
            pass
    else:
        main()
