//! The event loop: start-up, inputs, reload and stop (the VIP renewal in `renew`, reloads
//! in `reload`, link and address events in `events`, the embedder's side in `embed`,
//! discovered peers in `peers`).

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{FutureExt, StreamExt};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{debug, error, info, warn};
use vrrp_core::{Action, InstanceKey, Router, State};
use vrrp_net::announce::Announcer;
use vrrp_net::netlink::{AddressMark, NetEvents, Netlink, VIPD_ADDRESS_PROTOCOL};
use vrrp_net::socket::{OwnedReceived, VrrpSocket};
use vrrp_net::timer::DeadlineTimer;

use super::discovery::{Discovery, PeerUpdate};
use super::executor::{Executor, Instances, Managed};
use super::health::{Health, Tagged};
use super::receive::Receivers;
use super::snapshot;
use super::sync_groups::SyncGroups;
use super::{Command, DaemonError, InstanceState, StopMode};
use crate::config::{InstancePlan, Plan};

mod embed;
mod events;
mod peers;
mod reload;
mod renew;

pub(super) use embed::Events;

/// An instance whose interfaces were found.
#[derive(Debug)]
struct Resolved {
    plan: InstancePlan,
    vrrp: vrrp_net::netlink::LinkInfo,
    vip: vrrp_net::netlink::LinkInfo,
    mac: [u8; 6],
    /// The interfaces of the addresses with a `dev` of their own, by name.
    extra: BTreeMap<String, vrrp_net::netlink::LinkInfo>,
}

impl Resolved {
    /// The interface address `addr` goes on: its `dev`, else the VIP interface.
    fn index_of(&self, addr: IpAddr) -> u32 {
        super::executor::link_of(&self.plan, addr, self.vip.index, |dev| {
            self.extra.get(dev).map(|link| link.index)
        })
    }
}

/// The event loop's state.
struct Runner {
    router: Router,
    instances: Instances,
    executor: Executor,
    /// Up/down of every interface in use, by index.
    links: BTreeMap<u32, bool>,
    states: watch::Sender<Vec<InstanceState>>,
    /// The VRRP sockets, read by the loop itself.
    receivers: Receivers,
    health: Health,
    /// The watches of discovered unicast peers.
    discovery: Discovery,
    stop: StopMode,
    stopping: bool,
    /// When the daemon started, for the uptime.
    started: Instant,
    /// The engine's next deadline, at nanosecond resolution.
    timer: DeadlineTimer,
    /// The engine's pending actions, drained into this reused buffer (no allocation per
    /// advert).
    actions: Vec<(InstanceKey, Action)>,
    /// When the VIP lifetimes are next renewed; `None` while no Master holds a VIP with a
    /// finite lifetime (a Backup never wakes for it).
    renew_at: Option<Instant>,
    /// Whether the renewal due was postponed to just after the engine's next deadline.
    renew_postponed: bool,
    /// Whether the held VIPs are known to be still vipd's own from the address events alone,
    /// so a renewal needs no address dump: false at start and after the event socket
    /// overflowed, until a renewal has read the addresses again.
    ownership_known: bool,
    /// The embedder's event stream.
    events: Events,
    sync_groups: SyncGroups,
}

/// At most this many adverts are read in one go when several are waiting: enough for a
/// burst of a Master's instances, few enough that a due timer is never held back for long
/// (each advert takes microseconds).
const RECEIVE_BURST: usize = 64;

/// The address mark to use: the one asked for, or `IFA_PROTO` when the kernel keeps it
/// (Linux 5.18 and later) and the finite-lifetime mark otherwise.
async fn address_mark(asked: Option<AddressMark>) -> Result<AddressMark, DaemonError> {
    if let Some(mark) = asked {
        info!(mark = %mark, "address mark set by configuration");
        return Ok(mark);
    }
    let probe = Netlink::new(AddressMark::Lifetime)?;
    let mark = if probe.probe_protocol_mark(VIPD_ADDRESS_PROTOCOL).await? {
        AddressMark::Protocol(VIPD_ADDRESS_PROTOCOL)
    } else {
        warn!(
            "this kernel does not keep IFA_PROTO (Linux before 5.18): vipd's VIPs are recognised by their finite lifetime instead"
        );
        AddressMark::Lifetime
    };
    info!(mark = %mark, "address mark");
    Ok(mark)
}

/// Resolves the interfaces of `plan`, removes the leftovers of an earlier run, opens the
/// sockets and spawns the event loop.
pub(super) async fn start(
    plan: Plan,
    options: super::Options,
    commands: mpsc::UnboundedReceiver<Command>,
    states: watch::Sender<Vec<InstanceState>>,
    embedder: Events,
) -> Result<JoinHandle<()>, DaemonError> {
    let mark = address_mark(options.mark).await?;
    let stop = options.stop;
    let netlink = Netlink::new(mark)?;
    let events = netlink.subscribe()?;
    let (health, health_rx) = Health::new();
    let (discovery, peers_rx) = Discovery::new();
    let timer = DeadlineTimer::new().map_err(|e| DaemonError::Task(format!("timerfd: {e}")))?;
    let mut runner = Runner {
        router: Router::new(),
        instances: Instances::new(),
        executor: Executor::new(netlink),
        links: BTreeMap::new(),
        states,
        receivers: Receivers::new(),
        health,
        discovery,
        stop,
        stopping: false,
        started: Instant::now(),
        timer,
        actions: Vec::new(),
        renew_at: None,
        renew_postponed: false,
        ownership_known: false,
        events: embedder,
        sync_groups: SyncGroups::default(),
    };
    // Virtual MAC interfaces a crashed run of this configuration left (with its VIPs on them).
    super::vmac::remove_leftovers(&runner.executor.netlink, &plan).await?;
    // Resolve everything first, so that a bad name changes nothing.
    let mut resolved = Vec::new();
    for plan in plan.instances() {
        resolved.push(runner.resolve(plan).await?);
    }
    for r in &resolved {
        runner.check_vips_free(r).await?;
    }
    // Leftovers of a run of this configuration that died without cleaning up: its own VIPs,
    // on their interfaces, carrying vipd's mark. Another vipd's addresses (another release
    // on this node) and unmarked addresses are never touched.
    let ours: std::collections::BTreeSet<(u32, IpAddr)> = resolved
        .iter()
        .flat_map(|r| r.plan.vips.iter().map(|v| (r.index_of(v.addr), v.addr)))
        .collect();
    for (index, info) in runner
        .executor
        .netlink
        .remove_marked(|index, a| ours.contains(&(index, a.addr)))
        .await?
    {
        info!(ifindex = index, address = %info.addr, "removed a VIP left over by an earlier run");
    }
    runner.discovery.sync(resolved.iter().map(|r| &r.plan));
    for r in resolved {
        runner.install(r).await?;
    }
    runner.update_memberships();
    runner.sync_groups.configure(
        Instant::now(),
        plan.sync_groups(),
        &mut runner.router,
        &runner.instances,
    );
    runner.router.handle_startup(Instant::now());
    runner.health.restart(&runner.instances);
    runner.publish();
    Ok(tokio::spawn(async move {
        runner.run(commands, events, health_rx, peers_rx).await;
    }))
}

impl Runner {
    /// Finds the interfaces of `plan`.
    async fn resolve(&self, plan: &InstancePlan) -> Result<Resolved, DaemonError> {
        let unknown = |interface: &str| DaemonError::UnknownInterface {
            instance: plan.name.clone(),
            interface: interface.to_owned(),
        };
        let vrrp = self
            .executor
            .netlink
            .link_by_name(&plan.interface)
            .await
            .map_err(|_| unknown(&plan.interface))?;
        let vip = match super::vmac::vip_link(&self.executor.netlink, plan, &vrrp).await? {
            Some(vmac) => vmac,
            None => self
                .executor
                .netlink
                .link_by_name(&plan.vip_interface)
                .await
                .map_err(|_| unknown(&plan.vip_interface))?,
        };
        let mac = vip.mac.ok_or_else(|| DaemonError::NoMac {
            instance: plan.name.clone(),
            interface: plan.vip_interface.clone(),
        })?;
        let mut extra = BTreeMap::new();
        for dev in plan.extra_vip_interfaces() {
            let link = self
                .executor
                .netlink
                .link_by_name(dev)
                .await
                .map_err(|_| unknown(dev))?;
            if link.mac.is_none() {
                return Err(DaemonError::NoMac {
                    instance: plan.name.clone(),
                    interface: dev.to_owned(),
                });
            }
            extra.insert(dev.to_owned(), link);
        }
        Ok(Resolved {
            plan: plan.clone(),
            vrrp,
            vip,
            mac,
            extra,
        })
    }

    /// Refuses a VIP that is already on its interface without vipd's mark (the node's own
    /// address, or one configured by hand or by another program), and a `unicast_src_ip`
    /// that is not on the VRRP interface.
    async fn check_vips_free(&self, r: &Resolved) -> Result<(), DaemonError> {
        let netlink = &self.executor.netlink;
        let family = r.plan.engine.family();
        for link in std::iter::once(&r.vip).chain(r.extra.values()) {
            let present = netlink.addresses(link.index, family).await?;
            for vip in &r.plan.vips {
                if r.index_of(vip.addr) == link.index
                    && present
                        .iter()
                        .any(|a| a.addr == vip.addr && !a.is_marked(netlink.mark()))
                {
                    return Err(DaemonError::AddressInUse {
                        instance: r.plan.name.clone(),
                        vip: vip.addr,
                        interface: link.name.clone(),
                    });
                }
            }
        }
        if let Some(source) = r.plan.engine.unicast_source {
            let own = netlink.addresses(r.vrrp.index, family).await?;
            if !own.iter().any(|a| a.addr == source) {
                return Err(DaemonError::NoUnicastSource {
                    instance: r.plan.name.clone(),
                    address: source,
                    interface: r.vrrp.name.clone(),
                });
            }
        }
        Ok(())
    }

    /// Adds a resolved instance (not started): its socket and announcer if its interfaces
    /// have none yet, its link state and primary address.
    async fn install(&mut self, r: Resolved) -> Result<InstanceKey, DaemonError> {
        let Resolved {
            plan,
            vrrp,
            vip,
            mac,
            extra,
        } = r;
        let now = Instant::now();
        let family = plan.engine.family();
        if let Entry::Vacant(slot) = self.executor.sockets.entry((vrrp.index, family)) {
            let socket = VrrpSocket::open(vrrp.index, &vrrp.name, family).map_err(|e| {
                DaemonError::Socket {
                    interface: vrrp.name.clone(),
                    source: e.into(),
                }
            })?;
            let socket = Arc::new(socket);
            self.receivers.add(vrrp.index, Arc::clone(&socket));
            slot.insert(socket);
        }
        if let Some(socket) = super::vmac::open_socket(&mut self.executor, &plan, &vip)? {
            // What arrives on the virtual MAC interface is the VRRP interface's.
            self.receivers.add(vrrp.index, socket);
        }
        for (link, mac) in
            std::iter::once((&vip, mac)).chain(extra.values().filter_map(|l| Some((l, l.mac?))))
        {
            if let Entry::Vacant(slot) = self.executor.announcers.entry(link.index) {
                let announcer =
                    Announcer::new(link.index, mac).map_err(|source| DaemonError::Socket {
                        interface: link.name.clone(),
                        source,
                    })?;
                let (garp, na) = plan.announce_pacing();
                slot.insert(super::pacing::Paced::new(announcer, garp, na));
            }
        }
        self.links.insert(vrrp.index, vrrp.up);
        self.links.insert(vip.index, vip.up);
        for link in extra.values() {
            self.links.insert(link.index, link.up);
        }
        let key = self
            .router
            .add_instance(vrrp.index, self.engine_config(vrrp.index, &plan).await)
            .map_err(|source| DaemonError::Engine {
                instance: plan.name.clone(),
                source,
            })?;
        let primary = self
            .executor
            .netlink
            .primary_address(vrrp.index, family)
            .await?;
        info!(
            instance = %plan.name,
            interface = %vrrp.name,
            vip_interface = %vip.name,
            vrid = %plan.engine.vrid,
            priority = %plan.engine.priority,
            primary = ?primary,
            "configured"
        );
        let mut managed = Managed::new(plan, vrrp.index, vip.index);
        managed.extra_links = extra.into_iter().map(|(n, l)| (n, l.index)).collect();
        let usable = self.links_usable(&managed);
        if let Some(instance) = self.router.instance_mut(&key) {
            instance.set_link_up(now, usable);
        }
        self.instances.insert(key, managed);
        self.set_primary(now, key, primary).await;
        Ok(key)
    }

    /// Whether the links of `m` let it run: its interface and VIP interface (see
    /// [`InstancePlan::link_usable`]), and the interface of each address with a `dev` of its
    /// own unless `no_track`.
    fn links_usable(&self, m: &Managed) -> bool {
        let up = |index: &u32| self.links.get(index).copied().unwrap_or(false);
        m.plan.link_usable(up(&m.vrrp_index), up(&m.vip_index))
            && m.extra_links
                .iter()
                .all(|(dev, index)| up(index) || !m.plan.tracks_dev(dev))
    }

    /// Gives instance `key` its primary address: the engine's advert source and, on an IPv6
    /// virtual MAC interface, the address that interface must carry to send from it.
    async fn set_primary(&mut self, now: Instant, key: InstanceKey, primary: Option<IpAddr>) {
        if let Some(m) = self.instances.get(&key) {
            super::vmac::carry_primary(&self.executor.netlink, &m.plan, m.vip_index, primary).await;
        }
        if let Some(instance) = self.router.instance_mut(&key) {
            instance.set_primary_address(now, primary);
        }
    }

    /// Ends the daemon's helpers: the socket readers stop, and the queued notify hooks (the
    /// Stop hooks above all) run to completion, bounded by twice the longest hook timeout (a
    /// hook still running, then the Stop hook after it).
    async fn finish(&mut self) {
        self.receivers.clear();
        self.health.stop().await;
        self.discovery.stop();
        for m in self.instances.values() {
            super::vmac::release(&mut self.executor, m).await;
        }
        let longest = self
            .instances
            .values()
            .map(|m| m.plan.notify.timeout.to_duration())
            .max()
            .unwrap_or_default();
        if let Some(notifier) = self.executor.notifier.take()
            && !notifier.finish(longest * 2 + Duration::from_secs(1)).await
        {
            warn!("notify hooks still running at exit were stopped");
        }
    }

    /// Joins the VRRP multicast group on each socket that a multicast instance uses, and
    /// leaves it where only unicast instances remain (after a reload).
    fn update_memberships(&self) {
        for ((index, family), socket) in &self.executor.sockets {
            let wanted = self.instances.iter().any(|(key, m)| {
                (key.interface == *index || m.send_index() == *index)
                    && key.family == *family
                    && !m.plan.engine.is_unicast()
            });
            if socket.is_multicast() != wanted {
                match socket.set_multicast(wanted) {
                    Ok(()) => {
                        info!(interface = socket.ifname(), group = %socket.group(), joined = wanted, "multicast membership changed")
                    }
                    Err(e) => {
                        error!(interface = socket.ifname(), error = %e, "changing the multicast membership failed")
                    }
                }
            }
        }
    }

    /// Tells the handle's watchers every instance's state.
    fn publish(&self) {
        let states = self
            .instances
            .iter()
            .filter_map(|(key, m)| {
                self.router.instance(key).map(|i| InstanceState {
                    name: m.plan.name.clone(),
                    state: i.state(),
                    reason: i.last_reason(),
                    priority: i.effective_priority(),
                })
            })
            .collect();
        self.states.send_replace(states);
    }

    /// Performs every pending action of the engine, in order.
    async fn perform_actions(&mut self) {
        while let Some(next) = self.router.poll_action() {
            self.actions.push(next);
        }
        let group_events: Vec<_> = std::iter::from_fn(|| self.router.poll_group_event()).collect();
        if !self.actions.is_empty() {
            let events = self.events.of_actions(&self.actions, &self.instances);
            if self
                .executor
                .perform(&mut self.actions, &mut self.instances, &self.router)
                .await
            {
                self.publish();
                self.schedule_renewal(false);
            }
            self.events.send_all(events);
        }
        if !group_events.is_empty() {
            self.sync_groups
                .report(group_events, &self.executor, &self.router, &self.instances);
        }
    }

    async fn run(
        &mut self,
        mut commands: mpsc::UnboundedReceiver<Command>,
        mut events: NetEvents,
        mut health: mpsc::UnboundedReceiver<Tagged>,
        mut peers: mpsc::UnboundedReceiver<PeerUpdate>,
    ) {
        loop {
            self.perform_actions().await;
            self.observe_peers(Instant::now());
            if self.stopping && self.all_stopped() {
                info!("stopped: every VIP released");
                self.finish().await;
                return;
            }
            // The engine's deadline or the renewal, whichever comes first, on the timerfd (a
            // system call only when it changed); tokio's 1 ms timer only if arming failed.
            let engine = self.router.poll_timeout();
            let deadline = match (engine, self.renew_at) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let precise = match self.timer.arm(deadline) {
                Ok(()) => true,
                Err(e) => {
                    error!(error = %e, "arming the timer failed; using the 1 ms timer");
                    false
                }
            };
            let coarse = tokio::time::sleep_until(tokio::time::Instant::from_std(
                deadline.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600)),
            ));
            // In order, the timer first: an advert due is sent before anything else is read.
            tokio::select! {
                biased;
                fired = self.timer.fired(), if precise && deadline.is_some() => {
                    if let Err(e) = fired {
                        error!(error = %e, "waiting for the timer failed");
                    }
                    self.timer_fired(Instant::now(), engine, &mut events).await;
                }
                () = coarse, if !precise && deadline.is_some() => {
                    self.timer_fired(Instant::now(), engine, &mut events).await;
                }
                (ifindex, packet) = self.receivers.next() => {
                    self.received(ifindex, packet);
                    // A burst (many instances' adverts at once) is read whole, up to a bound,
                    // before the loop goes round: one timer update per burst, not per advert.
                    for _ in 1..RECEIVE_BURST {
                        let Some((ifindex, packet)) = self.receivers.next().now_or_never() else {
                            break;
                        };
                        self.received(ifindex, packet);
                    }
                }
                Some(command) = commands.recv() => match command {
                    Command::Stop(mode) => self.stop(mode),
                    Command::Reload(plan) if !self.stopping => {
                        self.reload(*plan).await;
                        self.schedule_renewal(true);
                    }
                    Command::Reload(_) => warn!("reload ignored: stopping"),
                    Command::Input(input, reply) => self.input(input, reply).await,
                    Command::Snapshot(reply) => {
                        let _ = reply.send(snapshot::take(&snapshot::Sources {
                            router: &self.router,
                            instances: &self.instances,
                            health: &self.health,
                            discovery: &self.discovery,
                            started: self.started,
                            stopping: self.stopping,
                        }));
                    }
                },
                event = events.next() => match event {
                    Some(event) => self.net_event(event).await,
                    None => {
                        error!("netlink event stream ended; link changes are no longer seen");
                        std::future::pending::<()>().await;
                    }
                },
                Some(tagged) = health.recv() => {
                    if tagged.0 == self.health.generation() {
                        self.events.check(&tagged.1, &self.instances);
                    }
                    self.health.event(Instant::now(), &tagged, &mut self.router, &self.instances);
                }
                Some(update) = peers.recv(), if !self.stopping => self.peers_changed(update).await,
            }
        }
    }

    /// Hands an advert to the engine and its payload allocation back to the receivers.
    fn received(&mut self, ifindex: u32, packet: OwnedReceived) {
        if let Err(e) = self
            .router
            .handle_packet(Instant::now(), ifindex, &packet.as_received())
        {
            debug!(ifindex, src = %packet.src, error = %e, "advert dropped");
        }
        self.receivers.give(packet.payload);
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

    /// Whether `addr` on link `index` is one of the configured VIPs: the daemon's own adds,
    /// renewals and removals, which cannot change a primary address (it never is a VIP).
    fn is_own_vip(&self, index: u32, addr: IpAddr) -> bool {
        self.instances
            .values()
            .any(|m| m.plan.vip(addr).is_some() && m.vip_index_of(addr) == index)
    }
}
