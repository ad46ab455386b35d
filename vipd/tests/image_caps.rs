//! The container image's runtime conditions, without a container engine: the release vipd in a
//! network namespace with only CAP_NET_ADMIN and CAP_NET_RAW (setpriv: bounding set, no new
//! privileges) on a read-only root filesystem (a private mount namespace where `/` is
//! remounted read-only), as the chart runs it. It takes the VIP (the observer's ARP sees the
//! node's MAC) and releases it on SIGTERM; without CAP_NET_RAW it exits 1 naming the raw
//! socket. Needs root, iproute2, python3 and util-linux (unshare, setpriv, mount).

mod lab;

use std::path::Path;
use std::time::Duration;

use lab::{Lab, VIP, config};

/// Runs in the node's namespace: remounts `/` read-only in a private mount namespace, proves
/// it, then drops to the given uid and capabilities and execs the rest of the arguments (so
/// the process the lab started is vipd itself).
const SANDBOX: &str = r#"set -e
mount -o remount,bind,ro /
if touch /.vipd-image-caps-probe 2>/dev/null; then
  rm -f /.vipd-image-caps-probe
  echo "image_caps: the root filesystem is still writable" >&2
  exit 97
fi
uid=$1 inh=$2 amb=$3 bnd=$4
shift 4
exec setpriv --reuid "$uid" --regid "$uid" --clear-groups --no-new-privs \
  --inh-caps="$inh" --ambient-caps="$amb" --bounding-set="$bnd" "$@"
"#;

/// CAP_NET_ADMIN (12) and CAP_NET_RAW (13), as /proc/PID/status shows a capability set.
const NET_ADMIN_RAW: &str = "0000000000003000";

/// How vipd is confined.
struct Confinement {
    uid: &'static str,
    inheritable: &'static str,
    ambient: &'static str,
    bounding: &'static str,
}

/// What the chart gives the container: uid 0, every capability but these two dropped from
/// the bounding set (so from the permitted and effective sets at exec), no new privileges.
const ROOT_TWO_CAPS: Confinement = Confinement {
    uid: "0",
    inheritable: "-all",
    ambient: "-all",
    bounding: "-all,+net_admin,+net_raw",
};

/// A non-root uid holding the two capabilities as ambient ones (for runtimes that grant
/// ambient capabilities).
const NOBODY_AMBIENT: Confinement = Confinement {
    uid: "65534",
    inheritable: "-all,+net_admin,+net_raw",
    ambient: "-all,+net_admin,+net_raw",
    bounding: "-all,+net_admin,+net_raw",
};

/// uid 0 with CAP_NET_ADMIN only.
const ROOT_NO_NET_RAW: Confinement = Confinement {
    uid: "0",
    inheritable: "-all",
    ambient: "-all",
    bounding: "-all,+net_admin",
};

fn start_confined(lab: &mut Lab, i: usize, c: &Confinement) {
    let config = lab.nodes[i].config.to_string_lossy().into_owned();
    let vipd = env!("CARGO_BIN_EXE_vipd");
    lab.spawn(
        i,
        &[
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            SANDBOX,
            "sh",
            c.uid,
            c.inheritable,
            c.ambient,
            c.bounding,
            vipd,
            "run",
            "--log-level",
            "debug",
            "-c",
            &config,
        ],
    );
}

/// The PID of the vipd running with `config` (the lab keeps its child's PID private).
fn vipd_pid(config: &Path) -> Option<u32> {
    let want = config.to_string_lossy().into_owned();
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        let exe = String::from_utf8_lossy(args.first()?);
        let is_vipd = exe.ends_with("/vipd") && args.get(1) == Some(&b"run".as_slice());
        let has_config = args.contains(&want.as_bytes());
        (is_vipd && has_config).then_some(pid)
    })
}

/// A field of /proc/PID/status.
fn status_field(pid: u32, field: &str) -> String {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
        .trim()
        .to_owned()
}

/// Whether the root mount that `pid` sees is read-only.
fn root_is_read_only(pid: u32) -> bool {
    let mounts = std::fs::read_to_string(format!("/proc/{pid}/mounts")).unwrap();
    mounts.lines().any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        f.len() > 3 && f[1] == "/" && f[3].split(',').any(|o| o == "ro")
    })
}

/// Health checks that run while vipd holds the VIP (so that the memory measured includes
/// them): an HTTP and a TCP check on vipd's own API, which pass.
const CHECKS: &str = "    checks:
      - {name: own-api-http, http: {url: 'http://127.0.0.1:9370/healthz'}, interval: 200ms}
      - {name: own-api-tcp, tcp: {address: '127.0.0.1:9370'}, interval: 200ms}
";

/// Takes the VIP under `c`, answers ARP for it, and releases it on SIGTERM.
fn takes_and_releases_the_vip(c: &Confinement) {
    let mut lab = Lab::new(&[150], |_, p| config(p, CHECKS));
    start_confined(&mut lab, 0, c);
    lab.wait_until(
        Duration::from_secs(10),
        "the confined vipd takes the VIP",
        |l| l.holds_vip(0),
    );
    let pid = vipd_pid(&lab.nodes[0].config).expect("the vipd process");
    // The conditions held by the process that holds the VIP.
    assert_eq!(
        status_field(pid, "Uid").split_whitespace().next(),
        Some(c.uid)
    );
    assert_eq!(status_field(pid, "CapEff"), NET_ADMIN_RAW, "{}", lab.log(0));
    assert_eq!(status_field(pid, "CapPrm"), NET_ADMIN_RAW);
    assert_eq!(status_field(pid, "CapBnd"), NET_ADMIN_RAW);
    assert_eq!(status_field(pid, "NoNewPrivs"), "1");
    assert!(root_is_read_only(pid), "vipd's root is not read-only");
    assert_eq!(
        lab.arp_answerers(),
        [lab.nodes[0].mac.clone()].into(),
        "{}",
        lab.logs()
    );
    // Memory of one instance as Master with its API and two checks, against the chart's 12Mi
    // limit.
    let rss = status_field(pid, "VmRSS");
    let anon = status_field(pid, "RssAnon");
    eprintln!(
        "vipd (uid {}) as Master, API and two checks running: VmRSS {rss}, RssAnon {anon}",
        c.uid
    );
    let log = lab.log(0);
    for check in ["own-api-http", "own-api-tcp"] {
        assert!(
            log.lines().any(|l| l.contains("health check changed")
                && l.contains(check)
                && l.contains("up=true")),
            "{check} never passed: {log}"
        );
    }
    let kib: u64 = rss.trim_end_matches(" kB").trim().parse().unwrap();
    assert!(
        kib < 12 * 1024,
        "VmRSS {rss} exceeds the chart's 12Mi limit"
    );
    lab.signal(0, "TERM");
    assert_eq!(
        lab.wait_exit(0, Duration::from_secs(15)),
        Some(0),
        "{}",
        lab.log(0)
    );
    assert!(!lab.holds_vip(0), "the VIP stayed after SIGTERM");
    let log = lab.log(0);
    assert!(log.contains("handing over"), "{log}");
    assert!(log.contains("every VIP released"), "{log}");
    assert!(lab.arp_answerers().is_empty(), "{}", lab.logs());
}

/// As the chart runs it: uid 0, only NET_ADMIN and NET_RAW, read-only root, no new privileges.
#[test]
fn root_with_only_net_admin_and_net_raw_on_a_read_only_root_takes_and_releases_the_vip() {
    takes_and_releases_the_vip(&ROOT_TWO_CAPS);
}

/// No uid 0 needed where the runtime grants ambient capabilities: nobody with the two.
#[test]
fn a_non_root_uid_with_ambient_net_admin_and_net_raw_takes_and_releases_the_vip() {
    takes_and_releases_the_vip(&NOBODY_AMBIENT);
}

/// Without CAP_NET_RAW vipd cannot open its VRRP socket: it exits 1 (a runtime failure, not a
/// configuration error) and says which socket and why, and never adds the VIP.
#[test]
fn without_net_raw_it_exits_1_naming_the_raw_socket() {
    let mut lab = Lab::new(&[150], |_, p| config(p, ""));
    start_confined(&mut lab, 0, &ROOT_NO_NET_RAW);
    let code = lab.wait_exit(0, Duration::from_secs(10));
    let log = lab.log(0);
    assert_eq!(code, Some(1), "{log}");
    assert!(
        log.contains("cannot start")
            && log.contains("raw IPv4 protocol 112 socket")
            && log.contains("Operation not permitted"),
        "{log}"
    );
    assert!(!lab.holds_vip(0));
    assert!(
        !log.contains(&format!("vip={VIP}")),
        "a VIP was added: {log}"
    );
}
