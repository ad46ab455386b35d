//! keepalived's smaller knobs on real interfaces, each against a control node without it on
//! the same segment: `dont_track_primary` (a Master whose own link goes down keeps its VIP;
//! the control goes to Fault and drops its own) and `lower_prio_no_advert` (a Master does not
//! answer lower-priority adverts with adverts of its own; the control answers each one),
//! counted on the wire by a capture in the observer's namespace; announcement pacing
//! (`garp.interval`) measured on the wire; `vips_excluded` held but not advertised; a VIP's
//! own `dev` and `label` (on its interface, labelled, answered there, its link tracked).
//!
//! Run: `cargo test -p vipd --release --test lab_knobs -- --nocapture` (root) for the figures.

mod lab;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use lab::{GROUP, Lab, OBSERVER, VIP, inject};
use vrrp_core::{Addresses, Advertisement, Auth, ChecksumMode, Endpoints, Interval, Version, Vrid};

const SETTLE: Duration = Duration::from_secs(10);
/// The control node's VIP (VRID 52).
const VIP_CONTROL: &str = "10.200.0.101";

/// Node 1: VRID 51 with `node1` (YAML lines of the instance), VIPs `vips1`; node 2: VRID 52
/// with `node2`, VIPs `vips2`. Each is alone in its VRID, so both become Master once started.
fn lab_of(node1: &str, node2: &str, vips1: &str, vips2: &str) -> Lab {
    let (node1, node2) = (node1.to_owned(), node2.to_owned());
    let (vips1, vips2) = (vips1.to_owned(), vips2.to_owned());
    Lab::new(&[200, 200], move |i, _| {
        let (vrid, vips, extra) = if i == 0 {
            (51, vips1.as_str(), node1.as_str())
        } else {
            (52, vips2.as_str(), node2.as_str())
        };
        format!(
            "instances:\n  - name: VI_{vrid}\n    interface: eth0\n    vrid: {vrid}\n    \
             priority: 200\n    advert_interval: 1s\n    vips: [{vips}]\n{extra}"
        )
    })
}

/// [`lab_of`] with `knob: true` on node 1 and one VIP each, both started and Master.
fn knob_and_control(knob: &str) -> Lab {
    let mut lab = lab_of(
        &format!("    {knob}: true\n"),
        "",
        &format!("{VIP}/24"),
        &format!("{VIP_CONTROL}/24"),
    );
    lab.start(0);
    lab.start(1);
    lab.wait_until(SETTLE, "both nodes are Master of their VRID", |l| {
        l.holds(0, VIP) && l.holds(1, VIP_CONTROL)
    });
    lab
}

#[test]
fn dont_track_primary_keeps_a_master_whose_link_goes_down() {
    let lab = knob_and_control("dont_track_primary");
    lab.link(0, false);
    lab.link(1, false);
    let took = lab.wait_until(
        Duration::from_secs(5),
        "the control node drops its VIP (Fault) when its link goes down",
        |l| !l.holds(1, VIP_CONTROL),
    );
    // Watched for 3 s (more than three adverts and a VIP renewal): node 1 keeps its VIP.
    let start = Instant::now();
    let mut samples = 0;
    while start.elapsed() < Duration::from_secs(3) {
        assert!(
            lab.holds(0, VIP),
            "node1 (dont_track_primary) lost its VIP with its link down\n{}",
            lab.logs()
        );
        samples += 1;
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(lab.log(1).contains("to=FAULT"), "{}", lab.log(1));
    assert!(!lab.log(0).contains("to=FAULT"), "{}", lab.log(0));
    // Link back: the control returns to Master; node 1 never left it.
    lab.link(0, true);
    lab.link(1, true);
    lab.wait_until(SETTLE, "the control node is Master again", |l| {
        l.holds(1, VIP_CONTROL)
    });
    assert!(lab.holds(0, VIP));
    assert_eq!(lab.log(0).matches("to=MASTER").count(), 1, "{}", lab.log(0));
    eprintln!(
        "link down: control dropped its VIP after {took:?}; node1 kept it in {samples} samples \
         over 3 s"
    );
}

/// Starts [`CAPTURE`] of `kind` in the observer's namespace for `seconds` and waits until it
/// prints that its capture socket is open.
fn capture(lab: &Lab, seconds: &str, kind: &str) -> lab::ObserverProcess {
    use std::io::BufRead;
    let mut capture = lab.spawn_observer("python3", &["-u", "-c", CAPTURE, seconds, kind]);
    let stdout = capture.child().stdout.as_mut().expect("piped");
    let mut line = String::new();
    std::io::BufReader::new(stdout)
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "ready");
    capture
}

/// A lower-priority (50) advert from the observer for `vrid`.
fn lower_advert(vrid: u8, vip: &str) -> Vec<u8> {
    let adv = Advertisement {
        version: Version::V3,
        vrid: Vrid::new(vrid).unwrap(),
        priority: 50,
        interval: Interval::from_secs(1).unwrap(),
        auth: Auth::None,
        addresses: Addresses::V4(vec![vip.parse().unwrap()]),
    };
    let endpoints = Endpoints {
        src: IpAddr::V4(OBSERVER),
        dst: IpAddr::V4(GROUP),
    };
    adv.to_bytes(endpoints, ChecksumMode::PseudoHeader)
        .unwrap()
        .to_vec()
}

/// Prints each frame the observer sees for `argv[1]` seconds, one line each: the time (ms) and
/// the sender: for `argv[2]` `vrrp` a VRRP advert's source address (then the addresses it
/// carries, comma-separated), for `arp` a gratuitous ARP's source MAC.
const CAPTURE: &str = r#"
import socket, sys, time
kind = sys.argv[2]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0806 if kind == "arp" else 0x0800))
s.settimeout(0.1)
end = time.time() + float(sys.argv[1])
print("ready", flush=True)
while time.time() < end:
    try:
        f = s.recv(2048)
    except socket.timeout:
        continue
    now = "%.3f" % (time.time() * 1000)
    if kind == "vrrp" and len(f) > 33 and f[23] == 112:
        # The advert's IPv4 address list: count at byte 3 of the VRRP header, the addresses
        # after its 8 bytes.
        v = 14 + (f[14] & 15) * 4
        addrs = [".".join(str(b) for b in f[v + 8 + 4 * i:v + 12 + 4 * i]) for i in range(f[v + 3])]
        print(now, ".".join(str(b) for b in f[26:30]), ",".join(addrs), flush=True)
    # A gratuitous ARP: sender and target address the same.
    elif kind == "arp" and len(f) >= 42 and f[28:32] == f[38:42]:
        print(now, f[6:12].hex(":"), flush=True)
"#;

/// The frames from `sender` in [`CAPTURE`]'s output: (time in ms, what follows the sender).
fn frames_from<'c>(capture: &'c str, sender: &str) -> Vec<(f64, &'c str)> {
    capture
        .lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            let t = words.next()?.parse().ok()?;
            (words.next()? == sender).then(|| (t, words.next().unwrap_or_default()))
        })
        .collect()
}

#[test]
fn lower_prio_no_advert_leaves_lower_priority_adverts_unanswered() {
    let lab = knob_and_control("lower_prio_no_advert");
    let capture = capture(&lab, "4", "vrrp");
    // 20 lower-priority adverts per VRID, 100 ms apart, within the 4 s capture.
    let mut payloads = Vec::new();
    for _ in 0..20 {
        payloads.push(lower_advert(51, VIP));
        payloads.push(lower_advert(52, VIP_CONTROL));
    }
    let sent = inject(&lab.observer.name, payloads, Duration::from_millis(50));
    assert_eq!(sent.join().unwrap(), 40);
    let out = capture.wait_output();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let count = |src: &str| frames_from(&text, src).len();
    let (knob, control) = (count(&lab.nodes[0].addr), count(&lab.nodes[1].addr));
    eprintln!(
        "adverts in 4 s while 20 lower-priority adverts arrived per VRID: \
         lower_prio_no_advert {knob}, control {control}"
    );
    // At 1 s adverts, 4 s hold 4 or 5 periodic ones; the control adds an answer per advert.
    assert!((3..=6).contains(&knob), "{text}\n{}", lab.logs());
    assert!(control >= knob + 10, "{text}\n{}", lab.logs());
    // Both are still Master.
    assert!(lab.holds(0, VIP) && lab.holds(1, VIP_CONTROL));
}

/// The gaps (ms) between consecutive frames from `sender` in [`CAPTURE`]'s output.
fn gaps(capture: &str, sender: &str) -> Vec<f64> {
    frames_from(capture, sender)
        .windows(2)
        .map(|w| w[1].0 - w[0].0)
        .collect()
}

/// `vrrp_garp_interval` (`garp.interval`): node 1's burst on becoming Master (3 rounds of 2
/// VIPs) leaves at least 50 ms apart on the wire; the control's burst leaves at once.
#[test]
fn garp_interval_spaces_the_burst_on_the_wire() {
    const PACING_MS: f64 = 50.0;
    let mut lab = lab_of(
        "    garp: {master_delay: 0s, master_repeat: 3, interval: 50ms}\n",
        "    garp: {master_delay: 0s, master_repeat: 3}\n",
        &format!("{VIP}/24, 10.200.0.102/24"),
        &format!("{VIP_CONTROL}/24, 10.200.0.103/24"),
    );
    let capture = capture(&lab, "9", "arp");
    lab.start(0);
    lab.start(1);
    lab.wait_until(SETTLE, "both nodes are Master of their VRID", |l| {
        l.holds(0, VIP) && l.holds(1, VIP_CONTROL)
    });
    let out = capture.wait_output();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let paced = gaps(&text, &lab.nodes[0].mac);
    let unpaced = gaps(&text, &lab.nodes[1].mac);
    eprintln!("gaps (ms) with garp.interval 50ms: {paced:.1?}; control: {unpaced:.1?}");
    assert_eq!(
        paced.len(),
        5,
        "six GARPs from node1\n{text}\n{}",
        lab.logs()
    );
    assert_eq!(
        unpaced.len(),
        5,
        "six GARPs from node2\n{text}\n{}",
        lab.logs()
    );
    // The capture's clock adds at most a millisecond or so of jitter either way.
    let min = paced.iter().copied().fold(f64::MAX, f64::min);
    assert!(min >= PACING_MS - 2.0, "{paced:?}");
    let control_max = unpaced.iter().copied().fold(0.0, f64::max);
    assert!(control_max < PACING_MS - 2.0, "{unpaced:?}");
}

/// `virtual_ipaddress_excluded` (`vips_excluded`): the Master holds an IPv4 and an IPv6
/// excluded address on its interface beside its VIP, and its adverts carry only the VIP.
#[test]
fn excluded_addresses_are_held_but_not_advertised() {
    const EXCLUDED: &str = "10.200.0.110";
    const EXCLUDED6: &str = "fd00:200::110";
    let mut lab = lab_of(
        &format!("    vips_excluded: [{EXCLUDED}/24, {EXCLUDED6}/64]\n"),
        "",
        &format!("{VIP}/24"),
        &format!("{VIP_CONTROL}/24"),
    );
    lab.start(0);
    lab.start(1);
    lab.wait_until(
        SETTLE,
        "node1 holds its VIP and both excluded addresses",
        |l| l.holds(0, VIP) && l.holds(0, EXCLUDED) && l.holds(0, EXCLUDED6),
    );
    // The status tells the VIP from the excluded addresses; it holds all three.
    let status = status_json(&lab, 0);
    let report = &status["instances"][0];
    assert_eq!(report["vips"], serde_json::json!([format!("{VIP}/24")]));
    assert_eq!(
        report["vips_excluded"],
        serde_json::json!([format!("{EXCLUDED}/24"), format!("{EXCLUDED6}/64")])
    );
    assert_eq!(report["vips_held"].as_array().map(Vec::len), Some(3));
    let capture = capture(&lab, "3", "vrrp");
    let out = capture.wait_output();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let adverts = frames_from(&text, &lab.nodes[0].addr);
    eprintln!("node1's adverts in 3 s carry: {adverts:?}");
    assert!(adverts.len() >= 2, "{text}\n{}", lab.logs());
    assert!(adverts.iter().all(|(_, addrs)| *addrs == VIP), "{text}");
    // Stopped, node 1 removes the excluded addresses with its VIP.
    lab.signal(0, "TERM");
    assert_eq!(lab.wait_exit(0, Duration::from_secs(10)), Some(0));
    assert!(!lab.holds(0, VIP) && !lab.holds(0, EXCLUDED) && !lab.holds(0, EXCLUDED6));
}

/// `vipd status --json` of node `i`.
fn status_json(lab: &Lab, i: usize) -> serde_json::Value {
    let out = lab.nodes[i]
        .ns
        .exec(env!("CARGO_BIN_EXE_vipd"), &["status", "--json"]);
    serde_json::from_slice(&out.stdout).expect("vipd status --json prints JSON")
}

/// The labels of node `i`'s IPv4 addresses on `ifname`, as `ADDRESS LABEL` lines.
fn labels(lab: &Lab, i: usize, ifname: &str) -> String {
    let out = lab.nodes[i]
        .ns
        .try_ip(&["-4", "-o", "addr", "show", "dev", ifname]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            let at = words.iter().position(|w| *w == "inet")?;
            let label = words[at..].iter().find(|w| w.starts_with(ifname))?;
            // `-o` ends each record's first line with a backslash.
            let label = label.trim_end_matches('\\');
            Some(format!("{} {label}\n", words.get(at + 1)?))
        })
        .collect()
}

#[test]
fn a_vip_goes_on_its_own_dev_with_its_label_and_that_link_is_tracked() {
    const BACK: &str = "10.200.1.100";
    let mut lab = Lab::new(&[150, 100], |_, p| {
        format!(
            "instances:\n  - name: VI_LAB\n    interface: eth0\n    vrid: 51\n    \
             priority: {p}\n    advert_interval: 100ms\n    \
             vips: ['{VIP}/24 label eth0:front', '{BACK}/24 dev eth1 label eth1:back']\n"
        )
    });
    lab.add_second_segment();
    lab.start(0);
    lab.start(1);
    let both = |l: &Lab, i: usize| l.holds_on(i, "eth0", VIP) && l.holds_on(i, "eth1", BACK);
    lab.wait_until(
        SETTLE,
        "node1 holds the VIP on eth0 and the back VIP on eth1",
        |l| both(l, 0) && !l.holds(1, VIP) && !l.holds_on(1, "eth1", BACK),
    );
    assert!(
        !lab.holds_on(0, "eth0", BACK),
        "the back VIP is on eth1 only"
    );
    let eth0 = labels(&lab, 0, "eth0");
    let eth1 = labels(&lab, 0, "eth1");
    assert!(eth0.contains(&format!("{VIP}/24 eth0:front\n")), "{eth0}");
    assert!(eth1.contains(&format!("{BACK}/24 eth1:back\n")), "{eth1}");
    // The node's own addresses keep the interface's name.
    assert!(eth1.contains("10.200.1.1/24 eth1\n"), "{eth1}");
    // node2 reaches the back VIP over the second segment: node1 answers for it on eth1.
    let ping = |l: &Lab, from: usize| {
        l.nodes[from]
            .ns
            .exec("ping", &["-n", "-c", "1", "-W", "1", "-I", "eth1", BACK])
            .status
            .success()
    };
    assert!(ping(&lab, 1), "node2 reaches {BACK}\n{}", lab.logs());
    assert_eq!(
        status_json(&lab, 0)["instances"][0]["vips"],
        serde_json::json!([
            format!("{VIP}/24 label eth0:front"),
            format!("{BACK}/24 dev eth1 label eth1:back")
        ])
    );

    // The back link is tracked like the instance's own: when it goes down, node1 goes to
    // Fault and node2 takes both VIPs, labels and all.
    let down = Instant::now();
    lab.nodes[0].ns.ip(&["link", "set", "eth1", "down"]);
    lab.wait_until(SETTLE, "node2 holds both VIPs", |l| {
        both(l, 1) && !l.holds(0, VIP)
    });
    println!(
        "node1's eth1 down: node2 held both VIPs after {} ms",
        down.elapsed().as_millis()
    );
    assert!(
        labels(&lab, 1, "eth1").contains(&format!("{BACK}/24 eth1:back\n")),
        "{}",
        labels(&lab, 1, "eth1")
    );
    assert!(
        lab.log(0).contains("to=FAULT reason=link down"),
        "{}",
        lab.log(0)
    );
    // Back up, node1 preempts and holds both again.
    lab.nodes[0].ns.ip(&["link", "set", "eth1", "up"]);
    lab.wait_until(SETTLE, "node1 takes both VIPs back", |l| {
        both(l, 0) && !l.holds(1, VIP) && !l.holds_on(1, "eth1", BACK)
    });
    // A clean stop removes both.
    lab.signal(0, "TERM");
    assert_eq!(lab.wait_exit(0, Duration::from_secs(10)), Some(0));
    assert!(!lab.holds_on(0, "eth0", VIP) && !lab.holds_on(0, "eth1", BACK));
}
