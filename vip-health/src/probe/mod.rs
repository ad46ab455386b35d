//! The probes: one async function per check kind, each bounded by the check's timeout.

mod exec;
mod file;
pub(crate) mod http;
mod interface;
pub(crate) mod kube;
mod tcp;
mod tls;

use std::time::Duration;

use crate::config::{CheckConfig, CheckKind};

pub(crate) use file::FileState;

/// Why a probe failed; its `Display` is the error text reported in events and status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProbeError {
    /// The probe did not finish within the check's timeout.
    #[error("timed out after {} {stage} {target}", crate::duration::display_duration(*timeout))]
    Timeout {
        /// The check's timeout.
        timeout: Duration,
        /// What it was doing, e.g. `waiting for the response from`.
        stage: &'static str,
        /// URL, address or program.
        target: String,
    },
    /// The TCP connection failed (refused, unreachable, name not resolved).
    #[error("cannot connect to {address}: {message}")]
    Connect {
        /// `host:port`.
        address: String,
        /// The operating system's reason.
        message: String,
    },
    /// The TLS settings could not be loaded (CA file, client certificate or key).
    #[error("TLS setup: {0}")]
    TlsConfig(String),
    /// The TLS handshake failed (certificate not trusted, expired, wrong name, rejected).
    #[error("TLS handshake with {server} failed: {message}")]
    Tls {
        /// `host:port`.
        server: String,
        /// What went wrong.
        message: String,
    },
    /// The bearer token file could not be used.
    #[error("bearer token file {path}: {message}")]
    Token {
        /// The file.
        path: String,
        /// What went wrong (never the token).
        message: String,
    },
    /// The HTTP exchange failed below the status line (connection reset, malformed reply).
    #[error("HTTP request to {url} failed: {message}")]
    Http {
        /// The URL.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// The server answered with a status that does not count as up.
    #[error("{url} answered HTTP {status}{}, expected {expected}", reason_suffix(*status))]
    Status {
        /// The URL.
        url: String,
        /// The status received.
        status: u16,
        /// The accepted statuses, e.g. `200` or `one of 200, 204`.
        expected: String,
    },
    /// The node's `Ready` condition is not `"True"`.
    #[error("node {node} is not Ready (Ready={status}{detail})")]
    NodeNotReady {
        /// Node name.
        node: String,
        /// The condition's status: `False`, `Unknown`, or `missing`.
        status: String,
        /// `: reason: message` from the condition, if any.
        detail: String,
    },
    /// The node object could not be understood.
    #[error("node {node}: {message}")]
    NodeResponse {
        /// Node name.
        node: String,
        /// What is wrong with the response.
        message: String,
    },
    /// The program could not be started.
    #[error("cannot run {program}: {message}")]
    Spawn {
        /// The program.
        program: String,
        /// The operating system's reason.
        message: String,
    },
    /// The program exited with a non-zero status.
    #[error("{program} exited with status {code}{}", stderr_suffix(stderr))]
    ExitStatus {
        /// The program.
        program: String,
        /// Its exit status.
        code: i32,
        /// The first line of its standard error, bounded.
        stderr: String,
    },
    /// The program was killed by a signal.
    #[error("{program} was killed by signal {signal}{}", stderr_suffix(stderr))]
    Signal {
        /// The program.
        program: String,
        /// The signal number.
        signal: i32,
        /// The first line of its standard error, bounded.
        stderr: String,
    },
    /// The interface does not exist.
    #[error("interface {name} does not exist")]
    NoInterface {
        /// Interface name.
        name: String,
    },
    /// The interface is not up.
    #[error("interface {name} is {state}")]
    InterfaceDown {
        /// Interface name.
        name: String,
        /// Its operstate (and carrier), e.g. `down` or `unknown without carrier`.
        state: String,
    },
    /// The file's number puts the instance in Fault.
    #[error("{path}: {explanation}")]
    FileFault {
        /// The file.
        path: String,
        /// Value, weight and result, e.g. `value 3 is non-zero (action fault)`.
        explanation: String,
    },
    /// A probe of the embedder's ([`Probe`](crate::Probe)) reported a failure.
    #[error("{message}")]
    Custom {
        /// What the probe said.
        message: String,
    },
    /// Another I/O error.
    #[error("{what}: {message}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        message: String,
    },
}

fn reason_suffix(status: u16) -> String {
    hyper::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .map(|r| format!(" {r}"))
        .unwrap_or_default()
}

fn stderr_suffix(stderr: &str) -> String {
    if stderr.is_empty() {
        String::new()
    } else {
        format!(": {stderr}")
    }
}

/// Reads at most `limit` bytes of a file (a check may be pointed at something endless).
pub(crate) async fn read_bounded(path: &std::path::Path, limit: usize) -> std::io::Result<Vec<u8>> {
    use tokio::io::AsyncReadExt;
    let file = tokio::fs::File::open(path).await?;
    let mut buf = Vec::new();
    file.take(u64::try_from(limit).unwrap_or(u64::MAX))
        .read_to_end(&mut buf)
        .await?;
    Ok(buf)
}

/// Aborts a spawned task when dropped.
pub(crate) struct AbortOnDrop(pub(crate) tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A successful probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProbeOk {
    /// For file checks, the adjustment read from the file (see
    /// [`TrackState`](crate::TrackState)).
    pub(crate) adjustment: Option<i32>,
    /// A short description of what was seen.
    pub(crate) detail: String,
}

impl ProbeOk {
    fn detail(detail: impl Into<String>) -> Self {
        Self {
            adjustment: None,
            detail: detail.into(),
        }
    }
}

/// Per-check state that probes keep between runs.
#[derive(Debug, Default)]
pub(crate) struct ProbeState {
    pub(crate) file: FileState,
}

/// Runs one probe of `config`, bounded by its timeout.
pub(crate) async fn run(
    config: &CheckConfig,
    state: &mut ProbeState,
) -> Result<ProbeOk, ProbeError> {
    let timeout = config.timeout;
    let deadline = tokio::time::Instant::now() + timeout;
    let probe = async {
        match &config.kind {
            CheckKind::Http(h) => http::probe(h, deadline, timeout).await,
            CheckKind::Tcp(t) => tcp::probe(t, deadline, timeout).await,
            CheckKind::Exec(e) => exec::probe(e, deadline, timeout).await,
            CheckKind::File(f) => file::probe(f, config.effect, &mut state.file).await,
            CheckKind::Interface(i) => interface::probe(i).await,
            CheckKind::KubeApi(k) => kube::probe_api(k, deadline, timeout).await,
            CheckKind::NodeReady(n) => kube::probe_node(n, deadline, timeout).await,
            CheckKind::Custom(c) => {
                match tokio::time::timeout_at(deadline, c.probe().probe()).await {
                    Ok(Ok(detail)) => Ok(ProbeOk::detail(detail)),
                    Ok(Err(message)) => Err(ProbeError::Custom { message }),
                    Err(_) => Err(ProbeError::Timeout {
                        timeout,
                        stage: "waiting for the probe of",
                        target: config.name.clone(),
                    }),
                }
            }
        }
    };
    // Each probe bounds its own stages by the deadline; this is the backstop for the rest
    // (a file or sysfs read that hangs).
    match tokio::time::timeout_at(deadline + Duration::from_millis(50), probe).await {
        Ok(result) => result,
        Err(_) => Err(ProbeError::Timeout {
            timeout,
            stage: "probing",
            target: config.name.clone(),
        }),
    }
}
