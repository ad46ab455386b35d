//! `vipd import`: keepalived.conf into vipd.yaml.
//!
//! Three steps, each its own module: `lexer` reads keepalived's text (comments, `@id`
//! conditional lines, `$NAME` definitions, `include` globs relative to the including file) into
//! statements; `parser` builds their tree (braces anywhere); `map` turns the tree into
//! vipd's [`Config`], directive by directive, recording a [`Finding`] for each directive vipd
//! cannot express (with its file and line and the reason) and for each change of meaning;
//! `yaml` writes the configuration with comments pointing back to the source lines.
//!
//! Mapping one more keepalived directive later is a local change: each directive is one arm of
//! the `match` of its section in `map` (`global_defs`, `vrrp_instance`, `vrrp_script`,
//! `vrrp_track_file`, virtual address options), and the directives vipd cannot express are
//! rows of the tables there, each with its reason.
//!
//! The configuration id (`@id` lines) is keepalived's: `--config-id`, by default the host name
//! up to its first dot, as keepalived 2.2.7 takes it.
//!
//! ```
//! let dir = std::env::temp_dir().join(format!("vipd-import-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let path = dir.join("keepalived.conf");
//! std::fs::write(&path, "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n \
//!     virtual_ipaddress {\n  192.168.1.100/24\n }\n}\n").unwrap();
//! let out = vipd::import::import_file(&path, &vipd::import::ImportOptions::default()).unwrap();
//! assert!(out.unsupported().next().is_none());
//! assert_eq!(out.config.instances[0].vrid, 51);
//! assert!(out.yaml.contains("keepalived.conf:1"));
//! std::fs::remove_dir_all(&dir).unwrap();
//! ```

mod lexer;
mod map;
mod parser;
mod unsupported;
mod yaml;

use std::fmt;
use std::path::Path;

use crate::config::{Config, ConfigFileError};

/// Where a directive was written: a file (relative to the main file's directory when below
/// it) and a line.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Loc {
    /// The file.
    pub file: String,
    /// The line, from 1.
    pub line: usize,
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// How much a finding matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// vipd cannot express it: the output lacks it (the import exits 2 unless
    /// `--allow-partial`).
    Unsupported,
    /// Imported with a change of meaning (a value adjusted, something dropped as keepalived
    /// itself drops it).
    Warning,
    /// Imported, or dropped without effect; worth knowing.
    Note,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Unsupported => "unsupported",
            Self::Warning => "warning",
            Self::Note => "note",
        })
    }
}

/// One thing the import has to say about a directive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Where the directive was written.
    pub loc: Loc,
    /// How much it matters.
    pub severity: Severity,
    /// The directive (keyword) concerned.
    pub directive: String,
    /// What was done, or why it cannot be, and what to do.
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}: {}: {}",
            self.loc, self.severity, self.directive, self.message
        )
    }
}

/// How to import.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportOptions {
    /// keepalived's configuration id, which selects the `@id` lines; `None`: the host name up
    /// to its first dot, as keepalived.
    pub config_id: Option<String>,
}

/// The result of an import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    /// The vipd configuration, with comments pointing back to the source lines.
    pub yaml: String,
    /// The same configuration as data (what `yaml` parses into).
    pub config: Config,
    /// Everything to say, in source order within each file.
    pub findings: Vec<Finding>,
    /// The files read, the main one first.
    pub files: Vec<String>,
    /// The configuration id used for `@id` lines.
    pub config_id: String,
    /// Why vipd would refuse the configuration (`check-config`'s errors), if it would.
    pub invalid: Option<String>,
}

impl Imported {
    /// The findings vipd cannot express.
    pub fn unsupported(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Unsupported)
    }

    /// The findings as text, one a line (what `vipd import` prints to stderr).
    #[must_use]
    pub fn report(&self) -> String {
        self.findings.iter().map(|f| format!("{f}\n")).collect()
    }
}

/// Why an import could not even start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// The main file could not be read.
    #[error("{0}")]
    Read(String),
}

/// The host name up to its first dot (keepalived's default configuration id).
#[must_use]
pub fn default_config_id() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    name.trim().split('.').next().unwrap_or_default().to_owned()
}

/// Imports the keepalived configuration at `path` (and the files it includes).
///
/// # Errors
/// [`ImportError::Read`] when the main file cannot be read; everything else is a
/// [`Finding`].
pub fn import_file(path: &Path, options: &ImportOptions) -> Result<Imported, ImportError> {
    let config_id = options.config_id.clone().unwrap_or_else(default_config_id);
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut reader = lexer::Reader::new(&config_id, base);
    reader.read_main(path).map_err(ImportError::Read)?;
    let mut findings = std::mem::take(&mut reader.findings);
    let tree = parser::parse(&reader.lines, &mut findings);
    let mapped = map::map(&tree, &mut findings);
    // Source order: by file as read, then line.
    let order = |f: &Finding| {
        (
            reader
                .files
                .iter()
                .position(|x| *x == f.loc.file)
                .unwrap_or(usize::MAX),
            f.loc.line,
        )
    };
    findings.sort_by_key(order);
    let yaml = yaml::write(&mapped, &findings, &reader.files, &config_id);
    let config = mapped.config();
    let invalid = match config.validate() {
        Ok(_) => None,
        Err(ConfigFileError::Invalid(list)) => Some(
            list.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n"),
        ),
        Err(e) => Some(e.to_string()),
    };
    Ok(Imported {
        yaml,
        config,
        findings,
        files: reader.files,
        config_id,
        invalid,
    })
}
