#!/usr/bin/env python3
"""Where vipd's advert time goes, from kernel tracepoints (perf, run as root).

Two measurements on vs_keepalived.py's namespace lab (its module is reused), vipd only:

  gaps BINARY [SECONDS]      node1 (150) Master and node2 (100) Backup at 10 ms adverts; perf
                             records node1's main thread (sched_waking, sched_switch, sendmsg,
                             netlink sendto/recvfrom) on CLOCK_MONOTONIC. Per advert sent: the
                             timer's wake-up -> on a CPU (run-queue wait, the load's) -> the
                             sendmsg (the loop's own work); the netlink bursts (VIP renewals)
                             and how far each was from the adverts around it; the gaps on the
                             wire from the observer.
  takeover BINARY [REPS]     node1 SIGKILLed each repetition; perf on node2: from the wake-up
                             that fires its Master_Down timer to its first advert (sendmsg),
                             with the netlink sends in between, and on the wire the last advert
                             of node1 -> the first of node2 minus the RFC model.

perf adds little (tracepoints, no ptrace), but the machine's load shows in every figure:
say what it was.
"""

import bisect
import collections
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vs_keepalived as vk  # noqa: E402


def perf_record(pid, events, seconds, out):
    argv = ["perf", "record", "-q", "-k", "CLOCK_MONOTONIC", "-a", "-o", out]
    for e in events:
        argv += ["-e", e]
        if e == "sched:sched_switch":
            argv += ["--filter", "prev_pid == %d || next_pid == %d" % (pid, pid)]
        elif e == "sched:sched_waking":
            argv += ["--filter", "pid == %d" % pid]
        else:
            argv += ["--filter", "common_pid == %d" % pid]
    return subprocess.Popen(argv + ["--", "sleep", str(seconds)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def perf_events(data):
    out = subprocess.run(["perf", "script", "-i", data, "-F", "tid,time,event,trace"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout
    evs = []
    for line in out.splitlines():
        m = re.match(r"\s*(\d+)\s+([\d.]+):\s+(\S+):\s*(.*)", line)
        if m:
            evs.append((float(m.group(2)), int(m.group(1)), m.group(3).split(":")[1],
                        m.group(4)))
    return evs


def pct(xs, p):
    s = sorted(xs)
    return s[min(len(s) - 1, int(p * (len(s) - 1)))]


def ms(x):
    return "%.3f" % (1000 * x) if x is not None else "?"


def gaps(binary, seconds):
    events = ["sched:sched_waking", "sched:sched_switch", "syscalls:sys_enter_sendmsg",
              "syscalls:sys_enter_sendto", "syscalls:sys_enter_recvfrom"]
    lab = vk.Lab()
    obs = lab.observer
    nodes, t0 = vk.start_all("vipd", 0.01, 0, "trace", which=(1, 2))
    if not obs.wait_reply(t0, macs={vk.mac(1)}, timeout=10):
        raise RuntimeError("node1 never answered for the VIP")
    obs.probe(False)
    time.sleep(1.0)
    pid = nodes[0].pids()[-1]
    data = os.path.join(vk.TMPDIR, "perf.data")
    rec = perf_record(pid, events, seconds + 1, data)
    time.sleep(0.5)
    a = time.monotonic()
    time.sleep(seconds)
    b = time.monotonic()
    rec.wait()
    wire = [x[0] for x in obs.adverts_between(a, b) if x[1] == vk.mac(1) and x[3] == vk.PRIO[1]]
    vk.stop_all(lab, nodes)
    evs = perf_events(data)
    g = [y - x for x, y in zip(wire, wire[1:])]
    print("load average: %s" % open("/proc/loadavg").read().strip())
    print("wire gaps (ms): n=%d mean %.3f min %s p99 %s max %s"
          % (len(g), 1000 * statistics.mean(g), ms(min(g)), ms(pct(g, .99)), ms(max(g))))
    sends = [i for i, e in enumerate(evs) if e[2] == "sys_enter_sendmsg" and e[1] == pid]
    rows = []
    for i in sends:
        t, wake, on_cpu, j = evs[i][0], None, None, i
        while j > 0 and t - evs[j - 1][0] < 0.02:
            j -= 1
            e = evs[j]
            if e[2] == "sched_switch" and "next_pid=%d " % pid in e[3] + " " and on_cpu is None:
                on_cpu = e[0]
            if e[2] == "sched_waking":
                wake = e[0]
                break
        if wake is not None:
            rows.append((t, wake, on_cpu if on_cpu is not None else wake))
    runq = [c - w for _, w, c in rows]
    work = [t - c for t, _, c in rows]
    print("per advert (ms, n=%d): wake-up -> on a CPU p50 %s p99 %s max %s; on a CPU -> sendmsg "
          "p50 %s p99 %s max %s" % (len(rows), ms(pct(runq, .5)), ms(pct(runq, .99)),
                                     ms(max(runq)), ms(pct(work, .5)), ms(pct(work, .99)),
                                     ms(max(work))))
    st = [evs[i][0] for i in sends]
    nl = [e for e in evs if e[1] == pid and e[2] in ("sys_enter_sendto", "sys_enter_recvfrom")]
    bursts = []
    for e in nl:
        if bursts and e[0] - bursts[-1][-1][0] < 0.003:
            bursts[-1].append(e)
        else:
            bursts.append([e])
    for burst in bursts:
        t0, t1 = burst[0][0], burst[-1][0]
        k = bisect.bisect_left(st, t0)
        if 0 < k < len(st):
            print("netlink burst: %d calls over %s ms, %s ms after an advert, %s ms before the "
                  "next" % (len(burst), ms(t1 - t0), ms(t0 - st[k - 1]), ms(st[k] - t1)))


def takeover(binary, reps):
    events = ["sched:sched_waking", "syscalls:sys_enter_sendmsg", "syscalls:sys_enter_sendto"]
    lab = vk.Lab()
    obs = lab.observer
    model = vk.mdi(vk.PRIO[2], 0.01)
    print("load average: %s" % open("/proc/loadavg").read().strip())
    res = []
    for rep in range(reps):
        lab.clear_vips()
        nodes, t0 = vk.start_all("vipd", 0.01, 0, "takeover%d" % rep, which=(1, 2))
        if not obs.wait_reply(t0, macs={vk.mac(1)}, timeout=10):
            raise RuntimeError("node1 never answered for the VIP")
        time.sleep(1.0)
        pid = nodes[1].pids()[-1]
        data = os.path.join(vk.TMPDIR, "perf%d.data" % rep)
        rec = perf_record(pid, events, 2.5, data)
        time.sleep(0.8)
        killed = nodes[0].crash()
        time.sleep(1.2)
        rec.wait()
        adverts = obs.adverts_between(killed - 1, killed + 1)
        last1 = max(x[0] for x in adverts if x[1] == vk.mac(1) and x[0] <= killed + 0.005)
        # After the crash only (node2 may have advertised for a moment at the cold start).
        first2 = min(x[0] for x in adverts
                     if x[1] == vk.mac(2) and x[3] == vk.PRIO[2] and x[0] > killed)
        vk.stop_all(lab, nodes)
        evs = perf_events(data)
        send = min(e[0] for e in evs if e[2] == "sys_enter_sendmsg" and e[1] == pid
                   and e[0] > killed)
        wake = min(e[0] for e in evs if e[2] == "sched_waking"
                   and last1 + model - 0.0005 <= e[0] <= send)
        netlink = sum(1 for e in evs if e[2] == "sys_enter_sendto" and wake <= e[0] <= send)
        res.append((send - wake, first2 - last1 - model))
        print("rep %d: timer wake-up -> first advert %s ms (netlink sends before it: %d); on "
              "the wire, detection minus the model %+.3f ms"
              % (rep + 1, ms(send - wake), netlink, 1000 * (first2 - last1 - model)))
    w = [r[0] for r in res]
    d = [r[1] for r in res]
    print("median wake-up -> first advert %s ms (%s-%s); median detection minus the model "
          "%+.3f ms (%+.3f-%+.3f)" % (ms(statistics.median(w)), ms(min(w)), ms(max(w)),
                                      1000 * statistics.median(d), 1000 * min(d),
                                      1000 * max(d)))


def main():
    if len(sys.argv) < 3 or sys.argv[1] not in ("gaps", "takeover"):
        sys.exit(__doc__)
    if os.geteuid() != 0:
        sys.exit("needs root (network namespaces, perf)")
    vk.VIPD = os.path.abspath(sys.argv[2])
    vk.TMPDIR = tempfile.mkdtemp(prefix="loop-trace.")
    try:
        if sys.argv[1] == "gaps":
            gaps(vk.VIPD, float(sys.argv[3]) if len(sys.argv) > 3 else 6.0)
        else:
            takeover(vk.VIPD, int(sys.argv[3]) if len(sys.argv) > 3 else 5)
    finally:
        vk.cleanup()


if __name__ == "__main__":
    main()
