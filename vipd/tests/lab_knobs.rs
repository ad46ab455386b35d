//! keepalived's smaller knobs on real interfaces, each against a control node without it on
//! the same segment: `dont_track_primary` (a Master whose own link goes down keeps its VIP;
//! the control goes to Fault and drops its own) and `lower_prio_no_advert` (a Master does not
//! answer lower-priority adverts with adverts of its own; the control answers each one),
//! counted on the wire by a capture in the observer's namespace.
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

/// Node 1: VRID 51 with `knob`; node 2: VRID 52 without it. Each is alone in its VRID, so
/// both become Master.
fn knob_and_control(knob: &'static str) -> Lab {
    let mut lab = Lab::new(&[200, 200], |i, _| {
        let (vrid, vip, extra) = if i == 0 {
            (51, VIP, format!("    {knob}: true\n"))
        } else {
            (52, VIP_CONTROL, String::new())
        };
        format!(
            "instances:\n  - name: VI_{vrid}\n    interface: eth0\n    vrid: {vrid}\n    \
             priority: 200\n    advert_interval: 1s\n    vips: [{vip}/24]\n{extra}"
        )
    });
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

/// Counts the VRRP frames each node sends during `seconds`, by source address.
const CAPTURE: &str = r#"
import socket, sys, time
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
s.settimeout(0.1)
counts = {}
end = time.time() + float(sys.argv[1])
print("ready", flush=True)
while time.time() < end:
    try:
        f = s.recv(2048)
    except socket.timeout:
        continue
    if len(f) > 33 and f[23] == 112:
        src = ".".join(str(b) for b in f[26:30])
        counts[src] = counts.get(src, 0) + 1
for src, n in sorted(counts.items()):
    print(src, n)
"#;

#[test]
fn lower_prio_no_advert_leaves_lower_priority_adverts_unanswered() {
    let lab = knob_and_control("lower_prio_no_advert");
    let mut capture = lab.spawn_observer("python3", &["-u", "-c", CAPTURE, "4"]);
    {
        use std::io::BufRead;
        let stdout = capture.child().stdout.as_mut().expect("piped");
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready");
    }
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
    let count = |src: &str| -> u32 {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{src} ")))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0)
    };
    let (knob, control) = (count(&lab.nodes[0].addr), count(&lab.nodes[1].addr));
    eprintln!(
        "adverts in 4 s while 20 lower-priority adverts arrived per VRID: \
         lower_prio_no_advert {knob}, control {control}"
    );
    // At 1 s adverts, 4 s hold 4 or 5 periodic ones; the control adds an answer per advert.
    assert!((3..=6).contains(&knob), "{text}\n{}", lab.logs());
    assert!(control >= knob + 10, "{text}\n{}", lab.logs());
    // Both are still Master, and both counted the lower-priority adverts.
    assert!(lab.holds(0, VIP) && lab.holds(1, VIP_CONTROL));
}
