//! The HTTP API: `/metrics` (OpenMetrics), `/healthz`, `/readyz` and `/status` (JSON).
//!
//! It listens on loopback by default (`api.listen`, `--api-listen`, `VIPD_API_LISTEN`):
//! the status names the VIPs, the peers and the health checks' errors, which is nothing a
//! network neighbour needs. Every answer comes from a [`Snapshot`](crate::status::Snapshot) the event loop takes
//! between two inputs, so a scrape never blocks VRRP for longer than it takes to copy the
//! counters.
//!
//! - `/healthz`: 200 when the event loop answers within [`LOOP_DEADLINE`], else 503 (a
//!   liveness probe: a wedged daemon is restarted);
//! - `/readyz`: 200 while the daemon runs (configuration loaded, sockets open), 503 once it
//!   is stopping;
//! - `/status`: the snapshot as JSON (`vipd status` prints it as a table);
//! - `/metrics`: [`crate::metrics::render`].

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use crate::daemon::Control;

/// How long `/healthz` waits for the event loop before calling it wedged.
pub const LOOP_DEADLINE: Duration = Duration::from_secs(2);

/// A connection that has not sent its request within this long is dropped.
const REQUEST_DEADLINE: Duration = Duration::from_secs(10);

/// The running API server; dropping it does not stop it, [`ApiServer::stop`] does.
#[derive(Debug)]
pub struct ApiServer {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl ApiServer {
    /// Binds `addr` and serves the daemon behind `control`.
    ///
    /// # Errors
    /// The address cannot be bound (in use, not an address of this host, no permission).
    pub async fn start(addr: SocketAddr, control: Control) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        info!(%addr, "serving /metrics, /healthz, /readyz and /status");
        let task = tokio::spawn(async move {
            loop {
                let (stream, peer) = match listener.accept().await {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        warn!(error = %e, "API accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let control = control.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| {
                        let control = control.clone();
                        async move { Ok::<_, Infallible>(answer(&req, &control).await) }
                    });
                    let conn = http1::Builder::new()
                        .header_read_timeout(REQUEST_DEADLINE)
                        .timer(hyper_util::rt::TokioTimer::new())
                        .serve_connection(TokioIo::new(stream), service);
                    if let Err(e) = conn.await {
                        debug!(%peer, error = %e, "API connection ended");
                    }
                });
            }
        });
        Ok(Self { addr, task })
    }

    /// The address it listens on (with the port chosen when 0 was asked).
    #[must_use]
    pub const fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops listening.
    pub fn stop(self) {
        self.task.abort();
    }
}

fn reply(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

const TEXT: &str = "text/plain; charset=utf-8";

async fn answer(req: &Request<Incoming>, control: &Control) -> Response<Full<Bytes>> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return reply(StatusCode::METHOD_NOT_ALLOWED, TEXT, "only GET\n");
    }
    let path = req.uri().path();
    if !matches!(path, "/metrics" | "/healthz" | "/readyz" | "/status") {
        return reply(
            StatusCode::NOT_FOUND,
            TEXT,
            "not found: try /metrics, /healthz, /readyz or /status\n",
        );
    }
    let snapshot = tokio::time::timeout(LOOP_DEADLINE, control.snapshot()).await;
    let Ok(Some(snap)) = snapshot else {
        let why = if snapshot.is_err() {
            "the event loop did not answer within 2 s\n"
        } else {
            "the daemon has stopped\n"
        };
        return reply(StatusCode::SERVICE_UNAVAILABLE, TEXT, why);
    };
    match path {
        "/metrics" => reply(
            StatusCode::OK,
            crate::metrics::CONTENT_TYPE,
            crate::metrics::render(&snap),
        ),
        "/healthz" => reply(StatusCode::OK, TEXT, "ok\n"),
        "/readyz" if snap.ready => reply(StatusCode::OK, TEXT, "ready\n"),
        "/readyz" => reply(StatusCode::SERVICE_UNAVAILABLE, TEXT, "stopping\n"),
        _ => match serde_json::to_vec_pretty(&snap) {
            Ok(json) => reply(StatusCode::OK, "application/json", json),
            Err(e) => reply(StatusCode::INTERNAL_SERVER_ERROR, TEXT, format!("{e}\n")),
        },
    }
}

/// Fetches `/status` from a daemon's API at `addr` (for `vipd status`).
///
/// # Errors
/// The daemon cannot be reached, or answered with something that is not a status.
pub async fn fetch_status(addr: SocketAddr) -> Result<crate::status::Snapshot, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let io = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        stream
            .write_all(b"GET /status HTTP/1.0\r\nHost: vipd\r\nConnection: close\r\n\r\n")
            .await?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await?;
        Ok::<_, std::io::Error>(raw)
    };
    let raw = tokio::time::timeout(Duration::from_secs(5), io)
        .await
        .map_err(|_| format!("{addr}: no answer within 5 s"))?
        .map_err(|e| {
            format!(
                "cannot reach vipd's API at {addr}: {e} (is vipd running, and is api.listen \
                 this address? pass --api ADDRESS:PORT)"
            )
        })?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("{addr}: not an HTTP answer"))?;
    let status_line = head.lines().next().unwrap_or_default();
    if !status_line.contains(" 200 ") {
        return Err(format!("{addr}: {status_line}: {}", body.trim()));
    }
    serde_json::from_str(body).map_err(|e| format!("{addr}: not a vipd status: {e}"))
}
