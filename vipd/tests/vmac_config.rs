//! `use_vmac` and `vmac_xmit_base` in the configuration file: the virtual MAC interface's name
//! and MAC, and every error named by its field.

use vipd::config::Config;

fn plan(instances: &str) -> Result<vipd::config::Plan, Vec<String>> {
    Config::from_yaml(&format!("instances:\n{instances}"))
        .and_then(|c| c.validate())
        .map_err(|e| e.to_string().lines().map(str::to_owned).collect())
}

#[test]
fn use_vmac_names_the_interface_and_gives_it_the_virtual_router_mac() {
    let p = plan(
        "- {interface: eth0, vrid: 51, use_vmac: true, vips: [10.200.0.100/24]}\n\
         - {interface: eth0, vrid: 52, use_vmac: front6, vmac_xmit_base: true, vips: [fd00:200::100/64]}\n\
         - {interface: eth0, vrid: 53, use_vmac: false, vips: [10.200.0.101/24]}\n",
    )
    .unwrap();
    let v4 = p.instances()[0].vmac().unwrap();
    assert_eq!(v4.name(), "vrrp.51");
    assert_eq!(v4.mac(), [0x00, 0x00, 0x5e, 0x00, 0x01, 51]);
    assert!(!v4.xmit_base());
    assert_eq!(p.instances()[0].vip_interface(), "vrrp.51");
    let v6 = p.instances()[1].vmac().unwrap();
    assert_eq!(v6.name(), "front6");
    assert_eq!(v6.mac(), [0x00, 0x00, 0x5e, 0x00, 0x02, 52]);
    assert!(v6.xmit_base());
    assert!(p.instances()[2].vmac().is_none());
    assert_eq!(p.instances()[2].vip_interface(), "eth0");
}

#[test]
fn vmac_errors_name_their_field() {
    let errs = plan(
        "- {interface: eth0, vrid: 51, use_vmac: true, vip_interface: eth1, vips: [10.200.0.100/24]}\n\
         - {interface: eth0, vrid: 52, vmac_xmit_base: true, vips: [10.200.0.101/24]}\n\
         - {interface: eth0, vrid: 53, use_vmac: 'has space', vips: [10.200.0.102/24]}\n\
         - {interface: eth0, vrid: 54, use_vmac: eth0, vips: [10.200.0.103/24]}\n\
         - {interface: eth1, vrid: 51, use_vmac: true, vips: [10.200.0.104/24]}\n\
         - {interface: eth0, vrid: 55, use_vmac: vrrp.51, vips: [10.200.0.105/24]}\n",
    )
    .unwrap_err();
    assert_eq!(
        errs,
        [
            "instances[0].vip_interface: with use_vmac the VIPs go on the virtual MAC interface: \
             remove vip_interface",
            "instances[1].vmac_xmit_base: has no effect without use_vmac: set use_vmac: true, or \
             remove it",
            "instances[2].use_vmac: \"has space\" is not a valid interface name: 1 to 15 \
             characters, no '/', ':' or spaces",
            "instances[3].use_vmac: \"eth0\" is the VRRP interface: name the virtual MAC \
             interface differently, e.g. vrrp.54",
            "instances[5].use_vmac: virtual MAC interface \"vrrp.51\" is also instances[4]'s: \
             name one of them, e.g. use_vmac: vrrp.55.2",
        ]
    );
}

#[test]
fn check_config_accepts_a_virtual_mac_interface_vipd_will_create() {
    let path = std::env::temp_dir().join(format!("vipd-test-vmac-{}.yaml", std::process::id()));
    std::fs::write(
        &path,
        "instances:\n- {interface: lo, vrid: 51, use_vmac: true, vips: [10.200.0.100/24]}\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vipd"))
        .arg("check-config")
        .arg(&path)
        .output()
        .expect("vipd runs");
    let _ = std::fs::remove_file(&path);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("use_vmac: true"));
}
