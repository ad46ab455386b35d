//! HTTP and HTTPS checks against real local servers.

mod common;

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{
    Ca, Reply, TempDir, assert_refused, check, closed_port, first_event, http_server, https_server,
    next_event, server_tls, silent_server, start,
};
use vip_health::{CheckState, HealthMonitor, ProbeResult, TrackState};

#[tokio::test]
async fn status_200_is_up() {
    let server = http_server(|_| Reply::status(200)).await;
    let config = check(&format!(
        "name: svc\nhttp: {{ url: 'http://{}/healthz' }}\ninterval: 1s",
        server.addr
    ));
    let (monitor, mut events) = start(config);
    let event = next_event(&mut events, Duration::from_secs(5)).await;
    assert!(event.up, "{event:?}");
    assert_eq!(
        event.track,
        TrackState {
            up: true,
            weight: None
        }
    );
    assert_eq!(event.owner, "VI_1");
    assert_eq!(event.check, "svc");
    assert_eq!(event.reason, "HTTP 200");
    let request = server.last_request().expect("the server saw the probe");
    assert_eq!(request.method, "GET");
    assert_eq!(request.path, "/healthz");
    assert_eq!(
        request.header("host"),
        Some(server.addr.to_string().as_str())
    );

    let status = monitor.status(&"VI_1".to_owned(), "svc").unwrap();
    assert_eq!(status.state, CheckState::Up);
    assert_eq!(status.last_result, Some(ProbeResult::Ok));
    assert!(status.last_latency.is_some());
    assert_eq!(status.consecutive_successes, 1);
    assert_eq!(status.probes, 1);
    assert_eq!(status.last_error, None);
    monitor.stop().await;
}

#[tokio::test]
async fn status_500_is_down_and_the_error_names_the_status() {
    let server = http_server(|_| Reply::status(500)).await;
    let url = format!("http://{}/healthz", server.addr);
    let config = check(&format!("name: svc\nhttp: {{ url: '{url}' }}"));
    assert_eq!(config.track_weight(), 0, "a fault check");
    let event = first_event(config).await;
    assert!(!event.up);
    assert_eq!(
        event.track,
        TrackState {
            up: false,
            weight: None
        },
        "a fault check that is down (weight 0) holds the instance in Fault"
    );
    assert_eq!(
        event.reason,
        format!("{url} answered HTTP 500 Internal Server Error, expected 200")
    );
}

#[tokio::test]
async fn expected_status_set() {
    let status = Arc::new(AtomicU16::new(204));
    let s = Arc::clone(&status);
    let server = http_server(move |_| Reply::status(s.load(Ordering::SeqCst))).await;
    let yaml = format!(
        "name: svc\nhttp: {{ url: 'http://{}/', expect_status: [204, 301] }}",
        server.addr
    );
    let event = first_event(check(&yaml)).await;
    assert!(event.up, "204 is in the set: {event:?}");
    status.store(301, Ordering::SeqCst);
    assert!(first_event(check(&yaml)).await.up, "301 is in the set");
    status.store(200, Ordering::SeqCst);
    let event = first_event(check(&yaml)).await;
    assert!(!event.up, "200 is not in the set");
    assert!(
        event.reason.contains("expected one of 204, 301"),
        "{}",
        event.reason
    );
}

#[tokio::test]
async fn a_hung_server_fails_within_the_timeout_and_other_checks_keep_their_cadence() {
    let hung = silent_server().await;
    let healthy = http_server(|_| Reply::status(200)).await;
    let hung_check = check(&format!(
        "name: hung\nhttp: {{ url: 'http://{}/' }}\ninterval: 4s\ntimeout: 3s",
        hung.addr
    ));
    let fast_check = check(&format!(
        "name: fast\nhttp: {{ url: 'http://{}/' }}\ninterval: 50ms",
        healthy.addr
    ));
    let started = Instant::now();
    let (monitor, mut events) = HealthMonitor::start([
        ("VI_1".to_owned(), hung_check),
        ("VI_1".to_owned(), fast_check),
    ]);
    let owner = "VI_1".to_owned();
    // While the hung probe waits, the fast check keeps probing every 50 ms.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let hung_status = monitor.status(&owner, "hung").unwrap();
    assert_eq!(hung_status.probes, 0, "the hung probe is still waiting");
    let fast_probes = monitor.status(&owner, "fast").unwrap().probes;
    assert!(
        fast_probes >= 8,
        "the fast check ran {fast_probes} probes in 1 s (20 expected) while another check hung"
    );

    let mut down = None;
    while down.is_none() {
        let event = next_event(&mut events, Duration::from_secs(10)).await;
        if event.check == "hung" {
            down = Some((event, started.elapsed()));
        }
    }
    let (event, elapsed) = down.unwrap();
    assert!(!event.up);
    assert!(
        elapsed >= Duration::from_millis(2900) && elapsed < Duration::from_secs(3 + 3),
        "failed after {elapsed:?} with a 3 s timeout"
    );
    assert!(
        event
            .reason
            .starts_with("timed out after 3s waiting for the response from http://"),
        "{}",
        event.reason
    );
    monitor.stop().await;
}

#[tokio::test]
async fn connection_refused() {
    let port = closed_port().await;
    let event = first_event(check(&format!(
        "name: svc\nhttp: {{ url: 'http://127.0.0.1:{port}/healthz' }}"
    )))
    .await;
    assert_refused(&event, port);
}

#[tokio::test]
async fn a_slow_body_fails_within_the_timeout() {
    let server = http_server(|_| Reply::SlowBody {
        len: 100,
        every: Duration::from_millis(100),
    })
    .await;
    let started = Instant::now();
    let event = first_event(check(&format!(
        "name: svc\nhttp: {{ url: 'http://{}/' }}\ninterval: 2s\ntimeout: 500ms",
        server.addr
    )))
    .await;
    assert!(!event.up, "a 200 whose body never finishes is not healthy");
    assert!(
        event
            .reason
            .starts_with("timed out after 500ms reading the body from"),
        "{}",
        event.reason
    );
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn the_bearer_token_is_sent_and_re_read_on_every_probe() {
    let dir = TempDir::new();
    let token = dir.write("token", "s3cret-token\n");
    let server = http_server(|r| {
        if r.header("authorization") == Some("Bearer s3cret-token") {
            Reply::status(200)
        } else {
            Reply::status(401)
        }
    })
    .await;
    let config = check(&format!(
        "name: svc\nhttp: {{ url: 'http://{}/', bearer_token_file: '{}' }}\ninterval: 100ms",
        server.addr,
        token.display()
    ));
    let (monitor, mut events) = start(config);
    let event = next_event(&mut events, Duration::from_secs(5)).await;
    assert!(event.up, "{event:?}");

    std::fs::write(&token, "rotated-wrong").unwrap();
    let event = next_event(&mut events, Duration::from_secs(5)).await;
    assert!(!event.up, "the rotated token was read and sent");
    assert!(
        event.reason.contains("HTTP 401 Unauthorized"),
        "{}",
        event.reason
    );
    assert!(
        !event.reason.contains("rotated-wrong"),
        "the token is never in messages"
    );
    let status = monitor.status(&"VI_1".to_owned(), "svc").unwrap();
    let json = serde_json::to_string(&status).unwrap();
    assert!(
        !json.contains("s3cret") && !json.contains("rotated-wrong"),
        "{json}"
    );
    monitor.stop().await;

    // A missing token file is an error that names the file.
    std::fs::remove_file(&token).unwrap();
    let event = first_event(check(&format!(
        "name: svc\nhttp: {{ url: 'http://{}/', bearer_token_file: '{}' }}",
        server.addr,
        token.display()
    )))
    .await;
    assert!(!event.up);
    assert!(
        event
            .reason
            .starts_with(&format!("bearer token file {}:", token.display())),
        "{}",
        event.reason
    );
}

#[tokio::test]
async fn the_host_header_can_be_overridden() {
    let server = http_server(|r| {
        if r.header("host") == Some("ingress.example") {
            Reply::status(200)
        } else {
            Reply::status(404)
        }
    })
    .await;
    let event = first_event(check(&format!(
        "name: svc\nhttp: {{ url: 'http://{}/', host: ingress.example }}",
        server.addr
    )))
    .await;
    assert!(event.up, "{event:?}");
    assert_eq!(
        server.last_request().unwrap().header("host"),
        Some("ingress.example")
    );
    let event = first_event(check(&format!(
        "name: svc\nhttp: {{ url: 'http://{}/' }}",
        server.addr
    )))
    .await;
    assert!(!event.up, "without the override the server says 404");
}

struct Tls {
    dir: TempDir,
    ca: Ca,
    ca_file: std::path::PathBuf,
}

impl Tls {
    fn new() -> Self {
        let dir = TempDir::new();
        let ca = Ca::new("vip-health test CA");
        let ca_file = dir.write("ca.pem", &ca.pem);
        Self { dir, ca, ca_file }
    }
}

#[tokio::test]
async fn https_verifies_against_the_generated_ca() {
    let tls = Tls::new();
    let leaf = tls.ca.server(&["localhost", "127.0.0.1"]);
    let server = https_server(server_tls(&leaf, None), |_| Reply::status(200)).await;
    for host in ["127.0.0.1", "localhost"] {
        let event = first_event(check(&format!(
            "name: svc\nhttp: {{ url: 'https://{host}:{}/healthz', ca_file: '{}' }}",
            server.port(),
            tls.ca_file.display()
        )))
        .await;
        assert!(event.up, "{host}: {event:?}");
    }
    assert_eq!(server.request_count(), 2);
}

/// Probes an HTTPS server presenting `leaf`, trusting `ca_file` (or the system bundle);
/// asserts the check is down and no request reached the server; returns the error text and the
/// server's port.
async fn refused_handshake(
    leaf: &common::Leaf,
    ca_file: Option<&std::path::Path>,
) -> (String, u16) {
    let server = https_server(server_tls(leaf, None), |_| Reply::status(200)).await;
    let ca = ca_file.map_or_else(String::new, |f| format!(", ca_file: '{}'", f.display()));
    let event = first_event(check(&format!(
        "name: svc\nhttp: {{ url: 'https://127.0.0.1:{}/'{ca} }}",
        server.port()
    )))
    .await;
    assert!(!event.up, "{event:?}");
    assert_eq!(
        server.request_count(),
        0,
        "no request is sent over an untrusted connection"
    );
    (event.reason, server.port())
}

#[tokio::test]
async fn a_certificate_from_another_ca_fails_with_a_clear_error() {
    let tls = Tls::new();
    let leaf = Ca::new("some other CA").server(&["127.0.0.1"]);
    let (reason, port) = refused_handshake(&leaf, Some(&tls.ca_file)).await;
    let expected = format!(
        "TLS handshake with 127.0.0.1:{port} failed: the server's certificate is not signed by \
         a trusted CA (trusting only the CAs in {})",
        tls.ca_file.display()
    );
    assert!(reason.contains(&expected), "{reason}");
}

#[tokio::test]
async fn without_ca_file_the_system_bundle_is_trusted_and_a_private_ca_is_not() {
    let leaf = Ca::new("private CA").server(&["127.0.0.1"]);
    let (reason, _) = refused_handshake(&leaf, None).await;
    assert!(
        reason.contains(
            "the server's certificate is not signed by a trusted CA (trusting the system CA bundle)"
        ) || reason.contains("no ca_file given and no system CA bundle found"),
        "{reason}"
    );
}

#[tokio::test]
async fn an_expired_certificate_fails() {
    let tls = Tls::new();
    let leaf = tls.ca.expired_server(&["127.0.0.1"]);
    let (reason, _) = refused_handshake(&leaf, Some(&tls.ca_file)).await;
    assert!(
        reason.contains("the server's certificate has expired"),
        "{reason}"
    );
}

#[tokio::test]
async fn a_name_the_certificate_lacks_fails_and_host_sets_the_server_name() {
    let tls = Tls::new();
    let leaf = tls.ca.server(&["ingress.example"]);
    let server = https_server(server_tls(&leaf, None), |_| Reply::status(200)).await;
    let url = format!("https://127.0.0.1:{}/", server.port());
    let event = first_event(check(&format!(
        "name: svc\nhttp: {{ url: '{url}', ca_file: '{}' }}",
        tls.ca_file.display()
    )))
    .await;
    assert!(!event.up);
    assert!(
        event.reason.contains("does not name the host"),
        "{}",
        event.reason
    );
    let event = first_event(check(&format!(
        "name: svc\nhttp: {{ url: '{url}', ca_file: '{}', host: ingress.example }}",
        tls.ca_file.display()
    )))
    .await;
    assert!(event.up, "host sets the TLS server name: {event:?}");
    assert_eq!(
        server.last_request().unwrap().header("host"),
        Some("ingress.example")
    );
}

#[tokio::test]
async fn client_certificate_authentication() {
    let tls = Tls::new();
    let leaf = tls.ca.server(&["127.0.0.1"]);
    let client = tls.ca.client("vipd");
    let cert = tls.dir.write("client.pem", &client.cert_pem);
    let key = tls.dir.write("client.key", &client.key_pem);
    let server = https_server(server_tls(&leaf, Some(&tls.ca)), |_| Reply::status(200)).await;
    let url = format!("https://127.0.0.1:{}/", server.port());

    let without = first_event(check(&format!(
        "name: svc\nhttp: {{ url: '{url}', ca_file: '{}' }}",
        tls.ca_file.display()
    )))
    .await;
    assert!(!without.up, "the server requires a client certificate");
    assert!(
        without
            .reason
            .contains("received fatal alert: CertificateRequired"),
        "{}",
        without.reason
    );
    assert_eq!(server.request_count(), 0);

    let with = first_event(check(&format!(
        "name: svc\nhttp: {{ url: '{url}', ca_file: '{}', client_cert: '{}', client_key: '{}' }}",
        tls.ca_file.display(),
        cert.display(),
        key.display()
    )))
    .await;
    assert!(with.up, "{with:?}");
    assert_eq!(server.request_count(), 1);

    // A missing key file is a setup error naming the file.
    std::fs::remove_file(&key).unwrap();
    let event = first_event(check(&format!(
        "name: svc\nhttp: {{ url: '{url}', ca_file: '{}', client_cert: '{}', client_key: '{}' }}",
        tls.ca_file.display(),
        cert.display(),
        key.display()
    )))
    .await;
    assert!(
        event
            .reason
            .starts_with(&format!("TLS setup: reading client key {}", key.display())),
        "{}",
        event.reason
    );
}

/// Captures log output for one test (the runtime is single-threaded, so the thread-local
/// subscriber sees the check tasks).
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn insecure_skip_verify_accepts_any_certificate_and_warns_each_start() {
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::WARN)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let unknown = Ca::new("unknown CA");
        let leaf = unknown.server(&["elsewhere.example"]);
        let server = https_server(server_tls(&leaf, None), |_| Reply::status(200)).await;
        let yaml = format!(
            "name: svc\nhttp: {{ url: 'https://127.0.0.1:{}/', insecure_skip_verify: true }}",
            server.port()
        );
        for _ in 0..2 {
            let event = first_event(check(&yaml)).await;
            assert!(event.up, "{event:?}");
        }
    });
    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert_eq!(
        logs.matches("insecure_skip_verify is set").count(),
        2,
        "one warning per start: {logs}"
    );
    assert!(logs.contains("WARN"), "{logs}");
}
