//! Fuzz target: vipd's configuration loader on arbitrary text.
//!
//! Input: any bytes; those that are not UTF-8 are replaced (U+FFFD), as a file read with
//! `String::from_utf8_lossy` would be, so every input reaches the YAML parser.
//!
//! Oracle:
//!
//! - `Config::from_yaml` returns a configuration or an error, and never panics;
//! - `Config::validate` on what parsed returns a plan or an error listing at least one
//!   problem, and never panics;
//! - a configuration that parsed renders with `to_yaml` (what `vipd check-config` prints);
//!   if it was valid and holds no password (rendered redacted), the rendering parses back
//!   and validates too, to the same number of instances.
//!
//! Not checked: that the rendering parses back *equal*. serde_yaml_ng renders a string
//! with carriage returns as a block scalar, whose line breaks a YAML parser normalises to
//! `\n` (found by this target within seconds, on a name), so equality fails on inputs that
//! are otherwise fine.

#![no_main]

use libfuzzer_sys::fuzz_target;
use vipd::config::{Config, ConfigFileError};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(config) = Config::from_yaml(&text) else {
        return;
    };
    let verdict = config.validate();
    if let Err(ConfigFileError::Invalid(problems)) = &verdict {
        assert!(!problems.is_empty(), "invalid with no problem listed");
    }
    let rendered = config.to_yaml();
    let Ok(plan) = verdict else {
        return;
    };
    if config.instances.iter().any(|i| i.password.is_some()) {
        return;
    }
    let again = Config::from_yaml(&rendered)
        .unwrap_or_else(|e| panic!("to_yaml output does not parse: {e}\n{rendered}"));
    let replan = again
        .validate()
        .unwrap_or_else(|e| panic!("to_yaml output does not validate: {e}\n{rendered}"));
    assert_eq!(replan.instances().len(), plan.instances().len());
});
