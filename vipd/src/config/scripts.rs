//! Script security: the programs vipd runs as root (notify hooks, exec checks) must not be
//! replaceable by anyone but root, as keepalived's `enable_script_security` demands.
//!
//! A program is refused when it, or any directory above it, is writable by a user other than
//! root: owned by another user (who can write it or change its mode), group-writable with a
//! group other than root's, or writable by everyone. A directory writable by everyone but with
//! the sticky bit (`/tmp`) is accepted when the entry below it is root's, since others cannot
//! replace or rename that entry. Symbolic links are followed, and the real path is checked.
//! A bare program name is looked up in `PATH`, as it will be when it runs.

use std::ffi::OsStr;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use vip_health::CheckKind;

use super::{FieldError, Plan};

/// The program of every hook and exec check of `plan` that a user other than root could
/// replace, each named by its field, or that cannot be found. `path` is the `PATH` to look bare
/// names up in.
#[must_use]
pub fn insecure_programs(plan: &Plan, path: Option<&OsStr>) -> Vec<FieldError> {
    let mut found = Vec::new();
    for (i, group) in plan.sync_groups().iter().enumerate() {
        hooks(
            &mut found,
            &format!("sync_groups[{i}]"),
            group.notify(),
            path,
        );
    }
    for (i, inst) in plan.instances().iter().enumerate() {
        hooks(&mut found, &format!("instances[{i}]"), inst.notify(), path);
        for (j, c) in inst.checks().iter().enumerate() {
            if let CheckKind::Exec(exec) = &c.kind {
                let field = format!("instances[{i}].checks[{j}].exec.command");
                let program = if exec.shell {
                    Some("/bin/sh")
                } else {
                    exec.command.first().map(String::as_str)
                };
                if let Some(program) = program {
                    found.extend(check(&field, program, path));
                }
            }
        }
    }
    found
}

/// Checks the program of each hook of `n`, the `notify` of the instance or sync group at
/// `owner`.
fn hooks(
    found: &mut Vec<FieldError>,
    owner: &str,
    n: &crate::notify::NotifySpec,
    path: Option<&OsStr>,
) {
    for (field, argv) in n.hooks() {
        if let Some(program) = argv.first() {
            let field = format!("{owner}.notify.{field}[0]");
            found.extend(check(&field, program, path));
        }
    }
}

fn check(field: &str, program: &str, path: Option<&OsStr>) -> Option<FieldError> {
    let Some(found) = locate(program, path) else {
        return Some(FieldError::new(
            field,
            format!(
                "{program:?} is not an executable file (nor found in PATH): give its full path"
            ),
        ));
    };
    let real = std::fs::canonicalize(&found).unwrap_or(found);
    unsafe_component(&real).map(|(at, why)| {
        FieldError::new(
            field,
            format!(
                "{program:?} runs as root but {} is {why}: make it and every directory above it \
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
