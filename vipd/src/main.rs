//! The vipd binary.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use vipd::config::{Config, ConfigFileError, Overrides, Plan};
use vipd::daemon::{Daemon, DaemonError, StopMode};
use vipd::duration::ConfigDuration;
use vipd::vrrp_net::netlink::{AddressMark, VIPD_ADDRESS_PROTOCOL};

/// vipd: a floating-IP (VIP) manager speaking VRRP v2/v3, interoperable with keepalived.
#[derive(Debug, Parser)]
#[command(name = "vipd", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the daemon: hold the VIPs while this node is Master.
    ///
    /// SIGTERM or SIGINT hands over (priority 0, VIPs kept until the new master speaks, then
    /// released); a second signal, or --stop-immediately, releases at once. SIGHUP reloads the
    /// configuration file: unchanged instances keep their state, a bad file is refused.
    Run {
        /// The YAML configuration file; omit it to configure with flags and VIPD_* variables.
        #[arg(long, short = 'c', env = "VIPD_CONFIG")]
        config: Option<PathBuf>,
        /// Log format: text for people, json for Kubernetes log collectors.
        #[arg(long, env = "VIPD_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
        log_format: String,
        /// Log level or filter (RUST_LOG syntax), e.g. info or vipd=debug.
        #[arg(long, env = "VIPD_LOG_LEVEL", default_value = "info")]
        log_level: String,
        /// On SIGTERM, release the VIPs at once (RFC 5798) instead of handing over.
        #[arg(long, env = "VIPD_STOP_IMMEDIATELY")]
        stop_immediately: bool,
        /// How vipd recognises the VIPs it added: auto probes the kernel (IFA_PROTO on Linux
        /// 5.18 and later, else lifetime); protocol forces IFA_PROTO 0x76; lifetime forces
        /// "a configured VIP that is not permanent" (the fallback of older kernels).
        #[arg(long, env = "VIPD_ADDRESS_MARK", default_value = "auto", value_parser = ["auto", "protocol", "lifetime"])]
        address_mark: String,
        #[command(flatten)]
        overrides: OverrideArgs,
    },
    /// Show who holds the VIPs and why, from a running vipd's API (`/status`).
    ///
    /// For each instance: state and since when, priority (effective and base), the master it
    /// hears, the VIPs held and the reason of the last transition; then each health check and
    /// each peer heard.
    Status {
        /// The API address of the vipd to ask (its api.listen).
        #[arg(long, env = "VIPD_API_LISTEN", default_value = vipd::config::DEFAULT_API_LISTEN)]
        api: std::net::SocketAddr,
        /// Print the raw JSON of /status instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Validate a configuration and print it as vipd will run it (secrets redacted).
    ///
    /// Exits 0 when it is valid, 2 with every problem listed when it is not.
    CheckConfig {
        /// The YAML configuration file; omit it to build the configuration from flags and
        /// VIPD_* variables alone.
        file: Option<PathBuf>,
        /// The configuration file, as `vipd run -c FILE` takes it (the same as FILE).
        #[arg(
            long = "config",
            short = 'c',
            conflicts_with = "file",
            value_name = "FILE"
        )]
        config: Option<PathBuf>,
        /// Do not check that the interfaces exist on this machine (for configs made for
        /// other machines, e.g. rendered by Helm).
        #[arg(long)]
        offline: bool,
        #[command(flatten)]
        overrides: OverrideArgs,
    },
    /// Convert a keepalived.conf (and the files it includes) into a vipd configuration.
    ///
    /// Every keepalived directive vipd cannot express is listed on stderr with its file, line
    /// and reason, and the command exits 2 without writing anything, unless --allow-partial.
    /// Warnings and notes (values adjusted, settings dropped as keepalived drops them) are
    /// listed too. The configuration is written only if it passes check-config's validation.
    Import {
        /// The keepalived configuration file.
        file: PathBuf,
        /// Write the vipd configuration here instead of standard output.
        #[arg(long, short = 'o', value_name = "FILE")]
        output: Option<PathBuf>,
        /// Write what can be expressed even when some directives cannot (they are listed on
        /// stderr and in the file's header).
        #[arg(long)]
        allow_partial: bool,
        /// keepalived's configuration id, which selects `@id` lines (keepalived -i); default:
        /// this host's name up to its first dot, as keepalived.
        #[arg(long, value_name = "ID")]
        config_id: Option<String>,
    },
    /// Print Kubernetes manifests that run vipd, without Helm or a cluster.
    Manifest {
        #[command(subcommand)]
        what: ManifestCommand,
    },
}

#[derive(Debug, Subcommand)]
enum ManifestCommand {
    /// The static Pod of the Helm chart's `static: true`, with the configuration inline (an
    /// annotation, projected to /etc/vipd/vipd.yaml): copy it to /etc/kubernetes/manifests/.
    ///
    /// The configuration is validated first (exit 2 with every problem). A VRRPv2 password
    /// (VIPD_PASSWORD) goes into the container's environment, with a warning.
    StaticPod {
        /// The YAML configuration file to embed; omit it to configure with flags and VIPD_*
        /// variables.
        #[arg(long, short = 'c')]
        config: Option<PathBuf>,
        #[command(flatten)]
        pod: vipd::manifest::StaticPodArgs,
        #[command(flatten)]
        overrides: OverrideArgs,
    },
}

/// Settings for containers: they fill in or override the file's single instance.
#[derive(Debug, Args)]
struct OverrideArgs {
    /// Interface VRRP speaks on.
    #[arg(long, env = "VIPD_INTERFACE")]
    interface: Option<String>,
    /// Interface the VIPs are added to (default: --interface).
    #[arg(long, env = "VIPD_VIP_INTERFACE")]
    vip_interface: Option<String>,
    /// A VIP in CIDR form; repeat it, or comma-separate them in VIPD_VIPS.
    #[arg(long = "vip", env = "VIPD_VIPS", value_delimiter = ',')]
    vips: Vec<String>,
    /// Virtual Router Identifier, 1 to 255.
    #[arg(long, env = "VIPD_VRID")]
    vrid: Option<u32>,
    /// Priority, 1 to 255.
    #[arg(long, env = "VIPD_PRIORITY")]
    priority: Option<u32>,
    /// VRRP version, 2 or 3.
    #[arg(long, env = "VIPD_VRRP_VERSION")]
    vrrp_version: Option<u32>,
    /// Advertisement interval, e.g. 1s or 500ms.
    #[arg(long, env = "VIPD_ADVERT_INTERVAL", value_parser = ConfigDuration::parse)]
    advert_interval: Option<ConfigDuration>,
    /// keepalived's nopreempt.
    #[arg(long, env = "VIPD_NOPREEMPT")]
    nopreempt: bool,
    /// A unicast peer; repeat it, or comma-separate them in VIPD_UNICAST_PEERS.
    #[arg(
        long = "unicast-peer",
        env = "VIPD_UNICAST_PEERS",
        value_delimiter = ','
    )]
    unicast_peers: Vec<String>,
    /// Where to serve /metrics, /healthz, /readyz and /status (ADDRESS:PORT), or off; the
    /// file's api.listen.
    #[arg(long, env = "VIPD_API_LISTEN")]
    api_listen: Option<String>,
}

impl OverrideArgs {
    fn into_overrides(self) -> Overrides {
        Overrides {
            interface: self.interface,
            vip_interface: self.vip_interface,
            vips: self.vips,
            vrid: self.vrid,
            priority: self.priority,
            version: self.vrrp_version,
            advert_interval: self.advert_interval,
            nopreempt: self.nopreempt,
            unicast_peers: self.unicast_peers,
            api_listen: self.api_listen,
            // Only from the environment: a flag would show the secret in the process list.
            password: std::env::var("VIPD_PASSWORD")
                .ok()
                .filter(|p| !p.is_empty()),
        }
    }
}

/// Reads, overrides and validates a configuration.
fn load(file: Option<&Path>, overrides: &Overrides) -> Result<(Config, Plan), String> {
    let mut config = match file {
        Some(path) => {
            let text = read_bounded(path)?;
            Config::from_yaml(&text).map_err(|e| format!("{}: {e}", path.display()))?
        }
        None => Config::default(),
    };
    overrides.apply(&mut config).map_err(|e| e.to_string())?;
    match config.validate() {
        Ok(plan) => Ok((config, plan)),
        Err(ConfigFileError::Invalid(list)) => {
            let where_ = file.map_or("configuration".into(), |p| p.display().to_string());
            Err(list
                .iter()
                .map(|e| format!("{where_}: {e}"))
                .collect::<Vec<_>>()
                .join("\n"))
        }
        Err(e) => Err(e.to_string()),
    }
}

/// Hooks and exec checks a user other than root could replace, unless the configuration
/// accepts the risk (`script_security: false`).
fn insecure_scripts(plan: &Plan) -> Vec<String> {
    if !plan.script_security() {
        return Vec::new();
    }
    let path = std::env::var_os("PATH");
    vipd::config::insecure_programs(plan, path.as_deref())
        .iter()
        .map(ToString::to_string)
        .collect()
}

/// Why this process cannot start the hooks and exec checks that run as another user
/// (`script_user`, `run_as`): it lacks the capabilities to switch to that user.
fn user_switch_problem(plan: &Plan) -> Option<String> {
    vipd::config::cannot_switch_user(
        plan,
        nix::unistd::geteuid().as_raw(),
        nix::unistd::getegid().as_raw(),
        vipd::config::effective_caps().unwrap_or(0),
    )
}

/// Warns about hooks and exec checks that run as root because no user is configured for them.
fn warn_root_scripts(plan: &Plan) {
    let as_vipd = vipd::config::run_as_vipd(plan);
    if !as_vipd.is_empty() && nix::unistd::geteuid().is_root() {
        tracing::warn!(
            programs = %as_vipd.join(", "),
            "hooks and exec checks run as root with vipd's capabilities: set script_user \
             (e.g. script_user: {{user: nobody}}) to run them as a user with none"
        );
    }
}

/// Reads a configuration file, refusing one larger than a configuration can be before
/// reading it all.
fn read_bounded(path: &Path) -> Result<String, String> {
    use std::io::Read;
    let limit = vipd::config::MAX_FILE_BYTES;
    let file =
        std::fs::File::open(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    let mut text = String::new();
    file.take(u64::try_from(limit).unwrap_or(u64::MAX) + 1)
        .read_to_string(&mut text)
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    if text.len() > limit {
        return Err(format!(
            "{}: larger than {limit} bytes (1 MiB); a vipd configuration is a few kilobytes: \
             check that this is the right file",
            path.display()
        ));
    }
    Ok(text)
}

/// Interfaces of the plan that this machine's network namespace does not have.
fn missing_interfaces(plan: &Plan) -> Vec<String> {
    let mut missing = Vec::new();
    for (i, inst) in plan.instances().iter().enumerate() {
        for (field, name) in [
            ("interface", inst.interface()),
            ("vip_interface", inst.vip_interface()),
        ] {
            // With use_vmac, vipd creates the VIP interface itself.
            let created = field == "vip_interface" && inst.vmac().is_some();
            if !created && !Path::new("/sys/class/net").join(name).exists() {
                missing.push(format!(
                    "instances[{i}].{field}: no interface {name:?} on this machine (see `ip link`); \
                     fix the name, or pass --offline to check a configuration meant for another machine"
                ));
            }
        }
    }
    missing.dedup();
    missing
}

/// VIPs of the plan that are already on their interface without vipd's mark (the node's own
/// address, or one configured by hand or by a DHCP client): `vipd run` would refuse them.
/// Addresses vipd added (`IFA_PROTO` 0x76, or a finite lifetime on kernels without
/// `IFA_PROTO`) are not counted. Reading the addresses needs no privilege; if it fails,
/// nothing is reported.
fn addresses_in_use(plan: &Plan) -> Vec<String> {
    use vipd::vrrp_net::netlink::Netlink;
    let Ok(runtime) = runtime() else {
        return Vec::new();
    };
    runtime.block_on(async {
        let Ok(netlink) = Netlink::new(AddressMark::Protocol(VIPD_ADDRESS_PROTOCOL)) else {
            return Vec::new();
        };
        // Whether this kernel keeps IFA_PROTO: it marks its own IPv6 link-local addresses.
        let protocol_kept = kernel_keeps_protocol(&netlink).await;
        let mut found = Vec::new();
        for (i, inst) in plan.instances().iter().enumerate() {
            let Ok(link) = netlink.link_by_name(inst.vip_interface()).await else {
                continue;
            };
            let family = inst.engine().family();
            let Ok(present) = netlink.addresses(link.index, family).await else {
                continue;
            };
            for (j, vip) in inst.vips().iter().enumerate() {
                // On kernels that keep IFA_PROTO, vipd's own addresses carry its byte; where
                // the kernel drops it, vipd's are the ones with a finite lifetime.
                let foreign = present.iter().any(|a| {
                    a.addr == vip.addr
                        && a.protocol != Some(VIPD_ADDRESS_PROTOCOL)
                        && (a.protocol.is_some() || a.is_permanent() || protocol_kept)
                });
                if foreign {
                    found.push(format!(
                        "instances[{i}].vips[{j}]: {} is already on interface {:?} and was not \
                         added by vipd (this node's own address, or configured by hand): choose \
                         a free address for the VIP",
                        vip.addr,
                        inst.vip_interface()
                    ));
                }
            }
        }
        found
    })
}

/// Whether the kernel stores `IFA_PROTO` (Linux 5.18 and later), seen without changing
/// anything: such kernels tag the addresses they make themselves (loopback, IPv6 link-local)
/// with a protocol byte.
async fn kernel_keeps_protocol(netlink: &vipd::vrrp_net::netlink::Netlink) -> bool {
    let Ok(lo) = netlink.link_by_name("lo").await else {
        return false;
    };
    for family in [vipd::vrrp_core::Family::Ipv4, vipd::vrrp_core::Family::Ipv6] {
        if netlink
            .addresses(lo.index, family)
            .await
            .is_ok_and(|all| all.iter().any(|a| a.protocol.is_some()))
        {
            return true;
        }
    }
    false
}

/// Installs the log subscriber (the binary's job: the library never does).
fn init_logs(format: &str, level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    if format == "json" {
        builder.json().flatten_event(true).init();
    } else {
        builder.with_target(false).init();
    }
}

/// The single-threaded runtime vipd runs on (the event loop and the checks share it; none of
/// them blocks). The API runs on a thread and runtime of its own (`vipd::api`).
fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("vipd: cannot start the runtime: {e}");
            ExitCode::from(1)
        })
}

/// Runs the daemon until it has stopped.
async fn run(
    plan: Plan,
    stop: StopMode,
    mark: Option<AddressMark>,
    reread: impl Fn() -> Result<Plan, String>,
) -> ExitCode {
    use tokio::signal::unix::{SignalKind, signal};
    let api_addr = plan.api();
    let daemon = match Daemon::builder(plan)
        .stop_mode(stop)
        .address_mark(mark)
        .start()
        .await
    {
        Ok(daemon) => daemon,
        Err(e) => {
            tracing::error!(error = %e, "cannot start");
            // A configuration naming what this host lacks is a configuration error (2), like
            // the others; anything else (privileges, the kernel) is a runtime failure (1).
            let config_error = matches!(
                e,
                DaemonError::UnknownInterface { .. }
                    | DaemonError::NoMac { .. }
                    | DaemonError::AddressInUse { .. }
                    | DaemonError::NoUnicastSource { .. }
            );
            return ExitCode::from(if config_error { 2 } else { 1 });
        }
    };
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        tracing::error!("cannot install signal handlers");
        daemon.control().shutdown_now();
        let _ = daemon.wait().await;
        return ExitCode::from(1);
    };
    let control = daemon.control().clone();
    let api = match api_addr {
        Some(addr) => match vipd::api::ApiServer::start(addr, control.clone()) {
            Ok(server) => Some(server),
            Err(e) => {
                tracing::error!(%addr, error = %e, "cannot serve the API (api.listen); stopping");
                control.shutdown_now();
                let _ = daemon.wait().await;
                return ExitCode::from(2);
            }
        },
        None => None,
    };
    let mut wait = std::pin::pin!(daemon.wait());
    loop {
        tokio::select! {
            result = &mut wait => {
                if let Some(api) = api {
                    api.stop();
                }
                return match result {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(e) => {
                        tracing::error!(error = %e, "daemon failed");
                        ExitCode::from(1)
                    }
                };
            }
            _ = term.recv() => control.shutdown(),
            _ = int.recv() => control.shutdown(),
            _ = hup.recv() => match reread() {
                Ok(plan) => {
                    tracing::info!("SIGHUP: reloading the configuration");
                    if plan.api() != api_addr {
                        tracing::warn!("SIGHUP: a change of api.listen takes effect at the next start");
                    }
                    control.reload(plan);
                }
                Err(errors) => tracing::error!(
                    errors = %errors.replace('\n', "; "),
                    "SIGHUP: the new configuration is invalid; the running one is kept"
                ),
            },
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run {
            config,
            log_format,
            log_level,
            stop_immediately,
            address_mark,
            overrides,
        } => {
            init_logs(&log_format, &log_level);
            let overrides = overrides.into_overrides();
            let plan = match load(config.as_deref(), &overrides) {
                Ok((_, plan)) => plan,
                Err(errors) => {
                    eprintln!("{errors}");
                    return ExitCode::from(2);
                }
            };
            let insecure = insecure_scripts(&plan);
            if !insecure.is_empty() {
                eprintln!("{}", insecure.join("\n"));
                return ExitCode::from(2);
            }
            if let Some(problem) = user_switch_problem(&plan) {
                eprintln!("vipd: {problem}");
                return ExitCode::from(1);
            }
            warn_root_scripts(&plan);
            let stop = if stop_immediately {
                StopMode::Immediate
            } else {
                StopMode::Handover
            };
            let runtime = match runtime() {
                Ok(rt) => rt,
                Err(code) => return code,
            };
            let mark = match address_mark.as_str() {
                "protocol" => Some(AddressMark::Protocol(VIPD_ADDRESS_PROTOCOL)),
                "lifetime" => Some(AddressMark::Lifetime),
                _ => None,
            };
            let reread = || {
                let (_, plan) = load(config.as_deref(), &overrides)?;
                let insecure = insecure_scripts(&plan);
                if !insecure.is_empty() {
                    return Err(insecure.join("\n"));
                }
                if let Some(problem) = user_switch_problem(&plan) {
                    return Err(problem);
                }
                warn_root_scripts(&plan);
                Ok(plan)
            };
            runtime.block_on(run(plan, stop, mark, reread))
        }
        Command::Status { api, json } => {
            let runtime = match runtime() {
                Ok(rt) => rt,
                Err(code) => return code,
            };
            match runtime.block_on(vipd::api::fetch_status(api)) {
                Ok(snap) if json => match serde_json::to_string_pretty(&snap) {
                    Ok(text) => {
                        println!("{text}");
                        ExitCode::SUCCESS
                    }
                    Err(e) => {
                        eprintln!("vipd status: {e}");
                        ExitCode::from(1)
                    }
                },
                Ok(snap) => {
                    print!("{}", snap.to_table());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("vipd status: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Command::CheckConfig {
            file,
            config,
            offline,
            overrides,
        } => {
            let file = file.or(config);
            let overrides = overrides.into_overrides();
            match load(file.as_deref(), &overrides) {
                Err(errors) => {
                    eprintln!("{errors}");
                    ExitCode::from(2)
                }
                Ok((config, plan)) => {
                    let missing = if offline {
                        Vec::new()
                    } else {
                        let mut missing = missing_interfaces(&plan);
                        if missing.is_empty() {
                            missing = addresses_in_use(&plan);
                        }
                        missing.extend(insecure_scripts(&plan));
                        missing
                    };
                    if missing.is_empty() {
                        print!("{}", config.to_yaml());
                        ExitCode::SUCCESS
                    } else {
                        eprintln!("{}", missing.join("\n"));
                        ExitCode::from(2)
                    }
                }
            }
        }
        Command::Import {
            file,
            output,
            allow_partial,
            config_id,
        } => import(&file, output.as_deref(), allow_partial, config_id),
        Command::Manifest {
            what:
                ManifestCommand::StaticPod {
                    config,
                    pod,
                    overrides,
                },
        } => {
            let overrides = overrides.into_overrides();
            let made = load(config.as_deref(), &overrides).and_then(|(config, _)| {
                vipd::manifest::static_pod(&pod, &config).map_err(|e| e.to_string())
            });
            match made {
                Ok(out) => {
                    for warning in &out.warnings {
                        eprintln!("vipd: warning: {warning}");
                    }
                    print!("{}", out.yaml);
                    ExitCode::SUCCESS
                }
                Err(errors) => {
                    eprintln!("{errors}");
                    ExitCode::from(2)
                }
            }
        }
    }
}

/// `vipd import`: exit 0 when everything was imported, 2 when something could not be (nothing
/// written unless `allow_partial`) or the result would not pass check-config, 1 when the file
/// cannot be read or the output cannot be written.
fn import(
    file: &Path,
    output: Option<&Path>,
    allow_partial: bool,
    config_id: Option<String>,
) -> ExitCode {
    let options = vipd::import::ImportOptions { config_id };
    let imported = match vipd::import::import_file(file, &options) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("vipd import: {e}");
            return ExitCode::from(1);
        }
    };
    eprint!("{}", imported.report());
    let unsupported = imported.unsupported().count();
    if let Some(invalid) = &imported.invalid {
        eprintln!(
            "vipd import: the converted configuration would not pass check-config, so nothing \
             was written:\n{invalid}"
        );
        return ExitCode::from(2);
    }
    if unsupported > 0 && !allow_partial {
        eprintln!(
            "vipd import: {unsupported} directive(s) cannot be expressed in vipd (listed above); \
             nothing was written: rerun with --allow-partial to write the rest"
        );
        return ExitCode::from(2);
    }
    match output {
        Some(path) => {
            if let Err(e) = std::fs::write(path, &imported.yaml) {
                eprintln!("vipd import: cannot write {}: {e}", path.display());
                return ExitCode::from(1);
            }
            eprintln!(
                "vipd import: wrote {} ({} instance(s){})",
                path.display(),
                imported.config.instances.len(),
                if unsupported > 0 {
                    format!(", {unsupported} directive(s) left out")
                } else {
                    String::new()
                }
            );
        }
        None => print!("{}", imported.yaml),
    }
    ExitCode::SUCCESS
}
