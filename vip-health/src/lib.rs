//! Local health checks that decide where a virtual IP may live.
//!
//! # Where things live
//!
//! In dependency order (each module's code uses only modules above it):
//!
//! | module | holds |
//! |---|---|
//! | [`duration`] | [`ConfigDuration`], the one duration type of every configuration file (vipd's too) |
//! | `field_error` | [`FieldError`], the one configuration error (field path + message) |
//! | `spec` | the configuration as written: [`CheckSpec`] and its parts (serde, unknown fields refused) |
//! | `builtins` | the built-in checks (`service`, `kubelet`, `kube-api`, `node-ready`) and overriding them |
//! | `address` | syntax of targets: [`ParsedUrl`], `host:port`, interface and node names |
//! | `threshold`, `damping` | rise/fall counting ([`Threshold`]), flap damping ([`Damping`], [`DampingConfig`]) |
//! | `config` | validated runtime types: [`CheckConfig`], [`CheckKind`], [`CheckEffect`], per-kind settings |
//! | `env` | in-cluster defaults from the environment: [`process_env`], service-account paths |
//! | `validate` | the rules, [`CheckSpec::validate`] and [`validate_checks`]: spec → config |
//! | `track` | [`TrackState`]: what a check's state means to its instance's tracked object |
//! | `filter` | [`StateFilter`]: probe results through rise/fall, then damping |
//! | `probe` | one probe per kind (http/tls, tcp, exec, file, interface, kube), [`ProbeError`] |
//! | `status` | what is reported: [`HealthEvent`], [`CheckStatus`], [`CheckState`], [`ProbeResult`] |
//! | `monitor` | [`HealthMonitor`]: one task per check, events and status snapshots |
//! | [`kube_watch`] | list and watch of a Kubernetes collection on the `kube` probe's client ([`kube_watch::Watcher`]) |
//!
//! Every public item is re-exported here at the crate root.
//!
//! # Contract
//!
//! * **Configuration** is validated once: deserialize a [`CheckSpec`] per entry of a VRRP
//!   instance's `checks:` list (unknown fields are refused), then [`validate_checks`] (or
//!   [`CheckSpec::validate`]) turns them into [`CheckConfig`]s or a list of [`FieldError`]s,
//!   each naming its field (`instances[0].checks[1].timeout`) and the fix. Validation reads
//!   the environment through the closure it is given and touches no file or network.
//! * **Runtime**: [`HealthMonitor::start`] spawns one task per check on the current tokio
//!   runtime. Each probe is bounded by its check's timeout (which is below its interval), so a
//!   hung endpoint never delays another check or anything else on the runtime; nothing blocks
//!   a thread. Results go through rise/fall ([`Threshold`]) and optional flap damping
//!   ([`Damping`]), combined in [`StateFilter`]; only changes of the resulting state (and of a
//!   file check's adjustment) are sent as [`HealthEvent`]s. A [`CheckStatus`] snapshot per
//!   check is cheap to read at any time.
//! * **Stop**: dropping the monitor stops every check promptly; [`HealthMonitor::stop`] waits
//!   for them. An exec probe's process group is killed when its probe times out or is
//!   cancelled.
//! * **Effect**: this crate knows nothing of VRRP and computes no priority. Each check is one
//!   tracked object of its instance in the engine, which applies keepalived's weight rule:
//!   vipd creates it with [`CheckConfig::track_weight`] and [`CheckConfig::initially_up`],
//!   and gives it every [`HealthEvent::track`], a [`TrackState`] (up or down, and a `file`
//!   check's current weight). It logs with `tracing` (a span per check) and never installs a
//!   subscriber.
//!
//! # Run loop
//!
//! ```
//! use vip_health::{CheckSpec, HealthMonitor, TrackState, process_env, validate_checks};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
//! runtime.block_on(async {
//!     // Something to check: a local TCP listener.
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//!     let yaml = format!(
//!         "- name: api-port\n  tcp: {{ address: \"{}\" }}\n  interval: 100ms\n",
//!         listener.local_addr()?
//!     );
//!     let specs: Vec<CheckSpec> = serde_yaml_ng::from_str(&yaml)?;
//!     let checks = validate_checks(&specs, "instances[0].checks", &process_env)
//!         .map_err(|errors| format!("{errors:?}"))?;
//!
//!     let (monitor, mut events) =
//!         HealthMonitor::start(checks.into_iter().map(|c| ("VI_1".to_owned(), c)));
//!     // The first result decides a check's state at once (keepalived's default).
//!     let event = events.recv().await.ok_or("monitor gone")?;
//!     assert_eq!((event.owner.as_str(), event.check.as_str(), event.up), ("VI_1", "api-port", true));
//!
//!     drop(listener); // the port now refuses connections
//!     let event = events.recv().await.ok_or("monitor gone")?;
//!     assert!(!event.up, "{}", event.reason);
//!     // What the engine needs: the tracked object is down, with its static weight (0 for
//!     // this check, `action: fault` being the default: the instance goes to Fault).
//!     assert_eq!(event.track, TrackState { up: false, weight: None });
//!
//!     let status = monitor.status(&"VI_1".to_owned(), "api-port").ok_or("no status")?;
//!     assert!(status.last_error.is_some_and(|e| e.contains("cannot connect")));
//!     monitor.stop().await;
//!     Ok::<_, Box<dyn std::error::Error>>(())
//! })?;
//! # Ok(())
//! # }
//! ```
//!
//! # Configuration
//!
//! ```yaml
//! checks:
//!   - name: service            # unique within the instance; defaults to the builtin's name
//!     http:                    # exactly one kind key: http | tcp | exec | file | interface
//!                              #                       | kube_api | node_ready
//!       url: http://127.0.0.1:10254/healthz   # http:// or https://
//!       expect_status: [200]                  # default [200]
//!       ca_file: /path/ca.pem                 # https: trust only these CAs (default: the
//!                                             # system bundle, /etc/ssl/certs/ca-certificates.crt)
//!       client_cert: /path/c.pem              # client certificate, with client_key
//!       client_key: /path/k.pem
//!       bearer_token_file: /path/token        # re-read on every probe; never logged
//!       host: ingress.example                 # Host header and TLS server name
//!       insecure_skip_verify: false           # true: a warning is logged whenever the check starts
//!     interval: 2s             # "500ms", "2s", "1.5s", "1m", or a number of seconds; default 1s
//!     timeout: 1s              # below interval; default half the interval, at most 2s
//!     rise: 2                  # default 1
//!     fall: 2                  # default 1
//!     action: fault            # Fault while down (the default) ...
//!     # weight: -40            # ... or a weight in -254..254 (0 means fault); not both
//!     initial: first_result    # first_result (default) | up | down
//!     damping:                 # optional; every field has the default shown
//!       penalty: 1000
//!       half_life: 30s
//!       suppress: 2000
//!       reuse: 750
//!       max_suppress: 5m
//!   - builtin: service         # any field given overrides the builtin's
//!     http: { url: http://127.0.0.1:6443/healthz }
//!   - name: api-port
//!     tcp: { address: "127.0.0.1:6443" }      # IPv6 as "[::1]:6443"
//!   - name: script
//!     exec: { command: ["/usr/local/bin/check", "--fast"] }   # argv, no shell
//!   - name: script2
//!     exec: { command: ["test -f /run/ok"], shell: true }    # /bin/sh -c STRING
//!   - name: script3            # as a user with no capabilities (keepalived's `user`)
//!     exec: { command: ["/usr/local/bin/check"], run_as: {user: nobody, group: nogroup} }
//!   - name: maint
//!     file: { path: /etc/vipd/weight }
//!     weight: 10
//!   - name: uplink
//!     interface: { name: eth1 }
//!   - name: api
//!     kube_api: { path: /livez }  # host, port, token_file, ca_file: in-cluster defaults
//!   - name: ready
//!     node_ready: { node: worker-1 }   # default $NODE_NAME
//! ```
//!
//! Builtins, with the seed charts' defaults:
//!
//! | builtin | kind | interval | rise | fall | effect |
//! |---|---|---|---|---|---|
//! | `service` | http `http://127.0.0.1:10254/healthz` | 2 s | 2 | 2 | fault |
//! | `kubelet` | http `http://127.0.0.1:10248/healthz` | 5 s | 1 | 5 | fault |
//! | `kube-api` | kube_api `/healthz` | 5 s | 1 | 5 | weight -40 |
//! | `node-ready` | node_ready | 10 s | 1 | 3 | fault |
//!
//! ## Effects, keepalived's meaning
//!
//! `action: fault` (or `weight: 0`) puts the instance in Fault while the check is down. A
//! positive `weight` is added to the priority while the check is up, a negative one while it
//! is down. A `file` check follows keepalived's `track_file`: the number in the file times the
//! weight (default 1) is the adjustment, at or below -254 is Fault, above 253 counts as 253;
//! with `action: fault` any non-zero number is Fault (details at [`FileCheck`]). The engine
//! applies these rules; how a check's state reaches it is tabled at [`TrackState`].
//!
//! ## Initial state, keepalived's meaning
//!
//! By default (`first_result`) a check has no state until its first probe, whose result is
//! taken at once whatever `rise` and `fall` are, as keepalived does for a `vrrp_script`
//! without `init_fail`; meanwhile a fault check keeps its instance out of Master and a weight
//! is not applied ([`CheckConfig::initially_up`]). `initial: down` is keepalived's
//! `init_fail`: down until `rise` successes. `initial: up` starts up until `fall` failures.
//!
//! ## Kubernetes checks
//!
//! `kube_api` GETs `https://HOST:PORT/PATH` and is up on 200; `node_ready` GETs
//! `/api/v1/nodes/NODE` and is up iff the node's `Ready` condition is `"True"`. Both send the
//! bearer token (re-read every probe) and verify the server against `ca_file`. Defaults: host
//! `$KUBERNETES_SERVICE_HOST`, port `$KUBERNETES_SERVICE_PORT` (else 443), token and CA from
//! `/var/run/secrets/kubernetes.io/serviceaccount/`, node `$NODE_NAME`.
//!
//! ## Probes
//!
//! HTTP(S) opens a fresh connection per probe (HTTP/1.1, `Connection: close`), reads at most
//! 64 KiB of the body (8 MiB for a node object), and reads the CA, client certificate and key
//! files on every probe so rotated files take effect. Exec runs without a shell unless
//! `shell: true`, in its own process group, with stdin and stdout closed and the first line of
//! stderr (at most 200 characters) as the error text; on timeout the group is killed and the
//! child reaped. An interface is up while `/sys/class/net/NAME/operstate` is `up`, or
//! `unknown` with carrier (loopback).

mod address;
mod builtins;
mod config;
mod custom;
mod damping;
pub mod duration;
mod env;
mod field_error;
mod filter;
pub mod kube_watch;
mod monitor;
mod probe;
mod run_as;
mod spec;
mod status;
mod threshold;
mod track;
mod validate;

pub use address::ParsedUrl;
/// The attribute a [`Probe`] implementation carries (`#[vip_health::async_trait]`), so that
/// an embedder needs no dependency of its own on `async-trait`.
pub use async_trait::async_trait;
pub use config::{
    CheckConfig, CheckEffect, CheckKind, ExecCheck, FileCheck, HttpCheck, InterfaceCheck,
    KubeApiCheck, KubeEndpoint, NodeReadyCheck, TcpCheck,
};
pub use custom::{CustomCheck, Probe, TimingError};
pub use damping::{Damping, DampingConfig};
pub use duration::{ConfigDuration, ConfigDurationVisitor};
pub use env::{
    SERVICE_ACCOUNT_CA, SERVICE_ACCOUNT_NAMESPACE, SERVICE_ACCOUNT_TOKEN, is_secret_env,
    kube_endpoint_at, process_env,
};
pub use field_error::FieldError;
pub use filter::StateFilter;
pub use monitor::HealthMonitor;
pub use probe::ProbeError;
pub use run_as::{NameOrId, RunAs, RunAsSpec};
pub use spec::{
    CheckAction, CheckSpec, DampingSpec, ExecSpec, FileSpec, HttpSpec, InitialState, InterfaceSpec,
    KubeApiSpec, NodeReadySpec, TcpSpec,
};
pub use status::{CheckState, CheckStatus, HealthEvent, ProbeResult};
pub use threshold::Threshold;
pub use track::TrackState;
pub use validate::{
    DEFAULT_INTERVAL, DEFAULT_TIMEOUT_CAP, MAX_WEIGHT, MIN_INTERVAL, validate_checks,
};
