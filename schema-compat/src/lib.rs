//! Frozen schema documents of earlier API levels (`bundled/<level>.json`), embedded in the
//! client, and the rule that picks one for a server that publishes no schema.
//!
//! The files are exactly what `igord schema export --api-level X.Y` printed; they are never
//! edited by hand, and a test keeps each equal to what the server still exports.

use schema::{ApiLevel, SchemaDocument};

/// `(level, JSON text)` of every bundled level, oldest first. Adding a line here (with its
/// exported file) is the only change this list ever gets.
pub const BUNDLED: &[(&str, &str)] = &[
    ("1.0", include_str!("../bundled/1.0.json")),
    ("1.1", include_str!("../bundled/1.1.json")),
    ("1.2", include_str!("../bundled/1.2.json")),
    ("1.3", include_str!("../bundled/1.3.json")),
    ("1.4", include_str!("../bundled/1.4.json")),
    ("1.5", include_str!("../bundled/1.5.json")),
    ("1.6", include_str!("../bundled/1.6.json")),
];

include!(concat!(env!("OUT_DIR"), "/known_commands.rs"));

/// The `(name, version)` pairs of the bundle of `level`, read at build time.
pub fn known_commands(level: &str) -> Option<&'static [(&'static str, u32)]> {
    KNOWN_COMMANDS
        .iter()
        .find(|(l, _)| *l == level)
        .map(|(_, pairs)| *pairs)
}

/// Every bundled document, parsed, oldest first. A bundle that does not parse or whose
/// fingerprint does not match its content is a build defect, caught by the tests.
pub fn bundled() -> Vec<SchemaDocument> {
    BUNDLED
        .iter()
        .filter_map(|(_, text)| serde_json::from_str::<SchemaDocument>(text).ok())
        .collect()
}

/// The newest level this client release knows: its newest bundle.
pub fn newest_known() -> Option<ApiLevel> {
    bundled().iter().map(|d| d.api_level).max()
}

/// Why no bundle fits a server.
#[derive(Debug, PartialEq, Eq)]
pub enum PickError {
    /// This client carries no bundled schema at all.
    NoBundles,
    /// The server is older than every bundle.
    ServerTooOld { server: ApiLevel, oldest: ApiLevel },
}

impl std::fmt::Display for PickError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PickError::NoBundles => write!(
                f,
                "the server publishes no schema and this client carries no bundled schema"
            ),
            PickError::ServerTooOld { server, oldest } => write!(
                f,
                "the server's API level {server} is older than the oldest level this client knows ({oldest})"
            ),
        }
    }
}

/// The bundle of the highest level that is not above `server`: the floor, so the client
/// never offers a command the server lacks. Bundles parsed either way (`SchemaDocument`,
/// or the client's `LazyDocument`).
pub fn pick_from<J>(
    bundles: &[SchemaDocument<J>],
    server: ApiLevel,
) -> Result<&SchemaDocument<J>, PickError> {
    let oldest = bundles
        .iter()
        .map(|d| d.api_level)
        .min()
        .ok_or(PickError::NoBundles)?;
    bundles
        .iter()
        .filter(|d| d.api_level <= server)
        .max_by_key(|d| d.api_level)
        .ok_or(PickError::ServerTooOld { server, oldest })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(level: &str) -> SchemaDocument {
        SchemaDocument::new(level.parse().unwrap(), vec![], vec![], vec![])
    }

    #[test]
    fn floor_rule() {
        let bundles = vec![doc("1.0"), doc("1.1"), doc("1.2")];
        let check = |server: &str, want: Result<&str, PickError>| {
            let got = pick_from(&bundles, server.parse().unwrap()).map(|d| d.api_level.to_string());
            assert_eq!(got, want.map(str::to_owned), "{server}");
        };
        check("1.0", Ok("1.0"));
        check("1.1", Ok("1.1"));
        check("1.5", Ok("1.2"));
        check("2.0", Ok("1.2"));
        check(
            "0.9",
            Err(PickError::ServerTooOld {
                server: ApiLevel::new(0, 9),
                oldest: ApiLevel::new(1, 0),
            }),
        );
        assert_eq!(
            pick_from::<serde_json::Value>(&[], ApiLevel::new(1, 0)).err(),
            Some(PickError::NoBundles)
        );
    }

    /// The pairs build.rs read are those of the bundles, level by level.
    #[test]
    fn known_commands_are_the_bundles() {
        assert_eq!(KNOWN_COMMANDS.len(), BUNDLED.len());
        for (level, text) in BUNDLED {
            let doc: SchemaDocument = serde_json::from_str(text).unwrap();
            let pairs: Vec<(&str, u32)> = doc
                .commands
                .iter()
                .map(|c| (c.name.as_str(), c.version))
                .collect();
            assert_eq!(known_commands(level), Some(pairs.as_slice()), "{level}");
        }
    }

    #[test]
    fn bundles_parse_and_verify() {
        assert_eq!(bundled().len(), BUNDLED.len(), "every bundled file parses");
        for d in bundled() {
            assert!(
                d.verify(),
                "bundle {} fingerprint matches its content",
                d.api_level
            );
        }
    }
}
