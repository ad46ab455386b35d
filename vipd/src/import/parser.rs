//! Statements into a tree: a statement followed by `{` (on its line or the next) owns the
//! statements up to the matching `}`. Text after `{` on the same line is the block's first
//! statement, text before `}` its last, as in keepalived (`track_script { chk }`).

use super::lexer::{Line, Word};
use super::{Finding, Loc, Severity};

/// A keyword with its arguments, and its block if it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Node {
    /// Where it was written.
    pub(crate) loc: Loc,
    /// The keyword (first word).
    pub(crate) key: String,
    /// The other words.
    pub(crate) args: Vec<Word>,
    /// The statements of its block (`None`: no block).
    pub(crate) block: Option<Vec<Node>>,
}

impl Node {
    /// The argument `i` as text.
    pub(crate) fn arg(&self, i: usize) -> Option<&str> {
        self.args.get(i).map(|w| w.text.as_str())
    }

    /// The statements of its block (none when it has none).
    pub(crate) fn children(&self) -> &[Node] {
        self.block.as_deref().unwrap_or(&[])
    }
}

/// Builds the tree of `lines`; stray or missing braces are findings.
pub(crate) fn parse(lines: &[Line], findings: &mut Vec<Finding>) -> Vec<Node> {
    // The open blocks: each holds the statements read so far; the last statement of the
    // enclosing level owns it.
    let mut stack: Vec<Vec<Node>> = vec![Vec::new()];
    let mut opened_at: Vec<Loc> = Vec::new();
    for line in lines {
        let mut words: Vec<Word> = Vec::new();
        for word in &line.words {
            if word.is("{") {
                flush(&mut stack, &mut words, &line.loc);
                let level = stack.len() - 1;
                let owner = stack[level].last();
                if owner.is_some_and(|n| n.block.is_none()) {
                    stack.push(Vec::new());
                    opened_at.push(line.loc.clone());
                } else {
                    findings.push(Finding {
                        loc: line.loc.clone(),
                        severity: Severity::Unsupported,
                        directive: "{".to_owned(),
                        message: "a block with no keyword before it: keepalived would skip it; \
                                  its contents are ignored"
                            .to_owned(),
                    });
                    // Read the block anyway, and drop it when it closes.
                    stack.push(Vec::new());
                    opened_at.push(Loc {
                        file: String::new(),
                        line: 0,
                    });
                }
            } else if word.is("}") {
                flush(&mut stack, &mut words, &line.loc);
                if stack.len() == 1 {
                    findings.push(Finding {
                        loc: line.loc.clone(),
                        severity: Severity::Warning,
                        directive: "}".to_owned(),
                        message: "a closing brace with no block open: ignored".to_owned(),
                    });
                    continue;
                }
                close(&mut stack, &mut opened_at);
            } else {
                words.push(word.clone());
            }
        }
        flush(&mut stack, &mut words, &line.loc);
    }
    while stack.len() > 1 {
        if let Some(loc) = opened_at.last() {
            findings.push(Finding {
                loc: loc.clone(),
                severity: Severity::Unsupported,
                directive: "{".to_owned(),
                message: "this block is never closed: add the missing `}`".to_owned(),
            });
        }
        close(&mut stack, &mut opened_at);
    }
    stack.pop().unwrap_or_default()
}

fn close(stack: &mut Vec<Vec<Node>>, opened_at: &mut Vec<Loc>) {
    let (Some(block), Some(opened)) = (stack.pop(), opened_at.pop()) else {
        return;
    };
    if opened.line == 0 {
        return;
    }
    if let Some(owner) = stack.last_mut().and_then(|level| level.last_mut()) {
        owner.block = Some(block);
    }
}

fn flush(stack: &mut [Vec<Node>], words: &mut Vec<Word>, loc: &Loc) {
    if words.is_empty() {
        return;
    }
    let mut all = std::mem::take(words).into_iter();
    let Some(key) = all.next() else {
        return;
    };
    if let Some(level) = stack.last_mut() {
        level.push(Node {
            loc: loc.clone(),
            key: key.text,
            args: all.collect(),
            block: None,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::super::lexer::split_words;
    use super::*;

    fn tree(text: &str) -> (Vec<Node>, Vec<Finding>) {
        let lines: Vec<Line> = text
            .lines()
            .enumerate()
            .map(|(n, l)| Line {
                loc: Loc {
                    file: "t".into(),
                    line: n + 1,
                },
                words: split_words(l),
            })
            .filter(|l| !l.words.is_empty())
            .collect();
        let mut findings = Vec::new();
        (parse(&lines, &mut findings), findings)
    }

    #[test]
    fn braces_anywhere() {
        let (t, f) = tree("a\n{\nb 1\n}\nc{ d e }\nf {\n}\n");
        assert!(f.is_empty(), "{f:?}");
        assert_eq!(t.len(), 3);
        assert_eq!(t[0].children()[0].key, "b");
        assert_eq!(t[0].children()[0].arg(0), Some("1"));
        assert_eq!(t[1].key, "c");
        assert_eq!(t[1].children()[0].key, "d");
        assert_eq!(t[2].block, Some(Vec::new()));
    }

    #[test]
    fn unbalanced_braces_are_findings() {
        let (t, f) = tree("a {\nb\n");
        assert_eq!(t[0].children().len(), 1);
        assert_eq!(f.len(), 1);
        assert!(f[0].message.contains("never closed"));
        let (_, f) = tree("}\n{\n}\n");
        assert_eq!(f.len(), 2);
    }
}
