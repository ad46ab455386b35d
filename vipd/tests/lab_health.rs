//! Health checks deciding where the VIP lives, end to end: real vipd processes in network
//! namespaces, each node with its own local health endpoint (a python3 HTTP(S) server in the
//! node's namespace, on loopback as in the seed charts).
//!
//! - the seed's `service` check: stop the endpoint on the master and the VIP moves within
//!   fall x interval + Master_Down_Interval (plus a generous margin); restore it and the VIP
//!   comes back with preemption, stays without;
//! - the seed's `kube-api` check against a local HTTPS fake of the API server (bearer token
//!   checked, TLS verified against a CA made here): failing it on the master lowers its
//!   priority by 40 and moves the VIP to the node whose API check passes.
//!
//! Needs root, iproute2 and python3.

mod lab;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lab::{Lab, config};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

const SETTLE: Duration = Duration::from_secs(15);

/// A small HTTP(S) server: answers every GET with the status code written in a file (500 if
/// it cannot be read), 401 if a token is set and the request lacks `Bearer TOKEN`.
const SERVER: &str = r#"
import http.server, ssl, sys
port, status_file, token, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if token != "-" and self.headers.get("Authorization") != "Bearer " + token:
            code = 401
        else:
            try:
                code = int(open(status_file).read().strip())
            except Exception:
                code = 500
        body = b"ok" if code == 200 else b"failing"
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), H)
if cert != "-":
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
srv.serve_forever()
"#;

/// An endpoint server in a node's namespace, killed (by its PID) when dropped.
struct Endpoint {
    child: Option<Child>,
    ns: String,
    args: Vec<String>,
}

impl Endpoint {
    fn start(ns: &str, args: &[&str]) -> Self {
        let mut e = Self {
            child: None,
            ns: ns.to_owned(),
            args: args.iter().map(|a| (*a).to_owned()).collect(),
        };
        e.resume();
        e
    }

    /// Starts the server again after [`stop`](Self::stop).
    fn resume(&mut self) {
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns, "python3", "-c", SERVER])
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        // Wait until it listens.
        let port = self.args[0].clone();
        let start = Instant::now();
        loop {
            let probe = Command::new("ip")
                .args(["netns", "exec", &self.ns, "python3", "-c"])
                .arg(format!(
                    "import socket; s=socket.socket(); s.settimeout(1); print(s.connect_ex(('127.0.0.1', {port})))"
                ))
                .output()
                .unwrap();
            if String::from_utf8_lossy(&probe.stdout).trim() == "0" {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "endpoint did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills the server: connections are refused from now on.
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A temporary directory removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("vipd-health-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn file(&self, name: &str, contents: &str) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, contents).unwrap();
        path.to_string_lossy().into_owned()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn set_status(path: &str, code: u16) {
    std::fs::write(path, code.to_string()).unwrap();
}

fn service_check(interval_ms: u64, fall: u32) -> String {
    format!(
        "    checks:\n      - builtin: service\n        interval: {interval_ms}ms\n        \
         timeout: 100ms\n        fall: {fall}\n        rise: 2\n"
    )
}

/// Stops the master's service endpoint: the VIP moves within fall x interval +
/// Master_Down_Interval; restoring it brings the VIP back (preempt) or not (nopreempt).
fn service_endpoint_decides(preempt: bool) {
    let dir = Dir::new(if preempt { "svc-p" } else { "svc-np" });
    let status = dir.file("status", "200");
    let (interval_ms, fall) = (300, 2);
    let extra = format!(
        "    advert_interval: 200ms\n    preempt: {preempt}\n{}",
        service_check(interval_ms, fall)
    );
    let mut lab = Lab::new(&[150, 100], move |_, p| config(p, &extra));
    let mut endpoints: Vec<Endpoint> = (0..2)
        .map(|i| Endpoint::start(&lab.nodes[i].ns.name, &["10254", &status, "-", "-", "-"]))
        .collect();
    lab.start(0);
    lab.start(1);
    lab.wait_until(SETTLE, "node1 (150) holds the VIP", |l| {
        l.holders() == vec![0]
    });

    endpoints[0].stop();
    let stopped = Instant::now();
    lab.wait_until(SETTLE, "node2 takes the VIP from the failed node1", |l| {
        l.holders() == vec![1]
    });
    let moved = stopped.elapsed();
    // fall x interval, then node2's Master_Down_Interval at 0.2 s adverts (3 x 0.2 s + skew)
    // at most; node1 resigns with priority 0 on Fault, so it is usually much sooner.
    let bound = Duration::from_millis(u64::from(fall) * interval_ms + 3 * 200 + 200);
    let margin = Duration::from_secs(2);
    assert!(
        moved < bound + margin,
        "the VIP moved after {moved:?}, bound {bound:?} + {margin:?}\n{}",
        lab.logs()
    );
    let log = lab.log(0);
    assert!(
        log.contains("health check changed") && log.contains("check=service"),
        "{log}"
    );
    assert!(
        log.contains("to=FAULT") && log.contains("reason=tracked object failed"),
        "{log}"
    );
    println!("service endpoint stopped: VIP on node2 after {moved:?} (bound {bound:?})");

    endpoints[0].resume();
    if preempt {
        lab.wait_until(SETTLE, "node1 preempts back once healthy", |l| {
            l.holders() == vec![0]
        });
    } else {
        lab.wait_until(SETTLE, "node1 recovers to Backup", |l| {
            l.log(0).contains("reason=fault cleared")
        });
        std::thread::sleep(Duration::from_secs(2));
        assert_eq!(
            lab.holders(),
            vec![1],
            "nopreempt: the VIP stays on node2\n{}",
            lab.logs()
        );
    }
}

#[test]
fn a_failed_service_endpoint_moves_the_vip_and_recovery_preempts_back() {
    service_endpoint_decides(true);
}

#[test]
fn a_failed_service_endpoint_moves_the_vip_and_nopreempt_keeps_it() {
    service_endpoint_decides(false);
}

/// A CA and a server certificate for 127.0.0.1, written as PEM files.
fn pki(dir: &Dir) -> (String, String, String) {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "vipd test cluster CA");
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let mut leaf = CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
    leaf.distinguished_name
        .push(DnType::CommonName, "kube-apiserver");
    let leaf_key = KeyPair::generate().unwrap();
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer).unwrap();
    (
        dir.file("ca.pem", &ca_cert.pem()),
        dir.file("apiserver.pem", &leaf_cert.pem()),
        dir.file("apiserver.key", &leaf_key.serialize_pem()),
    )
}

#[test]
fn a_failed_kube_api_check_lowers_the_master_by_40_and_moves_the_vip() {
    let dir = Dir::new("kube");
    let (ca, cert, key) = pki(&dir);
    let token = "s3cr3t-service-account-token";
    let token_file = dir.file("token", token);
    let status: Vec<String> = (0..2)
        .map(|i| dir.file(&format!("api{i}"), "200"))
        .collect();
    let check = format!(
        "    checks:\n      - builtin: kube-api\n        kube_api: {{host: 127.0.0.1, port: 6443, \
         token_file: {token_file}, ca_file: {ca}}}\n        interval: 300ms\n        \
         timeout: 200ms\n        fall: 2\n"
    );
    let extra = format!("    advert_interval: 200ms\n{check}");
    // 150 - 40 = 110 is below node2's 120.
    let priorities = [150, 120];
    let mut lab = Lab::new(&priorities, move |_, p| config(p, &extra));
    let _endpoints: Vec<Endpoint> = (0..2)
        .map(|i| {
            Endpoint::start(
                &lab.nodes[i].ns.name,
                &["6443", &status[i], token, &cert, &key],
            )
        })
        .collect();
    lab.start(0);
    lab.start(1);
    lab.wait_until(SETTLE, "node1 (150) holds the VIP", |l| {
        l.holders() == vec![0]
    });
    set_status(&status[0], 503);
    lab.wait_until(
        SETTLE,
        "the VIP moves to node2 (120) when node1 drops to 110",
        |l| l.holders() == vec![1],
    );
    let log = lab.log(0);
    assert!(
        log.contains("check=kube-api") && log.contains("priority_delta=-40"),
        "{log}"
    );
    assert!(
        lab.log(1)
            .contains("reason=preempted lower-priority master"),
        "{}",
        lab.log(1)
    );
    assert!(
        !log.contains(token) && !lab.log(1).contains(token),
        "the token was logged"
    );
    // node1 is Backup at 110, not Fault: a weight lowers, it does not disqualify.
    assert!(!log.contains("to=FAULT"), "{log}");
    // `vipd status` on node1 says why it is not Master.
    let out = lab.nodes[0]
        .ns
        .exec(env!("CARGO_BIN_EXE_vipd"), &["status"]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("BACKUP") && table.contains("110 (base 150)"),
        "{table}"
    );
    assert!(table.contains("10.200.0.2 p120"), "{table}");
    assert!(
        table.contains("VI_LAB: checks: kube-api down (-40): "),
        "{table}"
    );
    assert!(
        table.contains("503"),
        "the check's error names the status: {table}"
    );
    set_status(&status[0], 200);
    lab.wait_until(SETTLE, "node1 preempts back at 150", |l| {
        l.holders() == vec![0]
    });
}

/// A hung endpoint (accepts, never answers) and a hung exec check, each probed until its
/// timeout (0.9 s) every second, never delay the master's adverts: at 0.1 s adverts the
/// backup would take over after 0.36 s of silence, and it never does.
#[test]
fn hung_checks_never_delay_the_adverts() {
    let hang = r#"
import socket, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 10254))
s.listen(64)
conns = []
while True:
    c, _ = s.accept()
    conns.append(c)   # read nothing, answer nothing
"#;
    let extra = "    advert_interval: 100ms\n    checks:\n      - builtin: service\n        \
                 interval: 1s\n        timeout: 900ms\n        fall: 1\n        weight: -1\n      \
                 - name: stuck\n        exec: {command: [sleep, \"30\"]}\n        interval: 1s\n        \
                 timeout: 900ms\n        weight: -1\n";
    let mut lab = Lab::new(&[150, 100], move |_, p| config(p, extra));
    let mut server = Command::new("ip")
        .args([
            "netns",
            "exec",
            &lab.nodes[0].ns.name,
            "python3",
            "-c",
            hang,
        ])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    lab.start(0);
    lab.start(1);
    lab.wait_until(SETTLE, "node1 holds the VIP", |l| l.holders() == vec![0]);
    lab.wait_until(SETTLE, "both checks have timed out on node1", |l| {
        let log = l.log(0);
        log.contains("check=service") && log.contains("check=stuck")
    });
    std::thread::sleep(Duration::from_secs(5));
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(lab.holders(), vec![0], "{}", lab.logs());
    assert!(
        !lab.log(1).contains("to=MASTER"),
        "node2 took over:\n{}",
        lab.logs()
    );
    let log = lab.log(0);
    assert!(log.contains("priority_delta=-1"), "{log}");
    let timeouts = log.matches("timed out").count() + log.matches("timeout").count();
    assert!(timeouts >= 1, "no probe timed out:\n{log}");
}
