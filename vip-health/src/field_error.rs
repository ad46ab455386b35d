//! [`FieldError`]: one configuration error, for the whole project.
//!
//! Check validation reports its problems as `FieldError`s, and vipd reports the rest of its
//! configuration's problems with the same type, so every configuration error reads the same:
//! `instances[0].checks[1].timeout: must be below the interval (2s); got 3s: ...`.

use serde::Serialize;

/// One configuration error: the field's path (e.g. `instances[0].checks[1].timeout`) and a
/// sentence saying what is wrong and how to fix it.
///
/// Displays as `"{field}: {message}"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{field}: {message}")]
#[non_exhaustive]
pub struct FieldError {
    /// Path of the offending field.
    pub field: String,
    /// What is wrong, and the fix.
    pub message: String,
}

impl FieldError {
    /// An error for `field`.
    #[must_use]
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Collects [`FieldError`]s of one configuration entry under its path.
#[derive(Debug)]
pub(crate) struct FieldErrors<'a> {
    prefix: &'a str,
    pub(crate) list: Vec<FieldError>,
}

impl<'a> FieldErrors<'a> {
    /// An empty list for the entry at `prefix` (e.g. `instances[0].checks[1]`).
    pub(crate) fn new(prefix: &'a str) -> Self {
        Self {
            prefix,
            list: Vec::new(),
        }
    }

    /// The full path of `rel`, a path relative to the entry (`""` is the entry itself).
    fn path(&self, rel: &str) -> String {
        match (self.prefix.is_empty(), rel.is_empty()) {
            (_, true) => self.prefix.to_owned(),
            (true, false) => rel.to_owned(),
            (false, false) => format!("{}.{rel}", self.prefix),
        }
    }

    /// Records an error of the field `rel` (relative to the entry).
    pub(crate) fn push(&mut self, rel: &str, message: impl Into<String>) {
        let field = self.path(rel);
        self.list.push(FieldError::new(field, message));
    }

    /// Whether nothing was recorded.
    pub(crate) fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::{FieldError, FieldErrors};

    #[test]
    fn displays_field_then_message() {
        let e = FieldError::new("instances[0].vips[1]", "not an address");
        assert_eq!(e.to_string(), "instances[0].vips[1]: not an address");
    }

    #[test]
    fn paths_are_relative_to_the_entry() {
        let mut errors = FieldErrors::new("checks[0]");
        errors.push("", "whole entry");
        errors.push("http.url", "bad");
        let fields: Vec<&str> = errors.list.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["checks[0]", "checks[0].http.url"]);
        let mut top = FieldErrors::new("");
        top.push("name", "x");
        assert_eq!(top.list[0].field, "name");
    }
}
