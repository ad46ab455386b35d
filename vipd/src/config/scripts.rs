//! Script security: the programs vipd runs (notify hooks, exec checks) must not be
//! replaceable by anyone but root, as keepalived's `enable_script_security` demands; and the
//! users they run as (`script_user`, `run_as`) must be ones vipd can switch to.
//!
//! A program is refused when it, or any directory above it, is writable by a user other than
//! root: owned by another user (who can write it or change its mode), group-writable with a
//! group other than root's, or writable by everyone. A directory writable by everyone but with
//! the sticky bit (`/tmp`) is accepted when the entry below it is root's, since others cannot
//! replace or rename that entry. Symbolic links are followed, and the real path is checked.
//! A bare program name is looked up in `PATH`, as it will be when it runs.
//!
//! The rule is the same for a program that runs as another user (`run_as`), even one that only
//! that user can write. keepalived checks only the scripts it runs as root; vipd is stricter:
//! a program writable by its own unprivileged user lets whoever takes that user (`nobody` is
//! shared by many daemons) change what runs at every state change, with the VIPs' names and
//! states in its environment. The program belongs to root; its user only runs it.

use std::ffi::OsStr;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use vip_health::{CheckKind, RunAs};

use super::{FieldError, Plan};

/// One program vipd starts: its field, its program (path or bare name) and the user it runs
/// as (`None`: vipd's own).
struct Program<'a> {
    field: String,
    program: &'a str,
    user: Option<RunAs>,
}

/// Every hook and exec check of `plan`.
fn programs(plan: &Plan) -> Vec<Program<'_>> {
    let mut found = Vec::new();
    for (i, group) in plan.sync_groups().iter().enumerate() {
        hooks(&mut found, &format!("sync_groups[{i}]"), group.notify());
    }
    for (i, inst) in plan.instances().iter().enumerate() {
        hooks(&mut found, &format!("instances[{i}]"), inst.notify());
        for (j, c) in inst.checks().iter().enumerate() {
            if let CheckKind::Exec(exec) = &c.kind {
                let program = if exec.shell {
                    Some("/bin/sh")
                } else {
                    exec.command.first().map(String::as_str)
                };
                if let Some(program) = program {
                    found.push(Program {
                        field: format!("instances[{i}].checks[{j}].exec.command"),
                        program,
                        user: exec.run_as,
                    });
                }
            }
        }
    }
    found
}

/// The program of each hook of `n`, the `notify` of the instance or sync group at `owner`.
fn hooks<'a>(found: &mut Vec<Program<'a>>, owner: &str, n: &'a crate::notify::NotifySpec) {
    // A validated plan holds ids, which resolve without a lookup.
    let user = n.run_as.as_ref().and_then(|r| r.resolve().ok());
    for (field, argv) in n.hooks() {
        if let Some(program) = argv.first() {
            found.push(Program {
                field: format!("{owner}.notify.{field}[0]"),
                program,
                user,
            });
        }
    }
}

/// The program of every hook and exec check of `plan` that a user other than root could
/// replace, each named by its field, or that cannot be found. `path` is the `PATH` to look bare
/// names up in.
#[must_use]
pub fn insecure_programs(plan: &Plan, path: Option<&OsStr>) -> Vec<FieldError> {
    programs(plan)
        .iter()
        .filter_map(|p| check(&p.field, p.program, p.user, path))
        .collect()
}

/// `CAP_KILL`, `CAP_SETGID` and `CAP_SETUID`, by their bit in a capability set
/// (capabilities(7)).
const SWITCH_CAPS: [(u32, &str); 3] = [(5, "KILL"), (6, "SETGID"), (7, "SETUID")];

/// Why this process cannot start the hooks and exec checks of `plan` that run as another user
/// (`script_user`, `run_as`), or `None` when it can or none does. `euid` and `egid` are this
/// process's ids and `effective_caps` its effective capability set (`CapEff` of
/// `/proc/self/status`). Switching the user needs `CAP_SETUID` and `CAP_SETGID`, and killing
/// the switched program's process group at its timeout needs `CAP_KILL`.
#[must_use]
pub fn cannot_switch_user(
    plan: &Plan,
    euid: u32,
    egid: u32,
    effective_caps: u64,
) -> Option<String> {
    let missing: Vec<&str> = SWITCH_CAPS
        .iter()
        .filter(|(bit, _)| effective_caps & (1 << bit) == 0)
        .map(|(_, name)| *name)
        .collect();
    if missing.is_empty() {
        return None;
    }
    let switching: Vec<String> = programs(plan)
        .iter()
        .filter_map(|p| {
            p.user
                .filter(|u| u.uid != euid || u.gid != egid)
                .map(|u| format!("{} ({u})", p.field))
        })
        .collect();
    if switching.is_empty() {
        return None;
    }
    Some(format!(
        "{} run as another user, but vipd (uid {euid}) lacks the capabilities {} needed to \
         switch to it and to kill it at its timeout: add them to the container's capabilities \
         (the chart does when scriptUser is set), or remove script_user and run_as to run them \
         as vipd's own user",
        switching.join(", "),
        missing
            .iter()
            .map(|m| format!("CAP_{m}"))
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

/// The fields of the hooks and exec checks of `plan` that run as vipd's own user (no
/// `script_user` nor `run_as`): when that is root, they run with all of vipd's capabilities.
#[must_use]
pub fn run_as_vipd(plan: &Plan) -> Vec<String> {
    programs(plan)
        .into_iter()
        .filter(|p| p.user.is_none())
        .map(|p| p.field)
        .collect()
}

/// This process's effective capability set, from `/proc/self/status` (`None` where it cannot
/// be read).
#[must_use]
pub fn effective_caps() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let hex = status.lines().find_map(|l| l.strip_prefix("CapEff:"))?;
    u64::from_str_radix(hex.trim(), 16).ok()
}

fn check(
    field: &str,
    program: &str,
    user: Option<RunAs>,
    path: Option<&OsStr>,
) -> Option<FieldError> {
    let Some(found) = locate(program, path) else {
        return Some(FieldError::new(
            field,
            format!(
                "{program:?} is not an executable file (nor found in PATH): give its full path"
            ),
        ));
    };
    let real = std::fs::canonicalize(&found).unwrap_or(found);
    let who = user.map_or_else(|| "as vipd's user (root)".to_owned(), |u| format!("as {u}"));
    unsafe_component(&real).map(|(at, why)| {
        FieldError::new(
            field,
            format!(
                "{program:?} runs {who} but {} is {why}: make it and every directory above it \
                 root's and writable only by root (chown root: ...; chmod go-w ...), or set \
                 script_security: false to accept the risk",
                at.display()
            ),
        )
    })
}

/// The program's path: as given when it names a path, else the first executable in `PATH`.
fn locate(program: &str, path: Option<&OsStr>) -> Option<PathBuf> {
    if program.contains('/') {
        let p = PathBuf::from(program);
        return p.is_file().then_some(p);
    }
    std::env::split_paths(path?)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// The first of `real` and its ancestors, from the root down, that a user other than root
/// could change, with why.
fn unsafe_component(real: &Path) -> Option<(PathBuf, &'static str)> {
    let mut components: Vec<&Path> = real.ancestors().collect();
    components.reverse();
    for (k, at) in components.iter().enumerate() {
        let Ok(meta) = std::fs::metadata(at) else {
            return Some((at.to_path_buf(), "not readable"));
        };
        let mode = meta.mode();
        if meta.uid() != 0 {
            return Some((at.to_path_buf(), "owned by a user other than root"));
        }
        if mode & 0o020 != 0 && meta.gid() != 0 {
            return Some((at.to_path_buf(), "writable by a group other than root's"));
        }
        if mode & 0o002 != 0 {
            // A sticky directory (/tmp) protects the root-owned entries in it.
            let sticky = meta.is_dir() && mode & 0o1000 != 0;
            let next_is_roots = components
                .get(k + 1)
                .and_then(|n| std::fs::symlink_metadata(n).ok())
                .is_some_and(|m| m.uid() == 0);
            if !(sticky && next_is_roots) {
                return Some((at.to_path_buf(), "writable by every user"));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("vipd-scripts-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        dir
    }

    fn script(dir: &Path, mode: u32) -> PathBuf {
        let p = dir.join("hook.sh");
        std::fs::write(&p, "#!/bin/sh\nexit 0\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    fn plan(program: &Path) -> Plan {
        crate::config::Config::from_yaml(&format!(
            "instances: [{{interface: eth0, vrid: 51, vips: [10.0.0.1/24], \
             notify: {{master: [{}]}}, checks: [{{name: c, exec: {{command: [{}]}}}}]}}]",
            program.display(),
            program.display()
        ))
        .and_then(|c| c.validate())
        .unwrap()
    }

    fn is_root() -> bool {
        std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
    }

    #[test]
    fn root_owned_scripts_pass_and_writable_ones_are_named() {
        if !is_root() {
            eprintln!("skipped: the files must be root's (CI runs as root)");
            return;
        }
        let dir = temp_dir("ok");
        let hook = script(&dir, 0o755);
        assert_eq!(insecure_programs(&plan(&hook), None), Vec::new());

        // Writable by everyone: refused, both as a hook and as an exec check.
        std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o777)).unwrap();
        let found = insecure_programs(&plan(&hook), None);
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(found[0].field, "instances[0].notify.master[0]");
        assert_eq!(found[1].field, "instances[0].checks[0].exec.command");
        assert!(
            found[0].message.contains("is writable by every user"),
            "{}",
            found[0]
        );

        // A directory above it writable by everyone (not sticky): refused, naming it.
        std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let found = insecure_programs(&plan(&hook), None);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(
            found[0]
                .message
                .contains(&format!("{} is writable by every user", dir.display())),
            "{}",
            found[0]
        );

        // Owned by another user: refused.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::chown(&hook, Some(65534), None).unwrap();
        let found = insecure_programs(&plan(&hook), None);
        assert!(
            found[0].message.contains("owned by a user other than root"),
            "{}",
            found[0]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn switching_users_needs_setuid_setgid_and_kill_only_when_the_user_differs() {
        let plan = crate::config::Config::from_yaml(
            "script_user: {user: 65534, group: 65534}\n\
             instances: [{interface: eth0, vrid: 51, vips: [10.0.0.1/24], \
             notify: {master: [/bin/true], run_as: {user: 0, group: 0}}, \
             checks: [{name: c, exec: {command: [/bin/true]}}]}]",
        )
        .and_then(|c| c.validate())
        .unwrap();
        let all = 0b1110_0000; // CAP_KILL, CAP_SETGID, CAP_SETUID
        assert_eq!(cannot_switch_user(&plan, 0, 0, all), None);
        let e = cannot_switch_user(&plan, 0, 0, 0b0110_0000).unwrap();
        assert!(
            e.starts_with(
                "instances[0].checks[0].exec.command (uid 65534 gid 65534) run as another \
                 user, but vipd (uid 0) lacks the capabilities CAP_SETUID needed"
            ),
            "{e}"
        );
        // vipd running as the script user itself switches nothing; the hook's run_as (root)
        // is then the one that needs the capabilities.
        let e = cannot_switch_user(&plan, 65534, 65534, 0).unwrap();
        assert!(
            e.starts_with("instances[0].notify.master[0] (uid 0 gid 0)"),
            "{e}"
        );
        assert_eq!(run_as_vipd(&plan), Vec::<String>::new());
        let plain = crate::config::Config::from_yaml(
            "instances: [{interface: eth0, vrid: 51, vips: [10.0.0.1/24], \
             notify: {master: [/bin/true]}}]",
        )
        .and_then(|c| c.validate())
        .unwrap();
        assert_eq!(cannot_switch_user(&plain, 0, 0, 0), None);
        assert_eq!(run_as_vipd(&plain), ["instances[0].notify.master[0]"]);
    }

    #[test]
    fn bare_names_are_looked_up_in_path_and_missing_programs_named() {
        let plan = crate::config::Config::from_yaml(
            "instances: [{interface: eth0, vrid: 51, vips: [10.0.0.1/24], \
             notify: {master: [sh], backup: [no-such-program-vipd]}}]",
        )
        .and_then(|c| c.validate())
        .unwrap();
        let found = insecure_programs(&plan, Some(OsStr::new("/usr/bin:/bin")));
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].field, "instances[0].notify.backup[0]");
        assert!(
            found[0].message.contains("not an executable file"),
            "{}",
            found[0]
        );
    }
}
