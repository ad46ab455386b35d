//! Observability of real vipd processes in network namespaces: `/metrics` parsed by the
//! strict OpenMetrics parser of the PyPI `prometheus-client` package, `/status` after a
//! failover, `vipd status`, `/healthz` and `/readyz`, and the default bind on loopback only.
//!
//! Needs root, iproute2 and a python3 with `prometheus_client` (`VIPD_TEST_PYTHON` names it;
//! `scripts/test.sh` makes a venv with it).

mod lab;

use std::time::Duration;

use lab::{Lab, VIP, config};
use serde_json::Value;

const SETTLE: Duration = Duration::from_secs(10);

fn python() -> String {
    std::env::var("VIPD_TEST_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// `GET path` from inside node `i`'s namespace on vipd's default API address: (status, body).
fn get(lab: &Lab, i: usize, path: &str) -> (u16, String) {
    let script = r#"
import sys, urllib.request, urllib.error
try:
    with urllib.request.urlopen("http://127.0.0.1:9370" + sys.argv[1], timeout=5) as r:
        print(r.status); sys.stdout.write(r.read().decode())
except urllib.error.HTTPError as e:
    print(e.code); sys.stdout.write(e.read().decode())
"#;
    let out = lab.nodes[i].ns.exec("python3", &["-c", script, path]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (code, body) = text.split_once('\n').unwrap_or_else(|| {
        panic!(
            "GET {path} on node{}: {text}{}\n{}",
            i + 1,
            String::from_utf8_lossy(&out.stderr),
            lab.logs()
        )
    });
    (code.trim().parse().unwrap(), body.to_owned())
}

/// Node `i`'s `/metrics`, parsed strictly; returns `name{labels} value` lines of every sample.
fn scrape(lab: &Lab, i: usize) -> Vec<String> {
    let script = r#"
import sys, urllib.request
from prometheus_client.openmetrics.parser import text_string_to_metric_families
with urllib.request.urlopen("http://127.0.0.1:9370/metrics", timeout=5) as r:
    ctype = r.headers["Content-Type"]
    text = r.read().decode()
assert ctype.startswith("application/openmetrics-text"), ctype
for family in text_string_to_metric_families(text):
    for s in family.samples:
        labels = ",".join('%s="%s"' % kv for kv in sorted(s.labels.items()))
        print("%s %s{%s} %r" % (family.type, s.name, labels, float(s.value)))
"#;
    let out = lab.nodes[i].ns.exec(&python(), &["-c", script]);
    assert!(
        out.status.success(),
        "the OpenMetrics parser refused node{}'s /metrics: {}",
        i + 1,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

fn sample<'a>(samples: &'a [String], prefix: &str) -> &'a str {
    samples
        .iter()
        .find(|s| s.starts_with(prefix))
        .unwrap_or_else(|| panic!("no sample {prefix:?} in\n{}", samples.join("\n")))
}

fn status(lab: &Lab, i: usize) -> Value {
    let (code, body) = get(lab, i, "/status");
    assert_eq!(code, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

#[test]
fn metrics_parse_strictly_and_status_explains_a_failover() {
    let mut lab = Lab::new(&[150, 100], |_, p| {
        config(p, "    advert_interval: 200ms\n")
    });
    lab.start(0);
    lab.start(1);
    lab.wait_until(SETTLE, "node1 (150) holds the VIP", |l| {
        l.holders() == vec![0]
    });
    lab.wait_until(SETTLE, "node2 has heard node1", |l| {
        status(l, 1)["instances"][0]["peers"]
            .as_array()
            .is_some_and(|p| !p.is_empty())
    });

    // Health endpoints and a wrong path.
    assert_eq!(get(&lab, 0, "/healthz"), (200, "ok\n".into()));
    assert_eq!(get(&lab, 0, "/readyz"), (200, "ready\n".into()));
    assert_eq!(get(&lab, 0, "/nope").0, 404);

    // The master's metrics, through the strict parser.
    let m = scrape(&lab, 0);
    assert_eq!(
        sample(&m, "gauge vipd_instance_master{vrrp_instance=\"VI_LAB\"}"),
        "gauge vipd_instance_master{vrrp_instance=\"VI_LAB\"} 1.0"
    );
    assert!(m.contains(
        &"gauge vipd_instance_state{state=\"MASTER\",vrrp_instance=\"VI_LAB\"} 1.0".into()
    ));
    assert!(m.contains(
        &"gauge vipd_instance_state{state=\"BACKUP\",vrrp_instance=\"VI_LAB\"} 0.0".into()
    ));
    assert!(m.contains(
        &"gauge vipd_instance_effective_priority{vrrp_instance=\"VI_LAB\"} 150.0".into()
    ));
    assert!(m.contains(&"gauge vipd_instance_vips_held{vrrp_instance=\"VI_LAB\"} 1.0".into()));
    assert!(
        m.contains(&"info vipd_build_info{version=\"0.1.0\"} 1.0".into()),
        "{m:?}"
    );
    assert!(m.contains(
        &"counter vipd_instance_transitions_total{reason=\"master down timer expired\",to=\"MASTER\",vrrp_instance=\"VI_LAB\"} 1.0"
            .into()
    ));
    let sent: f64 = sample(
        &m,
        "counter vipd_adverts_sent_total{vrrp_instance=\"VI_LAB\"}",
    )
    .rsplit(' ')
    .next()
    .unwrap()
    .parse()
    .unwrap();
    assert!(sent >= 1.0, "no advert counted as sent: {sent}");
    assert!(
        sample(
            &m,
            "counter vipd_announcements_total{vrrp_instance=\"VI_LAB\"}"
        )
        .ends_with(" 5.0"),
        "one burst of five gratuitous ARPs so far"
    );
    assert!(m.iter().any(|s| {
        s.starts_with(
            "counter vipd_advert_errors_total{error=\"checksum\",vrrp_instance=\"VI_LAB\"}",
        )
    }));

    // The master's status names itself; the backup's names the master and its priority.
    let s0 = status(&lab, 0);
    let i0 = &s0["instances"][0];
    assert_eq!(i0["state"], "MASTER");
    assert_eq!(i0["master"]["local"], true);
    assert_eq!(i0["vips_held"], serde_json::json!([format!("{VIP}/24")]));
    let s1 = status(&lab, 1);
    let i1 = &s1["instances"][0];
    assert_eq!(i1["state"], "BACKUP");
    assert_eq!(i1["master"]["address"], "10.200.0.1");
    assert_eq!(i1["master"]["priority"], 150);
    assert_eq!(i1["master"]["interval_ms"], 200);
    assert_eq!(i1["vips_held"], serde_json::json!([]));

    // Failover: kill node1; node2's status says why it is Master now.
    lab.signal(0, "KILL");
    lab.wait_exit(0, SETTLE);
    lab.wait_until(SETTLE, "node2 takes over", |l| {
        status(l, 1)["instances"][0]["state"] == "MASTER"
    });
    let s1 = status(&lab, 1);
    let i1 = &s1["instances"][0];
    assert_eq!(i1["reason"], "master down timer expired");
    assert_eq!(i1["base_priority"], 100);
    assert_eq!(i1["effective_priority"], 100);
    assert_eq!(i1["master"]["local"], true);
    assert_eq!(i1["vips_held"], serde_json::json!([format!("{VIP}/24")]));
    assert!(i1["since_seconds"].as_f64().unwrap() < 5.0, "{i1}");
    let peer = &i1["peers"][0];
    assert_eq!(peer["address"], "10.200.0.1");
    assert_eq!(peer["priority"], 150);
    assert!(peer["age_seconds"].as_f64().unwrap() > 0.5, "{peer}");
    let to_master = i1["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["to"] == "MASTER")
        .unwrap_or_else(|| panic!("no transition to MASTER in {i1}"));
    assert_eq!(to_master["count"], 1);
    let m1 = scrape(&lab, 1);
    assert!(m1.contains(&"gauge vipd_instance_master{vrrp_instance=\"VI_LAB\"} 1.0".into()));

    // `vipd status` prints the same as a table.
    let table = lab.nodes[1]
        .ns
        .exec(env!("CARGO_BIN_EXE_vipd"), &["status"]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        table.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&table.stderr)
    );
    let row = text.lines().nth(1).unwrap_or_default();
    assert!(row.starts_with("VI_LAB"), "{text}");
    assert!(
        row.contains("MASTER") && row.contains("this node"),
        "{text}"
    );
    assert!(row.ends_with("master down timer expired"), "{text}");
    assert!(text.contains("VI_LAB: peers: 10.200.0.1 p150"), "{text}");
    let json = lab.nodes[1]
        .ns
        .exec(env!("CARGO_BIN_EXE_vipd"), &["status", "--json"]);
    let parsed: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(parsed["instances"][0]["state"], "MASTER");
}

/// The default bind is loopback: the API answers inside the node, not from the segment; an
/// explicit address opens it there; `off` serves nothing; `vipd status` without a daemon
/// says how to reach one.
#[test]
fn the_api_binds_loopback_by_default() {
    let mut lab = Lab::new(&[150, 100], |i, p| {
        let api = match i {
            0 => "",
            _ => "api: {listen: \"10.200.0.2:9370\"}\n",
        };
        format!("{api}{}", config(p, ""))
    });
    lab.start(0);
    lab.start(1);
    lab.wait_until(SETTLE, "node1 holds the VIP", |l| l.holders() == vec![0]);
    let connect = |target: &str| {
        let script = "import socket,sys\ns=socket.socket()\ns.settimeout(2)\nprint(s.connect_ex((sys.argv[1], 9370)))";
        let out = lab.observer.exec("python3", &["-c", script, target]);
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    assert_eq!(get(&lab, 0, "/healthz").0, 200);
    assert_ne!(
        connect("10.200.0.1"),
        "0",
        "node1's API answers on the segment"
    );
    assert_eq!(
        connect("10.200.0.2"),
        "0",
        "node2's API is not on its listen address"
    );
    let out = lab.nodes[1].ns.exec(
        env!("CARGO_BIN_EXE_vipd"),
        &["status", "--api", "10.200.0.2:9370"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("BACKUP"));
    // A second vipd in node1's namespace (another release, its own VRID and VIP) whose API
    // address is taken by node1's: a clear error and exit 2, not a panic.
    let second = lab.nodes[0].config.with_extension("second.yaml");
    std::fs::write(
        &second,
        "instances:\n  - name: VI_SECOND\n    interface: eth0\n    vrid: 52\n    priority: 100\n    vips: [10.200.0.201/24]\n",
    )
    .unwrap();
    let out = lab.nodes[0].ns.exec(
        "timeout",
        &[
            "20",
            env!("CARGO_BIN_EXE_vipd"),
            "run",
            "-c",
            second.to_str().unwrap(),
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("cannot serve the API"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(lab.holds_vip(0), "node1 kept its VIP");
    let out = lab.observer.exec(env!("CARGO_BIN_EXE_vipd"), &["status"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot reach vipd's API at 127.0.0.1:9370"),
        "{err}"
    );
}
