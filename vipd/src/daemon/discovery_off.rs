//! Peer discovery in a build without the `kubernetes` feature: validation refuses
//! `unicast_peers_from`, so there is never a watch.

use std::net::IpAddr;
use std::time::Instant;

use tokio::sync::mpsc;

use crate::config::InstancePlan;

/// A new peer list of an instance (never sent in this build).
#[derive(Debug)]
pub(super) struct PeerUpdate {
    pub(super) instance: String,
}

/// What the status says of a watch.
#[derive(Debug, Clone, Default)]
pub(super) struct WatchStatus {
    /// When the API last answered.
    pub(super) confirmed: Option<Instant>,
    /// Whether a complete list was received.
    pub(super) synced: bool,
    /// The last error.
    pub(super) error: Option<String>,
}

/// No watch.
pub(super) struct Discovery;

impl Discovery {
    pub(super) fn new() -> (Self, mpsc::UnboundedReceiver<PeerUpdate>) {
        (Self, mpsc::unbounded_channel().1)
    }

    pub(super) fn sync<'a>(&mut self, _plans: impl IntoIterator<Item = &'a InstancePlan>) {}

    pub(super) fn record(&mut self, _update: &PeerUpdate) -> bool {
        false
    }

    pub(super) fn peers(&self, _instance: &str) -> &[IpAddr] {
        &[]
    }

    pub(super) fn status(&self, _instance: &str) -> Option<(String, WatchStatus)> {
        None
    }

    pub(super) fn stop(&mut self) {}
}
