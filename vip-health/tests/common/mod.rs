//! Helpers shared by the integration tests: real local servers (plain and TLS), a PKI made
//! with rcgen at test time, temporary directories, and monitor shortcuts.

#![allow(dead_code, unreachable_pub, missing_docs)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, date_time_ymd,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::task::JoinHandle;
use vip_health::{CheckConfig, CheckSpec, HealthEvent, HealthMonitor};

pub mod kube;

// ----- temporary directories ---------------------------------------------------------------

pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new() -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("vip-health-test-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// ----- PKI ---------------------------------------------------------------------------------

pub struct Ca {
    pub pem: String,
    issuer: Issuer<'static, KeyPair>,
}

pub struct Leaf {
    pub cert_pem: String,
    pub key_pem: String,
}

impl Ca {
    pub fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.not_before = date_time_ymd(2020, 1, 1);
        params.not_after = date_time_ymd(2099, 1, 1);
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Self {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    fn leaf(&self, names: &[&str], client: bool, expired: bool) -> Leaf {
        let mut params =
            CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
                .unwrap();
        params.distinguished_name.push(
            DnType::CommonName,
            names.first().copied().unwrap_or("client"),
        );
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![if client {
            ExtendedKeyUsagePurpose::ClientAuth
        } else {
            ExtendedKeyUsagePurpose::ServerAuth
        }];
        if expired {
            params.not_before = date_time_ymd(2020, 1, 1);
            params.not_after = date_time_ymd(2021, 1, 1);
        } else {
            params.not_before = date_time_ymd(2020, 1, 1);
            params.not_after = date_time_ymd(2099, 1, 1);
        }
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    /// A server certificate for `names` (DNS names or IP addresses).
    pub fn server(&self, names: &[&str]) -> Leaf {
        self.leaf(names, false, false)
    }

    /// A server certificate that expired in 2021.
    pub fn expired_server(&self, names: &[&str]) -> Leaf {
        self.leaf(names, false, true)
    }

    /// A client certificate.
    pub fn client(&self, name: &str) -> Leaf {
        self.leaf(&[name], true, false)
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A TLS server configuration presenting `leaf`; with `client_ca`, client certificates signed
/// by it are required.
pub fn server_tls(leaf: &Leaf, client_ca: Option<&Ca>) -> Arc<rustls::ServerConfig> {
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(leaf.cert_pem.as_bytes())
            .collect::<Result<_, _>>()
            .unwrap();
    let key = PrivateKeyDer::from_pem_slice(leaf.key_pem.as_bytes()).unwrap();
    let builder = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(ca.pem.as_bytes()) {
                roots.add(cert.unwrap()).unwrap();
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider(),
            )
            .build()
            .unwrap();
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_single_cert(chain, key).unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

// ----- servers -----------------------------------------------------------------------------

/// The head of a request a test server received.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What a test server does with a request.
pub enum Reply {
    /// A complete response.
    Respond {
        status: u16,
        content_type: &'static str,
        body: Vec<u8>,
    },
    /// Headers announcing `len` body bytes, then one byte every `every`.
    SlowBody { len: usize, every: Duration },
    /// A chunked body (`Transfer-Encoding: chunked`): one HTTP chunk per message received,
    /// ended when the sender is dropped, as a Kubernetes watch streams its events; an empty
    /// message drops the connection without ending the body.
    Stream {
        status: u16,
        chunks: UnboundedReceiver<Vec<u8>>,
    },
}

impl Reply {
    pub fn status(status: u16) -> Self {
        Self::Respond {
            status,
            content_type: "text/plain",
            body: format!("status {status}\n").into_bytes(),
        }
    }

    pub fn json(status: u16, body: String) -> Self {
        Self::Respond {
            status,
            content_type: "application/json",
            body: body.into_bytes(),
        }
    }
}

pub type Handler = Arc<dyn Fn(&Request) -> Reply + Send + Sync>;

/// A server on 127.0.0.1 that stops when dropped.
pub struct Server {
    pub addr: SocketAddr,
    pub requests: Arc<Mutex<Vec<Request>>>,
    task: JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    pub fn request_count(&self) -> usize {
        self.requests.lock().unwrap().len()
    }

    pub fn last_request(&self) -> Option<Request> {
        self.requests.lock().unwrap().last().cloned()
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }
}

async fn read_head<S: AsyncRead + Unpin>(stream: &mut S) -> Option<Request> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut byte).await.ok()?;
        if n == 0 || buf.len() > 64 * 1024 {
            return None;
        }
        buf.extend_from_slice(&byte[..n]);
    }
    let text = String::from_utf8_lossy(&buf);
    let mut lines = text.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_owned();
    let path = first.next()?.to_owned();
    let headers = lines
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Some(Request {
        method,
        path,
        headers,
    })
}

async fn serve_one<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    handler: Handler,
    requests: Arc<Mutex<Vec<Request>>>,
) {
    let Some(request) = read_head(&mut stream).await else {
        return;
    };
    requests.lock().unwrap().push(request.clone());
    match handler(&request) {
        Reply::Respond {
            status,
            content_type,
            body,
        } => {
            let head = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes()).await;
            let _ = stream.write_all(&body).await;
        }
        Reply::Stream { status, mut chunks } => {
            let head = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n\
                 Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            );
            if stream.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            let _ = stream.flush().await;
            while let Some(chunk) = chunks.recv().await {
                if chunk.is_empty() {
                    // A broken connection: closed without the last chunk.
                    return;
                }
                let mut framed = format!("{:x}\r\n", chunk.len()).into_bytes();
                framed.extend_from_slice(&chunk);
                framed.extend_from_slice(b"\r\n");
                if stream.write_all(&framed).await.is_err() || stream.flush().await.is_err() {
                    return;
                }
            }
            let _ = stream.write_all(b"0\r\n\r\n").await;
        }
        Reply::SlowBody { len, every } => {
            let head =
                format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n");
            let _ = stream.write_all(head.as_bytes()).await;
            let _ = stream.flush().await;
            for _ in 0..len {
                tokio::time::sleep(every).await;
                if stream.write_all(b"x").await.is_err() {
                    return;
                }
                let _ = stream.flush().await;
            }
        }
    }
    let _ = stream.flush().await;
    let _ = stream.shutdown().await;
}

/// An HTTP server answering every request with `handler`.
pub async fn http_server(handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> Server {
    serve(None, Arc::new(handler)).await
}

/// An HTTPS server with `tls`.
pub async fn https_server(
    tls: Arc<rustls::ServerConfig>,
    handler: impl Fn(&Request) -> Reply + Send + Sync + 'static,
) -> Server {
    serve(Some(tls), Arc::new(handler)).await
}

/// An HTTPS server with `tls` on `addr` (a port of 0 picks one).
pub async fn https_server_on(
    addr: SocketAddr,
    tls: Arc<rustls::ServerConfig>,
    handler: Handler,
) -> Server {
    serve_on(addr, Some(tls), handler).await
}

async fn serve(tls: Option<Arc<rustls::ServerConfig>>, handler: Handler) -> Server {
    serve_on("127.0.0.1:0".parse().unwrap(), tls, handler).await
}

async fn serve_on(
    addr: SocketAddr,
    tls: Option<Arc<rustls::ServerConfig>>,
    handler: Handler,
) -> Server {
    let listener = TcpListener::bind(addr).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let requests = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&requests);
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let handler = Arc::clone(&handler);
            let log = Arc::clone(&log);
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                match acceptor {
                    None => serve_one(stream, handler, log).await,
                    Some(acceptor) => {
                        if let Ok(tls) = acceptor.accept(stream).await {
                            serve_one(tls, handler, log).await;
                        }
                    }
                }
            });
        }
    });
    Server {
        addr,
        requests,
        task,
    }
}

/// A server that accepts connections and never reads or answers.
pub async fn silent_server() -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        loop {
            if let Ok((stream, _)) = listener.accept().await {
                held.push(stream);
            }
        }
    });
    Server {
        addr,
        requests: Arc::default(),
        task,
    }
}

/// A port on 127.0.0.1 where nothing listens.
pub async fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}

// ----- checks and monitors ----------------------------------------------------------------

/// Parses and validates one check written in YAML, with no environment.
pub fn check(yaml: &str) -> CheckConfig {
    check_with_env(yaml, &|_| None)
}

/// Parses and validates one check written in YAML.
pub fn check_with_env(yaml: &str, env: &dyn Fn(&str) -> Option<String>) -> CheckConfig {
    let spec: CheckSpec = serde_yaml_ng::from_str(yaml).expect("valid YAML for a check");
    spec.validate("checks[0]", env)
        .unwrap_or_else(|e| panic!("invalid check: {e:?}"))
}

pub type Events = UnboundedReceiver<HealthEvent<String>>;

/// Starts one check owned by `VI_1`.
pub fn start(config: CheckConfig) -> (HealthMonitor<String>, Events) {
    HealthMonitor::start([("VI_1".to_owned(), config)])
}

/// The next event, within `within`.
pub async fn next_event(events: &mut Events, within: Duration) -> HealthEvent<String> {
    tokio::time::timeout(within, events.recv())
        .await
        .unwrap_or_else(|_| panic!("no event within {within:?}"))
        .expect("the monitor is running")
}

/// Asserts no event arrives within `within`.
pub async fn no_event(events: &mut Events, within: Duration) {
    if let Ok(Some(e)) = tokio::time::timeout(within, events.recv()).await {
        panic!("unexpected event {e:?}");
    }
}

/// The first event of one check: its first result.
pub async fn first_event(config: CheckConfig) -> HealthEvent<String> {
    let (monitor, mut events) = start(config);
    let event = next_event(&mut events, Duration::from_secs(10)).await;
    monitor.stop().await;
    event
}

/// Asserts that `event` is a check going down because 127.0.0.1:`port` refused the connection.
pub fn assert_refused(event: &HealthEvent<String>, port: u16) {
    assert!(!event.up, "{event:?}");
    let expected = format!("cannot connect to 127.0.0.1:{port}: Connection refused");
    assert!(event.reason.starts_with(&expected), "{}", event.reason);
}

/// The state of a process from /proc (`R`, `S`, `Z`, ...), or `None` if it does not exist.
pub fn process_state(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // pid (comm) state ...; comm may contain spaces, so split after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.trim_start().chars().next()
}

/// The parent of a process from /proc.
pub fn parent_pid(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// Waits until `f` holds, polling every 20 ms, for at most `within`.
pub async fn eventually(within: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if f() {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
