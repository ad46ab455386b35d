//! The configuration's unit tests.

use super::*;
use crate::duration::{ConfigDuration, VipLifetime};
use vrrp_core::{AnnounceSchedule, Interval, Version};

fn errors(yaml: &str) -> Vec<String> {
    match Config::from_yaml(yaml).and_then(|c| c.validate()) {
        Ok(_) => Vec::new(),
        Err(ConfigFileError::Invalid(list)) => list.iter().map(ToString::to_string).collect(),
        Err(e) => vec![e.to_string()],
    }
}

#[test]
fn a_minimal_file_gets_keepalived_defaults() {
    let plan = Config::from_yaml("instances: [{interface: eth0, vrid: 51, vips: [10.0.0.1/24]}]")
        .unwrap()
        .validate()
        .unwrap();
    let i = &plan.instances()[0];
    assert_eq!(i.name, "eth0-51-ipv4");
    assert_eq!(i.vip_interface, "eth0");
    assert_eq!(
        i.vips,
        vec![Vip {
            addr: "10.0.0.1".parse().unwrap(),
            prefix_len: 24
        }]
    );
    assert_eq!(i.engine.version, Version::V3);
    assert_eq!(i.engine.priority.get(), 100);
    assert_eq!(i.engine.advert_interval, Interval::ONE_SECOND);
    assert!(i.engine.preempt);
    assert_eq!(i.engine.announce, AnnounceSchedule::default());
    assert_eq!(
        i.vip_lifetime,
        VipLifetime::After(ConfigDuration::from_secs(5))
    );
}

#[test]
fn health_checks_become_tracked_objects_and_their_errors_name_the_field() {
    let plan = Config::from_yaml(
            "instances:\n  - interface: eth0\n    vrid: 51\n    vips: [10.0.0.1/24]\n    \
             checks:\n      - builtin: service\n      - builtin: kube-api\n        kube_api: {host: 10.96.0.1}\n      - name: w\n        \
             file: {path: /tmp/w}\n",
        )
        .unwrap()
        .validate()
        .unwrap();
    let tracks: Vec<(&str, i16, bool)> = plan.instances[0]
        .engine
        .tracks
        .iter()
        .map(|t| (t.name.as_str(), t.weight, t.initially_up))
        .collect();
    // A fault check is down until its first result; a negative weight is not applied
    // before it; a file check's weight varies at run time (0 here).
    assert_eq!(
        tracks,
        vec![
            ("service", 0, false),
            ("kube-api", -40, true),
            ("w", 0, false)
        ]
    );
    assert_eq!(plan.instances[0].checks.len(), 3);
    let errors = errors(
        "instances:\n  - interface: eth0\n    vrid: 51\n    vips: [10.0.0.1/24]\n    \
             checks:\n      - builtin: service\n        interval: 1s\n        timeout: 3s\n",
    );
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("instances[0].checks[0].timeout: "),
        "{errors:?}"
    );
}

#[test]
fn the_api_listens_on_loopback_unless_told_otherwise() {
    let one = "instances: [{interface: eth0, vrid: 51, vips: [10.0.0.1/24]}]";
    let plan = Config::from_yaml(one).unwrap().validate().unwrap();
    assert_eq!(plan.api, Some("127.0.0.1:9370".parse().unwrap()));
    let off = Config::from_yaml(&format!("api: {{listen: \"off\"}}\n{one}"))
        .unwrap()
        .validate()
        .unwrap();
    assert_eq!(off.api, None);
    let v6 = Config::from_yaml(&format!("api: {{listen: \"[::1]:9999\"}}\n{one}"))
        .unwrap()
        .validate()
        .unwrap();
    assert_eq!(v6.api, Some("[::1]:9999".parse().unwrap()));
    let Err(ConfigFileError::Invalid(errors)) =
        Config::from_yaml(&format!("api: {{listen: \"localhost\"}}\n{one}"))
            .unwrap()
            .validate()
    else {
        panic!("a listen address without a port was accepted");
    };
    assert_eq!(errors[0].field, "api.listen");
    assert!(errors[0].message.contains("ADDRESS:PORT"), "{}", errors[0]);
    let mut config = Config::from_yaml(one).unwrap();
    Overrides {
        api_listen: Some("0.0.0.0:9370".into()),
        ..Overrides::default()
    }
    .apply(&mut config)
    .unwrap();
    assert_eq!(config.api.listen, "0.0.0.0:9370");
    assert_eq!(config.instances.len(), 1, "the instance was left alone");
}

#[test]
fn every_problem_is_reported_with_its_field_and_fix() {
    let yaml = "
instances:
  - interface: eth0
    vrid: 300
    priority: 0
    version: 3
    password: k8s_vip
    advert_interval: 41s
    vips: [10.0.0.1, 10.0.0.2/24, fd00::1/64, 10.0.0.2/24]
  - interface: eth0
    vrid: 51
    vips: [10.0.0.9/24]
  - interface: eth0
    vrid: 51
    preempt: false
    priority: 255
    version: 2
    advert_interval: 1.5s
    vips: [10.0.0.10/24]
";
    let got = errors(yaml);
    let want = [
        "instances[0].vrid: 300 is outside 1 to 255",
        "instances[0].priority: 0 is outside 1 to 255",
        "instances[0].advert_interval: 41s is not valid for VRRPv3",
        "instances[0].vips[0]: \"10.0.0.1\" is not in CIDR form",
        "instances[0].vips[3]: 10.0.0.2 is listed twice",
        "instances[0].vips[2]: fd00::1 is not of the same family",
        "instances[0].password: VRRPv3 (RFC 5798) has no authentication",
        "instances[2].advert_interval: 1.5s is not valid for VRRPv2: whole seconds",
        "instances[2].preempt: preempt: false (nopreempt) with priority 255",
    ];
    for w in want {
        assert!(
            got.iter().any(|g| g.starts_with(w)),
            "missing {w:?} in\n{}",
            got.join("\n")
        );
    }
    assert_eq!(got.len(), want.len(), "{}", got.join("\n"));
}

#[test]
fn a_vrid_twice_on_one_interface_and_family_is_refused() {
    let yaml = "
instances:
  - {interface: eth0, vrid: 51, vips: [10.0.0.1/24]}
  - {interface: eth0, vrid: 51, vips: ['fd00::1/64']}
  - {interface: eth1, vrid: 51, vips: [10.0.1.1/24]}
  - {interface: eth0, vrid: 51, vips: [10.0.0.2/24]}
";
    let got = errors(yaml);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].starts_with(
        "instances[3].vrid: VRID 51 (IPv4) on interface eth0 is also used by instances[0]"
    ));
}

#[test]
fn unknown_keys_and_wrong_types_name_the_field() {
    let got =
        errors("instances: [{interface: eth0, vrid: 51, vips: [10.0.0.1/24], nopreemt: true}]");
    assert!(got[0].contains("unknown field `nopreemt`"), "{got:?}");
    let got = errors("instances: [{interface: eth0, vrid: fifty, vips: [10.0.0.1/24]}]");
    assert!(got[0].contains("vrid"), "{got:?}");
    let got = errors(
        "instances: [{interface: eth0, vrid: 5, advert_interval: soon, vips: [10.0.0.1/24]}]",
    );
    assert!(got[0].contains("is not a duration"), "{got:?}");
}

#[test]
fn the_password_is_never_rendered() {
    let c = Config::from_yaml(
            "instances: [{interface: eth0, vrid: 51, version: 2, password: s3cret, vips: [10.0.0.1/24]}]",
        )
        .unwrap();
    assert!(c.validate().is_ok());
    let shown = format!("{} {:?}", c.to_yaml(), c);
    assert!(!shown.contains("s3cret"), "{shown}");
    assert!(shown.contains("<redacted>"));
}

#[test]
fn overrides_fill_in_or_make_the_single_instance() {
    let mut none = Config::default();
    let o = Overrides {
        interface: Some("eth1".into()),
        vrid: Some(7),
        vips: vec!["10.0.0.7/24".into()],
        nopreempt: true,
        password: Some("pw".into()),
        version: Some(2),
        ..Overrides::default()
    };
    o.apply(&mut none).unwrap();
    let plan = none.validate().unwrap();
    assert_eq!(plan.instances[0].interface, "eth1");
    assert!(!plan.instances[0].engine.preempt);
    assert!(plan.instances[0].engine.password.is_some());
    let mut one =
        Config::from_yaml("instances: [{interface: eth0, vrid: 51, vips: [10.0.0.1/24]}]").unwrap();
    Overrides {
        priority: Some(150),
        ..Overrides::default()
    }
    .apply(&mut one)
    .unwrap();
    assert_eq!(
        one.validate().unwrap().instances[0].engine.priority.get(),
        150
    );
    let mut two = Config::from_yaml(
            "instances: [{interface: eth0, vrid: 51, vips: [10.0.0.1/24]}, {interface: eth0, vrid: 52, vips: [10.0.0.2/24]}]",
        )
        .unwrap();
    let e = Overrides {
        priority: Some(150),
        ..Overrides::default()
    }
    .apply(&mut two)
    .unwrap_err();
    assert!(e.to_string().contains("the file has 2 instances"), "{e}");
    let e = Overrides {
        vrid: Some(1),
        ..Overrides::default()
    }
    .apply(&mut Config::default())
    .unwrap_err();
    assert!(
        e.to_string().contains("--interface (VIPD_INTERFACE)"),
        "{e}"
    );
}

#[test]
fn notify_hooks_are_read_and_checked() {
    let plan = Config::from_yaml(
            "instances: [{interface: eth0, vrid: 51, vips: [10.0.0.1/24], notify: {command: [/bin/hook], master: [/bin/up, x]}}]",
        )
        .unwrap()
        .validate()
        .unwrap();
    let n = &plan.instances[0].notify;
    assert_eq!(n.command, vec!["/bin/hook"]);
    assert_eq!(n.master, vec!["/bin/up", "x"]);
    assert_eq!(n.timeout, ConfigDuration::from_secs(10));
    let got = errors(
        "instances: [{interface: eth0, vrid: 51, vips: [10.0.0.1/24], notify: {stop: [''], timeout: 0s}}]",
    );
    assert!(
        got.iter()
            .any(|g| g.starts_with("instances[0].notify.timeout")),
        "{got:?}"
    );
    assert!(
        got.iter()
            .any(|g| g.starts_with("instances[0].notify.stop")),
        "{got:?}"
    );
}

#[test]
fn ipv6_unicast_peers_may_be_global_with_a_unicast_source() {
    // keepalived accepts global IPv6 peers (with unicast_src_ip on each side).
    let plan = Config::from_yaml(
        "instances: [{interface: eth0, vrid: 51, vips: ['fd00::100/64'], \
         unicast_src_ip: 'fd00::1', unicast_peers: ['fd00::2', 'fe80::2']}]",
    )
    .unwrap()
    .validate()
    .unwrap();
    let engine = plan.instances()[0].engine();
    assert_eq!(engine.unicast_source, Some("fd00::1".parse().unwrap()));
    assert_eq!(engine.unicast_peers.len(), 2);
    let got = errors(
        "instances: [{interface: eth0, vrid: 51, vips: ['fd00::100/64'], \
         unicast_src_ip: 10.0.0.1, unicast_peers: ['fd00::2']}]",
    );
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].starts_with("instances[0].unicast_src_ip: 10.0.0.1 is not of the instance's family"),
        "{got:?}"
    );
}

#[test]
fn an_empty_file_asks_for_an_instance() {
    let got = errors("");
    assert_eq!(got.len(), 1);
    assert!(got[0].starts_with("instances: no instance is configured"));
}

#[test]
fn a_vip_belongs_to_one_instance() {
    let got = errors(
        "instances:\n  - {interface: eth0, vrid: 51, vips: [10.0.0.1/24, 10.0.0.2/24]}\n  \
         - {interface: eth1, vrid: 52, vips: [10.0.0.3/24, 10.0.0.2/32]}\n",
    );
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0]
            .starts_with("instances[1].vips[1]: 10.0.0.2 is also a VIP of instances[0] (vips[1])"),
        "{got:?}"
    );
}

#[test]
fn a_vip_lifetime_must_survive_missed_renewals() {
    let with = |lifetime: &str| {
        errors(&format!(
            "instances: [{{interface: eth0, vrid: 51, vips: [10.0.0.1/24], vip_lifetime: {lifetime}}}]"
        ))
    };
    for short in ["1s", "0s", "1500ms"] {
        let got = with(short);
        assert_eq!(got.len(), 1, "{short}: {got:?}");
        assert!(
            got[0].starts_with("instances[0].vip_lifetime: ") && got[0].contains("at least 2s"),
            "{short}: {got:?}"
        );
    }
    for fine in ["2s", "5s", "forever"] {
        assert_eq!(with(fine), Vec::<String>::new(), "{fine}");
    }
}

/// The plan of a one-instance file on eth0 (VRID 51, 10.0.0.1/24) with `extra` fields.
fn one_instance(extra: &str) -> InstancePlan {
    Config::from_yaml(&format!(
        "instances: [{{interface: eth0, vrid: 51, vips: [10.0.0.1/24]{extra}}}]"
    ))
    .unwrap()
    .validate()
    .unwrap()
    .instances()[0]
        .clone()
}

#[test]
fn lower_prio_no_advert_reaches_the_engine_and_is_off_by_default() {
    assert!(!one_instance("").engine.lower_prio_no_advert);
    assert!(
        one_instance(", lower_prio_no_advert: true")
            .engine
            .lower_prio_no_advert
    );
    let wrong = errors(
        "instances: [{interface: eth0, vrid: 51, vips: [10.0.0.1/24], lower_prio_no_advert: 1}]",
    );
    assert!(
        wrong.iter().any(|e| e.contains("lower_prio_no_advert")),
        "{wrong:?}"
    );
}

/// keepalived's `dont_track_primary`: the instance's interface (and its virtual MAC interface)
/// no longer decides whether it can run; a separate VIP interface still does.
#[test]
fn dont_track_primary_ignores_the_interface_link_only() {
    let plan = one_instance;
    let tracked = plan("");
    assert!(tracked.link_usable(true, true));
    assert!(!tracked.link_usable(false, false));
    assert!(!tracked.link_usable(true, false));
    let same = plan(", dont_track_primary: true");
    assert!(same.dont_track_primary());
    assert!(
        same.link_usable(false, false),
        "VIPs on the interface itself"
    );
    let separate = plan(", dont_track_primary: true, vip_interface: eth1");
    assert!(separate.link_usable(false, true));
    assert!(!separate.link_usable(true, false), "eth1 is still tracked");
    let vmac = plan(", dont_track_primary: true, use_vmac: true");
    assert!(vmac.link_usable(false, false), "the macvlan follows eth0");
}

/// keepalived's `vrrp_garp_interval` / `vrrp_gna_interval`: off by default, at most 1 s, and
/// one pacing per VIP interface.
#[test]
fn announcement_pacing_is_bounded_and_one_per_interface() {
    use std::time::Duration;
    assert_eq!(
        one_instance("").announce_pacing(),
        (Duration::ZERO, Duration::ZERO)
    );
    assert_eq!(
        one_instance(", garp: {interval: 10ms, na_interval: 5ms}").announce_pacing(),
        (Duration::from_millis(10), Duration::from_millis(5))
    );
    let long = errors(
        "instances: [{interface: eth0, vrid: 51, vips: [10.0.0.1/24], garp: {interval: 2s}}]",
    );
    assert!(
        long.iter()
            .any(|e| e.contains("instances[0].garp.interval") && e.contains("more than 1s")),
        "{long:?}"
    );
    let clash = errors(
        "instances:\n  - {interface: eth0, vrid: 51, vips: [10.0.0.1/24], garp: {interval: 10ms}}\n  \
         - {interface: eth0, vrid: 52, vips: [10.0.0.2/24]}\n",
    );
    assert!(
        clash
            .iter()
            .any(|e| e.contains("instances[1].garp.interval") && e.contains("instances[0]")),
        "{clash:?}"
    );
}

/// keepalived's `virtual_ipaddress_excluded`: held (in the plan's addresses, after the VIPs)
/// but not advertised (not in the engine's virtual addresses); errors name `vips_excluded`.
#[test]
fn excluded_addresses_are_held_not_advertised_and_checked() {
    let plan = one_instance(", vips_excluded: [10.0.0.9/24, fd00::9/64]");
    let addrs: Vec<String> = plan.vips().iter().map(ToString::to_string).collect();
    assert_eq!(addrs, ["10.0.0.1/24", "10.0.0.9/24", "fd00::9/64"]);
    assert_eq!(
        plan.engine.virtual_addresses,
        ["10.0.0.1".parse::<std::net::IpAddr>().unwrap()]
    );
    assert_eq!(plan.engine.excluded_addresses.len(), 2);
    let wrong = errors(
        "instances: [{interface: eth0, vrid: 51, vips: [10.0.0.1/24], \
         vips_excluded: [10.0.0.9/24, bogus, 10.0.0.1/24]}]",
    );
    assert!(
        wrong
            .iter()
            .any(|e| e.starts_with("instances[0].vips_excluded[1]")),
        "{wrong:?}"
    );
    let twice = errors(
        "instances: [{interface: eth0, vrid: 51, vips: [10.0.0.1/24], \
         vips_excluded: [10.0.0.9/24, 10.0.0.1/24]}]",
    );
    assert!(
        twice
            .iter()
            .any(|e| e.starts_with("instances[0].vips_excluded[1]") && e.contains("once")),
        "{twice:?}"
    );
}

#[test]
fn a_vip_may_name_its_interface_and_label() {
    let plan = Config::from_yaml(
        "instances: [{interface: eth0, vrid: 51, vips: [10.0.0.1/24, \
         '10.0.0.2/24 label eth0:front', '192.168.2.1/24 dev eth1 label eth1:back', \
         '10.0.0.3/24 dev eth0'], vips_excluded: ['fd00::9/64 dev eth2']}]",
    )
    .unwrap()
    .validate()
    .unwrap()
    .instances()[0]
        .clone();
    let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
    assert_eq!(plan.vip_dev(ip("10.0.0.1")), None);
    assert_eq!(plan.vip_label(ip("10.0.0.1")), None);
    assert_eq!(plan.vip_label(ip("10.0.0.2")), Some("eth0:front"));
    assert_eq!(plan.vip_dev(ip("192.168.2.1")), Some("eth1"));
    assert_eq!(plan.vip_label(ip("192.168.2.1")), Some("eth1:back"));
    // `dev` naming the VIP interface is where the VIPs go anyway.
    assert_eq!(plan.vip_dev(ip("10.0.0.3")), None);
    assert_eq!(plan.vip_dev(ip("fd00::9")), Some("eth2"));
    assert!(plan.tracks_dev("eth1") && plan.tracks_dev("eth2"));
    let untracked = one_instance(", vips_excluded: ['10.0.0.5/24 dev eth1 no_track']");
    assert!(
        !untracked.tracks_dev("eth1"),
        "every address on eth1 is no_track"
    );
    let extra: Vec<&str> = plan.extra_vip_interfaces().collect();
    assert_eq!(extra, ["eth1", "eth2"]);
    // With a vip_interface, `dev` naming the VRRP interface keeps the address there; with
    // use_vmac it goes on the virtual MAC interface with the others, as in keepalived.
    let on_vrrp = one_instance(", vip_interface: eth9, vips_excluded: ['10.0.0.5/24 dev eth0']");
    assert_eq!(on_vrrp.vip_dev(ip("10.0.0.5")), Some("eth0"));
    let on_vmac = one_instance(", use_vmac: true, vips_excluded: ['10.0.0.5/24 dev eth0']");
    assert_eq!(on_vmac.vip_dev(ip("10.0.0.5")), None);
    // The engine advertises addresses only: the options stay in the daemon's plan.
    assert_eq!(plan.engine.virtual_addresses.len(), 4);

    for (vip, field, wanted) in [
        (
            "'10.0.0.1/24 dev'",
            "vips[0]",
            "dev in \"10.0.0.1/24 dev\" has no value",
        ),
        (
            "'10.0.0.1/24 dev eth1/2'",
            "vips[0]",
            "not a valid interface name",
        ),
        (
            "'10.0.0.1/24 brd 10.0.0.255'",
            "vips[0]",
            "only `dev IFNAME`, `label LABEL` and `no_track`",
        ),
        (
            "'10.0.0.1/24 label eth0:a label eth0:b'",
            "vips[0]",
            "label is given twice",
        ),
        (
            "'10.0.0.1/24 label front'",
            "vips[0]",
            "goes on eth0, and a label is that",
        ),
        (
            "'10.0.0.1/24 dev eth1 label eth0:x'",
            "vips[0]",
            "goes on eth1",
        ),
        (
            "'10.0.0.1/24 label eth0:a-very-long'",
            "vips[0]",
            "longer than 15 bytes",
        ),
        (
            "'10.0.0.1/24 no_track'",
            "vips[0]",
            "no_track in \"10.0.0.1/24 no_track\" without dev",
        ),
    ] {
        let got = errors(&format!(
            "instances: [{{interface: eth0, vrid: 51, vips: [{vip}]}}]"
        ));
        assert!(
            got.iter()
                .any(|e| e.starts_with(&format!("instances[0].{field}: ")) && e.contains(wanted)),
            "{vip}: {got:?}"
        );
    }
    let v6 = errors(
        "instances: [{interface: eth0, vrid: 51, vips: [10.0.0.1/24], \
         vips_excluded: ['fd00::9/64 label eth0:v6']}]",
    );
    assert!(
        v6.iter()
            .any(|e| e.starts_with("instances[0].vips_excluded[0]: ") && e.contains("IPv4's")),
        "{v6:?}"
    );
}
