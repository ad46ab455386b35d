//! `vipd import`: both corpora against their expected outputs, and the real binary.
//!
//! - The 25 real keepalived.conf files of `../shared/keepalived-configs/` (read from there, never
//!   copied here), imported with configuration id `high` (their `@high`/`@low` lines).
//! - This repository's corpus, `tests/import/corpus/c*.conf`, imported with id `vipd`.
//!
//! Each import is compared with `tests/import/expected/NAME.findings` (the report, plus
//! check-config's errors when the result would not pass it) and, when the result passes
//! check-config's validation, `NAME.yaml`. The YAML must parse back into exactly the imported
//! configuration. `VIPD_BLESS=1 cargo test -p vipd --test import` rewrites the expected files
//! (review every change by hand before committing it).

use std::path::{Path, PathBuf};
use std::process::Command;

use vipd::config::Config;
use vipd::import::{ImportOptions, Imported, Severity, import_file};

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn shared_dir() -> PathBuf {
    manifest_dir().join("../../shared/keepalived-configs")
}

fn corpus_dir() -> PathBuf {
    manifest_dir().join("tests/import/corpus")
}

fn expected_dir() -> PathBuf {
    manifest_dir().join("tests/import/expected")
}

fn bless() -> bool {
    std::env::var_os("VIPD_BLESS").is_some_and(|v| v == "1")
}

/// The main files of a corpus directory: `prefix`-named `.conf` files, sorted.
fn main_files(dir: &Path, keep: impl Fn(&str) -> bool) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.extension().is_some_and(|x| x == "conf")
                && p.file_name().and_then(|n| n.to_str()).is_some_and(&keep)
        })
        .collect();
    files.sort();
    files
}

/// The text stored for the findings of an import.
fn findings_text(imported: &Imported) -> String {
    let mut text = imported.report();
    if let Some(invalid) = &imported.invalid {
        text.push_str("check-config would refuse the result:\n");
        text.push_str(invalid);
        text.push('\n');
    }
    text
}

/// Compares `actual` with the expected file `name` (absent: expected nothing), or rewrites it.
/// The corpus directory (what `${_PWD}` expands to) is written `<DIR>`, so that the expected
/// files do not depend on where the repository is checked out.
fn compare(name: &str, dir: &Path, actual: Option<&str>, failures: &mut Vec<String>) {
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let actual = actual.map(|t| t.replace(&dir.display().to_string(), "<DIR>"));
    let actual = actual.as_deref();
    let path = expected_dir().join(name);
    if bless() {
        match actual {
            Some(text) => std::fs::write(&path, text).unwrap(),
            None => {
                let _ = std::fs::remove_file(&path);
            }
        }
        return;
    }
    let expected = std::fs::read_to_string(&path).ok();
    if expected.as_deref() != actual {
        failures.push(format!(
            "{name}: differs from {} (rerun with VIPD_BLESS=1 and review the diff)\n--- \
             expected\n{}\n--- actual\n{}",
            path.display(),
            expected.as_deref().unwrap_or("(no file)"),
            actual.unwrap_or("(nothing)")
        ));
    }
}

/// Imports `file` and checks it against its expected files; returns the import.
fn check_one(file: &Path, config_id: &str, failures: &mut Vec<String>) -> Imported {
    let options = ImportOptions {
        config_id: Some(config_id.to_owned()),
    };
    let imported = import_file(file, &options)
        .unwrap_or_else(|e| panic!("{}: cannot import: {e}", file.display()));
    let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or("x");
    // The YAML is the configuration, whatever its comments.
    let parsed = Config::from_yaml(&imported.yaml)
        .unwrap_or_else(|e| panic!("{stem}: the YAML does not parse: {e}\n{}", imported.yaml));
    assert_eq!(
        parsed, imported.config,
        "{stem}: the YAML does not say what was imported\n{}",
        imported.yaml
    );
    // Every finding names a line of a file that was read.
    for f in &imported.findings {
        assert!(
            f.loc.line > 0 && imported.files.contains(&f.loc.file),
            "{stem}: finding without a source line: {f}"
        );
    }
    let valid = parsed.validate().is_ok();
    assert_eq!(
        valid,
        imported.invalid.is_none(),
        "{stem}: validation disagrees"
    );
    let dir = file.parent().unwrap_or(Path::new("."));
    compare(
        &format!("{stem}.findings"),
        dir,
        Some(&findings_text(&imported)),
        failures,
    );
    compare(
        &format!("{stem}.yaml"),
        dir,
        valid.then_some(imported.yaml.as_str()),
        failures,
    );
    imported
}

fn finish(failures: Vec<String>) {
    assert!(
        failures.is_empty(),
        "{} file(s) differ:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn the_shared_real_configurations_import_as_expected() {
    let dir = shared_dir();
    if !dir.is_dir() {
        eprintln!(
            "SKIPPED the_shared_real_configurations_import_as_expected: ../shared/keepalived-configs \
             not found at {}",
            dir.display()
        );
        return;
    }
    // Main files are named NN-...; 1033-role.conf is the include target of 38-*.
    let files = main_files(&dir, |n| {
        n.len() > 3 && n.as_bytes()[..2].iter().all(u8::is_ascii_digit) && n.as_bytes()[2] == b'-'
    });
    assert_eq!(files.len(), 25, "the shared corpus has 25 main files");
    let mut failures = Vec::new();
    let mut valid = 0;
    for file in &files {
        let imported = check_one(file, "high", &mut failures);
        // Either a configuration check-config accepts, or a precise list of what is not.
        assert!(
            imported.invalid.is_none() || imported.unsupported().next().is_some(),
            "{}: neither valid nor explained by an unsupported directive:\n{}",
            file.display(),
            findings_text(&imported)
        );
        valid += usize::from(imported.invalid.is_none());
    }
    eprintln!(
        "{valid} of {} shared files import into a valid configuration",
        files.len()
    );
    finish(failures);
}

#[test]
fn the_own_corpus_imports_as_expected() {
    let files = main_files(&corpus_dir(), |n| n.starts_with('c'));
    assert!(files.len() >= 15, "at least 15 corpus files");
    let mut failures = Vec::new();
    for file in &files {
        let imported = check_one(file, "vipd", &mut failures);
        // Every file of this corpus imports into a configuration check-config accepts.
        assert!(
            imported.invalid.is_none(),
            "{}: {}",
            file.display(),
            findings_text(&imported)
        );
    }
    finish(failures);
}

fn corpus(name: &str) -> Imported {
    import_file(
        &corpus_dir().join(name),
        &ImportOptions {
            config_id: Some("vipd".to_owned()),
        },
    )
    .unwrap()
}

#[test]
fn grammar_traps_are_read_as_keepalived_reads_them() {
    // Braces anywhere, one-line blocks, quoted values, SLAVE.
    let c = corpus("c12-syntax-traps.conf").config;
    let i = &c.instances[0];
    assert_eq!(i.name.as_deref(), Some("VI_EDGE"));
    assert_eq!((i.interface.as_str(), i.vrid, i.priority), ("eth0", 80, 90));
    assert_eq!(i.vips, ["192.168.80.1/24"]);
    assert_eq!(i.password.as_ref().map(|p| p.0.as_str()), Some("p w"));
    assert_eq!(i.checks[0].weight, Some(-10));
    // Macros, conditionals, _PWD, a multi-line definition.
    let c = corpus("c11-macros-conditionals.conf").config;
    let i = &c.instances[0];
    assert_eq!(i.name.as_deref(), Some("VI_eth0"));
    assert_eq!(i.priority, 200);
    assert_eq!(i.unicast_src_ip.as_deref(), Some("10.70.0.1"));
    assert_eq!(i.unicast_peers, ["10.70.0.2"]);
    assert!(i.preempt, "the @other line is dropped");
    assert_eq!(i.vips, ["192.168.70.1/24", "192.168.70.2/24"]);
    let command = i.checks[0].exec.as_ref().unwrap().command.clone().unwrap();
    assert_eq!(
        command,
        [
            std::fs::canonicalize(corpus_dir())
                .unwrap()
                .join("check.sh")
                .display()
                .to_string(),
            "fast".to_owned()
        ]
    );
    // Includes: a glob in name order, and inside an instance.
    let imported = corpus("c10-include.conf");
    let i = &imported.config.instances[0];
    assert_eq!(i.priority, 110);
    let names: Vec<_> = i.checks.iter().map(|c| c.name.clone().unwrap()).collect();
    assert_eq!(names, ["chk_a", "chk_b"]);
    assert_eq!(imported.files.len(), 4, "{:?}", imported.files);
    assert!(
        imported
            .findings
            .iter()
            .any(|f| f.severity == Severity::Warning && f.message.contains("no file matches"))
    );
}

#[test]
fn keepalived_semantics_that_change_values() {
    // auth_pass truncated to 8, PASS dropped on v3.
    let imported = corpus("c13-auth-traps.conf");
    let c = &imported.config;
    assert_eq!(
        c.instances[0].password.as_ref().map(|p| p.0.as_str()),
        Some("averylon")
    );
    assert_eq!(c.instances[1].password, None);
    assert_eq!(c.instances[1].version, 3);
    // Repeated unicast_peer blocks merge; IPv6 without a version is v3; hop limit 64.
    let i = &corpus("c03-repeated-unicast-peer.conf").config.instances[0];
    assert_eq!(i.unicast_peers, ["fd00:1::2", "fd00:1::3", "fd00:1::4"]);
    assert_eq!((i.version, i.unicast_min_hop_limit), (3, 64));
    // A script without timeout runs for (just under) its interval; weight 0 is Fault.
    let i = &corpus("c04-vrrp-script.conf").config.instances[0];
    assert_eq!(i.checks[0].weight, Some(-20));
    assert_eq!(i.checks[1].weight, Some(-50), "the per-instance override");
    assert_eq!(i.checks[1].timeout.unwrap().0, 2990);
    assert_eq!(
        i.checks[2].action,
        Some(vipd::vip_health::CheckAction::Fault)
    );
    // GARP: globals, overrides, lower_prio following master.
    let c = corpus("c08-garp.conf").config;
    let (g0, g1) = (c.instances[0].garp, c.instances[1].garp);
    assert_eq!((g0.master_delay.0, g0.master_repeat), (2000, 3));
    assert_eq!((g0.lower_prio_delay.0, g0.lower_prio_repeat), (2000, 3));
    assert_eq!((g0.master_refresh.0, g0.master_refresh_repeat), (60_000, 2));
    assert_eq!((g1.master_delay.0, g1.lower_prio_delay.0), (1000, 3000));
    // Fractional advert_int.
    let c = corpus("c14-fractional-advert.conf").config;
    assert_eq!(c.instances[0].advert_interval.0, 250);
    let intervals: Vec<u64> = c.instances[2..]
        .iter()
        .map(|i| i.advert_interval.0)
        .collect();
    assert_eq!(
        intervals,
        [2000, 130, 40_950],
        "rounded as keepalived rounds"
    );
    assert!(c.instances[0].v3_checksum_as_v2);
}

#[test]
fn every_directive_vipd_cannot_express_is_listed_with_its_line() {
    let imported = corpus("c16-not-expressible.conf");
    let listed: Vec<(usize, &str)> = imported
        .unsupported()
        .map(|f| (f.loc.line, f.directive.as_str()))
        .collect();
    for want in [
        (7, "net_namespace"),
        (9, "notification_email"),
        (13, "script_user"),
        // The legacy form without `group { }`: its names are not settings, and it has no
        // member.
        (16, "vrrp_sync_group"),
        (17, "VI_A"),
        (26, "vrrp_track_process"),
        (43, "auth_type"),
        (52, "virtual_routes"),
        (55, "track_process"),
        (59, "chk_missing"),
        (70, "static_routes"),
        (73, "virtual_server"),
    ] {
        assert!(listed.contains(&want), "{want:?} not in {listed:?}");
    }
    // What can be expressed is still there: the instances, the sync group of the `group`
    // block, the virtual MAC.
    assert_eq!(imported.config.instances.len(), 2);
    assert!(imported.invalid.is_none());
    let groups = &imported.config.sync_groups;
    assert_eq!(groups.len(), 1, "{groups:?}");
    assert_eq!(groups[0].name, "VG_1");
    assert_eq!(groups[0].instances, ["VI_A", "VI_B"]);
    let a = &imported.config.instances[0];
    assert_eq!(a.use_vmac, Some(vipd::config::UseVmac::Enabled(true)));
    assert!(a.vmac_xmit_base);
    assert!(a.dont_track_primary);
    assert!(a.lower_prio_no_advert);
    assert_eq!(a.vips_excluded, ["192.168.120.2/24"]);
}

fn vipd(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_vipd"))
        .args(args)
        .output()
        .expect("vipd runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn the_command_writes_what_check_config_accepts() {
    let dir = std::env::temp_dir().join(format!("vipd-import-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for name in [
        "c02-unicast-v3.conf",
        "c04-vrrp-script.conf",
        "c18-seed-ingress-vip.conf",
    ] {
        let out_file = dir.join(format!("{name}.yaml"));
        let src = corpus_dir().join(name);
        let out = vipd(&[
            "import",
            src.to_str().unwrap(),
            "-o",
            out_file.to_str().unwrap(),
            "--config-id",
            "vipd",
        ]);
        assert!(out.status.success(), "{name}: {}", text(&out.stderr));
        let check = vipd(&["check-config", "--offline", out_file.to_str().unwrap()]);
        assert!(
            check.status.success(),
            "{name}: check-config refused the import: {}",
            text(&check.stderr)
        );
    }
    // Unsupported directives: exit 2, the list on stderr, nothing written.
    let out_file = dir.join("c16.yaml");
    let src = corpus_dir().join("c16-not-expressible.conf");
    let args = [
        "import",
        src.to_str().unwrap(),
        "-o",
        out_file.to_str().unwrap(),
    ];
    let out = vipd(&args);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("c16-not-expressible.conf:52: unsupported: virtual_routes"),
        "{stderr}"
    );
    assert!(stderr.contains("--allow-partial"), "{stderr}");
    assert!(
        !out_file.exists(),
        "nothing is written without --allow-partial"
    );
    // With --allow-partial: the rest, to a file check-config accepts.
    let mut partial = args.to_vec();
    partial.push("--allow-partial");
    let out = vipd(&partial);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let check = vipd(&["check-config", "--offline", out_file.to_str().unwrap()]);
    assert!(check.status.success(), "{}", text(&check.stderr));
    // To stdout without -o; a missing file is exit 1.
    let src = corpus_dir().join("c01-minimal-v2-pass.conf");
    let out = vipd(&["import", src.to_str().unwrap()]);
    assert!(out.status.success());
    assert!(text(&out.stdout).contains("vrid: 51"));
    let out = vipd(&["import", "/nonexistent/keepalived.conf"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("cannot read"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Files that include each other, a definition that expands into itself and an unknown
/// definition end with findings, not a hang; an unreadable main file is an error.
#[test]
fn hostile_files_end_in_findings() {
    let dir = std::env::temp_dir().join(format!("vipd-import-loop-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("a.conf"), "include *.conf\n").unwrap();
    std::fs::write(
        dir.join("b.conf"),
        "include *.conf\n$X=$X$X\nvrrp_instance $X { interface $UNKNOWN }\n",
    )
    .unwrap();
    let start = std::time::Instant::now();
    let imported = import_file(&dir.join("a.conf"), &ImportOptions::default());
    let took = start.elapsed();
    let missing = import_file(&dir.join("missing.conf"), &ImportOptions::default());
    let _ = std::fs::remove_dir_all(&dir);
    let imported = imported.unwrap();
    assert!(took < std::time::Duration::from_secs(10), "took {took:?}");
    let messages: Vec<String> = imported.findings.iter().map(ToString::to_string).collect();
    let has = |what: &str| messages.iter().any(|m| m.contains(what));
    assert!(
        has("files read already") || has("nest deeper"),
        "{messages:#?}"
    );
    assert!(
        has("expand into themselves") || has("expand this line beyond"),
        "{messages:#?}"
    );
    assert!(has("$UNKNOWN is not defined"), "{messages:#?}");
    assert!(imported.invalid.is_some(), "no instance could be made");
    assert!(missing.is_err());
}
