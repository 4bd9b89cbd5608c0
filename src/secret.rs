//! Secrets (SQL passwords): a wrapper that cannot leak by accident.
//!
//! A [`Secret`] prints as `<redacted>` in `Debug`, has no `Display`, and serializes as
//! `"<redacted>"`, so a secret that ends up in a log line, an error, a journal entry or a JSON
//! report shows that marker instead of the value. The only way to the value is
//! [`Secret::expose`], which the SQL adapter calls when it builds a login.
//!
//! [`Secret::new_sql_password`] enforces the vendor's rule: a SQL password must not contain `=`,
//! `;` or `"` (they break connection strings).

use std::fmt;

use serde::{Deserialize, Serialize};

/// A secret value, such as a SQL password.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

/// Why a password was refused. Never contains the password itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadPassword {
    #[error(
        "the SQL password contains {0:?}, which SQL Server connection strings do not support \
         (the vendor forbids '=', ';' and '\"'); choose another password"
    )]
    ForbiddenCharacter(char),
    #[error("the SQL password is empty")]
    Empty,
}

const REDACTED: &str = "<redacted>";

impl Secret {
    /// Wraps any secret without checks.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// Wraps a SQL password, refusing `=`, `;`, `"` and the empty string.
    pub fn new_sql_password(value: impl Into<String>) -> Result<Secret, BadPassword> {
        let value = value.into();
        if value.is_empty() {
            return Err(BadPassword::Empty);
        }
        if let Some(c) = value.chars().find(|c| matches!(c, '=' | ';' | '"')) {
            return Err(BadPassword::ForbiddenCharacter(c));
        }
        Ok(Secret(value))
    }

    /// The secret value. Call only where it is handed to the party that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(REDACTED)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Secret(String::deserialize(deserializer)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_shows_its_value() {
        let secret = Secret::new_sql_password("S3cret!pw").unwrap();
        assert_eq!(format!("{secret:?}"), REDACTED);
        assert_eq!(
            serde_json::to_string(&secret).unwrap(),
            format!("\"{REDACTED}\"")
        );
        assert_eq!(secret.expose(), "S3cret!pw");
    }

    #[test]
    fn refuses_the_vendors_forbidden_characters_without_echoing_the_password() {
        for (bad, c) in [("a=b", '='), ("a;b", ';'), ("a\"b", '"')] {
            let err = Secret::new_sql_password(bad).unwrap_err();
            assert_eq!(err, BadPassword::ForbiddenCharacter(c));
            assert!(!err.to_string().contains(bad));
        }
        assert_eq!(Secret::new_sql_password(""), Err(BadPassword::Empty));
    }
}
