//! What vipd cannot express of keepalived's configuration, per section, and why: the tables
//! the mapping (`map`) reports unsupported directives from.

/// Why vipd cannot express a directive, per section: `(keyword, reason)`. A directive found
/// here is reported as unsupported with its reason; one found nowhere gets the section's
/// default reason.
pub(super) const TOP_UNSUPPORTED: &[(&str, &str)] = &[
    (
        "net_namespace",
        "vipd has no network-namespace setting: run vipd inside the namespace (ip netns exec \
         NAME vipd run ...)",
    ),
    (
        "net_namespace_ipvs",
        "IPVS is not vipd's job: keep keepalived's checker for load balancing",
    ),
    (
        "virtual_server",
        "load balancing (IPVS virtual servers) is not vipd's job: keep keepalived's checker \
         process (keepalived --check) or another load balancer for it",
    ),
    (
        "virtual_server_group",
        "load balancing (IPVS virtual servers) is not vipd's job",
    ),
    (
        "static_ipaddress",
        "vipd manages only VIPs: configure static addresses with the system's network \
         configuration",
    ),
    (
        "static_routes",
        "vipd manages only VIPs: configure static routes with the system's network \
         configuration",
    ),
    (
        "static_rules",
        "vipd manages only VIPs: configure policy rules with the system's network \
         configuration",
    ),
    (
        "vrrp_track_process",
        "process tracking is not in vipd: use an exec check (e.g. [\"/usr/bin/pidof\", \
         \"haproxy\"])",
    ),
    (
        "garp_group",
        "GARP groups (pacing per interface) are not in vipd yet",
    ),
    (
        "linkbeat_interfaces",
        "vipd reads link state from netlink; no MII polling",
    ),
    ("bfd_instance", "BFD is not in vipd"),
    (
        "track_group",
        "track groups are not in vipd yet (they belong to sync groups)",
    ),
];

pub(super) const GLOBAL_UNSUPPORTED: &[(&str, &str)] = &[
    (
        "notification_email",
        "vipd sends no mail: use a notify hook that mails, or alert on vipd's metrics",
    ),
    ("notification_email_from", "vipd sends no mail"),
    ("smtp_server", "vipd sends no mail"),
    ("smtp_connect_timeout", "vipd sends no mail"),
    ("smtp_helo_name", "vipd sends no mail"),
    ("smtp_alert", "vipd sends no mail"),
    ("smtp_alert_vrrp", "vipd sends no mail"),
    ("email_faults", "vipd sends no mail"),
    (
        "vrrp_skip_check_adv_addr",
        "vipd checks the address list of VRRPv2 adverts always and of VRRPv3 adverts only with \
         strict_address_list: no per-master skip",
    ),
    (
        "vrrp_strict",
        "strict RFC mode (no unicast, firewall rules, ...) is not a vipd setting; vipd already \
         refuses authentication on VRRPv3",
    ),
    (
        "vrrp_iptables",
        "vipd installs no firewall rules: see the README's Security section for an nftables rule",
    ),
    ("vrrp_ipsets", "vipd installs no firewall rules"),
    ("nftables", "vipd installs no firewall rules"),
    ("nftables_priority", "vipd installs no firewall rules"),
    ("nftables_ifindex", "vipd installs no firewall rules"),
    (
        "dynamic_interfaces",
        "vipd needs its interfaces at start (and puts an instance in Fault while its link is \
         down)",
    ),
    (
        "max_auto_priority",
        "scheduling priorities are not vipd settings: use systemd (CPUSchedulingPolicy=, \
         Nice=)",
    ),
    (
        "vrrp_priority",
        "scheduling priorities are not vipd settings: use systemd (Nice=)",
    ),
    (
        "vrrp_rt_priority",
        "scheduling priorities are not vipd settings: use systemd (CPUSchedulingPolicy=)",
    ),
    ("vrrp_no_swap", "memory locking is not a vipd setting"),
    (
        "vrrp_startup_delay",
        "vipd starts every instance as Backup at once; no start-up delay yet",
    ),
    ("lvs_flush", "IPVS is not vipd's job"),
    ("lvs_sync_daemon", "IPVS is not vipd's job"),
    ("lvs_timeouts", "IPVS is not vipd's job"),
    ("lvs_id", "IPVS is not vipd's job"),
    (
        "vrrp_mcast_group4",
        "vipd uses the standard VRRP group 224.0.0.18",
    ),
    (
        "vrrp_mcast_group6",
        "vipd uses the standard VRRP group ff02::12",
    ),
    (
        "vrrp_higher_prio_send_advert",
        "higher_prio_send_advert is not in vipd yet",
    ),
];

/// Also the reasons for a `vrrp_sync_group`'s settings (`track_process`, `track_bfd`,
/// `smtp_alert`, `notify_priority_changes`), which are the instances' too.
pub(super) const INSTANCE_UNSUPPORTED: &[(&str, &str)] = &[
    (
        "use_vmac_addr",
        "vipd gives the virtual MAC interface the virtual router MAC always (use_vmac), never \
         the base interface's",
    ),
    ("use_ipvlan", "ipvlan interfaces are not in vipd"),
    (
        "virtual_routes",
        "vipd adds no routes with the VIPs: add them with a notify hook",
    ),
    (
        "virtual_rules",
        "vipd adds no policy rules with the VIPs: add them with a notify hook",
    ),
    (
        "track_process",
        "process tracking is not in vipd: use an exec check (e.g. [\"/usr/bin/pidof\", \
         \"haproxy\"])",
    ),
    ("track_bfd", "BFD is not in vipd"),
    (
        "smtp_alert",
        "vipd sends no mail: use a notify hook that mails, or alert on vipd's metrics",
    ),
    ("lvs_sync_daemon_interface", "IPVS is not vipd's job"),
    (
        "mcast_src_ip",
        "vipd sends multicast adverts from the interface's primary address",
    ),
    ("mcast_dst_ip", "vipd uses the standard VRRP group"),
    (
        "strict_mode",
        "strict RFC mode is not a vipd setting; vipd already refuses authentication on VRRPv3",
    ),
    (
        "skip_check_adv_addr",
        "vipd checks the address list of VRRPv2 adverts always and of VRRPv3 adverts only with \
         strict_address_list",
    ),
    (
        "no_accept",
        "vipd always accepts traffic to its VIPs (keepalived's accept mode)",
    ),
    ("higher_prio_send_advert", "not in vipd yet"),
    (
        "garp_extra_if",
        "vipd announces the VIPs only on their interface",
    ),
    (
        "vmac_garp_intvl",
        "vipd has no separate refresh period for virtual MAC interfaces: use garp_master_refresh",
    ),
    (
        "notify_deleted",
        "vipd has no hook for a deleted instance (notify.stop runs at shutdown)",
    ),
    (
        "notify_master_rx_lower_pri",
        "vipd has no hook for a lower-priority advert received as Master",
    ),
    (
        "notify_priority_changes",
        "vipd runs hooks on state changes only",
    ),
    (
        "unicast_ttl",
        "vipd sends unicast adverts with TTL 255 (RFC 5798)",
    ),
    (
        "unicast_fault_no_peer",
        "vipd has no Fault state for an instance without unicast peers",
    ),
    (
        "old_unicast_checksum",
        "vipd computes VRRPv3 checksums as RFC 5798 (see v3_checksum_as_v2)",
    ),
    (
        "debug",
        "no per-instance debug level: use vipd run --log-level vipd=debug",
    ),
    ("track_src_ip", "vipd has no tracked source address"),
    (
        "promote_secondaries",
        "vipd does not change the kernel's promote_secondaries",
    ),
    ("kernel_rx_buf_size", "vipd sizes its receive buffer itself"),
    (
        "down_timer_adverts",
        "vipd's Master_Down_Interval is RFC 5798's (3 intervals plus skew)",
    ),
    ("vrf", "VRFs are not in vipd"),
    ("owner_ignore_adverts", "not in vipd"),
    (
        "linkbeat_use_polling",
        "vipd reads link state from netlink; no MII polling",
    ),
    (
        "no_virtual_ipaddress",
        "vipd needs at least one VIP per instance",
    ),
];

/// Empty: every `vrrp_script` keyword of keepalived 2.2.7 (`script`, `interval`, `timeout`,
/// `weight`, `rise`, `fall`, `user`, `init_fail`) maps; a row goes here when vipd cannot express
/// a new one.
pub(super) const SCRIPT_UNSUPPORTED: &[(&str, &str)] = &[];

pub(super) const VIP_OPTION_UNSUPPORTED: &[(&str, &str)] = &[
    (
        "brd",
        "vipd adds VIPs without a broadcast address (only directed broadcasts to the subnet \
         need one)",
    ),
    ("home", "IPv6 address flags are not in vipd"),
    ("nodad", "IPv6 address flags are not in vipd"),
    ("noprefixroute", "vipd adds VIPs with their prefix route"),
    ("autojoin", "multicast VIPs are not in vipd"),
    (
        "preferred_lft",
        "vipd sets the VIPs' lifetime itself (vip_lifetime)",
    ),
    ("track_group", "track groups are not in vipd yet"),
    ("peer", "point-to-point peer addresses are not in vipd"),
];

/// Why the address option `key` is not expressible: its row in `table`, or the general
/// reason for an address option.
pub(super) fn reason<'t>(table: &'t [(&str, &str)], key: &str) -> &'t str {
    table
        .iter()
        .find(|(k, _)| *k == key)
        .map_or("this address option is not in vipd", |(_, r)| r)
}
