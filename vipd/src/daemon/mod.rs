//! The daemon: one task that owns a [`vrrp_core::Router`] and drives it with real I/O.
//!
//! Inputs reach the task through channels: adverts from one reader task per raw socket,
//! link and address changes from netlink, commands from a [`Control`], health-check changes,
//! and the engine's own deadline. After each input the task performs every action the engine
//! returns, in order: VIPs through netlink (marked as vipd's, with a kernel lifetime renewed
//! while Master), adverts on the raw socket, gratuitous ARP / unsolicited NA on the VIP
//! interface, state changes to the log, the notify hooks and the watchers.
//!
//! Where things live:
//!
//! - this module: the embedding API ([`Daemon::builder`], [`DaemonHandle`], [`Control`]);
//! - `control`: the embedder's inputs on a [`Control`] (tracked objects, priority, VIPs,
//!   instances) and [`ControlError`];
//! - `events`: the typed event stream ([`DaemonEvent`], [`EventReceiver`]);
//! - `runner`: the event loop, start-up, reload and stop;
//! - `receive`: the VRRP sockets, read by the event loop itself;
//! - `executor`: carrying out the engine's actions (VIPs, adverts, announcements, hooks);
//! - `discovery`: unicast peers discovered from the Kubernetes API, applied in place;
//! - `pacing`: gratuitous ARPs / NAs spaced out (`garp.interval`, `garp.na_interval`);
//! - `health`: the health checks, keyed by instance, feeding the engine's tracked objects;
//! - `snapshot`: what `/status` and `/metrics` report, taken between two inputs.
//!
//! ```no_run
//! # async fn demo(plan: vipd::config::Plan) -> Result<(), vipd::daemon::DaemonError> {
//! let daemon = vipd::daemon::Daemon::builder(plan).start().await?;
//! let mut states = daemon.states();
//! states.changed().await.ok();
//! println!("{:?}", *states.borrow());
//! daemon.control().shutdown();
//! daemon.wait().await
//! # }
//! ```

mod control;
mod discovery;
mod events;
mod executor;
mod health;
mod pacing;
mod receive;
mod runner;
mod snapshot;
mod sync_groups;
mod vmac;

pub use control::ControlError;
pub use events::{DaemonEvent, EVENT_BUFFER, EventReceiver, EventsError, PeerLoss};

use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use vip_health::CheckConfig;
use vrrp_core::{Reason, State, Track};
use vrrp_net::netlink::{AddressMark, NetlinkError};

use crate::config::Plan;
use crate::status::Snapshot;

/// How the daemon leaves when asked to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StopMode {
    /// Make-before-break (the default): a master sends priority 0 but keeps its VIPs until
    /// the new master's advert arrives (at most Master_Down_Interval), so clients never see a
    /// gap.
    #[default]
    Handover,
    /// RFC 5798's shutdown: priority 0 and the VIPs removed at once (keepalived's behaviour).
    Immediate,
}

impl StopMode {
    /// The gentler of two modes is the one asked for only if both allow it.
    const fn min_with(self, configured: Self) -> Self {
        match (self, configured) {
            (Self::Handover, Self::Handover) => Self::Handover,
            _ => Self::Immediate,
        }
    }
}

/// Why the daemon could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DaemonError {
    /// A netlink request failed.
    #[error(transparent)]
    Netlink(#[from] NetlinkError),
    /// An interface of the configuration does not exist.
    #[error("instance {instance:?}: interface {interface:?} does not exist on this host")]
    UnknownInterface {
        /// The instance.
        instance: String,
        /// The interface.
        interface: String,
    },
    /// A VIP is already on its interface, and vipd did not add it (the node's own address,
    /// or one configured by hand or by another program): vipd would take it over and remove
    /// it when leaving Master.
    #[error(
        "instance {instance:?}: VIP {vip} is already on interface {interface:?} and was not added \
         by vipd (it is this node's own address, or configured by hand or by another program): \
         choose a free address for the VIP"
    )]
    AddressInUse {
        /// The instance.
        instance: String,
        /// The VIP.
        vip: std::net::IpAddr,
        /// The interface.
        interface: String,
    },
    /// The `unicast_src_ip` is not an address of the VRRP interface.
    #[error(
        "instance {instance:?}: unicast_src_ip {address} is not an address of interface \
         {interface:?}: adverts can only be sent from this node's own address; add it to the \
         interface or fix unicast_src_ip"
    )]
    NoUnicastSource {
        /// The instance.
        instance: String,
        /// The configured source.
        address: std::net::IpAddr,
        /// The VRRP interface.
        interface: String,
    },
    /// The interface has no hardware address to announce from.
    #[error("instance {instance:?}: interface {interface:?} has no MAC address for announcements")]
    NoMac {
        /// The instance.
        instance: String,
        /// The interface.
        interface: String,
    },
    /// A socket could not be opened (CAP_NET_RAW missing, ...).
    #[error("interface {interface:?}: {source}")]
    Socket {
        /// The interface.
        interface: String,
        /// What failed.
        #[source]
        source: std::io::Error,
    },
    /// The engine refused an instance.
    #[error("instance {instance:?}: {source}")]
    Engine {
        /// The instance.
        instance: String,
        /// What it refused.
        #[source]
        source: vrrp_core::AddError,
    },
    /// A tracked object or check was registered for an instance the plan does not have.
    #[error(
        "no instance named {instance:?} in the configuration: register {what:?} on one of its instances"
    )]
    UnknownInstance {
        /// The instance named.
        instance: String,
        /// What was registered.
        what: String,
    },
    /// A check registered by the embedder has a field out of range.
    #[error("instance {instance:?}, check {check:?}: {source}")]
    Check {
        /// The instance.
        instance: String,
        /// The check.
        check: String,
        /// The field and the fix.
        #[source]
        source: vip_health::TimingError,
    },
    /// The event loop task panicked or was cancelled.
    #[error("the daemon task ended abnormally: {0}")]
    Task(String),
}

/// The state of one instance, as the daemon's watchers see it ([`DaemonHandle::states`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceState {
    /// Its name.
    pub name: String,
    /// Its state.
    pub state: State,
    /// Why it entered that state.
    pub reason: Option<Reason>,
    /// Its effective priority.
    pub priority: u8,
}

/// The daemon's entry point.
#[derive(Debug)]
pub struct Daemon;

impl Daemon {
    /// A builder for the validated configuration `plan`.
    #[must_use]
    pub const fn builder(plan: Plan) -> DaemonBuilder {
        DaemonBuilder {
            plan,
            options: Options {
                stop: StopMode::Handover,
                mark: None,
            },
            tracks: Vec::new(),
            checks: Vec::new(),
        }
    }
}

/// Builds a running daemon ([`DaemonBuilder::start`]).
#[derive(Debug)]
pub struct DaemonBuilder {
    plan: Plan,
    options: Options,
    /// The embedder's tracked objects, by instance name.
    tracks: Vec<(String, Track)>,
    /// The embedder's checks, by instance name.
    checks: Vec<(String, CheckConfig)>,
}

/// How the daemon runs, beside its configuration.
#[derive(Debug, Clone, Copy)]
struct Options {
    stop: StopMode,
    /// The mark of vipd's addresses; `None` to probe the kernel.
    mark: Option<AddressMark>,
}

impl DaemonBuilder {
    /// How to stop ([`StopMode::Handover`] by default).
    #[must_use]
    pub const fn stop_mode(mut self, stop: StopMode) -> Self {
        self.options.stop = stop;
        self
    }

    /// How vipd recognises its addresses. By default (`None`) the kernel is probed at start:
    /// `IFA_PROTO` ([`AddressMark::Protocol`] with
    /// [`VIPD_ADDRESS_PROTOCOL`](vrrp_net::netlink::VIPD_ADDRESS_PROTOCOL)) where it keeps it
    /// (Linux 5.18 and later), else [`AddressMark::Lifetime`]. Forcing `VipLifetime` tests the
    /// fallback of older kernels on a new one.
    #[must_use]
    pub const fn address_mark(mut self, mark: Option<AddressMark>) -> Self {
        self.options.mark = mark;
        self
    }

    /// Registers a tracked object of the embedder on instance `instance`, which the
    /// embedder then sets with [`Control::set_track`] or [`Control::set_track_weight`]
    /// ([`Track::effect`] says what its weight does). Checked by [`start`](Self::start).
    #[must_use]
    pub fn track(mut self, instance: &str, track: Track) -> Self {
        self.tracks.push((instance.to_owned(), track));
        self
    }

    /// Registers a check of the embedder ([`CheckConfig::custom`] around its
    /// [`Probe`](vip_health::Probe), or a built-in one) on instance `instance`: it runs
    /// with the configured checks, by the same rules, and feeds the tracked object of its
    /// name. Checked by [`start`](Self::start).
    #[must_use]
    pub fn check(mut self, instance: &str, check: CheckConfig) -> Self {
        self.checks.push((instance.to_owned(), check));
        self
    }

    /// Resolves the interfaces, removes the leftovers of an earlier run, opens the sockets
    /// and starts the event loop (within a tokio runtime, in the network namespace of the
    /// interfaces, with CAP_NET_ADMIN and CAP_NET_RAW).
    ///
    /// # Errors
    /// [`DaemonError`] if anything the configuration names is missing or cannot be opened,
    /// or a tracked object or check is registered for an unknown instance
    /// ([`DaemonError::UnknownInstance`]) or breaks a rule ([`DaemonError::Check`],
    /// [`DaemonError::Engine`]: a name used twice, a weight out of range); then
    /// no VIP has been touched but vipd's own leftovers.
    pub async fn start(self) -> Result<DaemonHandle, DaemonError> {
        let mut plan = self.plan;
        for (instance, track) in self.tracks {
            let Some(p) = plan.instances.iter_mut().find(|p| p.name == instance) else {
                return Err(DaemonError::UnknownInstance {
                    instance,
                    what: track.name,
                });
            };
            p.engine.tracks.push(track);
        }
        for (instance, check) in self.checks {
            let Some(p) = plan.instances.iter_mut().find(|p| p.name == instance) else {
                return Err(DaemonError::UnknownInstance {
                    instance,
                    what: check.name,
                });
            };
            check.check_timing().map_err(|source| DaemonError::Check {
                instance: instance.clone(),
                check: check.name.clone(),
                source,
            })?;
            p.push_check(check);
        }
        let (command_tx, command_rx) = mpsc::unbounded_channel();
        let (states_tx, states_rx) = watch::channel(Vec::new());
        let (events_tx, _) = broadcast::channel(EVENT_BUFFER);
        let events = events_tx.downgrade();
        let task = runner::start(
            plan,
            self.options,
            command_rx,
            states_tx,
            runner::Events::new(events_tx),
        )
        .await?;
        Ok(DaemonHandle {
            control: Control {
                commands: command_tx,
                events,
            },
            states: states_rx,
            task,
        })
    }
}

/// Commands to a running daemon.
#[derive(Debug)]
enum Command {
    Stop(StopMode),
    Reload(Box<Plan>),
    Snapshot(oneshot::Sender<Snapshot>),
    Input(control::Input, oneshot::Sender<Result<(), ControlError>>),
}

/// Stops, reloads or inspects a running daemon; cloneable, so a signal handler or the HTTP
/// API can hold one while another task waits on the [`DaemonHandle`].
#[derive(Debug, Clone)]
pub struct Control {
    commands: mpsc::UnboundedSender<Command>,
    /// The event stream's sender, held by the event loop alone so that subscribers see it
    /// close when the daemon stops.
    events: broadcast::WeakSender<DaemonEvent>,
}

impl Control {
    /// Stops the daemon with its configured [`StopMode`]. Asking again while a handover runs
    /// stops at once.
    pub fn shutdown(&self) {
        let _ = self.commands.send(Command::Stop(StopMode::Handover));
    }

    /// Stops the daemon at once (RFC shutdown), whatever its mode.
    pub fn shutdown_now(&self) {
        let _ = self.commands.send(Command::Stop(StopMode::Immediate));
    }

    /// Applies a new, validated configuration: unchanged instances keep their state and
    /// VIPs, changed ones are updated, removed ones release their VIPs, added ones start.
    pub fn reload(&self, plan: Plan) {
        let _ = self.commands.send(Command::Reload(Box::new(plan)));
    }

    /// A new subscription to the daemon's events, from now on; closed at once if the daemon
    /// has stopped.
    #[must_use]
    pub fn events(&self) -> EventReceiver {
        let rx = match self.events.upgrade() {
            Some(tx) => tx.subscribe(),
            // A channel whose sender is gone: the receiver reports Closed.
            None => broadcast::channel(1).1,
        };
        EventReceiver { rx }
    }

    /// The daemon's state, taken by its event loop between two inputs; `None` once it has
    /// stopped. How long this takes is how responsive the event loop is (`/healthz`).
    pub async fn snapshot(&self) -> Option<Snapshot> {
        let (tx, rx) = oneshot::channel();
        self.commands.send(Command::Snapshot(tx)).ok()?;
        rx.await.ok()
    }
}

/// A running daemon: its [`Control`], its instances' states, and the task to wait for.
#[derive(Debug)]
pub struct DaemonHandle {
    control: Control,
    states: watch::Receiver<Vec<InstanceState>>,
    task: JoinHandle<()>,
}

impl DaemonHandle {
    /// Stops, reloads or inspects the daemon; clone it to keep it after [`wait`](Self::wait).
    #[must_use]
    pub const fn control(&self) -> &Control {
        &self.control
    }

    /// A new subscription to the daemon's events ([`Control::events`]).
    #[must_use]
    pub fn events(&self) -> EventReceiver {
        self.control.events()
    }

    /// A receiver of every instance's state, updated on each state change.
    #[must_use]
    pub fn states(&self) -> watch::Receiver<Vec<InstanceState>> {
        self.states.clone()
    }

    /// Waits until the daemon has stopped and released its VIPs.
    ///
    /// # Errors
    /// [`DaemonError::Task`] if the event loop panicked.
    pub async fn wait(self) -> Result<(), DaemonError> {
        self.task
            .await
            .map_err(|e| DaemonError::Task(e.to_string()))
    }
}
