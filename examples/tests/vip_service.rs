//! The embedding example on real interfaces: two nodes run `vip_service`; a client on the
//! segment reaches the service on the VIP, and still does after the master hands over.
//! Needs root, iproute2 and python3.

#[path = "../../vipd/tests/lab/mod.rs"]
mod lab;

use std::path::PathBuf;
use std::time::Duration;

use lab::{Lab, VIP, config};

const SETTLE: Duration = Duration::from_secs(10);

/// `target/<profile>/examples/vip_service`, which `cargo test` builds before running the tests
/// when it runs the whole package (`cargo test --test vip_service` alone does not rebuild it).
fn example_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    profile_dir.join("examples").join("vip_service")
}

/// Connects to VIP:8080 from the observer and returns the line served, if any.
fn fetch(lab: &Lab) -> Option<String> {
    let script = format!(
        "import socket\ns=socket.create_connection(('{VIP}',8080),timeout=2)\nprint(s.recv(200).decode().strip())"
    );
    let out = lab.observer.exec("python3", &["-c", &script]);
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

#[test]
fn the_service_follows_the_vip() {
    let binary = example_binary();
    assert!(binary.exists(), "{} not built", binary.display());
    let bin = binary.to_string_lossy().into_owned();
    let mut lab = Lab::new(&[150, 100], |_, p| config(p, ""));
    for i in 0..2 {
        let cfg = lab.nodes[i].config.to_string_lossy().into_owned();
        lab.spawn(i, &[&bin, &cfg, "8080"]);
    }
    lab.wait_until(SETTLE, "node1 serves on the VIP", |l| {
        l.log(0).contains("Master: serving on") && l.holders() == vec![0]
    });
    let line = fetch(&lab).expect("the service answers on the VIP");
    assert!(
        line.starts_with("served by") && line.contains("VI_LAB Master"),
        "{line}"
    );
    assert!(
        !lab.log(1).contains("serving on"),
        "node2 must not serve as Backup"
    );
    // Ctrl-C (SIGINT) on node1: it hands the VIP over and exits; node2 starts serving.
    lab.signal(0, "INT");
    assert_eq!(lab.wait_exit(0, SETTLE), Some(0), "{}", lab.log(0));
    assert!(
        lab.log(0).contains("no longer Master: stopped serving"),
        "{}",
        lab.log(0)
    );
    lab.wait_until(SETTLE, "node2 serves on the VIP", |l| {
        l.log(1).contains("Master: serving on")
    });
    let line = fetch(&lab).expect("the service answers after the handover");
    assert!(line.contains("VI_LAB Master"), "{line}");
}
