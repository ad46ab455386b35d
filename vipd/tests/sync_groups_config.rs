//! `sync_groups` in the configuration file: what validation builds (members, group checks
//! given to every member, keepalived's weight rule) and every error, named by its field, both
//! through the library and through `vipd check-config`.

use std::process::{Command, Output};

use vipd::config::Config;

/// Two instances, front and back, and the group `sync_groups` text appended.
fn yaml(sync_groups: &str) -> String {
    format!(
        "instances:\n\
         - name: front\n  interface: lo\n  vrid: 1\n  vips: [10.200.1.100/24]\n\
         \x20 checks: [{{name: svc, tcp: {{address: '127.0.0.1:9'}}, weight: -20}}]\n\
         - name: back\n  interface: lo\n  vrid: 2\n  vips: [10.200.2.100/24]\n\
         sync_groups:\n{sync_groups}"
    )
}

/// The engine's tracked objects of `instance`: name and weight.
fn tracks(instance: &vipd::config::InstancePlan) -> Vec<(&str, i16)> {
    instance
        .engine()
        .tracks
        .iter()
        .map(|t| (t.name.as_str(), t.weight))
        .collect()
}

fn errors(text: &str) -> Vec<String> {
    match Config::from_yaml(text).and_then(|c| c.validate()) {
        Ok(_) => Vec::new(),
        Err(e) => e.to_string().lines().map(str::to_owned).collect(),
    }
}

/// `vipd check-config` on `text`; `--offline` unless `online` (which also checks interfaces,
/// addresses and script security).
fn check_config(text: &str, online: bool) -> Output {
    let path = std::env::temp_dir().join(format!(
        "vipd-test-sync-groups-{}-{}.yaml",
        std::process::id(),
        text.len()
    ));
    std::fs::write(&path, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_vipd"))
        .arg("check-config")
        .args(if online { None } else { Some("--offline") })
        .arg(&path)
        .output()
        .expect("vipd runs");
    let _ = std::fs::remove_file(&path);
    out
}

#[test]
fn a_group_names_its_members_and_gives_them_its_checks_with_weight_zero() {
    let text = yaml(
        "- name: G1\n  instances: [front, back]\n\
         \x20 checks: [{name: uplink, interface: {name: lo}, weight: 10}]\n",
    );
    let plan = Config::from_yaml(&text).unwrap().validate().unwrap();
    let groups = plan.sync_groups();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].name(), "G1");
    assert_eq!(groups[0].members(), ["front", "back"]);
    for instance in plan.instances() {
        let expected: &[(&str, i16)] = if instance.name() == "front" {
            // keepalived without sync_group_tracking_weight: weights count as 0 (Fault).
            &[("svc", 0), ("uplink", 0)]
        } else {
            &[("uplink", 0)]
        };
        assert_eq!(tracks(instance), expected, "{}", instance.name());
        assert_eq!(instance.checks().len(), expected.len());
    }
}

#[test]
fn tracking_weight_keeps_the_weights() {
    let text = yaml(
        "- name: G1\n  instances: [front, back]\n  tracking_weight: true\n\
         \x20 checks: [{name: uplink, interface: {name: lo}, weight: 10}]\n",
    );
    let plan = Config::from_yaml(&text).unwrap().validate().unwrap();
    assert_eq!(tracks(&plan.instances()[0]), [("svc", -20), ("uplink", 10)]);
}

#[test]
fn an_unknown_member_is_named_with_the_known_names() {
    let errs = errors(&yaml("- name: G1\n  instances: [front, nope]\n"));
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].starts_with("sync_groups[0].instances[1]: no instance is named \"nope\"")
            && errs[0].ends_with("known: front, back"),
        "{errs:?}"
    );
}

#[test]
fn an_instance_in_two_groups_is_refused() {
    let errs = errors(&yaml(
        "- name: G1\n  instances: [front, back]\n- name: G2\n  instances: [back]\n",
    ));
    assert_eq!(
        errs,
        ["sync_groups[1].instances[0]: instance \"back\" is also in \
          sync_groups[0].instances[1]: an instance belongs to one sync group at most"]
    );
}

#[test]
fn names_members_hooks_and_checks_are_checked() {
    let errs = errors(&yaml(
        "- name: G1\n  instances: [front]\n  notify: {master: ['']}\n\
         \x20 checks: [{name: svc, interface: {name: lo}}]\n\
         - name: G1\n  instances: []\n",
    ));
    assert_eq!(
        errs,
        [
            "sync_groups[0].notify.master: the program (first element) is empty: give a path, \
             e.g. [/usr/local/bin/hook]",
            "sync_groups[0].checks[0].name: \"svc\" is also a check of member \"front\": \
             rename one of them",
            "sync_groups[1].name: \"G1\" is also the name of sync_groups[0]: group names must \
             be unique",
            "sync_groups[1].instances: no member: list the `name`s of the instances that \
             change state together",
        ]
    );
}

#[test]
fn an_unknown_key_in_a_group_is_a_syntax_error() {
    let err = Config::from_yaml(&yaml("- name: G1\n  members: [front]\n")).unwrap_err();
    assert!(err.to_string().contains("unknown field `members`"), "{err}");
}

#[test]
fn check_config_prints_the_group_and_refuses_a_bad_one_naming_the_field() {
    let out = check_config(
        &yaml("- name: G1\n  instances: [front, back]\n  notify: {command: [/bin/true]}\n"),
        false,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("sync_groups:") && stdout.contains("- front") && stdout.contains("G1"),
        "{stdout}"
    );
    let out = check_config(&yaml("- name: G1\n  instances: [front, ghost]\n"), false);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("sync_groups[0].instances[1]: no instance is named \"ghost\""),
        "{stderr}"
    );
}

#[test]
fn check_config_applies_script_security_to_group_hooks() {
    let out = check_config(
        &yaml(
            "- name: G1\n  instances: [front, back]\n  notify: {fault: [/nonexistent/vipd-hook]}\n",
        ),
        true,
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "sync_groups[0].notify.fault[0]: \"/nonexistent/vipd-hook\" is not an executable file"
        ),
        "{stderr}"
    );
}
