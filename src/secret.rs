//! `Secret`: a string that never prints itself.
//!
//! `Debug` and `Display` show `(redacted)`; there is no `Serialize`. The only way to the value is
//! [`Secret::expose`], which signing code calls and nothing else should.

use std::fmt;

/// A credential read from the environment.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    #[must_use]
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself, for signing only.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(redacted)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(redacted)")
    }
}

/// The credentials a provider signs with.
#[derive(Clone, Debug)]
pub struct Credentials {
    /// The SecretId (not secret in itself, but masked in GitHub output).
    pub secret_id: String,
    /// The SecretKey.
    pub secret_key: Secret,
    /// A temporary-credentials token, when set.
    pub token: Option<Secret>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_are_redacted() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "(redacted)");
        assert_eq!(format!("{s}"), "(redacted)");
        let c = Credentials {
            secret_id: "AKID".into(),
            secret_key: s,
            token: Some(Secret::new("tok")),
        };
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("hunter2") && !dbg.contains("tok\""), "{dbg}");
    }
}
