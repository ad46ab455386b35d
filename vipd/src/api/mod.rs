//! The HTTP API: `/metrics` (OpenMetrics), `/healthz`, `/readyz` and `/status` (JSON).
//!
//! It listens on loopback by default (`api.listen`, `--api-listen`, `VIPD_API_LISTEN`):
//! the status names the VIPs, the peers and the health checks' errors, which is nothing a
//! network neighbour needs.
//!
//! - `/healthz`: 200 when the event loop answers within [`LOOP_DEADLINE`], else 503 (a
//!   liveness probe: a wedged daemon is restarted);
//! - `/readyz`: 200 while the daemon runs (configuration loaded, sockets open), 503 once it
//!   is stopping;
//! - `/status`: the snapshot as JSON (`vipd status` prints it as a table);
//! - `/metrics`: [`crate::metrics::render`], followed by the API's own connection counters
//!   (`vipd_api_connections`, `vipd_api_connections_refused_total`,
//!   `vipd_api_connections_evicted_total`).
//!
//! # An API that cannot hurt VRRP
//!
//! Whatever its clients do, the API must neither delay an advert nor grow vipd past its
//! memory limit (an OOM kill is a failover). So:
//!
//! - **Its own thread.** The server runs on a thread of its own (`vipd-api`) with its own
//!   single-threaded tokio runtime. It reaches the daemon only through [`Control`]: a
//!   snapshot is one command on the event loop's channel, answered between two inputs. No
//!   parsing, rendering or socket work of the API ever runs on the event loop's thread, so
//!   a busy API costs the event loop only the copy of its counters.
//! - **Coalesced snapshots.** Requests do not each send a command: one request at a time asks
//!   the event loop (the others wait for it), and its answer serves every request for the
//!   next [`SNAPSHOT_TTL`] (100 ms). The event loop takes at most about ten snapshots a
//!   second however many clients ask, and the JSON and OpenMetrics texts of a snapshot are
//!   rendered once and shared. A loop that does not answer within [`LOOP_DEADLINE`] is
//!   remembered for the same 100 ms, so waiting requests do not each wait 2 s again.
//! - **At most [`MAX_CONNECTIONS`] (64) connections.** While a slot is free, a new
//!   connection takes it. Past the cap, a new connection is put on probation (at most
//!   [`MAX_PROBATION`] at once; past that it is closed at once, "refused"): it has
//!   [`PROBATION`] (200 ms) to send its whole request head, which is peeked at, not read. A
//!   prompt client (a kubelet probe, a scrape, `vipd status`: each sends its request in one
//!   write) passes and takes the slot of the connection that has waited longest for its
//!   request's headers or sat idle longest between requests ("evicted"), whatever its age;
//!   one that does not is closed ("refused"). So slow clients lose their slot to prompt
//!   ones, never the other way round, however the slow ones time their reconnects: a
//!   liveness probe gets through a slow-header flood instead of waiting behind it (which
//!   would fail the probe and restart vipd). Both outcomes are counted. Closing rather than
//!   leaving connections in the listen backlog keeps a flood out of the kernel's queue too,
//!   and tells a client at once.
//! - **Small buffers.** hyper's read and write buffers are capped at [`BUFFER_SIZE`] (8 KiB,
//!   the least hyper allows): a request's headers must fit in it.
//! - **Deadlines.** The request headers must arrive within [`HEADER_DEADLINE`] (2 s, from
//!   the connection's start or the end of the previous answer, so this also bounds an idle
//!   keep-alive connection); no byte in either direction for [`IDLE_LIMIT`] ends a
//!   connection (a request body trickling in); a write that makes no progress for
//!   [`WRITE_LIMIT`] ends it (a client that does not read its answer); and no connection
//!   lives longer than [`CONNECTION_LIFETIME`] (it is then closed after the answer in
//!   progress).
//!
//! Under a flood the API may answer some clients with a closed connection: that is the
//! price of keeping VRRP's memory and timing intact.
//!
//! The connection slots and their eviction are in `gate`; the deadline wrapper around each
//! stream is in `guarded`.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use self::gate::{Admission, Gate, Slot};
use self::guarded::Guarded;
use crate::daemon::Control;
use crate::status::Snapshot;

mod gate;
mod guarded;

/// How long `/healthz` waits for the event loop before calling it wedged.
pub const LOOP_DEADLINE: Duration = Duration::from_secs(2);

/// The most connections the API keeps open at once.
pub const MAX_CONNECTIONS: usize = 64;

/// How long a connection that arrives while every slot is taken has to send its whole
/// request head to earn a slot.
pub const PROBATION: Duration = Duration::from_millis(200);

/// The most connections on probation at once.
pub const MAX_PROBATION: usize = 16;

/// The longest request head a connection on probation may send (a probe's or a scrape's is
/// a few hundred bytes).
const PROBATION_HEAD: usize = 2048;

/// The request headers must have arrived within this long.
pub const HEADER_DEADLINE: Duration = Duration::from_secs(2);

/// A connection that moves no byte either way for this long is closed.
pub const IDLE_LIMIT: Duration = Duration::from_secs(5);

/// A write that makes no progress for this long (the client does not read) ends the
/// connection.
pub const WRITE_LIMIT: Duration = Duration::from_secs(5);

/// No connection lives longer than this; it is closed after the answer in progress.
pub const CONNECTION_LIFETIME: Duration = Duration::from_secs(60);

/// How long one snapshot of the event loop serves every request.
pub const SNAPSHOT_TTL: Duration = Duration::from_millis(100);

/// hyper's read and write buffer limit: the least it accepts.
pub const BUFFER_SIZE: usize = 8192;

/// The running API server; dropping it does not stop it, [`ApiServer::stop`] does.
#[derive(Debug)]
pub struct ApiServer {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl ApiServer {
    /// Binds `addr` and serves the daemon behind `control` from a thread of its own.
    ///
    /// # Errors
    /// The address cannot be bound (in use, not an address of this host, no permission), or
    /// the API's thread or runtime cannot be started.
    pub fn start(addr: SocketAddr, control: Control) -> io::Result<Self> {
        // Bind before anything else, and build the API's runtime on its own thread: a tokio
        // runtime must not be dropped inside the daemon's (a panic), which an error after
        // building it here would do.
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel();
        let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel::<io::Result<()>>(1);
        let shared = Arc::new(Shared::new(control));
        let thread = std::thread::Builder::new()
            .name("vipd-api".into())
            .spawn(move || {
                let started = tokio::runtime::Builder::new_current_thread()
                    .enable_io()
                    .enable_time()
                    .build()
                    .and_then(|runtime| {
                        let listener = {
                            let _context = runtime.enter();
                            TcpListener::from_std(listener)?
                        };
                        Ok((runtime, listener))
                    });
                match started {
                    Ok((runtime, listener)) => {
                        let _ = ready_tx.send(Ok(()));
                        runtime.block_on(serve(listener, shared, stopped));
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                }
            })?;
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                let _ = thread.join();
                return Err(e);
            }
            Err(_) => {
                let _ = thread.join();
                return Err(io::Error::other("the API's thread ended before serving"));
            }
        }
        info!(%addr, "serving /metrics, /healthz, /readyz and /status");
        Ok(Self { addr, stop, thread })
    }

    /// The address it listens on (with the port chosen when 0 was asked).
    #[must_use]
    pub const fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops listening, closes every connection and waits for the API's thread.
    pub fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.thread.join();
    }
}

/// The accept loop, until `stopped` fires (a dropped sender does not stop it).
async fn serve(listener: TcpListener, shared: Arc<Shared>, stopped: oneshot::Receiver<()>) {
    let mut stopped = std::pin::pin!(async {
        if stopped.await.is_err() {
            std::future::pending::<()>().await;
        }
    });
    loop {
        let accepted = tokio::select! {
            () = &mut stopped => return,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of descriptors or memory: wait rather than spin.
                warn!(error = %e, "API accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        match shared.gate.admit() {
            Admission::Slot(slot) => {
                tokio::spawn(connection(Arc::clone(&shared), slot, stream, peer));
            }
            Admission::Probation => {
                tokio::spawn(probation(Arc::clone(&shared), stream, peer));
            }
            Admission::Refused => debug!(%peer, "API connection refused: all slots busy"),
        }
    }
}

/// A connection that arrived at the cap: served if its request head arrives within
/// [`PROBATION`] and a waiting connection can make room, else closed.
async fn probation(shared: Arc<Shared>, stream: TcpStream, peer: SocketAddr) {
    let prompt = matches!(
        tokio::time::timeout(PROBATION, request_head_arrived(&stream)).await,
        Ok(Ok(true))
    );
    match shared.gate.end_probation(prompt) {
        Some(slot) => connection(shared, slot, stream, peer).await,
        None => debug!(%peer, prompt, "API connection refused after its probation"),
    }
}

/// Whether a whole HTTP request head (up to [`PROBATION_HEAD`] bytes) has arrived, looking
/// at the socket's buffer without taking anything from it; `false` at end of stream or if
/// the head is longer.
async fn request_head_arrived(stream: &TcpStream) -> io::Result<bool> {
    let mut buf = vec![0; PROBATION_HEAD];
    loop {
        let seen = stream.peek(&mut buf).await?;
        if seen == 0 || seen == buf.len() {
            return Ok(false);
        }
        if buf[..seen].windows(4).any(|w| w == b"\r\n\r\n") {
            return Ok(true);
        }
        // A peek returns at once while any byte is buffered: wait for more to come.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Serves one admitted connection until it ends, is evicted or outlives its lifetime.
async fn connection(shared: Arc<Shared>, slot: Slot, stream: TcpStream, peer: SocketAddr) {
    let _ = stream.set_nodelay(true);
    let Slot { id, mut evicted } = slot;
    let _release = Release {
        shared: Arc::clone(&shared),
        id,
    };
    let service = {
        let shared = Arc::clone(&shared);
        service_fn(move |req| {
            let shared = Arc::clone(&shared);
            async move {
                let _busy = shared.gate.busy(id);
                Ok::<_, Infallible>(answer(&req, &shared).await)
            }
        })
    };
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_DEADLINE)
        .max_buf_size(BUFFER_SIZE)
        .serve_connection(TokioIo::new(Guarded::new(stream)), service);
    let mut conn = std::pin::pin!(conn);
    let lifetime = tokio::time::sleep(CONNECTION_LIFETIME);
    let ended = tokio::select! {
        ended = conn.as_mut() => ended,
        _ = &mut evicted => {
            debug!(%peer, "API connection evicted");
            return;
        }
        () = lifetime => {
            conn.as_mut().graceful_shutdown();
            match tokio::time::timeout(WRITE_LIMIT, conn.as_mut()).await {
                Ok(ended) => ended,
                Err(_) => return,
            }
        }
    };
    if let Err(e) = ended {
        debug!(%peer, error = %e, "API connection ended");
    }
}

/// What the API's thread shares between its connections.
#[derive(Debug)]
struct Shared {
    control: Control,
    /// The last snapshot and when it was taken; the lock is held while one is taken, so
    /// concurrent requests wait for that one instead of asking again.
    snapshot: tokio::sync::Mutex<Option<(Instant, Taken)>>,
    gate: Gate,
}

/// Frees a connection's slot when its task ends.
struct Release {
    shared: Arc<Shared>,
    id: u64,
}

impl Drop for Release {
    fn drop(&mut self) {
        self.shared.gate.release(self.id);
    }
}

/// A snapshot's outcome, shared by every request it serves.
type Taken = Result<Arc<Rendered>, Unavailable>;

/// Why there is no snapshot.
#[derive(Debug, Clone, Copy)]
enum Unavailable {
    /// The event loop did not answer within [`LOOP_DEADLINE`].
    Wedged,
    /// The daemon has stopped.
    Stopped,
}

/// A snapshot and its texts, each rendered once, when first asked for.
#[derive(Debug)]
struct Rendered {
    snap: Snapshot,
    json: OnceLock<Result<Bytes, String>>,
    /// The OpenMetrics text without its final `# EOF` line.
    metrics: OnceLock<String>,
}

impl Shared {
    fn new(control: Control) -> Self {
        Self {
            control,
            snapshot: tokio::sync::Mutex::new(None),
            gate: Gate::default(),
        }
    }

    /// The event loop's state: the one taken in the last [`SNAPSHOT_TTL`], or a new one.
    async fn snapshot(&self) -> Taken {
        let mut last = self.snapshot.lock().await;
        if let Some((at, taken)) = &*last
            && at.elapsed() < SNAPSHOT_TTL
        {
            return taken.clone();
        }
        let taken = match tokio::time::timeout(LOOP_DEADLINE, self.control.snapshot()).await {
            Ok(Some(snap)) => Ok(Arc::new(Rendered {
                snap,
                json: OnceLock::new(),
                metrics: OnceLock::new(),
            })),
            Ok(None) => Err(Unavailable::Stopped),
            Err(_) => Err(Unavailable::Wedged),
        };
        *last = Some((Instant::now(), taken.clone()));
        taken
    }

    /// `/metrics`: the snapshot's metrics, then the API's own.
    fn metrics(&self, rendered: &Rendered) -> String {
        let daemon = rendered.metrics.get_or_init(|| {
            let mut text = crate::metrics::render(&rendered.snap);
            if text.ends_with("# EOF\n") {
                text.truncate(text.len() - "# EOF\n".len());
            }
            text
        });
        let (open, refused, evicted) = self.gate.counts();
        format!(
            "{daemon}\
             # TYPE vipd_api_connections gauge\n\
             # HELP vipd_api_connections Connections open to the API.\n\
             vipd_api_connections {open}\n\
             # TYPE vipd_api_connections_refused counter\n\
             # HELP vipd_api_connections_refused Connections closed unserved: every slot busy and no prompt request.\n\
             vipd_api_connections_refused_total {refused}\n\
             # TYPE vipd_api_connections_evicted counter\n\
             # HELP vipd_api_connections_evicted Slow or idle connections closed to make room.\n\
             vipd_api_connections_evicted_total {evicted}\n\
             # EOF\n"
        )
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

async fn answer(req: &Request<Incoming>, shared: &Shared) -> Response<Full<Bytes>> {
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
    let rendered = match shared.snapshot().await {
        Ok(rendered) => rendered,
        Err(Unavailable::Wedged) => {
            return reply(
                StatusCode::SERVICE_UNAVAILABLE,
                TEXT,
                "the event loop did not answer within 2 s\n",
            );
        }
        Err(Unavailable::Stopped) => {
            return reply(
                StatusCode::SERVICE_UNAVAILABLE,
                TEXT,
                "the daemon has stopped\n",
            );
        }
    };
    match path {
        "/metrics" => reply(
            StatusCode::OK,
            crate::metrics::CONTENT_TYPE,
            shared.metrics(&rendered),
        ),
        "/healthz" => reply(StatusCode::OK, TEXT, "ok\n"),
        "/readyz" if rendered.snap.ready => reply(StatusCode::OK, TEXT, "ready\n"),
        "/readyz" => reply(StatusCode::SERVICE_UNAVAILABLE, TEXT, "stopping\n"),
        _ => match rendered
            .json
            .get_or_init(|| {
                serde_json::to_vec_pretty(&rendered.snap)
                    .map(Bytes::from)
                    .map_err(|e| format!("{e}\n"))
            })
            .clone()
        {
            Ok(json) => reply(StatusCode::OK, "application/json", json),
            Err(e) => reply(StatusCode::INTERNAL_SERVER_ERROR, TEXT, e),
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
