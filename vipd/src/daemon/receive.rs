//! The raw sockets' adverts, read by the event loop itself.
//!
//! The loop waits on every VRRP socket in its own `select!`: an advert is read, parsed and
//! handed to the engine in one task poll, with no reader task, no channel between them and
//! no payload allocation (one buffer is read into and one payload buffer goes back and forth
//! between the socket and the engine). Sockets are polled in turn from a rotating start, so a
//! flooded interface cannot starve another.

use std::future::{Future as _, poll_fn};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::{Instant, Sleep};
use tracing::warn;
use vrrp_net::socket::{OwnedReceived, RECV_BUF, VrrpSocket};

/// How long a socket whose receive failed is left alone before it is read again.
const PAUSE_AFTER_ERROR: Duration = Duration::from_millis(100);

/// One socket, and the interface index its adverts count for (a virtual MAC interface's
/// adverts are its VRRP interface's).
struct Source {
    ifindex: u32,
    socket: Arc<VrrpSocket>,
    /// Not read until then, after a failed receive.
    paused_until: Option<Instant>,
}

/// Every VRRP socket of the daemon, read in turn.
pub(super) struct Receivers {
    sources: Vec<Source>,
    /// Where each datagram is read (the largest packet expected fits).
    buf: Vec<u8>,
    /// The payload allocation the next advert is copied into; the engine's caller hands it
    /// back with [`Receivers::give`].
    spare: Vec<u8>,
    /// The socket polled first next time.
    next: usize,
    /// Wakes the loop when a paused socket may be read again.
    resume: Pin<Box<Sleep>>,
}

impl Receivers {
    pub(super) fn new() -> Self {
        Self {
            sources: Vec::new(),
            buf: vec![0; RECV_BUF],
            spare: Vec::new(),
            next: 0,
            resume: Box::pin(tokio::time::sleep(Duration::ZERO)),
        }
    }

    /// Reads `socket` from now on, its adverts counting for interface `ifindex`.
    pub(super) fn add(&mut self, ifindex: u32, socket: Arc<VrrpSocket>) {
        self.sources.push(Source {
            ifindex,
            socket,
            paused_until: None,
        });
    }

    /// Stops reading the sockets that `open` says the daemon no longer has (a released
    /// virtual MAC interface's), which closes them once nothing else holds them.
    pub(super) fn retain(&mut self, open: impl Fn(&Arc<VrrpSocket>) -> bool) {
        self.sources.retain(|s| open(&s.socket));
        self.next = 0;
    }

    /// Stops reading every socket.
    pub(super) fn clear(&mut self) {
        self.sources.clear();
    }

    /// Hands back an advert's payload allocation for the next one.
    pub(super) fn give(&mut self, payload: Vec<u8>) {
        if payload.capacity() > self.spare.capacity() {
            self.spare = payload;
        }
    }

    /// The next advert, and the interface it counts for. Never returns while there are no
    /// sockets. Cancel-safe: nothing is read until a datagram is returned.
    pub(super) async fn next(&mut self) -> (u32, OwnedReceived) {
        poll_fn(|cx| self.poll_next(cx)).await
    }

    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<(u32, OwnedReceived)> {
        let now = Instant::now();
        let count = self.sources.len();
        let mut earliest_pause: Option<Instant> = None;
        for turn in 0..count {
            let i = (self.next + turn) % count;
            let Self {
                sources,
                buf,
                spare,
                ..
            } = self;
            let Some(source) = sources.get_mut(i) else {
                continue;
            };
            if let Some(until) = source.paused_until {
                if now < until {
                    earliest_pause = Some(earliest_pause.map_or(until, |e| e.min(until)));
                    continue;
                }
                source.paused_until = None;
            }
            match source.socket.poll_recv_reusing(cx, buf, spare) {
                Poll::Ready(Ok(packet)) => {
                    self.next = (i + 1) % count;
                    return Poll::Ready((source.ifindex, packet));
                }
                Poll::Ready(Err(e)) => {
                    warn!(interface = source.socket.ifname(), error = %e, "receive failed");
                    let until = now + PAUSE_AFTER_ERROR;
                    source.paused_until = Some(until);
                    earliest_pause = Some(earliest_pause.map_or(until, |e| e.min(until)));
                }
                Poll::Pending => {}
            }
        }
        if let Some(until) = earliest_pause {
            self.resume.as_mut().reset(until);
            if self.resume.as_mut().poll(cx).is_ready() {
                // Already due: poll again at once.
                cx.waker().wake_by_ref();
            }
        }
        Poll::Pending
    }
}
