//! The container image's runtime conditions, without a container engine: vipd in a network
//! namespace with only CAP_NET_ADMIN and CAP_NET_RAW (bounding set, no new privileges) on a
//! read-only root filesystem (a private mount namespace), as the chart runs it. It takes the
//! VIP (the observer's ARP sees the node's MAC) and releases it on SIGTERM; without CAP_NET_RAW
//! it exits 1 naming the raw socket. Needs root, iproute2, python3 and util-linux (unshare,
//! setpriv, mount).
//!
//! With `VIPD_IMAGE` (the directory `scripts/image-build.sh` leaves: the built image unpacked
//! in `rootfs/`, its configuration in `config.json`; `scripts/test.sh` sets it), the chart's
//! conditions run the image itself: its entrypoint and command, as its user, chrooted into a
//! read-only copy of its filesystem with the configuration where the chart mounts it and
//! `/proc`, nothing else. Without it, the release vipd of this tree runs with `/` remounted
//! read-only (and the test says so; under `CI=true` it fails instead).

mod lab;

use std::path::{Path, PathBuf};
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

/// Runs in the node's namespace, for the image: makes the image's filesystem (the second
/// argument) a read-only root with /proc, then the Python of the first ([`IMAGE_CHROOT`])
/// chroots into it, drops to the image's user and capabilities, and execs the entrypoint.
const IMAGE_SANDBOX: &str = r#"set -e
py=$1 root=$2
shift 2
mount --bind "$root" "$root"
mount -o remount,bind,ro "$root"
mount -t proc proc "$root/proc"
if touch "$root/.vipd-image-caps-probe" 2>/dev/null; then
  echo "image_caps: the image's root filesystem is still writable" >&2
  exit 97
fi
exec python3 -c "$py" "$root" "$@"
"#;

/// chroot(ROOT), keep only the given capabilities in the bounding set (so in the permitted and
/// effective sets at exec, as for a container's root), no new privileges, the image's uid and
/// gid with no supplementary groups, then exec: `ROOT UID GID CAPS ARGV...` (CAPS: numbers,
/// comma-separated). setpriv cannot do this: it is not in the image, and chroot needs a
/// capability the confined process must not keep.
const IMAGE_CHROOT: &str = r#"import ctypes, os, sys
root, uid, gid, argv = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[5:]
keep = {int(c) for c in sys.argv[4].split(",") if c}
last = int(open("/proc/sys/kernel/cap_last_cap").read())
libc = ctypes.CDLL(None, use_errno=True)
os.chroot(root)
os.chdir("/")
PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 24, 38
for cap in range(last + 1):
    if cap not in keep and libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
        sys.exit(f"PR_CAPBSET_DROP {cap}: {os.strerror(ctypes.get_errno())}")
if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
    sys.exit(f"PR_SET_NO_NEW_PRIVS: {os.strerror(ctypes.get_errno())}")
os.setgroups([])
os.setgid(gid)
os.setuid(uid)
os.execv(argv[0], argv)
"#;

/// CAP_NET_ADMIN (12) and CAP_NET_RAW (13), as /proc/PID/status shows a capability set.
const NET_ADMIN_RAW: &str = "0000000000003000";

/// How vipd is confined.
struct Confinement {
    uid: &'static str,
    inheritable: &'static str,
    ambient: &'static str,
    bounding: &'static str,
    /// The capabilities kept when the image runs (the bounding set, as numbers), or `None`
    /// when this confinement is not the image's (its user is not the image's).
    image_caps: Option<&'static str>,
}

/// What the chart gives the container: uid 0, every capability but these two dropped from
/// the bounding set (so from the permitted and effective sets at exec), no new privileges.
const ROOT_TWO_CAPS: Confinement = Confinement {
    uid: "0",
    inheritable: "-all",
    ambient: "-all",
    bounding: "-all,+net_admin,+net_raw",
    image_caps: Some("12,13"),
};

/// A non-root uid holding the two capabilities as ambient ones (for runtimes that grant
/// ambient capabilities).
const NOBODY_AMBIENT: Confinement = Confinement {
    uid: "65534",
    inheritable: "-all,+net_admin,+net_raw",
    ambient: "-all,+net_admin,+net_raw",
    bounding: "-all,+net_admin,+net_raw",
    image_caps: None,
};

/// uid 0 with CAP_NET_ADMIN only.
const ROOT_NO_NET_RAW: Confinement = Confinement {
    uid: "0",
    inheritable: "-all",
    ambient: "-all",
    bounding: "-all,+net_admin",
    image_caps: Some("12"),
};

/// The image `scripts/image-build.sh` built and unpacked (`VIPD_IMAGE`).
struct Image {
    rootfs: PathBuf,
    /// Entrypoint then command, as the image's configuration gives them.
    argv: Vec<String>,
    uid: u32,
    gid: u32,
}

impl Image {
    /// The image named by `VIPD_IMAGE`; `None` (said so) when unset, outside CI.
    fn from_env() -> Option<Self> {
        let Some(dir) = std::env::var_os("VIPD_IMAGE").map(PathBuf::from) else {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true but VIPD_IMAGE is unset: scripts/test.sh builds the image \
                 (scripts/image-build.sh) and sets it"
            );
            eprintln!(
                "image_caps: VIPD_IMAGE is unset: running this tree's release vipd, not the \
                 image's (scripts/image-build.sh builds the image; scripts/test.sh sets it)"
            );
            return None;
        };
        let text = std::fs::read_to_string(dir.join("config.json"))
            .unwrap_or_else(|e| panic!("{}/config.json: {e}", dir.display()));
        let config: serde_json::Value = serde_json::from_str(&text).unwrap();
        let c = &config["config"];
        let strings = |v: &serde_json::Value| -> Vec<String> {
            v.as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        };
        let mut argv = strings(&c["Entrypoint"]);
        argv.extend(strings(&c["Cmd"]));
        assert_eq!(
            argv,
            ["/usr/local/bin/vipd", "run"],
            "the image's entrypoint and command"
        );
        // Numeric: the image has no /etc/passwd to look a name up in.
        let user = c["User"].as_str().unwrap_or("0");
        let (uid, gid) = user.split_once(':').unwrap_or((user, user));
        Some(Self {
            rootfs: dir.join("rootfs"),
            argv,
            uid: uid.parse().expect("a numeric image user"),
            gid: gid.parse().expect("a numeric image group"),
        })
    }

    /// A copy of the image's filesystem for `node` under the lab's directory, with the node's
    /// configuration at /etc/vipd/vipd.yaml (where the chart mounts it) and /proc to mount on.
    fn root_for(&self, config: &Path) -> PathBuf {
        let root = config.with_extension("image-root");
        let status = std::process::Command::new("cp")
            .arg("-a")
            .arg(&self.rootfs)
            .arg(&root)
            .status()
            .unwrap();
        assert!(status.success(), "cannot copy {}", self.rootfs.display());
        std::fs::create_dir_all(root.join("etc/vipd")).unwrap();
        std::fs::copy(config, root.join("etc/vipd/vipd.yaml")).unwrap();
        std::fs::create_dir_all(root.join("proc")).unwrap();
        root
    }
}

/// How to find the vipd a test started: by its configuration file, and by its root when it
/// runs chrooted into the image.
struct Started {
    config: PathBuf,
    root: Option<PathBuf>,
}

/// Runs `script` with `args` as `sh -c` in a private mount namespace of node `i`.
fn spawn_sandboxed(lab: &mut Lab, i: usize, script: &str, args: &[&str]) {
    let mut argv = vec![
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        script,
        "sh",
    ];
    argv.extend(args);
    lab.spawn(i, &argv);
}

fn start_confined(lab: &mut Lab, i: usize, c: &Confinement) -> Started {
    let config = lab.nodes[i].config.clone();
    if let (Some(caps), Some(image)) = (c.image_caps, Image::from_env()) {
        let root = image.root_for(&config);
        let (uid, gid) = (image.uid.to_string(), image.gid.to_string());
        let root_arg = root.to_string_lossy().into_owned();
        let mut args = vec![IMAGE_CHROOT, &root_arg, &uid, &gid, caps];
        args.extend(image.argv.iter().map(String::as_str));
        args.extend(["--log-level", "debug", "-c", "/etc/vipd/vipd.yaml"]);
        eprintln!(
            "image_caps: running the image's {:?} chrooted into {}",
            image.argv, root_arg
        );
        spawn_sandboxed(lab, i, IMAGE_SANDBOX, &args);
        return Started {
            config: "/etc/vipd/vipd.yaml".into(),
            root: Some(root),
        };
    }
    let config_arg = config.to_string_lossy().into_owned();
    spawn_sandboxed(
        lab,
        i,
        SANDBOX,
        &[
            c.uid,
            c.inheritable,
            c.ambient,
            c.bounding,
            env!("CARGO_BIN_EXE_vipd"),
            "run",
            "--log-level",
            "debug",
            "-c",
            &config_arg,
        ],
    );
    Started { config, root: None }
}

/// The PID of the vipd the test started (the lab keeps its child's PID private).
fn vipd_pid(started: &Started) -> Option<u32> {
    let want = started.config.to_string_lossy().into_owned();
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        let exe = String::from_utf8_lossy(args.first()?);
        let is_vipd = exe.ends_with("/vipd") && args.get(1) == Some(&b"run".as_slice());
        let has_config = args.contains(&want.as_bytes());
        let in_root = started
            .root
            .as_ref()
            .is_none_or(|r| std::fs::read_link(e.path().join("root")).is_ok_and(|l| l == *r));
        (is_vipd && has_config && in_root).then_some(pid)
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
    let started = start_confined(&mut lab, 0, c);
    lab.wait_until(
        Duration::from_secs(10),
        "the confined vipd takes the VIP",
        |l| l.holds_vip(0),
    );
    let pid = vipd_pid(&started).expect("the vipd process");
    if let Some(root) = &started.root {
        // The image's own binary, chrooted (vipd_pid matched its root).
        let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap();
        assert_eq!(exe, root.join("usr/local/bin/vipd"));
    }
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
    let _ = start_confined(&mut lab, 0, &ROOT_NO_NET_RAW);
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
