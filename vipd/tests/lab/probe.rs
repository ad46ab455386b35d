//! An ARP prober for the lab: from a namespace (the observer's), it asks who has an address
//! every few milliseconds and records every reply with its time and source MAC.
//!
//! vipd's tests can reach neither `libc` nor `socket2`, so they cannot open an AF_PACKET
//! socket themselves; the prober is a small python3 (stdlib only) program run with
//! `ip netns exec`. It sends each request as a raw Ethernet frame, waits for replies with
//! `select` until the next one is due, and prints what it saw when told to stop. The lab
//! only ever signals this child by its own PID (on drop, if the test did not stop it).

#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

/// The prober. Commands arrive on stdin, one a line: `mark` records the time, `stop` (or end
/// of input) ends the run. It prints `ready` once the first request is out, and at the end
/// one line per event: `S t` (request sent), `R t mac` (reply), `M t` (mark), `t` in
/// seconds since the start.
const SCRIPT: &str = r#"
import os, select, socket, sys, time
iface, src_ip, target, interval = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0806))
s.bind((iface, 0x0806))
mac = s.getsockname()[4]
spa, tpa = socket.inet_aton(src_ip), socket.inet_aton(target)
req = (b"\xff" * 6 + mac + b"\x08\x06" + b"\x00\x01\x08\x00\x06\x04\x00\x01"
       + mac + spa + b"\x00" * 6 + tpa)
s.setblocking(False)
events = []
t0 = time.monotonic()
due = t0
ready = False
buf = b""
done = False
while not done:
    now = time.monotonic()
    if now >= due:
        s.send(req)
        events.append("S %.6f" % (now - t0))
        due += interval
        if due < now:
            due = now + interval
        if not ready:
            print("ready", flush=True)
            ready = True
    r, _, _ = select.select([s, 0], [], [], max(0.0, due - time.monotonic()))
    if s in r:
        while True:
            try:
                f, addr = s.recvfrom(2048)
            except BlockingIOError:
                break
            t = time.monotonic() - t0
            # A reply (opcode 2) from the target to us: not our own requests, not
            # gratuitous ARP (whose target address is the VIP itself).
            if (addr[2] != socket.PACKET_OUTGOING and len(f) >= 42 and f[12:14] == b"\x08\x06"
                    and f[20:22] == b"\x00\x02" and f[28:32] == tpa and f[38:42] == spa):
                events.append("R %.6f %s" % (t, f[22:28].hex(":")))
    if 0 in r:
        data = os.read(0, 4096)
        if not data:
            break
        buf += data
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            if line.strip() == b"mark":
                events.append("M %.6f" % (time.monotonic() - t0))
            elif line.strip() == b"stop":
                done = True
sys.stdout.write("\n".join(events) + "\n")
sys.stdout.flush()
"#;

/// A running prober.
pub struct ArpProber {
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    stdout: Option<BufReader<ChildStdout>>,
    interval: Duration,
}

/// What a prober saw.
#[derive(Debug, Clone, Default)]
pub struct ProbeReport {
    /// When each request left, seconds since the start.
    pub sent: Vec<f64>,
    /// Each reply: when (seconds since the start) and from which MAC (`02:00:...`).
    pub replies: Vec<(f64, String)>,
    /// When each [`ArpProber::mark`] arrived.
    pub marks: Vec<f64>,
    /// The interval between requests.
    pub interval: Duration,
}

impl ArpProber {
    /// Starts probing for `target` from namespace `ns` on `iface`, as `src_ip`, every
    /// `interval`; returns once the first request is out.
    pub fn start(ns: &str, iface: &str, src_ip: &str, target: &str, interval: Duration) -> Self {
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns, "python3", "-c", SCRIPT])
            .args([iface, src_ip, target, &interval.as_secs_f64().to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 runs");
        let stdin = child.stdin.take();
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut prober = Self {
            child: Some(child),
            stdin,
            stdout: None,
            interval,
        };
        let mut line = String::new();
        stdout.read_line(&mut line).expect("prober output");
        assert_eq!(line.trim(), "ready", "the ARP prober did not start");
        prober.stdout = Some(stdout);
        prober
    }

    /// Records the current time in the prober's clock (to relate its events to an action
    /// of the test, such as a signal).
    pub fn mark(&mut self) {
        let stdin = self.stdin.as_mut().expect("prober running");
        stdin.write_all(b"mark\n").expect("prober alive");
        stdin.flush().expect("prober alive");
    }

    /// Stops the prober and returns what it saw.
    pub fn stop(mut self) -> ProbeReport {
        let mut stdin = self.stdin.take().expect("prober running");
        stdin.write_all(b"stop\n").expect("prober alive");
        drop(stdin);
        let mut out = String::new();
        self.stdout
            .take()
            .expect("prober output")
            .read_to_string(&mut out)
            .expect("prober output");
        let status = self.child.take().expect("prober").wait().expect("wait");
        assert!(status.success(), "the ARP prober failed: {status}");
        let mut report = ProbeReport {
            interval: self.interval,
            ..ProbeReport::default()
        };
        for line in out.lines() {
            let mut words = line.split_whitespace();
            let kind = words.next();
            let t: f64 = match words.next().map(str::parse) {
                Some(Ok(t)) => t,
                _ => continue,
            };
            match kind {
                Some("S") => report.sent.push(t),
                Some("R") => report
                    .replies
                    .push((t, words.next().unwrap_or_default().to_owned())),
                Some("M") => report.marks.push(t),
                _ => {}
            }
        }
        report
    }
}

impl Drop for ArpProber {
    fn drop(&mut self) {
        // A test that panicked before `stop`: end the prober (our own child, by its PID).
        drop(self.stdin.take());
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl ProbeReport {
    /// How many requests were sent.
    pub fn probes(&self) -> usize {
        self.sent.len()
    }

    /// For each request, whether a reply arrived before the next request left (the last
    /// one: before the prober stopped).
    pub fn answered(&self) -> Vec<bool> {
        self.answered_by(None)
    }

    /// [`answered`](Self::answered), counting only the replies from `mac` when given.
    pub fn answered_by(&self, mac: Option<&str>) -> Vec<bool> {
        let mut answered = vec![false; self.sent.len()];
        for (t, _) in self
            .replies
            .iter()
            .filter(|(_, m)| mac.is_none_or(|x| x == m))
        {
            // The latest request sent at or before the reply.
            let k = self.sent.partition_point(|s| s <= t);
            if let Some(slot) = k.checked_sub(1).and_then(|k| answered.get_mut(k)) {
                *slot = true;
            }
        }
        answered
    }

    /// The longest run of consecutive requests without any reply, and when it began (the
    /// time of its first request), if any request went unanswered.
    pub fn longest_gap(&self) -> (usize, Option<f64>) {
        let (mut best, mut best_start) = (0, None);
        let mut run = 0;
        for (k, ok) in self.answered().into_iter().enumerate() {
            if ok {
                run = 0;
                continue;
            }
            run += 1;
            if run > best {
                best = run;
                best_start = self.sent.get(k + 1 - run).copied();
            }
        }
        (best, best_start)
    }

    /// Every MAC that answered.
    pub fn macs(&self) -> BTreeSet<String> {
        self.replies.iter().map(|(_, mac)| mac.clone()).collect()
    }

    /// The first reply from `mac` at or after `t`.
    pub fn first_reply_from(&self, mac: &str, t: f64) -> Option<f64> {
        self.replies
            .iter()
            .find(|(at, m)| *at >= t && m == mac)
            .map(|(at, _)| *at)
    }

    /// The last reply from `mac`.
    pub fn last_reply_from(&self, mac: &str) -> Option<f64> {
        self.replies
            .iter()
            .rev()
            .find(|(_, m)| m == mac)
            .map(|(at, _)| *at)
    }

    /// A one-line summary for failure messages and the test output.
    pub fn summary(&self) -> String {
        let (gap, at) = self.longest_gap();
        format!(
            "{} probes every {:?}, {} replies from {:?}, longest unanswered run {gap} probe(s){}",
            self.probes(),
            self.interval,
            self.replies.len(),
            self.macs(),
            at.map(|t| format!(" from t={t:.3}s")).unwrap_or_default()
        )
    }
}
