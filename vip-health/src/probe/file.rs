//! keepalived `track_file` semantics; see [`FileCheck`](crate::FileCheck).

use super::{ProbeError, ProbeOk};
use crate::config::{CheckEffect, FileCheck};

/// Bytes of the file that are looked at (keepalived reads 127).
const READ_LIMIT: usize = 127;
/// At or below this the result puts the instance in Fault.
pub(crate) const FAULT_AT: i64 = -254;
/// Results above this count as this.
pub(crate) const MAX_ADJUST: i64 = 253;

/// The last number read, kept because an out-of-range number is ignored.
#[derive(Debug, Default)]
pub(crate) struct FileState {
    last: i64,
}

/// The number at the start of `text`, as C `strtol(text, NULL, 0)` reads it: optional
/// whitespace and sign, then `0x` hex, leading-`0` octal or decimal; trailing text ignored;
/// no digits gives 0. `None` if it does not fit in 32 bits.
pub(crate) fn leading_number(text: &str) -> Option<i64> {
    let t = text.trim_start();
    let (negative, t) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let (radix, digits) = if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        if hex.bytes().next().is_some_and(|b| b.is_ascii_hexdigit()) {
            (16, hex)
        } else {
            // "0x" with no hex digit: strtol reads the "0".
            (10, "0")
        }
    } else if t.starts_with('0') {
        (8, t)
    } else {
        (10, t)
    };
    let mut value: i64 = 0;
    for c in digits.chars() {
        let Some(d) = c.to_digit(radix) else { break };
        value = value
            .checked_mul(i64::from(radix))?
            .checked_add(i64::from(d))?;
        if value > i64::from(i32::MAX) + 1 {
            return None;
        }
    }
    let value = if negative { -value } else { value };
    (i64::from(i32::MIN)..=i64::from(i32::MAX))
        .contains(&value)
        .then_some(value)
}

/// What the value means under the check's effect: `Ok(adjustment)` or the fault explanation.
pub(crate) fn evaluate(value: i64, effect: CheckEffect) -> Result<i32, String> {
    match effect {
        CheckEffect::Fault => {
            if value == 0 {
                Ok(0)
            } else {
                Err(format!("value {value} is non-zero (action fault)"))
            }
        }
        CheckEffect::Weight(w) => {
            let result = value.saturating_mul(i64::from(w));
            if result <= FAULT_AT {
                Err(format!(
                    "value {value} x weight {w} = {result}, at or below {FAULT_AT} (fault)"
                ))
            } else {
                // In (-254, 253] after the cap, so it fits.
                Ok(i32::try_from(result.min(MAX_ADJUST)).unwrap_or(0))
            }
        }
    }
}

pub(crate) async fn probe(
    check: &FileCheck,
    effect: CheckEffect,
    state: &mut FileState,
) -> Result<ProbeOk, ProbeError> {
    let path = check.path.display().to_string();
    let (value, note) = match super::read_bounded(&check.path, READ_LIMIT).await {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            match leading_number(&text) {
                Some(v) => {
                    state.last = v;
                    (v, String::new())
                }
                None => (
                    state.last,
                    format!(" (number out of range ignored, kept {})", state.last),
                ),
            }
        }
        Err(e) => {
            state.last = 0;
            (0, format!(" ({e}: read as 0)"))
        }
    };
    match evaluate(value, effect) {
        Ok(delta) => Ok(ProbeOk {
            adjustment: Some(delta),
            detail: format!("value {value}, adjustment {delta:+}{note}"),
        }),
        Err(explanation) => Err(ProbeError::FileFault {
            path,
            explanation: format!("{explanation}{note}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::{evaluate, leading_number};
    use crate::config::CheckEffect;

    #[test]
    fn reads_numbers_like_strtol_base_0() {
        let cases = [
            ("5", Some(5)),
            ("  -12\n", Some(-12)),
            ("+7 apples", Some(7)),
            ("0x1f", Some(31)),
            ("010", Some(8)),
            ("0", Some(0)),
            ("", Some(0)),
            ("abc", Some(0)),
            ("0x", Some(0)),
            ("2147483647", Some(2_147_483_647)),
            ("-2147483648", Some(-2_147_483_648)),
            ("2147483648", None),
            ("99999999999999999999", None),
        ];
        for (text, want) in cases {
            assert_eq!(leading_number(text), want, "{text:?}");
        }
    }

    #[test]
    fn weight_semantics() {
        assert_eq!(evaluate(0, CheckEffect::Fault), Ok(0));
        assert!(
            evaluate(3, CheckEffect::Fault)
                .unwrap_err()
                .contains("non-zero")
        );
        assert_eq!(evaluate(5, CheckEffect::Weight(10)), Ok(50));
        assert_eq!(evaluate(-5, CheckEffect::Weight(10)), Ok(-50));
        assert_eq!(evaluate(100, CheckEffect::Weight(10)), Ok(253), "capped");
        assert_eq!(evaluate(-253, CheckEffect::Weight(1)), Ok(-253));
        assert!(
            evaluate(-254, CheckEffect::Weight(1)).is_err(),
            "-254 is fault"
        );
        assert!(evaluate(-26, CheckEffect::Weight(10)).is_err());
        assert_eq!(evaluate(-1, CheckEffect::Weight(-254)), Ok(253));
        assert!(evaluate(1, CheckEffect::Weight(-254)).is_err());
    }
}
