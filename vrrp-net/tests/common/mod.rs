//! Test networks: network namespaces and veth pairs that a test creates, and removes when
//! its guard drops, even if the test fails. Needs root.
//!
//! Names are unique per process and call (`vt<pid>x<n>`), so parallel tests and parallel
//! runs never meet. Only addresses inside these namespaces are used (10.200.x.x,
//! fd00:200::/64).

#![allow(dead_code, unreachable_pub)]

use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

static NEXT: AtomicU32 = AtomicU32::new(0);

/// Runs a command, panicking with its output if it fails.
pub fn run(program: &str, args: &[&str]) -> Output {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} {args:?}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Panics with a clear message unless running as root (the namespace tests need it).
pub fn require_root() {
    let uid = run("id", &["-u"]);
    assert_eq!(
        String::from_utf8_lossy(&uid.stdout).trim(),
        "0",
        "network namespace tests need root (CI runs them as root)"
    );
}

/// A network namespace, deleted on drop.
pub struct Netns {
    /// Its name, for `ip -n`.
    pub name: String,
}

impl Netns {
    /// A new namespace with its loopback up.
    pub fn new() -> Self {
        require_root();
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let name = format!("vt{}x{n}", std::process::id());
        run("ip", &["netns", "add", &name]);
        let ns = Self { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    /// `ip -n NAME args...`, which must succeed.
    pub fn ip(&self, args: &[&str]) -> Output {
        let mut full = vec!["-n", self.name.as_str()];
        full.extend_from_slice(args);
        run("ip", &full)
    }

    /// `ip -n NAME args...`, whatever its result.
    pub fn try_ip(&self, args: &[&str]) -> Output {
        let mut full = vec!["-n", self.name.as_str()];
        full.extend_from_slice(args);
        Command::new("ip").args(&full).output().expect("ip runs")
    }

    /// Runs `program args...` inside the namespace (`ip netns exec`).
    pub fn exec(&self, program: &str, args: &[&str]) -> Output {
        let mut full = vec!["netns", "exec", self.name.as_str(), program];
        full.extend_from_slice(args);
        Command::new("ip")
            .args(&full)
            .output()
            .expect("ip netns exec runs")
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Deleting the namespace destroys its interfaces (and so both ends of its veths).
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// Connects `a` and `b` with a veth pair named `a_if` (in `a`) and `b_if` (in `b`), both up.
pub fn veth(a: &Netns, a_if: &str, b: &Netns, b_if: &str) {
    let tmp_a = format!("va{}", NEXT.fetch_add(1, Ordering::SeqCst));
    let tmp_b = format!("vb{}", NEXT.fetch_add(1, Ordering::SeqCst));
    run(
        "ip",
        &[
            "link", "add", &tmp_a, "netns", &a.name, "type", "veth", "peer", "name", &tmp_b,
            "netns", &b.name,
        ],
    );
    a.ip(&["link", "set", &tmp_a, "name", a_if]);
    b.ip(&["link", "set", &tmp_b, "name", b_if]);
    a.ip(&["link", "set", a_if, "up"]);
    b.ip(&["link", "set", b_if, "up"]);
}
