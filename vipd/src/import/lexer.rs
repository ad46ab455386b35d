//! Reading keepalived's configuration text into statements: comments, `@id` conditional lines,
//! `$NAME=value` definitions and their expansion, `include` (with globs, relative to the
//! including file's directory, at any depth), quoted words and braces that need no space.
//!
//! The rules follow keepalived.conf(5) and the behaviour of keepalived's line reader: a line is
//! stripped of leading blanks and of everything from an unquoted `#` or `!`; a line that starts
//! with `@id` is kept (without the prefix) only when `id` is the configuration id, `@^id` only
//! when it is not; `$NAME=value` defines `NAME` and `$NAME` / `${NAME}` are replaced anywhere
//! else; `{` and `}` outside quotes are words of their own.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{Finding, Loc, Severity};

/// Deepest chain of includes followed (keepalived's own limit is of the same order); a file
/// that includes itself stops here with a finding.
const MAX_INCLUDE_DEPTH: usize = 16;

/// Expansion rounds per line: a definition that refers to itself stops here.
const MAX_EXPANSIONS: usize = 16;

/// The largest configuration file read, in bytes (real ones are a few kilobytes).
const MAX_FILE_BYTES: u64 = 1 << 20;

/// The longest line definitions may expand into, in bytes.
const MAX_LINE_BYTES: usize = 16 * 1024;

/// The most files one import reads: includes that fan out into each other stop here.
const MAX_FILES: usize = 256;

/// A word of a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Word {
    /// The text, without the quotes.
    pub(crate) text: String,
    /// Whether it was written in double quotes (a brace inside is text).
    pub(crate) quoted: bool,
}

impl Word {
    /// Whether this word is the brace `b` (not a quoted one).
    pub(crate) fn is(&self, b: &str) -> bool {
        !self.quoted && self.text == b
    }
}

/// One line of configuration after comments, conditionals and definitions, split in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Line {
    /// Where it was written.
    pub(crate) loc: Loc,
    /// Its words, braces included.
    pub(crate) words: Vec<Word>,
}

/// Reads configuration files into [`Line`]s.
pub(crate) struct Reader<'a> {
    config_id: &'a str,
    /// The directory names are shown relative to (the main file's).
    base: PathBuf,
    defs: BTreeMap<String, String>,
    pub(crate) lines: Vec<Line>,
    pub(crate) findings: Vec<Finding>,
    /// Files read, for the report.
    pub(crate) files: Vec<String>,
}

impl<'a> Reader<'a> {
    /// A reader for configuration id `config_id`, naming files relative to `base`.
    pub(crate) fn new(config_id: &'a str, base: PathBuf) -> Self {
        Self {
            config_id,
            base,
            defs: BTreeMap::new(),
            lines: Vec::new(),
            findings: Vec::new(),
            files: Vec::new(),
        }
    }

    /// The name shown for `path`: relative to the main file's directory when below it.
    fn shown(&self, path: &Path) -> String {
        path.strip_prefix(&self.base)
            .unwrap_or(path)
            .display()
            .to_string()
    }

    fn finding(&mut self, loc: &Loc, severity: Severity, directive: &str, message: String) {
        self.findings.push(Finding {
            loc: loc.clone(),
            severity,
            directive: directive.to_owned(),
            message,
        });
    }

    /// Reads `path` (and what it includes).
    ///
    /// # Errors
    /// The message when the main file cannot be read; an unreadable included file is a finding.
    pub(crate) fn read_main(&mut self, path: &Path) -> Result<(), String> {
        let text = read_text(path)?;
        self.read_text(path, &text, 0);
        Ok(())
    }

    fn read_text(&mut self, path: &Path, text: &str, depth: usize) {
        let file = self.shown(path);
        self.files.push(file.clone());
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        // A multi-line definition being read: its name and lines so far.
        let mut multiline: Option<(String, Vec<String>)> = None;
        for (n, raw) in text.lines().enumerate() {
            let loc = Loc {
                file: file.clone(),
                line: n + 1,
            };
            let mut line = decomment(raw.trim_end_matches('\r'));
            if let Some((name, mut parts)) = multiline.take() {
                let more = line.ends_with('\\');
                let piece = line.trim_end_matches('\\').trim_end().to_owned();
                if !piece.is_empty() {
                    parts.push(piece);
                }
                if more {
                    multiline = Some((name, parts));
                } else {
                    self.defs.insert(name, parts.join("\n"));
                }
                continue;
            }
            let mut rounds = 0;
            let mut reported = std::collections::BTreeSet::new();
            let expanded: Vec<String> = loop {
                if line.is_empty() {
                    break Vec::new();
                }
                if let Some(rest) = line.strip_prefix('@') {
                    let (reverse, rest) = match rest.strip_prefix('^') {
                        Some(r) => (true, r),
                        None => (false, rest),
                    };
                    let Some((id, tail)) = rest.split_once([' ', '\t']) else {
                        break Vec::new();
                    };
                    if (id == self.config_id) == reverse {
                        break Vec::new();
                    }
                    line = tail.trim_start().to_owned();
                    continue;
                }
                if let Some((name, value)) = definition(&line) {
                    if let Some(first) = value.strip_suffix('\\') {
                        let first = first.trim_end();
                        let parts = if first.is_empty() {
                            Vec::new()
                        } else {
                            vec![first.to_owned()]
                        };
                        multiline = Some((name, parts));
                    } else {
                        self.defs.insert(name, value);
                    }
                    break Vec::new();
                }
                if !line.contains('$') || rounds >= MAX_EXPANSIONS {
                    if rounds >= MAX_EXPANSIONS {
                        self.finding(
                            &loc,
                            Severity::Unsupported,
                            "$",
                            "definitions expand into themselves: keepalived would not read this \
                             line either; fix the definition"
                                .to_owned(),
                        );
                    }
                    break vec![line];
                }
                rounds += 1;
                let (text, unknown) = self.expand(&line, &dir);
                // Each name reported once per line, not at every round of expansion.
                for name in unknown {
                    if !reported.insert(name.clone()) {
                        continue;
                    }
                    self.finding(
                        &loc,
                        Severity::Warning,
                        "$",
                        format!("${name} is not defined here: left as written"),
                    );
                }
                if text == line {
                    break vec![line];
                }
                if text.len() > MAX_LINE_BYTES {
                    self.finding(
                        &loc,
                        Severity::Unsupported,
                        "$",
                        format!(
                            "definitions expand this line beyond {MAX_LINE_BYTES} bytes \
                             (definitions that expand into themselves?): line dropped"
                        ),
                    );
                    break Vec::new();
                }
                // A multi-line definition expands into several lines.
                let mut pieces = text.split('\n').map(decomment);
                let first = pieces.next().unwrap_or_default();
                let rest: Vec<String> = pieces.filter(|p| !p.is_empty()).collect();
                if !rest.is_empty() {
                    let mut all = vec![first];
                    all.extend(rest);
                    break all;
                }
                line = first;
            };
            for line in expanded {
                self.statement(&loc, &line, &dir, depth);
            }
        }
        if let Some((name, _)) = multiline {
            let loc = Loc {
                file,
                line: text.lines().count(),
            };
            self.finding(
                &loc,
                Severity::Warning,
                "$",
                format!("the definition of ${name} continues past the end of the file"),
            );
        }
    }

    /// Replaces `$NAME` and `${NAME}` by their definitions (`_PWD` is the directory of the file
    /// being read); returns the text and the names that are not defined.
    fn expand(&self, line: &str, dir: &Path) -> (String, Vec<String>) {
        let mut out = String::with_capacity(line.len());
        let mut unknown = Vec::new();
        let mut rest = line;
        while let Some(at) = rest.find('$') {
            out.push_str(&rest[..at]);
            let after = &rest[at + 1..];
            let (name, len) = if let Some(inner) = after.strip_prefix('{') {
                match inner.find('}') {
                    Some(end) => (&inner[..end], end + 2),
                    None => ("", 0),
                }
            } else {
                let end = after
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(after.len());
                (&after[..end], end)
            };
            let value = if name == "_PWD" {
                // keepalived's working directory while it reads the file: absolute, resolved.
                let abs = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
                Some(abs.display().to_string())
            } else {
                self.defs.get(name).cloned()
            };
            match value {
                Some(v) if !name.is_empty() => out.push_str(&v),
                _ => {
                    if !name.is_empty() {
                        unknown.push(name.to_owned());
                    }
                    out.push_str(&rest[at..at + 1 + len]);
                }
            }
            rest = &after[len..];
        }
        out.push_str(rest);
        (out, unknown)
    }

    /// Handles `include`, or splits the line into words.
    fn statement(&mut self, loc: &Loc, line: &str, dir: &Path, depth: usize) {
        let words = split_words(line);
        if words.first().is_some_and(|w| w.is("include")) {
            let Some(pattern) = words.get(1) else {
                self.finding(
                    loc,
                    Severity::Unsupported,
                    "include",
                    "include without a file name".to_owned(),
                );
                return;
            };
            self.include(loc, &pattern.text, dir, depth);
            return;
        }
        if !words.is_empty() {
            self.lines.push(Line {
                loc: loc.clone(),
                words,
            });
        }
    }

    fn include(&mut self, loc: &Loc, pattern: &str, dir: &Path, depth: usize) {
        if depth + 1 > MAX_INCLUDE_DEPTH {
            self.finding(
                loc,
                Severity::Unsupported,
                "include",
                format!(
                    "includes nest deeper than {MAX_INCLUDE_DEPTH} files (a file including \
                     itself?): {pattern} not read"
                ),
            );
            return;
        }
        let full = if Path::new(pattern).is_absolute() {
            PathBuf::from(pattern)
        } else {
            dir.join(pattern)
        };
        let matches = glob(&full);
        if matches.is_empty() {
            self.finding(
                loc,
                Severity::Warning,
                "include",
                format!(
                    "no file matches {pattern} (looked in {}): nothing included, as keepalived \
                     would",
                    full.parent().unwrap_or(dir).display()
                ),
            );
        }
        for path in matches {
            if self.files.len() >= MAX_FILES {
                self.finding(
                    loc,
                    Severity::Unsupported,
                    "include",
                    format!(
                        "{MAX_FILES} files read already (includes that include each other?): \
                         {} and the rest not read",
                        self.shown(&path)
                    ),
                );
                return;
            }
            match read_text(&path) {
                Ok(text) => self.read_text(&path, &text, depth + 1),
                Err(e) => self.finding(loc, Severity::Unsupported, "include", e),
            }
        }
    }
}

fn read_text(path: &Path) -> Result<String, String> {
    use std::io::Read;
    let file =
        std::fs::File::open(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(format!(
            "{}: larger than 1 MiB; a keepalived.conf is a few kilobytes: check that this is the \
             right file",
            path.display()
        ));
    }
    String::from_utf8(bytes).map_err(|_| {
        format!(
            "{}: not UTF-8 text: check that this is a keepalived.conf",
            path.display()
        )
    })
}

/// Leading blanks and everything from an unquoted `#` or `!` removed (a `\#` or `\!` outside
/// quotes is the character itself), trailing blanks too.
fn decomment(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut quoted = false;
    let mut chars = line.trim_start().chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                quoted = !quoted;
                out.push(c);
            }
            '\\' if !quoted && matches!(chars.peek(), Some('#' | '!')) => {
                out.extend(chars.next());
            }
            '\\' => {
                out.push(c);
                out.extend(chars.next());
            }
            '#' | '!' if !quoted => break,
            _ => out.push(c),
        }
    }
    out.trim_end().to_owned()
}

/// `$NAME=value` (blanks allowed before and after `=`): the name and the value.
fn definition(line: &str) -> Option<(String, String)> {
    let rest = line.strip_prefix('$')?;
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    let name = &rest[..end];
    if !name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
    {
        return None;
    }
    let value = rest[end..].trim_start().strip_prefix('=')?;
    Some((name.to_owned(), value.trim().to_owned()))
}

/// Words separated by blanks; `"..."` is one word without its quotes; `{` and `}` outside
/// quotes are words of their own.
pub(crate) fn split_words(line: &str) -> Vec<Word> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quoted = false;
    let mut was_quoted = false;
    let flush = |cur: &mut String, in_word: &mut bool, q: &mut bool, words: &mut Vec<Word>| {
        if *in_word {
            words.push(Word {
                text: std::mem::take(cur),
                quoted: *q,
            });
        }
        *in_word = false;
        *q = false;
    };
    for c in line.chars() {
        if quoted {
            if c == '"' {
                quoted = false;
            } else {
                cur.push(c);
            }
            continue;
        }
        match c {
            '"' => {
                quoted = true;
                was_quoted = true;
                in_word = true;
            }
            ' ' | '\t' => flush(&mut cur, &mut in_word, &mut was_quoted, &mut words),
            '{' | '}' => {
                flush(&mut cur, &mut in_word, &mut was_quoted, &mut words);
                words.push(Word {
                    text: c.to_string(),
                    quoted: false,
                });
            }
            _ => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    flush(&mut cur, &mut in_word, &mut was_quoted, &mut words);
    words
}

/// Splits a command written as one string into its arguments as keepalived does for scripts:
/// blanks separate words; single and double quotes group; a backslash escapes the next
/// character.
pub(crate) fn split_command(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), '\\') | (None, '\\') => {
                cur.extend(chars.next());
                in_word = true;
            }
            (Some(_), c) => cur.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, ' ' | '\t') => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    out
}

/// The files matching `pattern` (`*`, `?` and `[...]` in any component), sorted; the path itself
/// when it has no wildcard and exists.
fn glob(pattern: &Path) -> Vec<PathBuf> {
    let mut found = vec![PathBuf::new()];
    for comp in pattern.components() {
        let part = comp.as_os_str().to_string_lossy().into_owned();
        let mut next = Vec::new();
        for base in &found {
            if part.contains(['*', '?', '[']) {
                let dir = if base.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    base.as_path()
                };
                let Ok(entries) = std::fs::read_dir(dir) else {
                    continue;
                };
                let mut names: Vec<String> = entries
                    .filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| !n.starts_with('.') || part.starts_with('.'))
                    .filter(|n| wildcard(&part, n))
                    .collect();
                names.sort();
                next.extend(names.into_iter().map(|n| base.join(n)));
            } else {
                next.push(base.join(&part));
            }
        }
        found = next;
    }
    found.retain(|p| p.is_file());
    found
}

/// Whether `name` matches the shell wildcard `pattern` (`*`, `?`, `[abc]`, `[a-z]`, `[!a]`).
fn wildcard(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    matches_from(&p, &n)
}

fn matches_from(p: &[char], n: &[char]) -> bool {
    match p.first() {
        None => n.is_empty(),
        Some('*') => (0..=n.len()).any(|i| matches_from(&p[1..], &n[i..])),
        Some('?') => !n.is_empty() && matches_from(&p[1..], &n[1..]),
        Some('[') => {
            let Some(close) = p.iter().skip(2).position(|c| *c == ']').map(|i| i + 2) else {
                return n.first() == Some(&'[') && matches_from(&p[1..], &n[1..]);
            };
            let Some(c) = n.first() else {
                return false;
            };
            let (negate, set) = match p[1] {
                '!' | '^' => (true, &p[2..close]),
                _ => (false, &p[1..close]),
            };
            let mut hit = false;
            let mut i = 0;
            while i < set.len() {
                if i + 2 < set.len() && set[i + 1] == '-' {
                    hit |= (set[i]..=set[i + 2]).contains(c);
                    i += 3;
                } else {
                    hit |= set[i] == *c;
                    i += 1;
                }
            }
            hit != negate && matches_from(&p[close + 1..], &n[1..])
        }
        Some(c) => n.first() == Some(c) && matches_from(&p[1..], &n[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_quotes_and_braces() {
        assert_eq!(decomment("   a b # c"), "a b");
        assert_eq!(decomment("a \"x # y\" ! z"), "a \"x # y\"");
        assert_eq!(decomment("a \\# b"), "a # b");
        let w = split_words("name{ \"a { b\" c}");
        let texts: Vec<&str> = w.iter().map(|w| w.text.as_str()).collect();
        assert_eq!(texts, ["name", "{", "a { b", "c", "}"]);
        assert!(w[1].is("{") && !w[2].is("{") && w[2].quoted);
    }

    #[test]
    fn definitions_and_commands() {
        assert_eq!(
            definition("$US = 3"),
            Some(("US".to_owned(), "3".to_owned()))
        );
        assert_eq!(definition("$1=3"), None);
        assert_eq!(definition("$A b"), None);
        assert_eq!(
            split_command(r#"/bin/x 'a b' "c d" e\ f"#),
            ["/bin/x", "a b", "c d", "e f"]
        );
    }

    #[test]
    fn wildcards() {
        assert!(wildcard("*.conf", "a.conf"));
        assert!(!wildcard("*.conf", "a.conf.bak"));
        assert!(wildcard("r[0-9]?.c*", "r1x.conf"));
        assert!(!wildcard("[!a]*", "abc"));
    }
}
