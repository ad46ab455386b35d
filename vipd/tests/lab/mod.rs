//! A VRRP lab in network namespaces: a switch namespace with a bridge, N vipd nodes and an
//! observer, each on its own veth to the bridge. Real vipd processes, real kernel. Everything
//! (namespaces, processes) is removed when the lab drops, even if the test fails; only the
//! processes the lab started are ever signalled, by their PID.

#![allow(dead_code, unreachable_pub)]

#[path = "../../../vrrp-net/tests/common/mod.rs"]
mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub use common::Netns;

/// The VIP every lab test moves around.
pub const VIP: &str = "10.200.0.100";
/// The IPv6 VIP of the IPv6 tests.
pub const VIP6: &str = "fd00:200::100";

/// One vipd node.
pub struct Node {
    /// Its namespace.
    pub ns: Netns,
    /// Its address on the lab segment.
    pub addr: String,
    /// Its interface's MAC, fixed so the observer can tell nodes apart.
    pub mac: String,
    /// Its configuration file.
    pub config: PathBuf,
    /// Its log file.
    pub log: PathBuf,
    /// Its IPv6 address on the lab segment.
    pub addr6: String,
    child: Option<Child>,
}

/// The lab.
pub struct Lab {
    /// The switch namespace holding the bridge.
    pub switch: Netns,
    /// The observer namespace (10.200.0.9).
    pub observer: Netns,
    /// The nodes, 10.200.0.1, .2, ...
    pub nodes: Vec<Node>,
    dir: PathBuf,
}

fn vipd_binary() -> &'static str {
    // Set for vipd's own tests; other crates that use the lab run their own programs.
    match option_env!("CARGO_BIN_EXE_vipd") {
        Some(path) => path,
        None => panic!("the vipd binary is only known to vipd's tests"),
    }
}

impl Lab {
    /// A lab of nodes with these priorities, each configured by `yaml(index, priority)`.
    pub fn new(priorities: &[u8], yaml: impl Fn(usize, u8) -> String) -> Self {
        let switch = Netns::new();
        switch.ip(&["link", "add", "br0", "type", "bridge"]);
        switch.ip(&["link", "set", "br0", "up"]);
        let dir = std::env::temp_dir().join(format!("vipd-lab-{}", switch.name));
        std::fs::create_dir_all(&dir).unwrap();
        let observer = Netns::new();
        Self::attach(
            &switch,
            &observer,
            "p9",
            "02:00:00:00:00:09",
            "10.200.0.9/24",
        );
        observer.ip(&["addr", "add", "fd00:200::9/64", "dev", "eth0", "nodad"]);
        let mut nodes = Vec::new();
        for (i, &priority) in priorities.iter().enumerate() {
            let ns = Netns::new();
            let n = i + 1;
            let mac = format!("02:00:00:00:00:{n:02x}");
            Self::attach(
                &switch,
                &ns,
                &format!("p{n}"),
                &mac,
                &format!("10.200.0.{n}/24"),
            );
            ns.ip(&[
                "addr",
                "add",
                &format!("fd00:200::{n}/64"),
                "dev",
                "eth0",
                "nodad",
            ]);
            let config = dir.join(format!("node{n}.yaml"));
            std::fs::write(&config, yaml(i, priority)).unwrap();
            let log = dir.join(format!("node{n}.log"));
            nodes.push(Node {
                ns,
                addr: format!("10.200.0.{n}"),
                mac,
                config,
                log,
                addr6: format!("fd00:200::{n}"),
                child: None,
            });
        }
        Self {
            switch,
            observer,
            nodes,
            dir,
        }
    }

    /// A second segment: bridge `br1` in the switch namespace and, on every node, interface
    /// `eth1` with 10.200.1.N/24 (N = 1, 2, ...), for tests that move VRRP to another link.
    pub fn add_second_segment(&self) {
        self.switch.ip(&["link", "add", "br1", "type", "bridge"]);
        self.switch.ip(&["link", "set", "br1", "up"]);
        for (i, node) in self.nodes.iter().enumerate() {
            let port = format!("q{}", i + 1);
            common::veth(&node.ns, "eth1", &self.switch, &port);
            self.switch.ip(&["link", "set", &port, "master", "br1"]);
            node.ns.ip(&[
                "addr",
                "add",
                &format!("10.200.1.{}/24", i + 1),
                "dev",
                "eth1",
            ]);
        }
    }

    /// Connects `ns` (interface eth0 with `mac` and `cidr`) to the bridge through port `port`.
    fn attach(switch: &Netns, ns: &Netns, port: &str, mac: &str, cidr: &str) {
        common::veth(ns, "eth0", switch, port);
        switch.ip(&["link", "set", port, "master", "br0"]);
        ns.ip(&["link", "set", "eth0", "down"]);
        ns.ip(&["link", "set", "eth0", "address", mac]);
        ns.ip(&["addr", "add", cidr, "dev", "eth0"]);
        ns.ip(&["link", "set", "eth0", "up"]);
    }

    /// A second segment: bridge `bridge` in the switch namespace, and on every node an
    /// interface `ifname` on it, with MAC 02:00:00:00:<segment>:<n> and address
    /// `<prefix>.<n>/24` (node n = 1, 2, ...). `segment` tells the MACs apart from eth0's.
    pub fn add_segment(&self, bridge: &str, ifname: &str, segment: u8, prefix: &str) {
        self.switch.ip(&["link", "add", bridge, "type", "bridge"]);
        self.switch.ip(&["link", "set", bridge, "up"]);
        for (i, node) in self.nodes.iter().enumerate() {
            let n = i + 1;
            let port = format!("{bridge}p{n}");
            common::veth(&node.ns, ifname, &self.switch, &port);
            self.switch.ip(&["link", "set", &port, "master", bridge]);
            let mac = format!("02:00:00:00:{segment:02x}:{n:02x}");
            node.ns.ip(&["link", "set", ifname, "down"]);
            node.ns.ip(&["link", "set", ifname, "address", &mac]);
            node.ns
                .ip(&["addr", "add", &format!("{prefix}.{n}/24"), "dev", ifname]);
            node.ns.ip(&["link", "set", ifname, "up"]);
        }
    }

    /// Whether node `i`'s interface `ifname` holds the address `vip` (false if there is no
    /// such interface).
    pub fn holds_on(&self, i: usize, ifname: &str, vip: &str) -> bool {
        let out = self.nodes[i]
            .ns
            .try_ip(&["-o", "addr", "show", "dev", ifname]);
        String::from_utf8_lossy(&out.stdout).contains(&format!(" {vip}/"))
    }

    /// Starts vipd on node `i` with its configuration file.
    pub fn start(&mut self, i: usize) {
        let config = self.nodes[i].config.to_string_lossy().into_owned();
        self.spawn(
            i,
            &[vipd_binary(), "run", "--log-level", "debug", "-c", &config],
        );
    }

    /// Runs `argv` in node `i`'s namespace (`ip netns exec` execs it in place, so the child's
    /// PID is the program's), logging to the node's log file (appended). The lab kills it on
    /// drop.
    pub fn spawn(&mut self, i: usize, argv: &[&str]) {
        let node = &mut self.nodes[i];
        assert!(node.child.is_none(), "node{} already runs a process", i + 1);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&node.log)
            .unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", &node.ns.name])
            .args(argv)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        node.child = Some(child);
    }

    /// Starts `program args...` in the observer's namespace, stdout and stderr piped.
    pub fn spawn_observer(&self, program: &str, args: &[&str]) -> ObserverProcess {
        let child = Command::new("ip")
            .args(["netns", "exec", &self.observer.name, program])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        ObserverProcess(Some(child))
    }

    /// Replaces node `i`'s configuration file (takes effect at its next start).
    pub fn set_config(&mut self, i: usize, yaml: &str) {
        std::fs::write(&self.nodes[i].config, yaml).unwrap();
    }

    /// Sets node `i`'s own interface up or down (what the node itself sees as a link change).
    pub fn link(&self, i: usize, up: bool) {
        let state = if up { "up" } else { "down" };
        self.nodes[i].ns.ip(&["link", "set", "eth0", state]);
    }

    /// Sets node `i`'s bridge port up or down. With veths this also takes the node's carrier
    /// away, so the node sees its link go down.
    pub fn port(&self, i: usize, up: bool) {
        let state = if up { "up" } else { "down" };
        self.switch
            .ip(&["link", "set", &format!("p{}", i + 1), state]);
    }

    /// Cuts node `i` off the segment (or heals it) while its link stays up: the bridge port is
    /// set to the disabled STP state, which drops every frame without touching the carrier.
    pub fn isolate(&self, i: usize, cut: bool) {
        let port = format!("p{}", i + 1);
        let state = if cut { "0" } else { "3" };
        let out = Command::new("bridge")
            .args([
                "-n",
                &self.switch.name,
                "link",
                "set",
                "dev",
                &port,
                "state",
                state,
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "bridge link set: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Sends `signal` (e.g. "KILL", "TERM") to node `i`'s vipd.
    pub fn signal(&mut self, i: usize, signal: &str) {
        let pid = self.nodes[i].child.as_ref().expect("node running").id();
        // `ip netns exec` execs vipd in place: the child's PID is vipd's.
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal} {pid}");
    }

    /// The PID of node `i`'s process (vipd's own: `ip netns exec` execs it in place).
    pub fn pid(&self, i: usize) -> u32 {
        self.nodes[i].child.as_ref().expect("node running").id()
    }

    /// Waits for node `i`'s vipd to exit and returns its exit code.
    pub fn wait_exit(&mut self, i: usize, within: Duration) -> Option<i32> {
        let child = self.nodes[i].child.as_mut().expect("node running");
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                self.nodes[i].child = None;
                return status.code();
            }
            assert!(
                Instant::now() < deadline,
                "node{} did not exit within {within:?}",
                i + 1
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Node `i`'s vipd exit code if it has exited (`Some(None)`: killed by a signal), without
    /// waiting; None while it runs.
    pub fn try_wait(&mut self, i: usize) -> Option<Option<i32>> {
        let child = self.nodes[i].child.as_mut().expect("node running");
        let status = child.try_wait().unwrap()?;
        self.nodes[i].child = None;
        Some(status.code())
    }

    /// Whether node `i`'s interface holds the VIP.
    pub fn holds_vip(&self, i: usize) -> bool {
        self.holds(i, VIP)
    }

    /// Whether node `i`'s interface holds the address `vip` (IPv4 or IPv6).
    pub fn holds(&self, i: usize, vip: &str) -> bool {
        self.holds_on(i, "eth0", vip)
    }

    /// The nodes whose interface holds the VIP.
    pub fn holders(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| self.holds_vip(i))
            .collect()
    }

    /// Polls every 20 ms until `cond` holds, or panics after `within` with `what` and the logs.
    pub fn wait_until(
        &self,
        within: Duration,
        what: &str,
        cond: impl Fn(&Self) -> bool,
    ) -> Duration {
        let start = Instant::now();
        loop {
            if cond(self) {
                return start.elapsed();
            }
            if start.elapsed() > within {
                panic!("{what}: not within {within:?}\n{}", self.logs());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The MACs that answer ARP requests for the VIP, seen from the observer (three
    /// requests; every reply is counted, so two answering nodes show as two MACs).
    pub fn arp_answerers(&self) -> BTreeSet<String> {
        self.observer.ip(&["neigh", "flush", "all"]);
        let prober = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/arp-who-has.py");
        let out = self.observer.exec("python3", &[prober, "eth0", VIP]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.trim().to_owned())
            .filter(|l| !l.is_empty())
            .collect()
    }

    /// How many VRRP (IP protocol 112) IPv4 frames the observer sees in 3 s, counted with a
    /// stdlib packet capture.
    pub fn observer_vrrp_frames(&self) -> u32 {
        let script = r#"
import socket, time
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
s.settimeout(0.2)
n = 0
end = time.time() + 3
while time.time() < end:
    try:
        f = s.recv(2048)
    except socket.timeout:
        continue
    if len(f) > 23 and f[23] == 112:
        n += 1
print(n)
"#;
        let out = self.observer.exec("python3", &["-c", script]);
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("capture failed: {}", String::from_utf8_lossy(&out.stderr)))
    }

    /// Every node's log, for failure messages.
    pub fn logs(&self) -> String {
        let mut all = String::new();
        for (i, node) in self.nodes.iter().enumerate() {
            let text = std::fs::read_to_string(&node.log).unwrap_or_default();
            all.push_str(&format!("----- node{} log -----\n{text}\n", i + 1));
        }
        all
    }

    /// Node `i`'s log.
    pub fn log(&self, i: usize) -> String {
        std::fs::read_to_string(&self.nodes[i].log).unwrap_or_default()
    }
}

/// A program started in the observer's namespace with its output piped
/// ([`Lab::spawn_observer`]); killed, by its PID, when dropped still running.
pub struct ObserverProcess(Option<Child>);

impl ObserverProcess {
    /// The process.
    pub fn child(&mut self) -> &mut Child {
        self.0.as_mut().expect("running")
    }

    /// Waits for it to exit and returns what it printed.
    pub fn wait_output(mut self) -> std::process::Output {
        self.0.take().expect("running").wait_with_output().unwrap()
    }
}

impl Drop for ObserverProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        // The Netns guards delete the namespaces (and so every veth and the bridge).
    }
}

/// A one-instance vipd configuration for the lab.
pub fn config(priority: u8, extra: &str) -> String {
    format!(
        "instances:\n  - name: VI_LAB\n    interface: eth0\n    vrid: 51\n    priority: {priority}\n    vips: [{VIP}/24]\n{extra}"
    )
}

/// The observer's address on the lab segment.
pub const OBSERVER: std::net::Ipv4Addr = std::net::Ipv4Addr::new(10, 200, 0, 9);
/// The VRRP multicast group.
pub const GROUP: std::net::Ipv4Addr = std::net::Ipv4Addr::new(224, 0, 0, 18);

/// Sends `payloads` to the VRRP group from the observer with TTL 255, `gap` apart, on a
/// thread in the observer's namespace; returns how many were sent.
pub fn inject(
    observer: &str,
    payloads: Vec<Vec<u8>>,
    gap: std::time::Duration,
) -> std::thread::JoinHandle<usize> {
    let ns = observer.to_owned();
    std::thread::spawn(move || {
        vipd::vrrp_net::netns::enter(&ns).expect("enter the observer's namespace");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let ifindex = vipd::vrrp_net::socket::interface_index("eth0").unwrap();
            let socket = vipd::vrrp_net::socket::VrrpSocket::open(
                ifindex,
                "eth0",
                vipd::vrrp_core::Family::Ipv4,
            )
            .unwrap();
            for payload in &payloads {
                let (src, dst) = (OBSERVER.into(), GROUP.into());
                socket.send_to(src, dst, payload).await.unwrap();
                tokio::time::sleep(gap).await;
            }
            payloads.len()
        })
    })
}

/// The PID in a pid file.
pub fn read_pid(file: &std::path::Path) -> Option<u32> {
    std::fs::read_to_string(file).ok()?.trim().parse().ok()
}

/// Whether process `pid`'s command line contains `conf` (so it is one this test started).
pub fn cmdline_names(pid: u32, conf: &std::path::Path) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .is_ok_and(|c| String::from_utf8_lossy(&c).contains(conf.to_string_lossy().as_ref()))
}

/// keepalived in the foreground, logging to the console, reading `conf`, with its pid files in
/// `dir` and `extra` arguments (e.g. `-i ID`).
pub fn keepalived_argv(
    dir: &std::path::Path,
    conf: &std::path::Path,
    extra: &[&str],
) -> Vec<String> {
    let path = |name: &str| dir.join(name).to_string_lossy().into_owned();
    let mut argv = vec![
        "keepalived".to_owned(),
        "-n".into(),
        "-l".into(),
        "-D".into(),
        "-f".into(),
        conf.to_string_lossy().into_owned(),
        "-p".into(),
        path("keepalived.pid"),
        "-r".into(),
        path("vrrp.pid"),
        "-c".into(),
        path("checkers.pid"),
    ];
    argv.extend(extra.iter().map(|s| (*s).to_owned()));
    argv
}

/// Panics with a clear message unless keepalived can be run.
pub fn require_keepalived() {
    let out = Command::new("keepalived").arg("--version").output();
    let version = match out {
        Ok(out) => format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => panic!(
            "the interop tests need keepalived 2.2.x on PATH (apt-get install -y keepalived): {e}"
        ),
    };
    assert!(
        version.contains("Keepalived v2."),
        "the interop tests need keepalived 2.x, found: {version}"
    );
}

/// One keepalived node's files: its configuration and pid files in a directory of its own, so
/// that its processes (the parent and the forked VRRP child) are found by their command line.
/// Run it with [`Lab::spawn`] and [`Keepalived::argv`]; create it before the [`Lab`], so that
/// the lab (which kills the parent) drops first and this guard then kills, by PID, any of its
/// processes that outlived the parent, and removes the directory.
pub struct Keepalived {
    /// The directory.
    pub dir: PathBuf,
    /// The configuration file.
    pub conf: PathBuf,
}

impl Keepalived {
    /// A keepalived node configured by `conf`, in a directory named after `tag`.
    pub fn new(tag: &str, conf: &str) -> Self {
        require_keepalived();
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir =
            std::env::temp_dir().join(format!("vipd-keepalived-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("keepalived.conf");
        std::fs::write(&path, conf).unwrap();
        Self { dir, conf: path }
    }

    /// keepalived in the foreground, logging to the console, with this node's files and
    /// `extra` arguments (e.g. `-i ID`).
    pub fn argv(&self, extra: &[&str]) -> Vec<String> {
        keepalived_argv(&self.dir, &self.conf, extra)
    }

    /// The PIDs of this node's keepalived processes still running.
    pub fn pids(&self) -> Vec<u32> {
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        entries
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| *pid != std::process::id() && cmdline_names(*pid, &self.conf))
            .collect()
    }

    /// Waits until none of this node's processes runs (the forked VRRP child follows its
    /// parent); false if some still run after `within`.
    pub fn wait_gone(&self, within: Duration) -> bool {
        let start = Instant::now();
        while !self.pids().is_empty() {
            if start.elapsed() > within {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        true
    }
}

impl Drop for Keepalived {
    fn drop(&mut self) {
        if !self.wait_gone(Duration::from_secs(3)) {
            for pid in self.pids() {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
