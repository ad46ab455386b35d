//! VRRPv2 authentication (RFC 3768 section 5.3.6, RFC 2338 section 5.3.6.1): the simple
//! text password and the authentication field of an advertisement. VRRPv3 has none.

use std::fmt;

/// The VRRPv2 authentication type "no authentication".
pub(super) const AUTH_TYPE_NONE: u8 = 0;
/// The VRRPv2 authentication type "simple text password".
pub(super) const AUTH_TYPE_PASS: u8 = 1;

/// A VRRPv2 simple text password (RFC 2338 section 5.3.6.1): 1 to 8 bytes, zero-padded to
/// 8 bytes on the wire.
///
/// Its `Debug` form never shows the secret.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Password(pub(super) [u8; 8]);

impl Password {
    /// A password of 1 to 8 bytes, or `None` for an empty or longer one.
    #[must_use]
    pub fn new(secret: &[u8]) -> Option<Self> {
        if secret.is_empty() || secret.len() > 8 {
            return None;
        }
        let mut padded = [0u8; 8];
        padded.iter_mut().zip(secret).for_each(|(d, s)| *d = *s);
        Some(Self(padded))
    }

    /// The 8 bytes as they appear on the wire.
    #[must_use]
    pub const fn wire_bytes(&self) -> &[u8; 8] {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// The authentication carried by an advertisement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Auth {
    /// No authentication: VRRPv2 type 0 with zeroed data, or any VRRPv3 advertisement.
    None,
    /// VRRPv2 type 1, simple text password.
    Password(Password),
    /// A VRRPv2 authentication type this crate does not implement (2 was IP Authentication
    /// Header), with its raw data. Such adverts are parsed so they can be counted, and
    /// rejected by every instance.
    Unsupported {
        /// The authentication type field.
        auth_type: u8,
        /// The 8 bytes of authentication data.
        data: [u8; 8],
    },
}

impl Auth {
    /// The wire value of the VRRPv2 authentication type field.
    #[must_use]
    pub const fn wire_type(&self) -> u8 {
        match self {
            Self::None => AUTH_TYPE_NONE,
            Self::Password(_) => AUTH_TYPE_PASS,
            Self::Unsupported { auth_type, .. } => *auth_type,
        }
    }
}
