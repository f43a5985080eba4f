//! API levels (`MAJOR.MINOR`): the set of command versions a server offers.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An API level such as `1.2`. Ordered by major, then minor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ApiLevel {
    pub major: u16,
    pub minor: u16,
}

impl ApiLevel {
    pub const fn new(major: u16, minor: u16) -> Self {
        ApiLevel { major, minor }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid API level '{0}': expected MAJOR.MINOR, e.g. 1.2")]
pub struct LevelParseError(pub String);

impl FromStr for ApiLevel {
    type Err = LevelParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || LevelParseError(s.to_owned());
        let (major, minor) = s.split_once('.').ok_or_else(err)?;
        let parse = |p: &str| {
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(err());
            }
            p.parse::<u16>().map_err(|_| err())
        };
        Ok(ApiLevel::new(parse(major)?, parse(minor)?))
    }
}

impl fmt::Display for ApiLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

impl Serialize for ApiLevel {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ApiLevel {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_display_order() {
        let check = |s: &str, ok: Option<(u16, u16)>| {
            let got = s.parse::<ApiLevel>().ok().map(|l| (l.major, l.minor));
            assert_eq!(got, ok, "{s}");
        };
        check("1.0", Some((1, 0)));
        check("1.12", Some((1, 12)));
        check("1", None);
        check("1.", None);
        check("a.b", None);
        check("1.-1", None);
        check("1.2.3", None);
        assert!(ApiLevel::new(1, 10) > ApiLevel::new(1, 9));
        assert_eq!(ApiLevel::new(1, 2).to_string(), "1.2");
    }
}
