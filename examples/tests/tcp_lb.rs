//! The load balancer example (`tcp_lb`) on real interfaces: two nodes each run `tcp_lb` with
//! three local backends; a client on the segment connects to the VIP every 10 ms. When node1's
//! backends die, the VIP moves to node2 within the backend check's fall x interval plus
//! Master_Down_Interval, and the client fails only in that window. Needs root, iproute2 and
//! python3.

#[path = "../../vipd/tests/lab/mod.rs"]
mod lab;

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lab::{Lab, VIP, config};

const SETTLE: Duration = Duration::from_secs(15);
/// The example's backend probing: every 100 ms, unhealthy after 2 failures.
const CHECK_FALL_X_INTERVAL: Duration = Duration::from_millis(200);
/// Master_Down_Interval of node2 (priority 100 + 30, adverts every 100 ms): 3 x 100 ms +
/// (256 - 130) x 100 ms / 256.
const MASTER_DOWN: Duration = Duration::from_micros(300_000 + 126 * 100_000 / 256);

/// `target/<profile>/examples/tcp_lb`, which `cargo test` builds before the tests when it runs
/// the whole package.
fn example_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    profile_dir.join("examples").join("tcp_lb")
}

/// Backend processes this test started, killed by PID on drop.
struct Backends(Vec<Child>);

impl Backends {
    /// Three TCP servers on 127.0.0.1:9001-9003 in namespace `ns`, each answering its name.
    fn start(ns: &str, node: usize) -> Self {
        let children = (1..=3)
            .map(|b| {
                let script = format!(
                    "import socket\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n\
                     s.bind(('127.0.0.1',{port}))\ns.listen(128)\n\
                     while True:\n c,_=s.accept()\n c.sendall(b'node{node} backend{b}\\n')\n c.close()\n",
                    port = 9000 + b
                );
                Command::new("ip")
                    .args(["netns", "exec", ns, "python3", "-c", &script])
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .spawn()
                    .unwrap()
            })
            .collect();
        Self(children)
    }

    fn kill(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Backends {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One connection from the client: the line served, or `None`.
fn fetch(vip: SocketAddr) -> Option<String> {
    let mut stream = TcpStream::connect_timeout(&vip, Duration::from_millis(200)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_millis(300)))
        .ok()?;
    let mut line = String::new();
    stream.read_to_string(&mut line).ok()?;
    (!line.is_empty()).then(|| line.trim().to_owned())
}

#[test]
fn the_vip_follows_the_healthy_backends() {
    let binary = example_binary();
    assert!(binary.exists(), "{} not built", binary.display());
    let bin = binary.to_string_lossy().into_owned();
    let fast = "    advert_interval: 100ms\n";
    let mut lab = Lab::new(&[101, 100], |_, p| config(p, fast));
    let mut backends: Vec<Backends> = (0..2)
        .map(|i| Backends::start(&lab.nodes[i].ns.name, i + 1))
        .collect();
    for i in 0..2 {
        let cfg = lab.nodes[i].config.to_string_lossy().into_owned();
        lab.spawn(
            i,
            &[
                &bin,
                &cfg,
                "8080",
                "127.0.0.1:9001",
                "127.0.0.1:9002",
                "127.0.0.1:9003",
            ],
        );
    }
    lab.wait_until(
        SETTLE,
        "both nodes see three backends and node1 holds the VIP",
        |l| (0..2).all(|i| l.log(i).contains("healthy backends: 3")) && l.holders() == vec![0],
    );

    // The client: a thread in the observer's namespace, connecting every 10 ms.
    let observer = lab.observer.name.clone();
    let vip: SocketAddr = format!("{VIP}:8080").parse().unwrap();
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    let client = std::thread::spawn(move || {
        vipd::vrrp_net::netns::enter(&observer).unwrap();
        let start = Instant::now();
        let mut results = Vec::new();
        while stop_rx.try_recv().is_err() {
            let at = start.elapsed();
            results.push((at, fetch(vip)));
            std::thread::sleep(Duration::from_millis(10).saturating_sub(start.elapsed() - at));
        }
        (start, results)
    });
    std::thread::sleep(Duration::from_secs(1));
    let killed = Instant::now();
    backends[0].kill();
    lab.wait_until(SETTLE, "node2 holds the VIP", |l| l.holders() == vec![1]);
    std::thread::sleep(Duration::from_secs(1));
    stop_tx.send(()).unwrap();
    let (start, results) = client.join().unwrap();
    let killed_at = killed - start;

    let failures: Vec<Duration> = results
        .iter()
        .filter(|(_, r)| r.is_none())
        .map(|(at, _)| *at)
        .collect();
    let before: Vec<_> = results.iter().filter(|(at, _)| *at < killed_at).collect();
    assert!(
        before
            .iter()
            .all(|(_, r)| r.as_deref().is_some_and(|l| l.starts_with("node1 "))),
        "before the kill node1's backends serve every connection: {before:?}"
    );
    let (first, last) = (failures.first().copied(), failures.last().copied());
    let window = match (first, last) {
        (Some(first), Some(last)) => last - first + Duration::from_millis(10),
        _ => Duration::ZERO,
    };
    let bound = CHECK_FALL_X_INTERVAL + MASTER_DOWN;
    println!(
        "tcp_lb failover: {} connections, {} failed, failure window {} ms (bound: fall x interval + Master_Down_Interval = {} ms), first failure {} ms after the kill",
        results.len(),
        failures.len(),
        window.as_millis(),
        bound.as_millis(),
        first.map_or(0, |f| f.saturating_sub(killed_at).as_millis())
    );
    // The bound, plus slack for a probe in flight, the probe timeout and a loaded machine.
    let slack = Duration::from_millis(500);
    assert!(
        window <= bound + slack,
        "failure window {window:?} above {bound:?} + {slack:?}"
    );
    let after = results
        .iter()
        .filter(|(at, _)| last.is_some_and(|l| *at > l))
        .collect::<Vec<_>>();
    assert!(
        !after.is_empty()
            && after
                .iter()
                .all(|(_, r)| r.as_deref().is_some_and(|l| l.starts_with("node2 "))),
        "after the window node2's backends serve every connection: {after:?}"
    );
    assert!(lab.log(1).contains("MASTER"), "{}", lab.log(1));
    drop(backends);
}
