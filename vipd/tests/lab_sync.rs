//! Sync groups on real interfaces: two nodes, each on a front and a back segment, with
//! instance `front` (VIP A on eth0) and `back` (VIP B on eth1) in one sync group. When the
//! Master's back link fails, both VIPs move to the other node; when it returns, both come back
//! (preemption), together. The VIPs are sampled all along and the test reports how long they
//! were ever split across the nodes (one VIP on each), which must stay a short transient.
//!
//! Run: `cargo test -p vipd --release --test lab_sync -- --nocapture` (root) for the figures.

mod lab;

use std::time::{Duration, Instant, SystemTime};

use lab::Lab;

const VIP_A: &str = "10.200.0.100";
const VIP_B: &str = "10.200.10.100";
const SETTLE: Duration = Duration::from_secs(10);
/// The longest the VIPs may be split across the nodes during a move: the engine moves both in
/// one drain, so only netlink round trips and the sampling separate them.
const SPLIT_BOUND: Duration = Duration::from_millis(300);

fn config(priority: u8, hook_log: &str) -> String {
    format!(
        "instances:\n\
         - name: front\n  interface: eth0\n  vrid: 51\n  priority: {priority}\n\
         \x20 advert_interval: 100ms\n  vips: [{VIP_A}/24]\n\
         - name: back\n  interface: eth1\n  vrid: 52\n  priority: {priority}\n\
         \x20 advert_interval: 100ms\n  vips: [{VIP_B}/24]\n\
         sync_groups:\n\
         - name: G1\n  instances: [front, back]\n\
         \x20 notify: {{command: [/bin/sh, -c, 'echo \"$@\" >> {hook_log}', hook]}}\n"
    )
}

/// Where each VIP is, per node: (A on node1, B on node1, A on node2, B on node2).
type Sample = [bool; 4];

/// Whether the VIPs are split: both are held, but no node holds both.
fn split(s: Sample) -> bool {
    let held = (s[0] || s[2]) && (s[1] || s[3]);
    held && !(s[0] && s[1]) && !(s[2] && s[3])
}

/// One `ip addr` per node: both VIPs at once.
fn sample(lab: &Lab) -> Sample {
    let mut s = [false; 4];
    for node in 0..2 {
        let out = lab.nodes[node].ns.ip(&["-o", "addr", "show"]);
        let text = String::from_utf8_lossy(&out.stdout);
        s[node * 2] = text.contains(&format!(" {VIP_A}/"));
        s[node * 2 + 1] = text.contains(&format!(" {VIP_B}/"));
    }
    s
}

/// Microseconds since the Unix epoch of a log line's leading RFC 3339 UTC timestamp
/// (`2026-12-06T10:40:00.123456Z`).
fn log_micros(line: &str) -> Option<i64> {
    let stamp = line.split_whitespace().next()?.strip_suffix('Z')?;
    let (date, time) = stamp.split_once('T')?;
    let mut d = date.split('-').map(|x| x.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    // Days since 1970-01-01 of the civil (proleptic Gregorian) date.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + day - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    let mut t = time.split(':');
    let (h, min) = (
        t.next()?.parse::<i64>().ok()?,
        t.next()?.parse::<i64>().ok()?,
    );
    let secs: f64 = t.next()?.parse().ok()?;
    #[allow(clippy::cast_possible_truncation)]
    let micros = (secs * 1e6).round() as i64;
    Some(((days * 24 + h) * 60 + min) * 60_000_000 + micros)
}

/// From the nodes' logs: the VIP additions and removals after `since`, replayed from
/// `start` (the placement before), as (the longest time the VIPs were split across the
/// nodes, the time of the last change after `since`), in microseconds. The logged instant is
/// when netlink confirmed the change: closer to the kernel than any sampling.
fn split_from_logs(lab: &Lab, since: SystemTime, start: Sample) -> (i64, i64) {
    let since = i64::try_from(
        since
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_micros(),
    )
    .unwrap();
    let mut events = Vec::new();
    for node in 0..2 {
        for line in lab.log(node).lines() {
            let added = line.contains("VIP added");
            if !added && !line.contains("VIP removed") {
                continue;
            }
            let slot = if line.contains(&format!("vip={VIP_A}")) {
                node * 2
            } else if line.contains(&format!("vip={VIP_B}")) {
                node * 2 + 1
            } else {
                continue;
            };
            if let Some(t) = log_micros(line).filter(|t| *t >= since) {
                events.push((t, slot, added));
            }
        }
    }
    events.sort_unstable();
    let mut state = start;
    let mut split_since = None;
    let mut longest = 0;
    let mut last = since;
    for (t, slot, added) in events {
        state[slot] = added;
        last = t;
        let split = split(state);
        match (split, split_since) {
            (true, None) => split_since = Some(t),
            (false, Some(s)) => {
                longest = longest.max(t - s);
                split_since = None;
            }
            _ => {}
        }
    }
    (longest, last - since)
}

/// What the sampling saw during a move.
#[derive(Debug, Default)]
struct Move {
    /// Until the final placement was first seen.
    done: Duration,
    /// The longest run of samples with the VIPs split ([`split`]).
    longest_split: Duration,
    /// The longest run with a VIP on both nodes at once.
    longest_duplicate: Duration,
    samples: u32,
    /// The time sampled.
    elapsed: Duration,
}

/// Samples the VIPs from `start` until `target` has held for 1 s (or `within` passes).
fn watch(lab: &Lab, start: Instant, target: Sample, within: Duration) -> Move {
    let mut m = Move::default();
    let mut split_since: Option<Instant> = None;
    let mut dup_since: Option<Instant> = None;
    let mut reached: Option<Instant> = None;
    loop {
        let s = sample(lab);
        let now = Instant::now();
        m.samples += 1;
        let split = split(s);
        let dup = (s[0] && s[2]) || (s[1] && s[3]);
        for (on, since, longest) in [
            (split, &mut split_since, &mut m.longest_split),
            (dup, &mut dup_since, &mut m.longest_duplicate),
        ] {
            match (on, *since) {
                (true, None) => *since = Some(now),
                (true, Some(t)) => *longest = (*longest).max(now - t),
                (false, _) => *since = None,
            }
        }
        match (s == target, reached) {
            (true, None) => {
                reached = Some(now);
                m.done = now - start;
            }
            (false, Some(_)) => reached = None,
            _ => {}
        }
        if reached.is_some_and(|t| now - t > Duration::from_secs(1)) {
            m.elapsed = now - start;
            return m;
        }
        assert!(
            now - start < within,
            "VIPs not at {target:?} within {within:?} (last {s:?})\n{}",
            lab.logs()
        );
    }
}

fn hook_lines(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn back_link_failure_moves_both_vips_and_they_come_back_together() {
    let dir = std::env::temp_dir().join(format!("vipd-lab-sync-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let hooks = [dir.join("node1.hooks"), dir.join("node2.hooks")];
    let hook_paths: Vec<String> = hooks.iter().map(|p| p.display().to_string()).collect();
    let mut lab = Lab::new(&[150, 100], |i, p| config(p, &hook_paths[i]));
    lab.add_segment("br1", "eth1", 1, "10.200.10");
    let both_on_node1 = [true, true, false, false];
    let both_on_node2 = [false, false, true, true];
    // node1 first: started together, the two nodes' Master_Down_Intervals differ by only
    // 20 ms (the skew of 150 against 100 at 0.1 s), less than two processes' start-up can
    // differ on a busy machine, and node2 may be Master for an instant before it hears node1.
    lab.start(0);
    lab.wait_until(SETTLE, "node1 holds both VIPs", |l| {
        sample(l) == both_on_node1
    });
    lab.start(1);
    lab.wait_until(SETTLE, "node2 starts as Backup", |l| {
        l.log(1).contains("to=BACKUP")
    });
    // Past node2's Master_Down_Interval (0.36 s): it hears node1 and stays Backup.
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(sample(&lab), both_on_node1, "{}", lab.logs());
    assert!(!lab.log(1).contains("to=MASTER"), "{}", lab.log(1));

    // The Master's back link fails, inside its namespace.
    let (t0, wall0) = (Instant::now(), SystemTime::now());
    lab.nodes[0].ns.ip(&["link", "set", "eth1", "down"]);
    let failover = watch(&lab, t0, both_on_node2, SETTLE);
    let logged_failover = split_from_logs(&lab, wall0, both_on_node1);

    // It returns: node1 (150) preempts node2 (100) on both segments.
    let (t1, wall1) = (Instant::now(), SystemTime::now());
    lab.nodes[0].ns.ip(&["link", "set", "eth1", "up"]);
    let failback = watch(&lab, t1, both_on_node1, SETTLE);
    let logged_failback = split_from_logs(&lab, wall1, both_on_node2);

    println!("sync group lab (advert_interval 100ms, node1 priority 150, node2 100):");
    for (what, m, (logged_split, logged_done)) in [
        ("back link down", &failover, logged_failover),
        ("back link up", &failback, logged_failback),
    ] {
        let every = m.elapsed.as_secs_f64() * 1000.0 / f64::from(m.samples.max(1));
        println!(
            "  {what}: sampled (every ~{every:.1} ms): both VIPs in place after {} ms, longest \
             split across nodes {} ms, longest duplicate {} ms; from the logs: last VIP change \
             {:.1} ms after the link change, longest split {:.1} ms",
            m.done.as_millis(),
            m.longest_split.as_millis(),
            m.longest_duplicate.as_millis(),
            logged_done as f64 / 1000.0,
            logged_split as f64 / 1000.0,
        );
        let logged_split = Duration::from_micros(u64::try_from(logged_split).unwrap());
        for split in [m.longest_split, logged_split] {
            assert!(
                split <= SPLIT_BOUND,
                "{what}: the VIPs were split across the nodes for {split:?}\n{}",
                lab.logs()
            );
        }
    }

    // The group's hooks ran with keepalived's arguments, in order.
    lab.wait_until(SETTLE, "node1's group hooks ran", |_| {
        hook_lines(&hooks[0]).len() >= 4
    });
    lab.wait_until(SETTLE, "node2's group hooks ran", |_| {
        hook_lines(&hooks[1]).len() >= 3
    });
    assert_eq!(
        hook_lines(&hooks[0]),
        [
            "GROUP G1 BACKUP",
            "GROUP G1 MASTER",
            "GROUP G1 FAULT",
            "GROUP G1 BACKUP",
            "GROUP G1 MASTER",
        ],
        "{}",
        lab.log(0)
    );
    assert_eq!(
        hook_lines(&hooks[1]),
        ["GROUP G1 BACKUP", "GROUP G1 MASTER", "GROUP G1 BACKUP"],
        "{}",
        lab.log(1)
    );
    // node1's front instance left Master because of the group, not of its own link.
    let log = lab.log(0);
    assert!(
        log.contains("sync group followed a member"),
        "node1 log:\n{log}"
    );
    // The group in /status and /metrics (vipd's default API address, inside the namespace).
    let fetch = |path: &str| {
        let script = format!(
            "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:9370{path}', \
             timeout=5).read().decode())"
        );
        let out = lab.nodes[0].ns.exec("python3", &["-c", &script]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let status: serde_json::Value = serde_json::from_str(&fetch("/status")).unwrap();
    assert_eq!(
        status["sync_groups"],
        serde_json::json!([{"name": "G1", "state": "MASTER", "members": ["front", "back"]}])
    );
    let metrics = fetch("/metrics");
    for line in [
        "vipd_sync_group_state{sync_group=\"G1\",state=\"MASTER\"} 1",
        "vipd_sync_group_state{sync_group=\"G1\",state=\"FAULT\"} 0",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in\n{metrics}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
