//! `vipd import` against the real thing: one keepalived.conf, run as written by keepalived
//! 2.2.7 on node1 and, imported, by vipd on node2, on one segment of the namespace lab.
//!
//! The lab's corpus files (`tests/import/corpus/c19-lab-multicast.conf`, VRRPv2 multicast with
//! a password, and `c20-lab-unicast.conf`, VRRPv3 unicast over IPv4) are one file for both
//! nodes, as keepalived users write them: `@ka` lines for keepalived (`keepalived -i ka`),
//! `@vipd` lines for vipd (`vipd import --config-id vipd`) choose each node's priority (and
//! unicast source and peer). keepalived (150) must win the election, vipd (100) stay Backup;
//! when keepalived stops, vipd takes the VIP; when keepalived comes back, it takes it back.
//!
//! The rolling migration of the README ("Migrating from keepalived") runs here too: three
//! keepalived nodes (`c21-lab-rolling.conf`, priorities 150, 120, 100) move to vipd one by one,
//! backups first, the Master last, while a client pings the VIP every 10 ms; the test prints
//! the client's longest gap between replies at each step.
//!
//! Needs root, iproute2, ping and keepalived (Debian package `keepalived`, 2.2.7 in CI).

mod lab;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lab::{Keepalived, Lab, VIP};
use vipd::import::{ImportOptions, import_file};

/// Longest wait for any one step (an election, a takeover).
const SETTLE: Duration = Duration::from_secs(10);

/// Past vipd's Master_Down_Interval as a priority-100 Backup with 1 s adverts (3.61 s), with
/// margin: long enough for a Backup that does not hear the Master to take over.
const STEADY: Duration = Duration::from_millis(4600);

fn corpus(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/import/corpus")
        .join(name)
}

/// The vipd configuration imported from corpus file `name` with configuration id `id`, which
/// must import whole.
fn import_whole(name: &str, id: &str) -> String {
    let imported = import_file(
        &corpus(name),
        &ImportOptions {
            config_id: Some(id.to_owned()),
        },
    )
    .unwrap();
    assert!(
        imported.unsupported().next().is_none() && imported.invalid.is_none(),
        "{name} imports whole:\n{}",
        imported.report()
    );
    imported.yaml
}

/// Runs the scenario on corpus file `name`.
fn keepalived_and_imported_vipd(name: &str) {
    let src = corpus(name);
    let yaml = import_whole(name, "vipd");
    let original = std::fs::read_to_string(&src).unwrap();
    // The guard first, so the lab (which kills keepalived's parent) drops before it.
    let keepalived = Keepalived::new("import", &original);
    let mut lab = Lab::new(&[150, 100], move |i, _| {
        if i == 1 { yaml.clone() } else { String::new() }
    });
    let argv = keepalived.argv(&["-i", "ka"]);
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    lab.spawn(0, &argv);
    lab.start(1);

    // keepalived (150) is elected; vipd (100) stays Backup past its Master_Down_Interval.
    let elected = lab.wait_until(SETTLE, "keepalived (node1) holds the VIP", |l| {
        l.holders() == [0]
    });
    std::thread::sleep(STEADY);
    assert_eq!(lab.holders(), [0], "one Master, keepalived\n{}", lab.logs());
    let vipd_log = lab.log(1);
    assert!(
        vipd_log.contains("to=BACKUP") && !vipd_log.contains("to=MASTER"),
        "vipd stays Backup while keepalived is Master\n{}",
        lab.logs()
    );
    assert!(
        !vipd_log.contains("advert dropped"),
        "vipd accepts keepalived's adverts\n{}",
        lab.logs()
    );

    // keepalived stops (priority 0): vipd takes over.
    let stop = Instant::now();
    lab.signal(0, "TERM");
    lab.wait_exit(0, SETTLE);
    assert!(
        keepalived.wait_gone(Duration::from_secs(5)),
        "keepalived's VRRP child outlived its parent\n{}",
        lab.log(0)
    );
    lab.wait_until(SETTLE, "vipd (node2) takes over", |l| l.holders() == [1]);
    let to_vipd = stop.elapsed();

    // keepalived comes back with the higher priority: it preempts, vipd returns to Backup.
    let restart = Instant::now();
    lab.spawn(0, &argv);
    lab.wait_until(SETTLE, "keepalived (node1) takes the VIP back", |l| {
        l.holders() == [0]
    });
    let to_keepalived = restart.elapsed();
    std::thread::sleep(STEADY);
    assert_eq!(lab.holders(), [0], "one Master again\n{}", lab.logs());
    assert!(
        lab.log(1).matches("to=BACKUP").count() >= 2,
        "vipd went back to Backup\n{}",
        lab.logs()
    );
    let ka_log = lab.log(0);
    for complaint in ["nvalid", "mismatch", "wrong version", "auth, expecting"] {
        assert!(
            !ka_log.contains(complaint),
            "keepalived complained ({complaint}) about vipd's adverts\n{ka_log}"
        );
    }
    eprintln!(
        "{name}: keepalived elected in {elected:?}; keepalived stop -> vipd Master {to_vipd:?}; \
         keepalived restart -> keepalived Master {to_keepalived:?}"
    );
}

#[test]
fn multicast_v2_file_keepalived_and_vipd_fail_over_both_ways() {
    keepalived_and_imported_vipd("c19-lab-multicast.conf");
}

#[test]
fn unicast_v3_file_keepalived_and_vipd_fail_over_both_ways() {
    keepalived_and_imported_vipd("c20-lab-unicast.conf");
}

/// A client pinging the VIP from the observer every 10 ms for `secs` seconds (ping stops
/// itself at its deadline; the child is killed if the test fails first).
struct Pinger(Option<Child>);

impl Pinger {
    fn start(lab: &Lab, secs: u32) -> Self {
        let child = Command::new("ip")
            .args(["netns", "exec", &lab.observer.name])
            .args([
                "ping",
                "-n",
                "-D",
                "-O",
                "-i",
                "0.01",
                "-w",
                &secs.to_string(),
                VIP,
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("ping runs");
        Self(Some(child))
    }

    /// Waits for ping's deadline; returns the longest time between two consecutive replies,
    /// the requests sent, those unanswered, and the duplicate replies (two holders at once).
    fn finish(mut self) -> (Duration, usize, usize, usize) {
        let out = self.0.take().unwrap().wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let field = |line: &str, key: &str| -> Option<usize> {
            line.split(key)
                .nth(1)?
                .split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse()
                .ok()
        };
        // "[1733480000.123456] 64 bytes from ...: icmp_seq=5 ..." (-D): the time of each reply.
        let stamp =
            |line: &str| -> Option<f64> { line.strip_prefix('[')?.split(']').next()?.parse().ok() };
        let mut answered = BTreeSet::new();
        let mut times = Vec::new();
        let (mut sent, mut dups) = (0, 0);
        for line in text.lines() {
            let Some(n) = field(line, "icmp_seq=") else {
                continue;
            };
            sent = sent.max(n);
            if !line.contains("bytes from") {
                continue;
            }
            if line.contains("DUP!") {
                dups += 1;
            } else if answered.insert(n) {
                times.extend(stamp(line));
            }
        }
        let longest = times
            .windows(2)
            .map(|w| w[1] - w[0])
            .fold(0.0_f64, f64::max);
        (
            Duration::from_secs_f64(longest),
            sent,
            sent - answered.len(),
            dups,
        )
    }
}

impl Drop for Pinger {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Three keepalived nodes (150, 120, 100) move to vipd one by one, backups first, the Master
/// last: after each step exactly the expected node holds the VIP; the client's longest outage
/// at each step is printed (the README's figures).
#[test]
fn rolling_migration_from_keepalived_to_vipd_backups_first() {
    const NAME: &str = "c21-lab-rolling.conf";
    let original = std::fs::read_to_string(corpus(NAME)).unwrap();
    let ids = ["n1", "n2", "n3"];
    let yaml: Vec<String> = ids.iter().map(|id| import_whole(NAME, id)).collect();
    let keepalived: Vec<Keepalived> = ids
        .iter()
        .map(|id| Keepalived::new(&format!("roll-{id}"), &original))
        .collect();
    let mut lab = Lab::new(&[150, 120, 100], move |i, _| yaml[i].clone());
    let argv: Vec<Vec<String>> = ids
        .iter()
        .zip(&keepalived)
        .map(|(id, k)| k.argv(&["-i", id]))
        .collect();
    for (i, a) in argv.iter().enumerate() {
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        lab.spawn(i, &a);
    }
    lab.wait_until(SETTLE, "keepalived node1 (150) holds the VIP", |l| {
        l.holders() == [0]
    });
    std::thread::sleep(STEADY);
    assert_eq!(lab.holders(), [0], "{}", lab.logs());

    let mut figures = Vec::new();
    // Each step: stop keepalived on a node (or start vipd there), wait for the expected holder,
    // and measure what a client saw over the step.
    let mut step = |lab: &mut Lab, what: &str, node: usize, holder: usize, stop: bool| {
        let ping = Pinger::start(lab, 8);
        std::thread::sleep(Duration::from_millis(500));
        let start = Instant::now();
        if stop {
            lab.signal(node, "TERM");
            lab.wait_exit(node, SETTLE);
            assert!(
                keepalived[node].wait_gone(Duration::from_secs(5)),
                "node{}'s keepalived outlived its parent",
                node + 1
            );
        } else {
            lab.start(node);
        }
        lab.wait_until(SETTLE, what, |l| l.holders() == [holder]);
        let settled = start.elapsed();
        let (longest, sent, lost, dups) = ping.finish();
        assert_eq!(lab.holders(), [holder], "{what}\n{}", lab.logs());
        assert!(sent > 100, "{what}: the client sent {sent} requests");
        figures.push(format!(
            "{what}: VIP on node{} after {:.2} s; client: longest gap between replies {} ms, \
             {lost} of {sent} requests unanswered, {dups} duplicate replies",
            holder + 1,
            settled.as_secs_f64(),
            longest.as_millis()
        ));
    };
    // Backups first: node3, then node2; each keepalived stops and vipd takes its place.
    step(&mut lab, "node3 keepalived stopped", 2, 0, true);
    step(&mut lab, "node3 vipd started", 2, 0, false);
    step(&mut lab, "node2 keepalived stopped", 1, 0, true);
    step(&mut lab, "node2 vipd started", 1, 0, false);
    // The Master last: node2 (vipd, 120) takes over, then node1's vipd (150) takes back.
    step(&mut lab, "node1 keepalived (Master) stopped", 0, 1, true);
    step(&mut lab, "node1 vipd started", 0, 0, false);
    assert!(
        !lab.log(1).contains("advert dropped") && !lab.log(2).contains("advert dropped"),
        "vipd accepted every advert of keepalived and of vipd\n{}",
        lab.logs()
    );
    eprintln!("rolling migration, client pinging the VIP every 10 ms:");
    for f in &figures {
        eprintln!("  {f}");
    }
}
