//! Command names on the wire: `power-on` (version 1) or `power-on/2`.

use std::fmt;
use std::str::FromStr;

/// A command name with an optional explicit version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandName {
    pub name: String,
    pub version: Option<u32>,
}

impl CommandName {
    /// The version the server runs: unversioned calls mean version 1, so that old
    /// and third-party clients keep working.
    pub fn server_version(&self) -> u32 {
        self.version.unwrap_or(1)
    }

    pub fn full(name: &str, version: u32) -> String {
        format!("{name}/{version}")
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NameParseError {
    #[error("invalid command name '{0}': expected NAME or NAME/VERSION")]
    Invalid(String),
}

impl FromStr for CommandName {
    type Err = NameParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || NameParseError::Invalid(s.to_owned());
        let (name, version) = match s.split_once('/') {
            Some((n, v)) => {
                if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(invalid());
                }
                let v: u32 = v.parse().map_err(|_| invalid())?;
                if v == 0 {
                    return Err(invalid());
                }
                (n, Some(v))
            }
            None => (s, None),
        };
        let valid_name = !name.is_empty()
            && name.len() <= 64
            && name.starts_with(|c: char| c.is_ascii_lowercase())
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !valid_name {
            return Err(invalid());
        }
        Ok(CommandName {
            name: name.to_owned(),
            version,
        })
    }
}

impl fmt::Display for CommandName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.version {
            Some(v) => write!(f, "{}/{v}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse() {
        let check = |s: &str, want: Option<(&str, Option<u32>)>| {
            let got = s.parse::<CommandName>().ok();
            let got = got.as_ref().map(|c| (c.name.as_str(), c.version));
            assert_eq!(got, want, "{s}");
        };
        check("power-on", Some(("power-on", None)));
        check("power-on/2", Some(("power-on", Some(2))));
        check("power-on/0", None);
        check("power-on/", None);
        check("power-on/x", None);
        check("/2", None);
        check("Power", None);
        check("a b", None);
        check("sel-delete/2/3", None);
    }
}
