//! `vipd check-config`: the real binary on real files, its exit status and what it prints.

use std::io::Write;
use std::process::{Command, Output};

fn vipd(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vipd"));
    cmd.args(args);
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("VIPD_")) {
        cmd.env_remove(k);
    }
    cmd.envs(env.iter().copied());
    cmd.output().expect("vipd runs")
}

fn file(text: &str) -> tempfile_lite::TempFile {
    tempfile_lite::TempFile::new(text)
}

/// A temporary file removed on drop (no extra crate for this).
mod tempfile_lite {
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicU32, Ordering};

    static N: AtomicU32 = AtomicU32::new(0);

    pub(crate) struct TempFile(pub(crate) PathBuf);

    impl TempFile {
        pub(crate) fn new(text: &str) -> Self {
            let n = N.fetch_add(1, Ordering::SeqCst);
            let path =
                std::env::temp_dir().join(format!("vipd-test-{}-{n}.yaml", std::process::id()));
            let mut f = std::fs::File::create(&path).unwrap();
            super::Write::write_all(&mut f, text.as_bytes()).unwrap();
            Self(path)
        }

        pub(crate) fn path(&self) -> &str {
            self.0.to_str().unwrap()
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn a_valid_file_prints_the_effective_config_with_defaults() {
    let f = file("instances:\n  - {interface: lo, vrid: 51, vips: [10.200.0.100/24]}\n");
    let out = vipd(&["check-config", f.path()], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    for needle in [
        "interface: lo",
        "vrid: 51",
        "version: 3",
        "priority: 100",
        "advert_interval: 1s",
        "master_delay: 5s",
        "vip_lifetime: 5s",
    ] {
        assert!(shown.contains(needle), "{needle:?} missing from\n{shown}");
    }
}

#[test]
fn an_invalid_file_exits_2_listing_every_problem() {
    let f = file(
        "instances:\n  - {interface: lo, vrid: 0, version: 3, password: k8s_vip, vips: [10.200.0.100]}\n",
    );
    let out = vipd(&["check-config", f.path()], &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("instances[0].vrid: 0 is outside 1 to 255"),
        "{err}"
    );
    assert!(
        err.contains("instances[0].vips[0]: \"10.200.0.100\" is not in CIDR form"),
        "{err}"
    );
    assert!(
        err.contains("instances[0].password: VRRPv3 (RFC 5798) has no authentication"),
        "{err}"
    );
    assert!(!err.contains("k8s_vip"), "the secret leaked: {err}");
    assert!(text(&out.stdout).is_empty());
}

#[test]
fn syntax_errors_and_unknown_keys_exit_2_with_the_location() {
    let f = file(
        "instances:\n  - {interface: lo, vrid: 51, vips: [10.200.0.100/24], nopreemt: true}\n",
    );
    let out = vipd(&["check-config", f.path()], &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("unknown field `nopreemt`") && err.contains("line 2"),
        "{err}"
    );
    let out = vipd(&["check-config", "/nonexistent/vipd.yaml"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("cannot read"));
}

#[test]
fn an_unknown_interface_is_refused_unless_offline() {
    let f = file("instances:\n  - {interface: vipdnosuch0, vrid: 51, vips: [10.200.0.100/24]}\n");
    let out = vipd(&["check-config", f.path()], &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("instances[0].interface: no interface \"vipdnosuch0\""),
        "{err}"
    );
    let out = vipd(&["check-config", "--offline", f.path()], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn flags_and_environment_build_or_override_the_instance() {
    let out = vipd(
        &[
            "check-config",
            "--interface",
            "lo",
            "--vrid",
            "9",
            "--vip",
            "10.200.0.9/24",
            "--nopreempt",
        ],
        &[
            ("VIPD_PRIORITY", "120"),
            ("VIPD_VRRP_VERSION", "2"),
            ("VIPD_PASSWORD", "s3cret"),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    for needle in [
        "vrid: 9",
        "priority: 120",
        "version: 2",
        "preempt: false",
        "password: <redacted>",
    ] {
        assert!(shown.contains(needle), "{needle:?} missing from\n{shown}");
    }
    assert!(!shown.contains("s3cret"));
    let f = file("instances:\n  - {interface: lo, vrid: 51, vips: [10.200.0.100/24]}\n");
    let out = vipd(
        &["check-config", f.path()],
        &[("VIPD_VIPS", "10.200.0.1/24,10.200.0.2/24")],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("- 10.200.0.2/24"));
    let out = vipd(&["check-config", "--vrid", "9"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--interface (VIPD_INTERFACE)"));
}

/// `vipd run` refuses a configuration naming an interface this host lacks with status 2, and
/// with `--log-format json` every log line is a JSON object; the password never appears.
#[test]
fn run_with_a_missing_interface_exits_2_and_logs_json_without_secrets() {
    let f = file(
        "instances:\n  - {interface: vipdnosuch0, vrid: 51, version: 2, password: s3cret, vips: [10.200.0.100/24]}\n",
    );
    let out = vipd(&["run", "--log-format", "json", "-c", f.path()], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(!err.contains("s3cret"), "the secret leaked: {err}");
    let lines: Vec<serde_json::Value> = err
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let failure = lines
        .iter()
        .find(|v| v["message"] == "cannot start")
        .unwrap_or_else(|| panic!("no 'cannot start' line in {err}"));
    assert_eq!(failure["level"], "ERROR");
    assert!(
        failure["error"]
            .as_str()
            .unwrap()
            .contains("\"vipdnosuch0\" does not exist"),
        "{failure}"
    );
}

/// Hostile inputs are refused with a clear error before they cost anything: a file larger
/// than 1 MiB, 100,000-deep nesting (flow or block), 240,000 VIPs, 2,000 instances.
#[test]
fn oversized_and_deeply_nested_files_are_refused_with_a_clear_error() {
    // check-config exits 2 and says `why`.
    let refused = |text: &str, why: &str| {
        let f = file(text);
        let out = vipd(&["check-config", "--offline", f.path()], &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(why), "{stderr}");
    };
    let big = format!(
        "instances:\n  - interface: eth0\n    vrid: 51\n    vips: [{}]\n",
        (0..240_000)
            .map(|i| format!("10.{}.{}.{}/32", i / 65536, (i / 256) % 256, i % 256))
            .collect::<Vec<_>>()
            .join(", ")
    );
    assert!(big.len() > 1 << 20);
    refused(&big, "larger than 1048576 bytes");

    let flow = format!(
        "instances: {}{}\n",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    refused(&flow, "nested more than 32 levels");

    let mut block = String::from("instances:\n");
    for level in 0..40 {
        block.push_str(&" ".repeat(2 * level + 2));
        block.push_str("- \n");
    }
    refused(&block, "nested more than 32 levels");

    // Under 1 MiB, but more VIPs than one advert carries.
    let many = format!(
        "instances:\n  - interface: eth0\n    vrid: 51\n    vips: [{}]\n",
        (0..30_000)
            .map(|i| format!("10.0.{}.{}/32", i / 256, i % 256))
            .collect::<Vec<_>>()
            .join(",")
    );
    refused(
        &many,
        "instances[0].vips: 30000 VIPs; an instance has at most 255",
    );

    let instances = format!(
        "instances:\n{}",
        (0..2000)
            .map(|i| format!(
                "  - {{interface: e{}, vrid: 1, vips: [10.1.{}.{}/32]}}\n",
                i,
                i / 256,
                i % 256
            ))
            .collect::<String>()
    );
    refused(
        &instances,
        "instances: 2000 instances; vipd runs at most 1024",
    );
}

/// `check-config` takes the file as `run` does (`-c FILE`) as well as positionally.
#[test]
fn check_config_takes_the_file_with_dash_c_as_run_does() {
    let f = file("instances: [{interface: eth0, vrid: 51, vips: [10.200.0.100/24]}]\n");
    for args in [
        vec!["check-config", "--offline", "-c", f.path()],
        vec!["check-config", "--offline", "--config", f.path()],
        vec!["check-config", "--offline", f.path()],
    ] {
        let out = vipd(&args, &[]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("10.200.0.100/24"));
    }
}
