//! The runtime: [`HealthMonitor`] runs one task per check on the current tokio runtime, sends
//! transitions on a channel and keeps a status snapshot per check.

use std::fmt::Debug;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};
use tracing::{Instrument, debug, info, warn};

use crate::config::{CheckConfig, CheckKind};
use crate::filter::StateFilter;
use crate::probe::{self, ProbeState};
use crate::status::{CheckState, CheckStatus, HealthEvent, ProbeResult};
use crate::track::TrackState;

struct Entry<O> {
    owner: O,
    name: String,
    status: watch::Receiver<CheckStatus>,
}

/// Runs health checks, each in its own task on the tokio runtime it was started on. Owners
/// given equal checks (a sync group's check, given to each member) share one task and its
/// probes; each owner gets its own events and status.
///
/// Every probe is bounded by its check's timeout, so a hung endpoint delays nothing but its
/// own check. Transitions come on the channel returned by [`start`](Self::start); status
/// snapshots are read with [`statuses`](Self::statuses) or [`status`](Self::status).
///
/// Dropping the monitor stops every check promptly (an exec probe in flight has its process
/// group killed); [`stop`](Self::stop) also waits until they have stopped.
///
/// `O` is an opaque owner tag carried in events and status, e.g. the VRRP instance's name.
pub struct HealthMonitor<O = String> {
    entries: Vec<Entry<O>>,
    cancel: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl<O> Debug for HealthMonitor<O>
where
    O: Debug,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HealthMonitor")
            .field(
                "checks",
                &self
                    .entries
                    .iter()
                    .map(|e| (&e.owner, &e.name))
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl<O> HealthMonitor<O>
where
    O: Clone + Debug + Send + Sync + 'static,
{
    /// Starts every check now, on the current tokio runtime; the first probe of each runs at
    /// once. Returns the monitor and the receiver of [`HealthEvent`]s.
    ///
    /// The channel is unbounded so that a slow reader never delays a check; events are only
    /// sent on transitions, at most one per probe. Checks keep running if the receiver is
    /// dropped.
    ///
    /// # Panics
    /// Outside a tokio runtime (like `tokio::spawn`).
    pub fn start(
        checks: impl IntoIterator<Item = (O, CheckConfig)>,
    ) -> (Self, mpsc::UnboundedReceiver<HealthEvent<O>>) {
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let (cancel, _) = watch::channel(false);
        // Owners with the same check (a sync group's check, given to each member) share one
        // probe: its results are each owner's.
        let mut groups: Vec<(CheckConfig, Vec<O>)> = Vec::new();
        let mut group_of = Vec::new();
        for (owner, config) in checks {
            let g = match groups.iter().position(|(c, _)| *c == config) {
                Some(g) => g,
                None => {
                    groups.push((config, Vec::new()));
                    groups.len() - 1
                }
            };
            groups[g].1.push(owner.clone());
            group_of.push((owner, g));
        }
        let channels: Vec<_> = groups
            .iter()
            .map(|(config, _)| watch::channel(initial_status(config)))
            .collect();
        let entries = group_of
            .into_iter()
            .map(|(owner, g)| Entry {
                owner,
                name: groups[g].0.name.clone(),
                status: channels[g].1.clone(),
            })
            .collect();
        let mut tasks = Vec::new();
        for ((config, owners), (status_tx, _)) in groups.into_iter().zip(channels) {
            let span = tracing::info_span!("health_check", owner = ?owners, check = %config.name);
            let task = run_check(
                owners,
                config,
                events_tx.clone(),
                status_tx,
                cancel.subscribe(),
            );
            tasks.push(tokio::spawn(task.instrument(span)));
        }
        (
            Self {
                entries,
                cancel,
                tasks,
            },
            events_rx,
        )
    }

    /// A snapshot of every check, in the order they were started.
    #[must_use]
    pub fn statuses(&self) -> Vec<(O, CheckStatus)> {
        self.entries
            .iter()
            .map(|e| (e.owner.clone(), e.status.borrow().clone()))
            .collect()
    }

    /// A snapshot of one check.
    #[must_use]
    pub fn status(&self, owner: &O, check: &str) -> Option<CheckStatus>
    where
        O: PartialEq,
    {
        self.entry(owner, check).map(|e| e.status.borrow().clone())
    }

    /// A receiver that sees every status update of one check (after each probe).
    #[must_use]
    pub fn watch(&self, owner: &O, check: &str) -> Option<watch::Receiver<CheckStatus>>
    where
        O: PartialEq,
    {
        self.entry(owner, check).map(|e| e.status.clone())
    }

    fn entry(&self, owner: &O, check: &str) -> Option<&Entry<O>>
    where
        O: PartialEq,
    {
        self.entries
            .iter()
            .find(|e| &e.owner == owner && e.name == check)
    }

    /// Number of checks.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no checks.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Stops every check and waits until their tasks have ended (an exec probe in flight has
    /// its process group killed).
    pub async fn stop(mut self) {
        let _ = self.cancel.send(true);
        for task in std::mem::take(&mut self.tasks) {
            let _ = task.await;
        }
    }
}

impl<O> Drop for HealthMonitor<O> {
    fn drop(&mut self) {
        let _ = self.cancel.send(true);
    }
}

fn initial_status(config: &CheckConfig) -> CheckStatus {
    let filter = StateFilter::new(config.rise, config.fall, config.initial, config.damping);
    let track = config.track_state(config.initially_up(), 0);
    CheckStatus {
        name: config.name.clone(),
        state: CheckState::from_option(filter.reported()),
        filtered: CheckState::from_option(filter.filtered()),
        track,
        last_result: None,
        last_latency: None,
        consecutive_successes: 0,
        consecutive_failures: 0,
        last_error: None,
        last_detail: None,
        probes: 0,
        transitions: 0,
        penalty: 0.0,
        suppressed: false,
    }
}

async fn sleep_until_opt(deadline: Option<std::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(Instant::from_std(d)).await,
        None => std::future::pending().await,
    }
}

/// What a check task remembers between probes.
struct Run<O> {
    /// Every owner of the check (one probe serves owners with the same check).
    owners: Vec<O>,
    config: CheckConfig,
    filter: StateFilter,
    events: mpsc::UnboundedSender<HealthEvent<O>>,
    status: watch::Sender<CheckStatus>,
    /// Latest adjustment read by a file check.
    file_adjustment: i32,
    /// The tracked object's state last reported.
    reported_track: TrackState,
    last_error: Option<String>,
    last_detail: Option<String>,
}

impl<O: Clone + Debug> Run<O> {
    fn emit(&mut self, up: bool, reason: String) {
        let track = self.config.track_state(up, self.file_adjustment);
        self.reported_track = track;
        let suppressed = self
            .filter
            .damping()
            .is_some_and(crate::Damping::is_suppressed);
        if up {
            info!(track_up = track.up, track_weight = track.weight, %reason, "check is up");
        } else {
            info!(
                track_up = track.up,
                track_weight = track.weight,
                suppressed,
                %reason,
                "check is down"
            );
        }
        for owner in &self.owners {
            let _ = self.events.send(HealthEvent {
                owner: owner.clone(),
                check: self.config.name.clone(),
                up,
                track,
                suppressed,
                reason: reason.clone(),
            });
        }
    }

    fn reason(&self, up: bool) -> String {
        let suppressed = self
            .filter
            .damping()
            .is_some_and(crate::Damping::is_suppressed);
        if !up && suppressed && self.filter.filtered() == Some(true) {
            return "held down by flap damping".to_owned();
        }
        if up {
            self.last_detail.clone().unwrap_or_else(|| "up".to_owned())
        } else {
            self.last_error.clone().unwrap_or_else(|| "down".to_owned())
        }
    }

    fn publish(&self, now: std::time::Instant, probe: Option<(bool, Duration)>) {
        let reported = self.filter.reported();
        let track = match reported {
            Some(up) => self.config.track_state(up, self.file_adjustment),
            None => self.config.track_state(self.config.initially_up(), 0),
        };
        let damping = self.filter.damping();
        self.status.send_modify(|s| {
            s.state = CheckState::from_option(reported);
            s.filtered = CheckState::from_option(self.filter.filtered());
            s.track = track;
            s.transitions = self.filter.transitions();
            s.penalty = damping.map_or(0.0, |d| d.penalty(now));
            s.suppressed = damping.is_some_and(crate::Damping::is_suppressed);
            s.last_error.clone_from(&self.last_error);
            s.last_detail.clone_from(&self.last_detail);
            if let Some((ok, latency)) = probe {
                s.probes += 1;
                s.last_latency = Some(latency);
                if ok {
                    s.last_result = Some(ProbeResult::Ok);
                    s.consecutive_successes = s.consecutive_successes.saturating_add(1);
                    s.consecutive_failures = 0;
                } else {
                    s.last_result = Some(ProbeResult::Fail);
                    s.consecutive_failures = s.consecutive_failures.saturating_add(1);
                    s.consecutive_successes = 0;
                }
            }
        });
    }
}

async fn run_check<O: Clone + Debug>(
    owners: Vec<O>,
    config: CheckConfig,
    events: mpsc::UnboundedSender<HealthEvent<O>>,
    status: watch::Sender<CheckStatus>,
    mut cancel: watch::Receiver<bool>,
) {
    if let CheckKind::Http(h) = &config.kind
        && h.insecure_skip_verify
    {
        warn!(
            url = %h.url,
            "insecure_skip_verify is set: the server's TLS certificate is NOT verified"
        );
    }
    debug!(interval = ?config.interval, timeout = ?config.timeout, "check started");
    let filter = StateFilter::new(config.rise, config.fall, config.initial, config.damping);
    let reported_track = config.track_state(config.initially_up(), 0);
    let mut run = Run {
        owners,
        config,
        filter,
        events,
        status,
        file_adjustment: 0,
        reported_track,
        last_error: None,
        last_detail: None,
    };
    let mut state = ProbeState::default();
    let mut ticker = tokio::time::interval(run.config.interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        if *cancel.borrow() {
            break;
        }
        let release = run.filter.next_deadline();
        tokio::select! {
            biased;
            _ = cancel.changed() => break,
            () = sleep_until_opt(release) => {
                let now = Instant::now().into_std();
                if let Some(up) = run.filter.poll(now) {
                    let reason = if up {
                        "released by flap damping".to_owned()
                    } else {
                        run.reason(false)
                    };
                    run.emit(up, reason);
                }
                run.publish(now, None);
                continue;
            }
            _ = ticker.tick() => {}
        }
        let started = Instant::now();
        let result = tokio::select! {
            biased;
            _ = cancel.changed() => break,
            r = probe::run(&run.config, &mut state) => r,
        };
        let latency = started.elapsed();
        let now = Instant::now().into_std();
        let ok = match result {
            Ok(p) => {
                debug!(latency_ms = latency.as_millis(), detail = %p.detail, "probe passed");
                if let Some(adjustment) = p.adjustment {
                    run.file_adjustment = adjustment;
                }
                run.last_detail = Some(p.detail);
                true
            }
            Err(e) => {
                debug!(latency_ms = latency.as_millis(), error = %e, "probe failed");
                run.last_error = Some(e.to_string());
                false
            }
        };
        if let Some(up) = run.filter.record(now, ok) {
            let reason = run.reason(up);
            run.emit(up, reason);
        } else if run.filter.reported() == Some(true)
            && run.config.track_state(true, run.file_adjustment) != run.reported_track
        {
            // A file check's adjustment changed while it is up.
            let reason = run.reason(true);
            run.emit(true, reason);
        }
        run.publish(now, Some((ok, latency)));
    }
    debug!("check stopped");
}
