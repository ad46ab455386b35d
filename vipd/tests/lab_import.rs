//! `vipd import` against the real thing: one keepalived.conf, run as written by keepalived
//! 2.2.7 on node1 and, imported, by vipd on node2, on one segment of the namespace lab.
//!
//! The lab's corpus files (`tests/import/corpus/c19-lab-multicast.conf`, VRRPv2 multicast with
//! a password, and `c20-lab-unicast.conf`, VRRPv3 unicast over IPv4) are one file for both
//! nodes, as keepalived users write them: `@ka` lines for keepalived (`keepalived -i ka`),
//! `@vipd` lines for vipd (`vipd import --config-id vipd`) choose each node's priority (and
//! unicast source and peer). keepalived (150) must win the election, vipd (100) stay Backup;
//! when keepalived stops, vipd takes the VIP; when keepalived comes back, it takes it back.
//!
//! Needs root, iproute2 and keepalived (Debian package `keepalived`, 2.2.7 in CI).

mod lab;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use lab::{Keepalived, Lab};
use vipd::import::{ImportOptions, import_file};

/// Longest wait for any one step (an election, a takeover).
const SETTLE: Duration = Duration::from_secs(10);

/// Past vipd's Master_Down_Interval as a priority-100 Backup with 1 s adverts (3.61 s), with
/// margin: long enough for a Backup that does not hear the Master to take over.
const STEADY: Duration = Duration::from_millis(4600);

fn corpus(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/import/corpus")
        .join(name)
}

/// Runs the scenario on corpus file `name`.
fn keepalived_and_imported_vipd(name: &str) {
    let src = corpus(name);
    let imported = import_file(
        &src,
        &ImportOptions {
            config_id: Some("vipd".to_owned()),
        },
    )
    .unwrap();
    assert!(
        imported.unsupported().next().is_none() && imported.invalid.is_none(),
        "{name} imports whole:\n{}",
        imported.report()
    );
    let original = std::fs::read_to_string(&src).unwrap();
    // The guard first, so the lab (which kills keepalived's parent) drops before it.
    let keepalived = Keepalived::new("import", &original);
    let yaml = imported.yaml.clone();
    let mut lab = Lab::new(&[150, 100], move |i, _| {
        if i == 1 { yaml.clone() } else { String::new() }
    });
    let argv = keepalived.argv(&["-i", "ka"]);
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    lab.spawn(0, &argv);
    lab.start(1);

    // keepalived (150) is elected; vipd (100) stays Backup past its Master_Down_Interval.
    let elected = lab.wait_until(SETTLE, "keepalived (node1) holds the VIP", |l| {
        l.holders() == [0]
    });
    std::thread::sleep(STEADY);
    assert_eq!(lab.holders(), [0], "one Master, keepalived\n{}", lab.logs());
    let vipd_log = lab.log(1);
    assert!(
        vipd_log.contains("to=BACKUP") && !vipd_log.contains("to=MASTER"),
        "vipd stays Backup while keepalived is Master\n{}",
        lab.logs()
    );
    assert!(
        !vipd_log.contains("advert dropped"),
        "vipd accepts keepalived's adverts\n{}",
        lab.logs()
    );

    // keepalived stops (priority 0): vipd takes over.
    let stop = Instant::now();
    lab.signal(0, "TERM");
    lab.wait_exit(0, SETTLE);
    assert!(
        keepalived.wait_gone(Duration::from_secs(5)),
        "keepalived's VRRP child outlived its parent\n{}",
        lab.log(0)
    );
    lab.wait_until(SETTLE, "vipd (node2) takes over", |l| l.holders() == [1]);
    let to_vipd = stop.elapsed();

    // keepalived comes back with the higher priority: it preempts, vipd returns to Backup.
    let restart = Instant::now();
    lab.spawn(0, &argv);
    lab.wait_until(SETTLE, "keepalived (node1) takes the VIP back", |l| {
        l.holders() == [0]
    });
    let to_keepalived = restart.elapsed();
    std::thread::sleep(STEADY);
    assert_eq!(lab.holders(), [0], "one Master again\n{}", lab.logs());
    assert!(
        lab.log(1).matches("to=BACKUP").count() >= 2,
        "vipd went back to Backup\n{}",
        lab.logs()
    );
    let ka_log = lab.log(0);
    for complaint in ["nvalid", "mismatch", "wrong version", "auth, expecting"] {
        assert!(
            !ka_log.contains(complaint),
            "keepalived complained ({complaint}) about vipd's adverts\n{ka_log}"
        );
    }
    eprintln!(
        "{name}: keepalived elected in {elected:?}; keepalived stop -> vipd Master {to_vipd:?}; \
         keepalived restart -> keepalived Master {to_keepalived:?}"
    );
}

#[test]
fn multicast_v2_file_keepalived_and_vipd_fail_over_both_ways() {
    keepalived_and_imported_vipd("c19-lab-multicast.conf");
}

#[test]
fn unicast_v3_file_keepalived_and_vipd_fail_over_both_ways() {
    keepalived_and_imported_vipd("c20-lab-unicast.conf");
}
