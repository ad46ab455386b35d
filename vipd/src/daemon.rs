//! The daemon: one task that owns a [`vrrp_core::Router`] and drives it with real I/O.
//!
//! Inputs reach the task through channels: adverts from one reader task per raw socket,
//! link and address changes from netlink, commands from a [`DaemonHandle`], and the engine's
//! own deadline. After each input the task performs every action the engine returns, in
//! order: VIPs through netlink (marked as vipd's, with a kernel lifetime renewed while
//! Master), adverts on the raw socket, gratuitous ARP / unsolicited NA on the VIP interface,
//! state changes to the log, the notify hooks and the handle's watchers.
//!
//! ```no_run
//! # async fn demo(plan: vipd::config::Plan) -> Result<(), vipd::daemon::DaemonError> {
//! let daemon = vipd::daemon::Daemon::builder(plan).start().await?;
//! let mut states = daemon.states();
//! states.changed().await.ok();
//! println!("{:?}", *states.borrow());
//! daemon.shutdown();
//! daemon.wait().await
//! # }
//! ```

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tracing::{debug, error, info, warn};
use vrrp_core::{Action, Family, InstanceKey, Reason, Router, State};
use vrrp_net::announce::Announcer;
use vrrp_net::netlink::{Lifetime as NetLifetime, NetEvent, Netlink, NetlinkError};
use vrrp_net::socket::{Mode, OwnedReceived, VrrpSocket};

use crate::config::{InstancePlan, Plan};
use crate::duration::Lifetime;
use crate::notify::{Notification, Notifier, Outcome};
use crate::status::{self, Snapshot};
use std::time::SystemTime;
use vip_health::{CheckConfig, CheckKind, CheckState, HealthEvent, HealthMonitor};

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
    /// The event loop task panicked or was cancelled.
    #[error("the daemon task ended abnormally: {0}")]
    Task(String),
}

/// What the daemon reports of one instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceStatus {
    /// Its name.
    pub name: String,
    /// Its state.
    pub state: State,
    /// Why it entered that state.
    pub reason: Option<Reason>,
    /// Its effective priority.
    pub priority: u8,
}

/// Builds a [`Daemon`].
#[derive(Debug)]
pub struct DaemonBuilder {
    plan: Plan,
    stop: StopMode,
}

impl DaemonBuilder {
    /// How to stop ([`StopMode::Handover`] by default).
    #[must_use]
    pub const fn stop_mode(mut self, stop: StopMode) -> Self {
        self.stop = stop;
        self
    }

    /// Resolves the interfaces, removes the leftovers of an earlier run, opens the sockets
    /// and starts the event loop (within a tokio runtime, in the network namespace of the
    /// interfaces, with CAP_NET_ADMIN and CAP_NET_RAW).
    ///
    /// # Errors
    /// [`DaemonError`] if anything the configuration names is missing or cannot be opened;
    /// then no VIP has been touched but vipd's own leftovers.
    pub async fn start(self) -> Result<DaemonHandle, DaemonError> {
        let netlink = Netlink::new()?;
        let events = netlink.subscribe()?;
        let (input_tx, input_rx) = mpsc::channel::<Input>(1024);
        let (command_tx, command_rx) = mpsc::unbounded_channel();
        let (states_tx, states_rx) = watch::channel(Vec::new());
        let (health_tx, health_rx) = mpsc::unbounded_channel();
        let mut runner = Runner {
            router: Router::new(),
            netlink,
            instances: BTreeMap::new(),
            sockets: BTreeMap::new(),
            announcers: BTreeMap::new(),
            links: BTreeMap::new(),
            notifier: Some(Notifier::spawn(report_hook)),
            states: states_tx,
            inputs: input_tx,
            readers: Vec::new(),
            stop: self.stop,
            stopping: false,
            started: Instant::now(),
            health: None,
            health_generation: 0,
            health_tx,
        };
        // Resolve everything first, so that a bad name changes nothing.
        let mut resolved = Vec::new();
        for plan in &self.plan.instances {
            resolved.push(runner.resolve(plan).await?);
        }
        // Leftovers of a run that died without cleaning up: vipd-marked addresses on the
        // interfaces this configuration uses. Unmarked addresses are never touched.
        let ours: Vec<u32> = resolved.iter().map(|r| r.vip.index).collect();
        for (index, info) in runner
            .netlink
            .remove_leftovers(|index, _| !ours.contains(&index))
            .await?
        {
            info!(ifindex = index, address = %info.addr, "removed a VIP left over by an earlier run");
        }
        for r in resolved {
            runner.install(r).await?;
        }
        runner.router.handle_startup(Instant::now());
        runner.restart_health();
        runner.publish();
        let task =
            tokio::spawn(async move { runner.run(input_rx, command_rx, events, health_rx).await });
        Ok(DaemonHandle {
            commands: command_tx,
            states: states_rx,
            task,
        })
    }
}

/// An instance whose interfaces were found.
#[derive(Debug)]
struct Resolved {
    plan: InstancePlan,
    vrrp: vrrp_net::netlink::LinkInfo,
    vip: vrrp_net::netlink::LinkInfo,
    mac: [u8; 6],
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
            stop: StopMode::Handover,
        }
    }
}

/// Controls a running daemon from elsewhere (a signal handler); cloneable, obtained from
/// [`DaemonHandle::control`].
#[derive(Debug, Clone)]
pub struct Control {
    commands: mpsc::UnboundedSender<Command>,
}

impl Control {
    /// As [`DaemonHandle::shutdown`].
    pub fn shutdown(&self) {
        let _ = self.commands.send(Command::Stop(StopMode::Handover));
    }

    /// As [`DaemonHandle::shutdown_now`].
    pub fn shutdown_now(&self) {
        let _ = self.commands.send(Command::Stop(StopMode::Immediate));
    }

    /// Applies a new, validated configuration: unchanged instances keep their state and
    /// VIPs, changed ones are updated, removed ones release their VIPs, added ones start.
    pub fn reload(&self, plan: Plan) {
        let _ = self.commands.send(Command::Reload(plan));
    }

    /// The daemon's state, taken by its event loop between two inputs; `None` once it has
    /// stopped. How long this takes is how responsive the event loop is (`/healthz`).
    pub async fn snapshot(&self) -> Option<Snapshot> {
        let (tx, rx) = oneshot::channel();
        self.commands.send(Command::Snapshot(tx)).ok()?;
        rx.await.ok()
    }
}

/// Commands to a running daemon.
#[derive(Debug)]
enum Command {
    Stop(StopMode),
    Reload(Plan),
    Snapshot(oneshot::Sender<Snapshot>),
}

/// A running daemon: watch its instances, stop it, wait for it.
#[derive(Debug)]
pub struct DaemonHandle {
    commands: mpsc::UnboundedSender<Command>,
    states: watch::Receiver<Vec<InstanceStatus>>,
    task: JoinHandle<()>,
}

impl DaemonHandle {
    /// A receiver of every instance's status, updated on each state change.
    #[must_use]
    pub fn states(&self) -> watch::Receiver<Vec<InstanceStatus>> {
        self.states.clone()
    }

    /// Stops the daemon with its configured [`StopMode`]. Asking again while a handover runs
    /// stops at once.
    pub fn shutdown(&self) {
        let _ = self.commands.send(Command::Stop(StopMode::Handover));
    }

    /// Stops the daemon at once (RFC shutdown), whatever its mode.
    pub fn shutdown_now(&self) {
        let _ = self.commands.send(Command::Stop(StopMode::Immediate));
    }

    /// A cloneable way to stop or reload the daemon from elsewhere (a signal handler) while
    /// another task waits for it.
    #[must_use]
    pub fn control(&self) -> Control {
        Control {
            commands: self.commands.clone(),
        }
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

/// An input for the event loop.
#[derive(Debug)]
enum Input {
    Packet(u32, OwnedReceived),
}

/// One instance as the daemon manages it.
#[derive(Debug)]
struct Managed {
    plan: InstancePlan,
    vrrp_index: u32,
    vip_index: u32,
    /// The VIPs the kernel holds for this instance (added and not removed since).
    held: std::collections::BTreeSet<IpAddr>,
    /// Transitions by the state entered and the reason.
    transitions: Vec<(State, Reason, u64)>,
    announcements: u64,
    add_failures: u64,
    remove_failures: u64,
}

fn spawn_reader(ifindex: u32, socket: Arc<VrrpSocket>, tx: mpsc::Sender<Input>) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match socket.recv().await {
                Ok(packet) => {
                    if tx.send(Input::Packet(ifindex, packet)).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    warn!(interface = socket.ifname(), error = %e, "receive failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    })
}

fn report_hook(note: &Notification, argv: &[String], outcome: &Outcome) {
    let program = argv.first().map_or("", String::as_str);
    match outcome {
        Outcome::Exited(Some(0)) => debug!(instance = %note.instance, program, "notify hook done"),
        Outcome::Exited(code) => {
            warn!(instance = %note.instance, program, code = ?code, "notify hook failed");
        }
        Outcome::TimedOut => {
            warn!(instance = %note.instance, program, "notify hook timed out, killed")
        }
        Outcome::Failed(why) => {
            warn!(instance = %note.instance, program, error = %why, "notify hook")
        }
    }
}

fn statuses(router: &Router, instances: &BTreeMap<InstanceKey, Managed>) -> Vec<InstanceStatus> {
    instances
        .iter()
        .filter_map(|(key, m)| {
            router.instance(key).map(|i| InstanceStatus {
                name: m.plan.name.clone(),
                state: i.state(),
                reason: i.last_reason(),
                priority: i.effective_priority(),
            })
        })
        .collect()
}

fn net_lifetime(lifetime: Lifetime) -> NetLifetime {
    match lifetime {
        Lifetime::Forever => NetLifetime::Forever,
        Lifetime::After(d) => NetLifetime::Seconds(u32::try_from(d.0 / 1000).unwrap_or(u32::MAX)),
    }
}

/// VIPs to add, by VIP interface and lifetime, each with its prefix length and instance.
type VipBatches = BTreeMap<(u32, Lifetime), Vec<(IpAddr, u8, InstanceKey)>>;

/// Health checks with the name of the instance each belongs to.
type OwnedChecks = Vec<(String, CheckConfig)>;

/// The event loop's state.
struct Runner {
    router: Router,
    netlink: Netlink,
    instances: BTreeMap<InstanceKey, Managed>,
    sockets: BTreeMap<(u32, Family), Arc<VrrpSocket>>,
    announcers: BTreeMap<u32, Arc<Announcer>>,
    /// Up/down of every interface in use, by index.
    links: BTreeMap<u32, bool>,
    notifier: Option<Notifier>,
    states: watch::Sender<Vec<InstanceStatus>>,
    /// Where socket readers send what they receive.
    inputs: mpsc::Sender<Input>,
    /// The socket reader tasks, stopped with the daemon.
    readers: Vec<JoinHandle<()>>,
    stop: StopMode,
    stopping: bool,
    /// When the daemon started, for the uptime.
    started: Instant,
    /// The running health checks (of every instance), with what they were started from.
    health: Option<(HealthMonitor<String>, OwnedChecks)>,
    /// Which monitor is current: events of an older one are ignored.
    health_generation: u64,
    /// Where every monitor's events arrive, tagged with its generation.
    health_tx: mpsc::UnboundedSender<(u64, HealthEvent<String>)>,
}

impl Runner {
    /// Finds the interfaces of `plan`.
    async fn resolve(&self, plan: &InstancePlan) -> Result<Resolved, DaemonError> {
        let unknown = |interface: &str| DaemonError::UnknownInterface {
            instance: plan.name.clone(),
            interface: interface.to_owned(),
        };
        let vrrp = self
            .netlink
            .link_by_name(&plan.interface)
            .await
            .map_err(|_| unknown(&plan.interface))?;
        let vip = self
            .netlink
            .link_by_name(&plan.vip_interface)
            .await
            .map_err(|_| unknown(&plan.vip_interface))?;
        let mac = vip.mac.ok_or_else(|| DaemonError::NoMac {
            instance: plan.name.clone(),
            interface: plan.vip_interface.clone(),
        })?;
        Ok(Resolved {
            plan: plan.clone(),
            vrrp,
            vip,
            mac,
        })
    }

    /// Adds a resolved instance (not started): its socket and announcer if its interfaces
    /// have none yet, its link state and primary address.
    async fn install(&mut self, r: Resolved) -> Result<InstanceKey, DaemonError> {
        let Resolved {
            plan,
            vrrp,
            vip,
            mac,
        } = r;
        let now = Instant::now();
        let family = plan.engine.family();
        let mode = if plan.engine.unicast_peers.is_empty() {
            Mode::Multicast
        } else {
            Mode::Unicast
        };
        if let Entry::Vacant(slot) = self.sockets.entry((vrrp.index, family)) {
            let socket = VrrpSocket::open(vrrp.index, &vrrp.name, family, mode).map_err(|e| {
                DaemonError::Socket {
                    interface: vrrp.name.clone(),
                    source: e.into(),
                }
            })?;
            let socket = Arc::new(socket);
            let reader = spawn_reader(vrrp.index, Arc::clone(&socket), self.inputs.clone());
            self.readers.push(reader);
            slot.insert(socket);
        }
        if let Entry::Vacant(slot) = self.announcers.entry(vip.index) {
            let announcer =
                Announcer::new(vip.index, mac).map_err(|source| DaemonError::Socket {
                    interface: vip.name.clone(),
                    source,
                })?;
            slot.insert(Arc::new(announcer));
        }
        self.links.insert(vrrp.index, vrrp.up);
        self.links.insert(vip.index, vip.up);
        let key = self
            .router
            .add_instance(vrrp.index, plan.engine.clone())
            .map_err(|source| DaemonError::Engine {
                instance: plan.name.clone(),
                source,
            })?;
        let primary = self.netlink.primary_address(vrrp.index, family).await?;
        if let Some(instance) = self.router.instance_mut(&key) {
            instance.set_link_up(now, vrrp.up && vip.up);
            instance.set_primary_address(now, primary);
        }
        info!(
            instance = %plan.name,
            interface = %vrrp.name,
            vip_interface = %vip.name,
            vrid = %plan.engine.vrid,
            priority = %plan.engine.priority,
            primary = ?primary,
            "configured"
        );
        self.instances.insert(
            key,
            Managed {
                plan,
                vrrp_index: vrrp.index,
                vip_index: vip.index,
                held: std::collections::BTreeSet::new(),
                transitions: Vec::new(),
                announcements: 0,
                add_failures: 0,
                remove_failures: 0,
            },
        );
        Ok(key)
    }

    /// Ends the daemon's helpers: the socket readers stop, and the queued notify hooks (the
    /// Stop hooks above all) run to completion, bounded by the longest hook timeout.
    async fn finish(&mut self) {
        for reader in self.readers.drain(..) {
            reader.abort();
        }
        if let Some((monitor, _)) = self.health.take() {
            monitor.stop().await;
        }
        let longest = self
            .instances
            .values()
            .map(|m| m.plan.notify.timeout.to_duration())
            .max()
            .unwrap_or_default();
        if let Some(notifier) = self.notifier.take()
            && !notifier.finish(longest + Duration::from_secs(1)).await
        {
            warn!("notify hooks still running at exit were stopped");
        }
    }

    /// Starts the health checks of every instance, unless the same checks already run (a
    /// reload that leaves them alone keeps their rise/fall counts and damping).
    fn restart_health(&mut self) {
        let wanted: OwnedChecks = self
            .instances
            .values()
            .flat_map(|m| {
                m.plan
                    .checks
                    .iter()
                    .map(|c| (m.plan.name.clone(), c.clone()))
            })
            .collect();
        if self
            .health
            .as_ref()
            .is_some_and(|(_, running)| *running == wanted)
        {
            return;
        }
        // Dropping the old monitor stops its checks; its late events carry an old generation.
        self.health = None;
        self.health_generation += 1;
        if wanted.is_empty() {
            return;
        }
        info!(checks = wanted.len(), "starting health checks");
        let (monitor, mut events) = HealthMonitor::start(wanted.clone());
        let (tx, generation) = (self.health_tx.clone(), self.health_generation);
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                if tx.send((generation, event)).is_err() {
                    return;
                }
            }
        });
        self.health = Some((monitor, wanted));
    }

    /// Gives every instance the current state of its checks (after a reload restarted some
    /// instances, whose tracked objects start from their initial state).
    fn sync_checks(&mut self, now: Instant) {
        let Some((monitor, _)) = &self.health else {
            return;
        };
        for (owner, status) in monitor.statuses() {
            let up = match status.state {
                CheckState::Up => true,
                CheckState::Down => false,
                _ => continue,
            };
            self.apply_check(
                now,
                &owner,
                &status.name,
                up,
                status.fault,
                status.priority_delta,
            );
        }
    }

    /// A health check changed: tell its instance's engine.
    fn health_event(&mut self, now: Instant, event: &HealthEvent<String>) {
        info!(
            instance = %event.owner,
            check = %event.check,
            up = event.up,
            priority_delta = event.priority_delta,
            suppressed = event.suppressed,
            reason = %event.reason,
            "health check changed"
        );
        self.apply_check(
            now,
            &event.owner,
            &event.check,
            event.up,
            event.fault,
            event.priority_delta,
        );
    }

    /// Sets the tracked object `check` of instance `owner`: up or down, and for a file check
    /// (whose weight varies) its current weight.
    fn apply_check(
        &mut self,
        now: Instant,
        owner: &str,
        check: &str,
        up: bool,
        fault: bool,
        delta: i32,
    ) {
        let Some((key, m)) = self.instances.iter().find(|(_, m)| m.plan.name == owner) else {
            return;
        };
        let key = *key;
        let file = m
            .plan
            .checks
            .iter()
            .any(|c| c.name == check && matches!(c.kind, CheckKind::File(_)));
        let Some(instance) = self.router.instance_mut(&key) else {
            return;
        };
        let result = if file {
            // Weight 0 while down is Fault; otherwise the adjustment applies in the direction
            // the engine's weights do (positive while up, negative while down).
            let weight = i16::try_from(delta.clamp(-254, 254)).unwrap_or(0);
            let (track_up, weight) = match (fault, weight) {
                (true, _) => (false, 0),
                (false, w) if w < 0 => (false, w),
                (false, w) => (true, w),
            };
            instance.set_track_weighted(now, check, track_up, weight)
        } else {
            instance.set_track(now, check, up)
        };
        if let Err(e) = result {
            warn!(instance = %owner, check, error = %e, "health check has no tracked object");
        }
    }

    /// Tells the handle's watchers every instance's status.
    fn publish(&self) {
        self.states
            .send_replace(statuses(&self.router, &self.instances));
    }

    /// Applies a new configuration. Unchanged instances keep their state and VIPs; a change
    /// of priority (or of name or notify hooks only) is applied in place, with no transition;
    /// any other change restarts that instance; removed instances release their VIPs; added
    /// ones start. If an interface of the new configuration is missing, nothing changes.
    async fn reload(&mut self, plan: Plan) {
        let mut resolved = Vec::new();
        for p in &plan.instances {
            match self.resolve(p).await {
                Ok(r) => resolved.push(r),
                Err(e) => {
                    error!(error = %e, "reload refused; the running configuration is kept");
                    return;
                }
            }
        }
        let now = Instant::now();
        let mut wanted: BTreeMap<InstanceKey, Resolved> = BTreeMap::new();
        for r in resolved {
            let key = InstanceKey {
                interface: r.vrrp.index,
                vrid: r.plan.engine.vrid,
                family: r.plan.engine.family(),
            };
            wanted.insert(key, r);
        }
        let (mut kept, mut updated, mut restarted, mut removed, mut added) = (0, 0, 0, 0, 0);
        // Removed, or changed beyond what can be updated in place: release first.
        let current: Vec<InstanceKey> = self.instances.keys().copied().collect();
        for key in current {
            let in_place = match (wanted.get(&key), self.instances.get(&key)) {
                (Some(new), Some(old)) => {
                    same_but_priority(&old.plan, &new.plan, new.vip.index, old.vip_index)
                }
                _ => false,
            };
            if in_place {
                continue;
            }
            if let Some(instance) = self.router.instance_mut(&key) {
                instance.handle_shutdown(now);
            }
            self.perform_actions().await;
            self.router.remove_instance(&key);
            if self.instances.remove(&key).is_some() {
                if wanted.contains_key(&key) {
                    restarted += 1
                } else {
                    removed += 1
                }
            }
        }
        for (key, r) in wanted {
            if let Some(m) = self.instances.get_mut(&key) {
                if m.plan == r.plan {
                    kept += 1;
                    continue;
                }
                updated += 1;
                if m.plan.engine.priority != r.plan.engine.priority
                    && let Some(instance) = self.router.instance_mut(&key)
                    && let Err(e) = instance.set_priority(now, r.plan.engine.priority)
                {
                    error!(instance = %r.plan.name, error = %e, "priority not changed");
                }
                m.plan = r.plan;
                continue;
            }
            let name = r.plan.name.clone();
            match self.install(r).await {
                Ok(key) => {
                    if let Some(instance) = self.router.instance_mut(&key) {
                        instance.handle_startup(now);
                    }
                    added += 1;
                }
                Err(e) => error!(instance = %name, error = %e, "instance not started"),
            }
        }
        // Instances that were restarted count once, as restarted, not also as added.
        added -= restarted.min(added);
        self.restart_health();
        self.sync_checks(now);
        info!(
            kept,
            updated, restarted, removed, added, "configuration reloaded"
        );
        self.publish();
    }

    async fn run(
        &mut self,
        mut inputs: mpsc::Receiver<Input>,
        mut commands: mpsc::UnboundedReceiver<Command>,
        mut events: vrrp_net::netlink::NetEvents,
        mut health: mpsc::UnboundedReceiver<(u64, HealthEvent<String>)>,
    ) {
        let mut renew = tokio::time::interval(self.renew_period());
        renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            self.perform_actions().await;
            if self.stopping && self.all_stopped() {
                info!("stopped: every VIP released");
                self.finish().await;
                return;
            }
            let deadline = self.router.poll_timeout();
            let sleep = tokio::time::sleep_until(tokio::time::Instant::from_std(
                deadline.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600)),
            ));
            tokio::select! {
                Some(Input::Packet(ifindex, packet)) = inputs.recv() => {
                    if let Err(e) = self.router.handle_packet(Instant::now(), ifindex, &packet.as_received()) {
                        debug!(ifindex, src = %packet.src, error = %e, "advert dropped");
                    }
                }
                () = sleep, if deadline.is_some() => self.router.handle_timeout(Instant::now()),
                Some(command) = commands.recv() => match command {
                    Command::Stop(mode) => self.stop(mode),
                    Command::Reload(plan) if !self.stopping => self.reload(plan).await,
                    Command::Reload(_) => warn!("reload ignored: stopping"),
                    Command::Snapshot(reply) => {
                        let _ = reply.send(self.snapshot());
                    }
                },
                event = events.next() => match event {
                    Some(event) => self.net_event(event).await,
                    None => {
                        error!("netlink event stream ended; link changes are no longer seen");
                        std::future::pending::<()>().await;
                    }
                },
                _ = renew.tick() => self.renew_vips().await,
                Some((generation, event)) = health.recv() => {
                    if generation == self.health_generation {
                        self.health_event(Instant::now(), &event);
                    }
                }
            }
        }
    }

    fn stop(&mut self, asked: StopMode) {
        let now = Instant::now();
        // A second request while a handover runs stops at once.
        let mode = if self.stopping {
            StopMode::Immediate
        } else {
            asked.min_with(self.stop)
        };
        self.stopping = true;
        match mode {
            StopMode::Handover => {
                info!(
                    "stopping: handing over (priority 0 sent, VIPs kept until the new master speaks)"
                );
                self.router.handle_handover(now);
            }
            StopMode::Immediate => {
                info!("stopping: releasing every VIP now");
                self.router.handle_shutdown(now);
            }
        }
    }

    fn all_stopped(&self) -> bool {
        self.router
            .instances()
            .all(|(_, i)| i.state() == State::Initialize && !i.is_releasing())
    }

    /// How often VIP lifetimes are renewed: a third of the shortest lifetime, at least 1 s.
    fn renew_period(&self) -> Duration {
        let shortest = self
            .instances
            .values()
            .filter_map(|m| match m.plan.vip_lifetime {
                Lifetime::After(d) => Some(d.to_duration()),
                Lifetime::Forever => None,
            })
            .min()
            .unwrap_or(Duration::from_secs(3600));
        (shortest / 3).max(Duration::from_secs(1))
    }

    /// Renews the kernel lifetime of every VIP held as Master: one request batch (one
    /// address dump) per interface and lifetime, however many instances share it.
    async fn renew_vips(&mut self) {
        let mut batches = VipBatches::new();
        for (key, m) in &self.instances {
            let renewable = matches!(m.plan.vip_lifetime, Lifetime::After(_));
            let master = self
                .router
                .instance(key)
                .is_some_and(|i| i.state() == State::Master);
            if !(renewable && master) {
                continue;
            }
            let batch = batches
                .entry((m.vip_index, m.plan.vip_lifetime))
                .or_default();
            batch.extend(m.plan.vips.iter().map(|v| (v.addr, v.prefix_len, *key)));
        }
        self.add_batches(batches, true).await;
    }

    /// Whether `addr` on link `index` is one of the configured VIPs: the daemon's own adds,
    /// renewals and removals, which cannot change a primary address (it never is a VIP).
    fn is_own_vip(&self, index: u32, addr: IpAddr) -> bool {
        self.instances
            .values()
            .any(|m| m.vip_index == index && m.plan.vips.iter().any(|v| v.addr == addr))
    }

    async fn net_event(&mut self, event: NetEvent) {
        let now = Instant::now();
        match event {
            NetEvent::Link { index, up } => {
                if self.links.get(&index) == Some(&up) || !self.links.contains_key(&index) {
                    return;
                }
                self.links.insert(index, up);
                info!(ifindex = index, up, "link changed");
                let keys: Vec<InstanceKey> = self
                    .instances
                    .iter()
                    .filter(|(_, m)| m.vrrp_index == index || m.vip_index == index)
                    .map(|(k, _)| *k)
                    .collect();
                for key in keys {
                    let Some(m) = self.instances.get(&key) else {
                        continue;
                    };
                    let usable = self.links.get(&m.vrrp_index).copied().unwrap_or(false)
                        && self.links.get(&m.vip_index).copied().unwrap_or(false);
                    if let Some(instance) = self.router.instance_mut(&key) {
                        instance.set_link_up(now, usable);
                    }
                }
            }
            // Renewing N VIPs produces N events; re-reading the addresses for each, for every
            // instance, was quadratic (and starved the event loop at 255 instances).
            NetEvent::AddressAdded { index, addr, .. }
            | NetEvent::AddressRemoved { index, addr, .. }
                if !self.is_own_vip(index, addr) =>
            {
                self.refresh_primaries(now, Some(index)).await;
            }
            NetEvent::Overrun => {
                warn!("netlink events were lost; re-reading addresses");
                self.refresh_primaries(now, None).await;
            }
            _ => {}
        }
    }

    /// Re-reads the primary address of the instances on `index` (all if `None`): one address
    /// dump per interface and family, shared by the instances on it.
    async fn refresh_primaries(&mut self, now: Instant, index: Option<u32>) {
        let mut links: BTreeMap<(u32, Family), Vec<InstanceKey>> = BTreeMap::new();
        for (key, m) in &self.instances {
            if index.is_none_or(|i| i == m.vrrp_index) {
                links
                    .entry((m.vrrp_index, m.plan.engine.family()))
                    .or_default()
                    .push(*key);
            }
        }
        for ((ifindex, family), keys) in links {
            let primary = match self.netlink.primary_address(ifindex, family).await {
                Ok(primary) => primary,
                Err(e) => {
                    warn!(ifindex, error = %e, "reading the primary address failed");
                    continue;
                }
            };
            let mut logged = false;
            for key in keys {
                if let Some(instance) = self.router.instance_mut(&key)
                    && instance.primary_address() != primary
                {
                    if !logged {
                        info!(ifindex, primary = ?primary, "primary address changed");
                        logged = true;
                    }
                    instance.set_primary_address(now, primary);
                }
            }
        }
    }

    /// Performs every pending action, in order.
    ///
    /// The VIP additions that come before any removal are done first, in one batch per
    /// interface (one address dump instead of one per VIP): when many instances become Master
    /// at once, their adverts then leave within milliseconds instead of each waiting for the
    /// netlink round trips of every instance before it.
    async fn perform_actions(&mut self) {
        let mut actions = Vec::new();
        while let Some(next) = self.router.poll_action() {
            actions.push(next);
        }
        if actions.is_empty() {
            return;
        }
        let hoisted = actions
            .iter()
            .position(|(_, a)| matches!(a, Action::RemoveVip(_)))
            .unwrap_or(actions.len());
        self.add_vips_batched(&actions[..hoisted]).await;
        let mut changed = false;
        for (i, (key, action)) in actions.into_iter().enumerate() {
            let Some(m) = self.instances.get(&key) else {
                continue;
            };
            let name = m.plan.name.as_str();
            match action {
                Action::AddVip(_) if i < hoisted => {}
                Action::StateChanged { from, to, reason } => {
                    info!(instance = %name, from = %from, to = %to, reason = %reason, "state changed");
                    changed = true;
                    if let Some(m) = self.instances.get_mut(&key) {
                        match m
                            .transitions
                            .iter_mut()
                            .find(|t| (t.0, t.1) == (to, reason))
                        {
                            Some(t) => t.2 += 1,
                            None => m.transitions.push((to, reason, 1)),
                        }
                    }
                    let Some(m) = self.instances.get(&key) else {
                        continue;
                    };
                    let name = m.plan.name.as_str();
                    let priority = self
                        .router
                        .instance(&key)
                        .map_or(0, vrrp_core::Instance::effective_priority);
                    if let Some(notifier) = &self.notifier {
                        notifier.notify(
                            &m.plan.notify,
                            Notification {
                                instance: name.to_owned(),
                                state: to,
                                reason: reason.to_string(),
                                priority,
                                vips: m.plan.vips.iter().map(ToString::to_string).collect(),
                            },
                        );
                    }
                }
                Action::AddVip(addr) => {
                    let prefix = prefix_of(m, addr);
                    let lifetime = net_lifetime(m.plan.vip_lifetime);
                    match self
                        .netlink
                        .add_vip(m.vip_index, addr, prefix, lifetime)
                        .await
                    {
                        Ok(()) => {
                            info!(instance = %name, vip = %addr, lifetime = %lifetime, "VIP added")
                        }
                        Err(e) => {
                            error!(instance = %name, vip = %addr, error = %e, "adding the VIP failed")
                        }
                    }
                }
                Action::RemoveVip(addr) => {
                    let prefix = prefix_of(m, addr);
                    let result = self.netlink.remove_vip(m.vip_index, addr, prefix).await;
                    match &result {
                        Ok(()) => info!(instance = %name, vip = %addr, "VIP removed"),
                        Err(e) => {
                            error!(instance = %name, vip = %addr, error = %e, "removing the VIP failed")
                        }
                    }
                    if let Some(m) = self.instances.get_mut(&key) {
                        match result {
                            Ok(()) => {
                                m.held.remove(&addr);
                            }
                            Err(_) => m.remove_failures += 1,
                        }
                    }
                }
                Action::SendAdvertisement(tx) => {
                    let family = Family::of(&tx.dst);
                    if let Some(socket) = self.sockets.get(&(m.vrrp_index, family))
                        && let Err(e) = socket.send(&tx).await
                    {
                        debug!(instance = %name, dst = %tx.dst, error = %e, "sending the advert failed");
                    }
                }
                Action::Announce(addr) => {
                    let sent = match self.announcers.get(&m.vip_index).map(|a| a.announce(addr)) {
                        Some(Ok(())) => true,
                        Some(Err(e)) => {
                            warn!(instance = %name, vip = %addr, error = %e, "announcement failed");
                            false
                        }
                        None => false,
                    };
                    if let (true, Some(m)) = (sent, self.instances.get_mut(&key)) {
                        m.announcements += 1;
                    }
                }
                other => debug!(instance = %name, action = ?other, "action not handled"),
            }
        }
        if changed {
            self.publish();
        }
    }
}

impl Runner {
    /// Performs the [`Action::AddVip`]s among `actions`, one netlink batch per interface and
    /// lifetime, logging each result.
    async fn add_vips_batched(&mut self, actions: &[(InstanceKey, Action)]) {
        let mut batches = VipBatches::new();
        for (key, action) in actions {
            if let (Action::AddVip(addr), Some(m)) = (action, self.instances.get(key)) {
                batches
                    .entry((m.vip_index, m.plan.vip_lifetime))
                    .or_default()
                    .push((*addr, prefix_of(m, *addr), *key));
            }
        }
        self.add_batches(batches, false).await;
    }

    /// Adds (or, with `renewing`, renews) VIPs grouped by interface and lifetime, one netlink
    /// batch each, and logs each result (renewals only when they fail).
    async fn add_batches(&mut self, batches: VipBatches, renewing: bool) {
        for ((index, lifetime), batch) in batches {
            let vips: Vec<(IpAddr, u8)> = batch.iter().map(|(a, p, _)| (*a, *p)).collect();
            let lifetime = net_lifetime(lifetime);
            let results = self.netlink.add_vips(index, &vips, lifetime).await;
            for ((addr, _, key), result) in batch.iter().zip(results) {
                let Some(m) = self.instances.get_mut(key) else {
                    continue;
                };
                let name = m.plan.name.as_str();
                match result {
                    Ok(()) => {
                        if !renewing {
                            info!(instance = %name, vip = %addr, lifetime = %lifetime, "VIP added");
                        }
                        m.held.insert(*addr);
                    }
                    Err(e) => {
                        let what = if renewing { "renewing" } else { "adding" };
                        error!(instance = %name, vip = %addr, error = %e, "{what} the VIP failed");
                        m.add_failures += 1;
                    }
                }
            }
        }
    }
}

impl Runner {
    /// Everything `/status` and `/metrics` report, as of now.
    fn snapshot(&self) -> Snapshot {
        let now = Instant::now();
        let wall = SystemTime::now();
        let ago = |t: Instant| now.saturating_duration_since(t).as_secs_f64();
        let unix = |t: Instant| {
            wall.checked_sub(now.saturating_duration_since(t))
                .and_then(|w| w.duration_since(SystemTime::UNIX_EPOCH).ok())
                .map(|d| d.as_secs_f64())
        };
        let peer = |p: &vrrp_core::MasterInfo, local: bool| status::Peer {
            address: p.address.to_string(),
            priority: p.priority,
            interval_ms: u64::from(p.interval.as_centis().get()) * 10,
            age_seconds: if local { 0.0 } else { ago(p.seen) },
            local,
        };
        let router = self.router.stats();
        let mut instances = Vec::new();
        for (key, m) in &self.instances {
            let Some(i) = self.router.instance(key) else {
                continue;
            };
            let state = i.state();
            let contributions = i
                .tracks()
                .map(|(name, weight, up)| status::Contribution {
                    name: name.to_owned(),
                    weight,
                    up,
                    effect: match (weight, up) {
                        (w, true) if w > 0 => i32::from(w),
                        (w, false) if w < 0 => i32::from(w),
                        _ => 0,
                    },
                })
                .collect();
            let master = if state == State::Master {
                i.primary_address().map(|address| {
                    peer(
                        &vrrp_core::MasterInfo {
                            address,
                            priority: i.effective_priority(),
                            interval: i.config().advert_interval,
                            seen: now,
                        },
                        true,
                    )
                })
            } else if state == State::Backup {
                i.master().map(|p| peer(&p, false))
            } else {
                None
            };
            let prefix = |addr: &IpAddr| format!("{addr}/{}", prefix_of(m, *addr));
            let mut transitions: Vec<status::Transition> = m
                .transitions
                .iter()
                .map(|(to, reason, count)| status::Transition {
                    to: to.to_string(),
                    reason: reason.to_string(),
                    count: *count,
                })
                .collect();
            transitions.sort_by(|a, b| (&a.to, &a.reason).cmp(&(&b.to, &b.reason)));
            instances.push(status::InstanceStatus {
                name: m.plan.name.clone(),
                interface: m.plan.interface.clone(),
                vip_interface: m.plan.vip_interface.clone(),
                vrid: key.vrid.get(),
                family: match key.family {
                    Family::Ipv4 => "ipv4",
                    Family::Ipv6 => "ipv6",
                }
                .to_owned(),
                version: match m.plan.engine.version {
                    vrrp_core::Version::V2 => 2,
                    _ => 3,
                },
                state: state.to_string(),
                since_seconds: i.state_since().map(ago),
                since_unix: i.state_since().and_then(unix),
                reason: i.last_reason().map(|r| r.to_string()),
                fault: i.fault().map(|r| r.to_string()),
                base_priority: m.plan.engine.priority.get(),
                effective_priority: i.effective_priority(),
                contributions,
                master,
                vips: m.plan.vips.iter().map(ToString::to_string).collect(),
                vips_held: m.held.iter().map(prefix).collect(),
                peers: i.peers().iter().map(|p| peer(p, false)).collect(),
                transitions,
                counters: engine_counters(i.stats()),
                announcements: m.announcements,
                vip_add_failures: m.add_failures,
                vip_remove_failures: m.remove_failures,
                checks: self.check_statuses(&m.plan.name),
            });
        }
        Snapshot {
            version: crate::VERSION.to_owned(),
            uptime_seconds: ago(self.started),
            ready: !self.stopping,
            unmatched: vec![
                status::Counter {
                    name: "vrid".into(),
                    value: router.vrid_errors,
                },
                status::Counter {
                    name: "length".into(),
                    value: router.packet_length_errors,
                },
            ],
            instances,
        }
    }
}

impl Runner {
    /// The health checks of instance `owner`, for the snapshot.
    fn check_statuses(&self, owner: &str) -> Vec<status::CheckStatus> {
        let Some((monitor, _)) = &self.health else {
            return Vec::new();
        };
        monitor
            .statuses()
            .into_iter()
            .filter(|(o, _)| o == owner)
            .map(|(_, c)| status::CheckStatus {
                up: c.state == CheckState::Up,
                last_ok: c.last_result.map(|r| r == vip_health::ProbeResult::Ok),
                latency_seconds: c.last_latency.map(|d| d.as_secs_f64()),
                successes: c.consecutive_successes,
                failures: c.consecutive_failures,
                transitions: c.transitions,
                suppressed: c.suppressed,
                last_error: c.last_error,
                name: c.name,
            })
            .collect()
    }
}

/// The engine's counters of one instance, named for `/status` and `/metrics`.
fn engine_counters(s: &vrrp_core::Stats) -> Vec<status::Counter> {
    [
        ("adverts_sent", s.sent_advertisements),
        ("adverts_received", s.rcvd_advertisements),
        ("priority_zero_sent", s.sent_pri_zero_packets),
        ("priority_zero_received", s.rcvd_pri_zero_packets),
        ("master_transitions", s.master_transitions),
        ("own_adverts", s.own_adverts),
        ("error_ttl", s.ip_ttl_errors),
        ("error_version", s.version_errors),
        ("error_type", s.rcvd_invalid_type_packets),
        ("error_length", s.packet_length_errors),
        ("error_checksum", s.checksum_errors),
        ("error_interval", s.adv_interval_errors),
        ("error_address_list", s.address_list_errors),
        ("error_auth_failure", s.auth_failures),
        ("error_auth_type_invalid", s.invalid_auth_type),
        ("error_auth_type_mismatch", s.auth_type_mismatch),
        ("error_unknown_peer", s.unknown_peer),
    ]
    .into_iter()
    .map(|(name, value)| status::Counter {
        name: name.to_owned(),
        value,
    })
    .collect()
}

fn prefix_of(m: &Managed, addr: IpAddr) -> u8 {
    m.plan
        .vips
        .iter()
        .find(|v| v.addr == addr)
        .map_or(if addr.is_ipv4() { 32 } else { 128 }, |v| v.prefix_len)
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

/// Whether `new` differs from `old` at most in priority, name and notify hooks, which can be
/// applied to a running instance without a transition.
fn same_but_priority(old: &InstancePlan, new: &InstancePlan, new_vip: u32, old_vip: u32) -> bool {
    let mut a = old.engine.clone();
    a.priority = new.engine.priority;
    a == new.engine
        && old.vips == new.vips
        && old.vip_lifetime == new.vip_lifetime
        && old.interface == new.interface
        && new_vip == old_vip
}
