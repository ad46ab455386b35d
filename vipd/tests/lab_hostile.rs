//! vipd against a hostile or lossy segment: forged and malformed VRRP messages from a third
//! host must change nothing, and a graceful handover must not lose the VIP for more than a
//! couple of 5 ms ARP probes. Real vipd processes in network namespaces; needs root,
//! iproute2 and python3 (stdlib only: raw sockets the test crate cannot open itself).

mod lab;
#[path = "lab/probe.rs"]
mod probe;

use std::net::IpAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use lab::{GROUP, Lab, OBSERVER, VIP, config, inject};
use probe::{ArpProber, ProbeReport};
use vrrp_core::{
    Addresses, Advertisement, Auth, ChecksumMode, Endpoints, Interval, Password, Version, Vrid,
};

const SETTLE: Duration = Duration::from_secs(10);
/// The VRRPv2 instance's VIP.
const VIP2: &str = "10.200.0.101";
/// The VRRPv2 instance's password.
const PASSWORD: &str = "s3cret";

// ----- forged messages -------------------------------------------------------------------

/// Two instances per node: VRRPv3 VRID 51 (the lab's VIP) and VRRPv2 VRID 61 with a password.
fn two_instances(priority: u8) -> String {
    format!(
        "{}  - name: VI_V2\n    interface: eth0\n    vrid: 61\n    version: 2\n    \
         password: {PASSWORD}\n    priority: {priority}\n    vips: [{VIP2}/24]\n",
        config(priority, "")
    )
}

/// An advert from the observer to the group, correctly summed.
fn advert(version: Version, vrid: u8, priority: u8, vip: &str, auth: Auth) -> Vec<u8> {
    let adv = Advertisement {
        version,
        vrid: Vrid::new(vrid).unwrap(),
        priority,
        interval: Interval::from_secs(1).unwrap(),
        auth,
        addresses: Addresses::V4(vec![vip.parse().unwrap()]),
    };
    adv.to_bytes(endpoints(), ChecksumMode::PseudoHeader)
        .unwrap()
        .to_vec()
}

fn endpoints() -> Endpoints {
    Endpoints {
        src: IpAddr::V4(OBSERVER),
        dst: IpAddr::V4(GROUP),
    }
}

/// The forged VRRPv3 advert every mutation starts from: VRID 51, priority 200, which would
/// take the VIP from node1 (150) if it were accepted.
fn v3_base() -> Vec<u8> {
    advert(Version::V3, 51, 200, VIP, Auth::None)
}

/// The forged VRRPv2 advert, with the right password: priority 200 for VRID 61.
fn v2_base(password: &str) -> Vec<u8> {
    let auth = Auth::Password(Password::new(password.as_bytes()).unwrap());
    advert(Version::V2, 61, 200, VIP2, auth)
}

/// One forged message and the error text vipd must log when it drops it.
struct Forged {
    what: &'static str,
    payload: Vec<u8>,
    reason: String,
}

/// The malformed and foreign messages sent with TTL 255, each with its expected drop reason.
fn forged() -> Vec<Forged> {
    let mut out = Vec::new();
    let mut add = |what, payload, reason: &str| {
        out.push(Forged {
            what,
            payload,
            reason: reason.to_owned(),
        });
    };
    let mut bad_sum = v3_base();
    bad_sum[7] ^= 0x5a;
    add("wrong checksum", bad_sum, "bad checksum");
    add(
        "wrong VRID",
        advert(Version::V3, 52, 200, VIP, Auth::None),
        "no virtual router 52 for this family here",
    );
    add(
        "truncated below the header",
        v3_base()[..4].to_vec(),
        "message of 4 bytes is shorter than the 8-byte VRRP header",
    );
    add(
        "truncated inside the address list",
        v3_base()[..10].to_vec(),
        "message is 10 bytes but its address count needs 12",
    );
    let mut count = v3_base();
    count[3] = 3;
    add(
        "count larger than the address list",
        count,
        "message is 12 bytes but its address count needs 20",
    );
    let mut trailing = v3_base();
    trailing.extend_from_slice(&[0; 4]);
    add(
        "trailing bytes after the address list",
        trailing,
        "message is 16 bytes but its address count needs 12",
    );
    let mut version = v3_base();
    version[0] = 0x41;
    add("version 4", version, "unsupported VRRP version 4 for IPv4");
    add(
        "VRRPv2 advert to the VRRPv3 instance",
        advert(Version::V2, 51, 200, VIP, Auth::None),
        "VRRPv2 advert for a VRRPv3 instance",
    );
    add(
        "VRRPv2 wrong password",
        v2_base("wrong"),
        "VRRPv2 password mismatch",
    );
    add(
        "VRRPv2 no authentication",
        advert(Version::V2, 61, 200, VIP2, Auth::None),
        "VRRPv2 authentication type 0 differs from the configured 1",
    );
    out
}

/// `n` datagrams of seeded pseudo-random bytes (splitmix64), 1 to 64 bytes long and a few up
/// to 1480, none of which is a
/// valid advert (checked here, so the test does not depend on luck).
fn random_datagrams(seed: u64, n: usize) -> Vec<Vec<u8>> {
    let mut state = seed;
    let mut next = move || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    (0..n)
        .map(|k| {
            // Mostly short; every 50th up to a full Ethernet frame.
            let max = if k % 50 == 49 { 1480 } else { 64 };
            let len = 1 + usize::try_from(next() % max).unwrap();
            let bytes: Vec<u8> = (0..len).map(|_| next().to_le_bytes()[0]).collect();
            for mode in [ChecksumMode::PseudoHeader, ChecksumMode::V3AsV2] {
                assert!(Advertisement::parse(&bytes, endpoints(), mode).is_err());
            }
            bytes
        })
        .collect()
}

/// Sends `payloads` to the VRRP group from the observer's namespace with TTL `ttl`, which
/// VrrpSocket cannot do (it always sends 255): a python3 raw socket.
fn send_with_ttl(observer: &str, ttl: u8, payloads: &[Vec<u8>]) {
    let script = r#"
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 112)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"eth0")
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, int(sys.argv[1]))
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
for h in sys.argv[2:]:
    s.sendto(bytes.fromhex(h), ("224.0.0.18", 0))
    time.sleep(0.01)
"#;
    let hex: Vec<String> = payloads
        .iter()
        .map(|p| p.iter().map(|b| format!("{b:02x}")).collect())
        .collect();
    let ttl = ttl.to_string();
    let mut args = vec!["netns", "exec", observer, "python3", "-c", script, &ttl];
    args.extend(hex.iter().map(String::as_str));
    let out = Command::new("ip").args(&args).output().unwrap();
    assert!(
        out.status.success(),
        "TTL sender: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Whether a live (not zombie) vipd process runs in node `i`'s namespace.
fn vipd_running(lab: &Lab, i: usize) -> bool {
    let out = Command::new("ip")
        .args(["netns", "pids", &lab.nodes[i].ns.name])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .any(|pid| {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // The state follows the parenthesised command name.
            let state = stat
                .rsplit_once(") ")
                .map(|(_, rest)| rest.starts_with('Z'));
            comm.trim() == "vipd" && state == Some(false)
        })
}

/// node1 holds both VIPs, node2 neither.
fn assert_node1_holds_both(lab: &Lab, when: &str) {
    let ok = lab.holds(0, VIP) && lab.holds(0, VIP2) && !lab.holds(1, VIP) && !lab.holds(1, VIP2);
    assert!(ok, "{when}: VIPs moved\n{}", lab.logs());
}

/// The drop lines of node `i`'s log for messages from the observer.
fn drop_lines(lab: &Lab, i: usize) -> Vec<String> {
    lab.log(i)
        .lines()
        .filter(|l| l.contains("advert dropped") && l.contains(&format!("src={OBSERVER}")))
        .map(str::to_owned)
        .collect()
}

/// Issue test 10, bad packets: with node1 (150) Master of a VRRPv3 and a VRRPv2 (password)
/// instance, the observer sends forged adverts of priority 200 that would win if accepted
/// (TTL 64, wrong checksum, wrong VRID, wrong password or auth type, wrong version),
/// truncated and miscounted messages and a few hundred seeded random datagrams. Nothing
/// moves, both daemons keep running, and each node logs a drop with the right reason for
/// every datagram. A well-formed priority-0 advert from the observer moves nothing either (the
/// master answers it at once). Finally the same priority-200 advert, unmutated and with TTL 255, does
/// make node1 step down: the drops were for the mutations, not because nothing arrived.
#[test]
fn forged_and_malformed_adverts_change_nothing() {
    let started = Instant::now();
    let mut lab = Lab::new(&[150, 100], |_, p| two_instances(p));
    lab.start(0);
    lab.start(1);
    lab.wait_until(SETTLE, "node1 (150) holds both VIPs", |l| {
        l.holds(0, VIP) && l.holds(0, VIP2) && !l.holds(1, VIP) && !l.holds(1, VIP2)
    });
    let observer = lab.observer.name.clone();

    let forged = forged();
    let random = random_datagrams(0x5eed_0010, 300);
    let mut payloads: Vec<Vec<u8>> = forged.iter().map(|f| f.payload.clone()).collect();
    payloads.extend(random.iter().cloned());
    // The TTL-64 adverts (VRRPv3 and VRRPv2, both otherwise valid), first, from a python raw
    // socket; then everything else, 2 ms apart, while the VIPs are sampled.
    let ttl64 = [v3_base(), v2_base(PASSWORD)];
    send_with_ttl(&observer, 64, &ttl64);
    let injector = inject(&observer, payloads, Duration::from_millis(2));
    let mut samples = 0;
    while !injector.is_finished() {
        assert_node1_holds_both(&lab, "while injecting");
        samples += 1;
    }
    let sent = injector.join().unwrap() + ttl64.len();
    let quiet = Instant::now();
    while quiet.elapsed() < Duration::from_secs(3) {
        assert_node1_holds_both(&lab, "after injecting");
        samples += 1;
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(samples > 20, "{samples} samples");
    assert!(vipd_running(&lab, 0), "node1's vipd died\n{}", lab.log(0));
    assert!(vipd_running(&lab, 1), "node2's vipd died\n{}", lab.log(1));

    // Every datagram reached both daemons and was dropped for the expected reason.
    let mut expected: Vec<(&str, String)> = vec![
        (
            "TTL 64 (VRRPv3)",
            "hop limit 64 below the required 255".into(),
        ),
        (
            "TTL 64 (VRRPv2)",
            "hop limit 64 below the required 255".into(),
        ),
    ];
    expected.extend(forged.iter().map(|f| (f.what, f.reason.clone())));
    for i in 0..2 {
        let lines = drop_lines(&lab, i);
        assert_eq!(
            lines.len(),
            sent,
            "node{}: {} drop lines for {sent} datagrams\n{}",
            i + 1,
            lines.len(),
            lab.log(i)
        );
        for (what, reason) in &expected {
            // As many drops with this reason as forged messages that call for it (random
            // datagrams may add more).
            let wanted = expected.iter().filter(|(_, r)| r == reason).count();
            let got = lines
                .iter()
                .filter(|l| l.contains(&format!("error={reason}")))
                .count();
            assert!(
                got >= wanted,
                "node{}: {got} drops with {reason:?} ({what}), expected at least {wanted}\n{}",
                i + 1,
                lab.log(i)
            );
        }
        let log = lab.log(i);
        let masters = log.matches("to=MASTER").count();
        assert_eq!(masters, if i == 0 { 2 } else { 0 }, "node{}\n{log}", i + 1);
        assert!(!log.contains("panicked"), "{log}");
    }

    let node1_drops = drop_lines(&lab, 0);
    for (what, reason) in &expected {
        if let Some(line) = node1_drops
            .iter()
            .find(|l| l.contains(&format!("error={reason}")))
        {
            eprintln!("{what}: {line}");
        }
    }

    // A well-formed priority-0 advert in nobody's name (a forged "master resigns"): a backup
    // would take over after Skew_Time, but the master answers it at once with its own
    // advert, so nothing moves.
    let resign = inject(
        &observer,
        vec![
            advert(Version::V3, 51, 0, VIP, Auth::None),
            advert(
                Version::V2,
                61,
                0,
                VIP2,
                Auth::Password(Password::new(PASSWORD.as_bytes()).unwrap()),
            ),
        ],
        Duration::from_millis(2),
    );
    assert_eq!(resign.join().unwrap(), 2);
    let quiet = Instant::now();
    while quiet.elapsed() < Duration::from_secs(2) {
        assert_node1_holds_both(&lab, "after a forged priority 0");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!lab.log(1).contains("to=MASTER"), "{}", lab.log(1));
    assert_eq!(drop_lines(&lab, 1).len(), sent, "{}", lab.log(1));

    // Control: the unmutated priority-200 adverts with TTL 255 are accepted, so node1 steps
    // down in both instances.
    let control = inject(
        &observer,
        vec![v3_base(), v2_base(PASSWORD)],
        Duration::from_millis(2),
    );
    assert_eq!(control.join().unwrap(), 2);
    lab.wait_until(
        Duration::from_secs(5),
        "node1 accepts the valid forged adverts",
        |l| l.log(0).matches("reason=higher-priority advert").count() == 2,
    );
    eprintln!(
        "{sent} hostile datagrams, {samples} VIP samples, nothing moved; test took {:?}",
        started.elapsed()
    );
}

// ----- handover measured by ARP ----------------------------------------------------------

fn three_nodes() -> Lab {
    let mut lab = Lab::new(&[150, 100, 50], |_, p| config(p, ""));
    for i in 0..3 {
        lab.start(i);
    }
    lab.wait_until(SETTLE, "node1 (150) holds the VIP", |l| {
        l.holders() == vec![0]
    });
    lab
}

const PROBE_EVERY: Duration = Duration::from_millis(5);

fn start_prober(lab: &Lab) -> ArpProber {
    let prober = ArpProber::start(
        &lab.observer.name,
        "eth0",
        &OBSERVER.to_string(),
        VIP,
        PROBE_EVERY,
    );
    // A baseline of answered probes before anything happens.
    std::thread::sleep(Duration::from_millis(300));
    prober
}

/// Milliseconds, for the output.
fn ms(seconds: f64) -> String {
    format!("{:.1} ms", seconds * 1000.0)
}

/// What every probe run must show: a real probe rate, node1 alone answering before the
/// event at `mark`, and node2 alone answering at the end.
fn assert_moved_from_node1_to_node2(lab: &Lab, report: &ProbeReport, mark: f64) {
    let (n1, n2) = (&lab.nodes[0].mac, &lab.nodes[1].mac);
    let span = report.sent.last().copied().unwrap_or_default();
    // At least 60% of the nominal rate (the prober shares two CPUs with three daemons).
    assert!(
        f64::from(u32::try_from(report.probes()).unwrap()) > 0.6 * span / 0.005,
        "{}",
        report.summary()
    );
    let before: Vec<&String> = report
        .replies
        .iter()
        .filter(|(t, _)| *t < mark)
        .map(|(_, m)| m)
        .collect();
    assert!(before.len() > 20, "{}", report.summary());
    assert!(before.iter().all(|m| *m == n1), "{}", report.summary());
    let tail: Vec<&String> = report
        .replies
        .iter()
        .rev()
        .take(20)
        .map(|(_, m)| m)
        .collect();
    assert!(
        tail.len() == 20 && tail.iter().all(|m| *m == n2),
        "{}",
        report.summary()
    );
    assert!(
        report.macs().is_subset(&[n1.clone(), n2.clone()].into()),
        "{}",
        report.summary()
    );
}

/// Issue test 3, graceful handover measured by a client: an observer asking who has the VIP
/// every 5 ms never goes more than 2 probes (10 ms) without an answer while node1 (the
/// master) is stopped with SIGTERM; node1's MAC answers before and node2's after, node1
/// exits 0 and keeps no copy of the VIP.
#[test]
fn sigterm_handover_loses_at_most_two_arp_probes() {
    let started = Instant::now();
    let mut lab = three_nodes();
    let mut prober = start_prober(&lab);
    prober.mark();
    lab.signal(0, "TERM");
    let handover = lab.wait_until(SETTLE, "node2 holds the VIP and node1 not", |l| {
        l.holds_vip(1) && !l.holds_vip(0)
    });
    assert_eq!(lab.wait_exit(0, SETTLE), Some(0), "{}", lab.log(0));
    std::thread::sleep(Duration::from_millis(300));
    let report = prober.stop();
    let mark = report.marks[0];
    let (gap, _) = report.longest_gap();
    let (n1, n2) = (&lab.nodes[0].mac, &lab.nodes[1].mac);
    eprintln!(
        "SIGTERM handover: {}; node2 first answered {} after SIGTERM, node1 last {} after; \
         VIP moved in {handover:?} (sampled); test took {:?}",
        report.summary(),
        ms(report.first_reply_from(n2, mark).unwrap_or(f64::NAN) - mark),
        ms(report.last_reply_from(n1).unwrap_or(f64::NAN) - mark),
        started.elapsed()
    );
    assert!(gap <= 2, "{}\n{}", report.summary(), lab.logs());
    assert_moved_from_node1_to_node2(&lab, &report, mark);
    assert!(!lab.holds_vip(0), "node1 kept the VIP\n{}", lab.log(0));
    assert_eq!(lab.holders(), vec![1], "{}", lab.logs());
}

/// The control of the test above: with `--stop-immediately` (RFC 5798's shutdown: the VIP
/// is removed at once and node2 takes over only after Skew_Time), the same prober does see
/// a gap of many probes, so its "at most 2" is not vacuous.
#[test]
fn sigterm_with_stop_immediately_shows_a_gap() {
    let mut lab = Lab::new(&[150, 100, 50], |_, p| config(p, ""));
    let config0 = lab.nodes[0].config.to_string_lossy().into_owned();
    lab.spawn(
        0,
        &[
            env!("CARGO_BIN_EXE_vipd"),
            "run",
            "--log-level",
            "debug",
            "--stop-immediately",
            "-c",
            &config0,
        ],
    );
    lab.start(1);
    lab.start(2);
    lab.wait_until(SETTLE, "node1 (150) holds the VIP", |l| {
        l.holders() == vec![0]
    });
    let mut prober = start_prober(&lab);
    prober.mark();
    lab.signal(0, "TERM");
    assert_eq!(lab.wait_exit(0, SETTLE), Some(0), "{}", lab.log(0));
    lab.wait_until(SETTLE, "node2 holds the VIP", |l| l.holders() == vec![1]);
    std::thread::sleep(Duration::from_millis(300));
    let report = prober.stop();
    let (gap, _) = report.longest_gap();
    eprintln!("SIGTERM with --stop-immediately: {}", report.summary());
    assert!(gap > 10, "{}\n{}", report.summary(), lab.logs());
    assert_moved_from_node1_to_node2(&lab, &report, report.marks[0]);
}

/// Kills node1's vipd (SIGKILL), cutting node1 off the segment first if `host_dies`, and
/// probes until node2 holds the VIP (and, if node1 stays connected, until its orphaned VIP
/// expires). Asserts only that the VIP comes back on node2; prints the figures.
fn crash(host_dies: bool) -> ProbeReport {
    let started = Instant::now();
    let what = if host_dies { "host crash" } else { "SIGKILL" };
    let mut lab = three_nodes();
    let mut prober = start_prober(&lab);
    prober.mark();
    if host_dies {
        lab.isolate(0, true);
    }
    lab.signal(0, "KILL");
    assert_eq!(lab.wait_exit(0, SETTLE), None, "killed by a signal");
    let takeover = lab.wait_until(SETTLE, "node2 takes the VIP", |l| l.holds_vip(1));
    if !host_dies {
        lab.wait_until(SETTLE, "the killed node's VIP expires", |l| !l.holds_vip(0));
    }
    std::thread::sleep(Duration::from_millis(300));
    let report = prober.stop();
    let mark = report.marks[0];
    let (gap, gap_at) = report.longest_gap();
    let (n1, n2) = (&lab.nodes[0].mac, &lab.nodes[1].mac);
    let first_n2 = report.first_reply_from(n2, mark);
    let last_n1 = report.last_reply_from(n1);
    let gap_ms = Duration::from_millis(u64::try_from(gap).unwrap() * 5);
    eprintln!(
        "{what}: {}; longest outage about {gap_ms:?}{}; node2 first answered {} after the \
         kill, node1 last {} after; node2 held the VIP {takeover:?} after the kill \
         (sampled); test took {:?}",
        report.summary(),
        gap_at
            .map(|t| format!(" starting {} after the kill", ms(t - mark)))
            .unwrap_or_default(),
        ms(first_n2.unwrap_or(f64::NAN) - mark),
        ms(last_n1.unwrap_or(f64::NAN) - mark),
        started.elapsed()
    );
    assert!(first_n2.is_some(), "{}", report.summary());
    assert_moved_from_node1_to_node2(&lab, &report, mark);
    assert!(lab.holds_vip(1), "{}", lab.logs());
    if !host_dies {
        assert_eq!(lab.holders(), vec![1], "{}", lab.logs());
    }
    report
}

/// A crash of vipd alone (SIGKILL): the killed daemon cannot remove its VIP, so node1's
/// kernel keeps answering ARP until the VIP's lifetime (5 s, renewed every second or so)
/// runs out, and node2 answers from Master_Down_Interval after its last advert: clients
/// see node1, then both (or, if the lifetime ran out first, nothing), then node2. No timing
/// is asserted.
#[test]
fn sigkill_outage_is_measured() {
    crash(false);
}

/// A crash of the whole host (node1 cut off the segment and its vipd killed at once): the
/// outage a client sees is about node2's Master_Down_Interval after node1's last advert
/// (2.6 s to 3.6 s here). Only that there is an outage and that the VIP comes back on node2
/// is asserted; the figures are printed.
#[test]
fn host_crash_outage_is_measured() {
    let report = crash(true);
    assert!(report.longest_gap().0 > 0, "{}", report.summary());
}
