//! Unicast peers discovered from a (fake) Kubernetes API, in a namespace lab of three vipd
//! nodes: the fake API server (HTTPS, token and CA, list and watch with chunked event
//! streams) listens on the observer's address of the lab's bridge. A pod added in the API is
//! accepted as a peer within a second; a pod removed stops receiving adverts; the API gone
//! for 30 s changes nothing; and the Master's peer list changed while an observer asks for
//! the VIP every 5 ms loses no probe and causes no takeover.

mod lab;
#[path = "lab/probe.rs"]
mod probe;

#[path = "../../vip-health/tests/common/mod.rs"]
mod common;

use std::io::{Read, Write};
use std::net::{IpAddr, TcpStream};
use std::time::{Duration, Instant};

use common::kube::{FakeKube, pod, pods};
use lab::{Lab, VIP, config};
use probe::ArpProber;
use serde_json::Value;

const SETTLE: Duration = Duration::from_secs(15);
const NAMESPACE: &str = "lab";
/// The observer's address, where the fake API listens.
const API_HOST: &str = "10.200.0.9";

/// The fake API, served by a runtime on a thread inside the observer's namespace.
struct Api {
    fake: Option<FakeKube>,
    handle: tokio::runtime::Handle,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Api {
    fn start(ns: &str) -> Self {
        let ns = ns.to_owned();
        let (tx, rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            vipd::vrrp_net::netns::enter(&ns).expect("enter the observer's namespace");
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let fake = rt.block_on(FakeKube::start(format!("{API_HOST}:0").parse().unwrap()));
            tx.send((rt.handle().clone(), fake)).unwrap();
            let _ = rt.block_on(stopped);
        });
        let (handle, fake) = rx.recv().unwrap();
        fake.collection(&pods(NAMESPACE));
        Self {
            fake: Some(fake),
            handle,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    fn fake(&self) -> &FakeKube {
        self.fake.as_ref().unwrap()
    }

    /// Listens again (on the namespace's thread, so in the observer's namespace).
    fn resume(&mut self) {
        let mut fake = self.fake.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        self.handle.spawn(async move {
            fake.resume().await;
            tx.send(fake).unwrap();
        });
        self.fake = Some(rx.recv().unwrap());
    }

    fn add(&self, n: u8) -> Instant {
        let at = Instant::now();
        self.fake().put(
            &pods(NAMESPACE),
            pod(
                NAMESPACE,
                &format!("vipd-{n}"),
                &[("app", "vipd")],
                &[&format!("10.200.0.{n}")],
            ),
        );
        at
    }

    fn remove(&self, n: u8) -> Instant {
        let at = Instant::now();
        self.fake().delete(&pods(NAMESPACE), &format!("vipd-{n}"));
        at
    }

    fn node_config(&self, priority: u8) -> String {
        let f = self.fake();
        config(
            priority,
            &format!(
                "    advert_interval: 200ms\n    unicast_peers_from:\n      kubernetes: {{host: {API_HOST}, \
                 port: {}, token_file: '{}', ca_file: '{}', pods: {{selector: app=vipd, \
                 namespace: {NAMESPACE}}}}}\n",
                f.port(),
                f.token_file.display(),
                f.ca_file.display()
            ),
        )
    }
}

impl Drop for Api {
    fn drop(&mut self) {
        if let Some(fake) = self.fake.as_mut() {
            fake.stop();
        }
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `/status` of the vipd in namespace `ns`, read on a thread inside it.
fn status(ns: &str) -> Value {
    let ns = ns.to_owned();
    std::thread::spawn(move || {
        vipd::vrrp_net::netns::enter(&ns).expect("enter the node's namespace");
        get_status()
    })
    .join()
    .unwrap()
    .unwrap_or(Value::Null)
}

fn get_status() -> Option<Value> {
    let mut s = TcpStream::connect("127.0.0.1:9370").ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(b"GET /status HTTP/1.0\r\nHost: vipd\r\n\r\n")
        .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let (_, body) = text.split_once("\r\n\r\n")?;
    serde_json::from_str(body).ok()
}

/// Polls `/status` of the vipd in `ns` every 5 ms, from a thread inside it, until `cond`
/// holds; the time it took, or `None` after `within`.
fn poll(
    ns: &str,
    within: Duration,
    cond: impl Fn(&Value) -> bool + Send + 'static,
) -> Option<Duration> {
    let ns = ns.to_owned();
    std::thread::spawn(move || {
        vipd::vrrp_net::netns::enter(&ns).expect("enter the node's namespace");
        let start = Instant::now();
        while start.elapsed() < within {
            if get_status().is_some_and(|v| cond(&v)) {
                return Some(start.elapsed());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        None
    })
    .join()
    .unwrap()
}

fn counter(status: &Value, name: &str) -> u64 {
    status["instances"][0]["counters"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["name"] == name)
        .and_then(|c| c["value"].as_u64())
        .unwrap_or(0)
}

fn heard(status: &Value, addr: &str) -> bool {
    status["instances"][0]["peers"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|p| p["address"] == addr)
}

fn discovered(status: &Value) -> Vec<IpAddr> {
    status["instances"][0]["unicast"]["discovered"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a.as_str()?.parse().ok())
        .collect()
}

fn ips(list: &[&str]) -> Vec<IpAddr> {
    list.iter().map(|s| s.parse().unwrap()).collect()
}

/// Resident memory of process `pid`, in KiB (`VmRSS`).
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn transitions(lab: &Lab, i: usize) -> usize {
    lab.log(i).matches("state changed").count()
}

#[test]
fn discovered_peers_follow_the_api_live() {
    // node3 has the highest priority: once it is a peer, it is the Master, and it keeps
    // advertising (a lower one would fall silent as soon as it hears the Master).
    let priorities = [150u8, 100, 200];
    let mut lab = Lab::new(&priorities, |_, p| config(p, ""));
    let mut api = Api::start(&lab.observer.name);
    for (i, p) in priorities.into_iter().enumerate() {
        lab.set_config(i, &api.node_config(p));
    }
    let ns = |lab: &Lab, i: usize| lab.nodes[i].ns.name.clone();
    let three: IpAddr = "10.200.0.3".parse().unwrap();

    // Nodes 1 and 2 are in the API; node1 (150) is Master.
    api.add(1);
    api.add(2);
    lab.start(0);
    lab.start(1);
    lab.wait_until(SETTLE, "node1 holds the VIP", |l| l.holders() == vec![0]);
    let s1 = status(&ns(&lab, 0));
    assert_eq!(
        discovered(&s1),
        ips(&["10.200.0.2"]),
        "its own address left out: {s1}"
    );
    assert_eq!(
        s1["instances"][0]["unicast"]["source"], "kubernetes",
        "{s1}"
    );

    // node3 starts but is not in the API yet: its adverts are dropped as from an unknown
    // peer, and, hearing nobody (nobody sends to it), it takes the VIP too.
    lab.start(2);
    assert!(
        poll(&ns(&lab, 0), SETTLE, |s| counter(s, "error_unknown_peer")
            > 0)
        .is_some(),
        "node1 drops node3's adverts\n{}",
        lab.logs()
    );

    // Added in the API: node1 accepts node3's adverts (counted, no longer dropped).
    let added = api.add(3);
    let accepted = poll(&ns(&lab, 0), SETTLE, move |s| {
        discovered(s).contains(&three) && heard(s, "10.200.0.3")
    });
    let since_added = added.elapsed();
    let Some(accepted) = accepted else {
        panic!("node1 accepts node3's adverts\n{}", lab.logs());
    };
    eprintln!(
        "peer added in the API: its adverts accepted by node1 {:.1} ms after the event (polled \
         every 5 ms; {:.1} ms until the poll returned)",
        accepted.as_secs_f64() * 1000.0,
        since_added.as_secs_f64() * 1000.0
    );
    assert!(
        accepted < Duration::from_secs(1),
        "a peer added in the API is accepted within a second: {accepted:?}"
    );
    lab.wait_until(SETTLE, "node3 (200) is the only Master", |l| {
        l.holders() == vec![2]
    });
    let before = counter(&status(&ns(&lab, 0)), "error_unknown_peer");
    std::thread::sleep(Duration::from_secs(1));
    let after = counter(&status(&ns(&lab, 0)), "error_unknown_peer");
    assert_eq!(before, after, "no advert of node3 dropped any more");

    // Removed from the API: nobody sends to node3 any more.
    api.remove(3);
    for i in [0, 1] {
        assert!(
            poll(&ns(&lab, i), SETTLE, move |s| !discovered(s)
                .contains(&three))
            .is_some(),
            "node{} drops node3\n{}",
            i + 1,
            lab.logs()
        );
    }
    std::thread::sleep(Duration::from_millis(300));
    let before = counter(&status(&ns(&lab, 2)), "adverts_received");
    std::thread::sleep(Duration::from_secs(1));
    let after = counter(&status(&ns(&lab, 2)), "adverts_received");
    assert_eq!(
        before,
        after,
        "node3 receives no advert once removed\n{}",
        lab.logs()
    );
    // Back in the API: node3 is the only Master again.
    api.add(3);
    lab.wait_until(SETTLE, "node3 alone holds the VIP again", |l| {
        l.holders() == vec![2]
    });
    std::thread::sleep(Duration::from_secs(1));

    // The API gone for 30 s: nothing changes.
    let peers: Vec<Vec<IpAddr>> = (0..3).map(|i| discovered(&status(&ns(&lab, i)))).collect();
    let moves: Vec<usize> = (0..3).map(|i| transitions(&lab, i)).collect();
    api.fake.as_mut().unwrap().stop();
    let gone = Instant::now();
    let mut samples = 0;
    while gone.elapsed() < Duration::from_secs(30) {
        assert_eq!(
            lab.holders(),
            vec![2],
            "the VIP moved while the API was away\n{}",
            lab.logs()
        );
        samples += 1;
        std::thread::sleep(Duration::from_millis(250));
    }
    let s3 = status(&ns(&lab, 2));
    for (i, (peers, moves)) in peers.iter().zip(&moves).enumerate() {
        assert_eq!(
            &discovered(&status(&ns(&lab, i))),
            peers,
            "node{} kept its list",
            i + 1
        );
        assert_eq!(transitions(&lab, i), *moves, "node{} changed state", i + 1);
    }
    let d = &s3["instances"][0]["unicast"]["discovery"];
    assert!(
        d["error"].is_string(),
        "the status shows the API error: {s3}"
    );
    assert!(
        d["age_seconds"].as_f64().unwrap_or_default() > 20.0,
        "the status shows the list's age: {s3}"
    );
    eprintln!("API away 30 s: {samples} samples, VIP on node3 throughout; node3's status: {d}");
    api.resume();
    assert!(
        poll(&ns(&lab, 2), Duration::from_secs(60), |s| s["instances"][0]
            ["unicast"]["discovery"]["error"]
            .is_null())
        .is_some(),
        "the watch resumes\n{}",
        lab.logs()
    );

    // The Master's peer list changed while the observer asks for the VIP every 5 ms.
    let master_moves = transitions(&lab, 2);
    let mut prober = ArpProber::start(
        &lab.observer.name,
        "eth0",
        "10.200.0.9",
        VIP,
        Duration::from_millis(5),
    );
    std::thread::sleep(Duration::from_millis(300));
    for (change, want) in [
        (4u8, ips(&["10.200.0.1", "10.200.0.2", "10.200.0.4"])),
        (
            5,
            ips(&["10.200.0.1", "10.200.0.2", "10.200.0.4", "10.200.0.5"]),
        ),
    ] {
        prober.mark();
        api.add(change);
        let want2 = want.clone();
        assert!(
            poll(&ns(&lab, 2), SETTLE, move |s| discovered(s) == want2).is_some(),
            "node3 applies {want:?}\n{}",
            lab.logs()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    prober.mark();
    api.remove(4);
    api.remove(5);
    assert!(
        poll(&ns(&lab, 2), SETTLE, |s| discovered(s)
            == ips(&["10.200.0.1", "10.200.0.2"]))
        .is_some(),
        "node3 applies the removals\n{}",
        lab.logs()
    );
    std::thread::sleep(Duration::from_millis(300));
    let report = prober.stop();
    let lost = report.answered().iter().filter(|ok| !**ok).count();
    let macs = report.macs();
    eprintln!(
        "peer list changed 3 times on the Master: {} probes, {lost} lost, answered by {macs:?}",
        report.probes()
    );
    assert!(report.probes() > 100, "the prober ran: {}", report.probes());
    assert_eq!(lost, 0, "no probe lost while the peers changed");
    assert_eq!(macs.len(), 1, "one node answered: {macs:?}");
    assert!(macs.contains(&lab.nodes[2].mac), "{macs:?}");
    assert_eq!(
        transitions(&lab, 2),
        master_moves,
        "no transition on the Master\n{}",
        lab.log(2)
    );
    assert_eq!(lab.holders(), vec![2]);
    let log = lab.log(2);
    assert!(!log.contains("to=INIT"), "no restart: {log}");
    // The memory of a vipd that watches the API (figures for the report; the issue asks for
    // less than 8 MB).
    let rss: Vec<u64> = (0..3).map(|i| rss_kib(lab.pid(i))).collect();
    eprintln!("VmRSS with discovery on, after the run: {rss:?} KiB");
    assert!(rss.iter().all(|&r| r > 0), "RSS read: {rss:?}");
}
