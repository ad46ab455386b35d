//! keepalived's `vrrp_garp_interval` / `vrrp_gna_interval`: gratuitous ARPs (and unsolicited
//! NAs) leave one interface at least that far apart. Without pacing an announcement is sent
//! when the engine asks for it, a whole burst at once; with it, announcements go through a
//! queue that one task per interface drains, each family waiting its own interval after the
//! previous frame of that family.

use std::io;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::debug;
use vrrp_net::announce::Announcer;

/// Announcements waiting on one interface at most; more are refused (a flood of
/// lower-priority adverts must not grow the queue without bound).
const QUEUE: usize = 4096;

/// The announcer of one VIP interface, paced or not.
#[derive(Debug)]
pub(super) struct Paced {
    announcer: Arc<Announcer>,
    queue: Option<mpsc::Sender<IpAddr>>,
}

impl Paced {
    /// Sends through `announcer`, spacing gratuitous ARPs by `garp` and unsolicited NAs by
    /// `na` (both zero: no pacing, no task). Must be called inside the daemon's runtime.
    pub(super) fn new(announcer: Announcer, garp: Duration, na: Duration) -> Self {
        let announcer = Arc::new(announcer);
        if garp.is_zero() && na.is_zero() {
            return Self {
                announcer,
                queue: None,
            };
        }
        let (tx, mut rx) = mpsc::channel::<IpAddr>(QUEUE);
        let sender = Arc::clone(&announcer);
        // Ends when the last sender goes, with the interface's announcer.
        tokio::spawn(async move {
            let mut next_garp = Instant::now();
            let mut next_na = Instant::now();
            while let Some(addr) = rx.recv().await {
                let (next, gap) = if addr.is_ipv4() {
                    (&mut next_garp, garp)
                } else {
                    (&mut next_na, na)
                };
                tokio::time::sleep_until(*next).await;
                if let Err(e) = sender.announce(addr) {
                    debug!(vip = %addr, error = %e, "paced announcement failed");
                }
                *next = Instant::now() + gap;
            }
        });
        Self {
            announcer,
            queue: Some(tx),
        }
    }

    /// Announces `addr` now, or queues it behind the frames before it.
    ///
    /// # Errors
    /// The send's error; with pacing, a full queue.
    pub(super) fn announce(&self, addr: IpAddr) -> io::Result<()> {
        match &self.queue {
            None => self.announcer.announce(addr),
            Some(tx) => tx.try_send(addr).map_err(|_| {
                io::Error::other(format!(
                    "{QUEUE} paced announcements are already waiting on this interface"
                ))
            }),
        }
    }
}
