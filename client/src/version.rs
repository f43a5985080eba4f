//! Which version `igor NAME` means (DESIGN §5), and which level this client "knows".
//! Pure functions: the bundles and the override are parameters.

use anyhow::{Result, bail};
use schema::{ApiLevel, SchemaDocument};

/// The default version of `name`: the highest version this client knows (the commands of
/// its newest known level) that the server also offers; for a command the client has
/// never heard of, 1. When the client knows versions of `name` but the server offers none
/// of them, 1 as well: that is what an unversioned call means on the wire (DESIGN §2), so
/// the answer is the server's own.
pub fn default_version(
    name: &str,
    known: Option<&SchemaDocument>,
    offered: &SchemaDocument,
) -> u32 {
    let Some(known) = known else { return 1 };
    known
        .commands
        .iter()
        .filter(|c| c.name == name)
        .map(|c| c.version)
        .filter(|v| offered.command(name, *v).is_some())
        .max()
        .unwrap_or(1)
}

/// The bundles this client may use, and the newest "known" one. `IGOR_KNOWN_LEVEL=X.Y`
/// (for the cross-version tests) makes the client behave as a release whose newest bundle
/// is X.Y: bundles above it are dropped and the one of level X.Y is the known set. Without
/// bundles the known set is empty.
pub fn known_bundles(
    mut bundles: Vec<SchemaDocument>,
    known_level: Option<&str>,
) -> Result<(Vec<SchemaDocument>, Option<SchemaDocument>)> {
    if let Some(text) = known_level {
        let level: ApiLevel = match text.parse() {
            Ok(l) => l,
            Err(e) => bail!("IGOR_KNOWN_LEVEL: {e}"),
        };
        let Some(exact) = bundles.iter().find(|b| b.api_level == level).cloned() else {
            let have: Vec<String> = bundles.iter().map(|b| b.api_level.to_string()).collect();
            bail!(
                "IGOR_KNOWN_LEVEL={level}: this client carries no bundled schema of that level (bundled: {})",
                if have.is_empty() {
                    "none".to_owned()
                } else {
                    have.join(", ")
                }
            );
        };
        bundles.retain(|b| b.api_level <= level);
        return Ok((bundles, Some(exact)));
    }
    let newest = bundles.iter().max_by_key(|b| b.api_level).cloned();
    Ok((bundles, newest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use schema::CommandDef;
    use serde_json::json;

    fn doc(level: &str, cmds: &[(&str, u32)]) -> SchemaDocument {
        let commands = cmds
            .iter()
            .map(|(n, v)| CommandDef {
                name: (*n).into(),
                version: *v,
                full_name: format!("{n}/{v}"),
                doc: String::new(),
                topic: "t".into(),
                object: None,
                method: None,
                since: level.parse().unwrap(),
                removed: None,
                access: "user".into(),
                params: json!({"type": "object"}),
                output: json!({}),
                stream: false,
            })
            .collect();
        SchemaDocument::new(level.parse().unwrap(), vec![], vec![], commands)
    }

    #[test]
    fn default_version_rule() {
        let known = doc(
            "1.2",
            &[("power-on", 1), ("power-on", 2), ("sel-delete", 1)],
        );
        let server_13 = doc(
            "1.3",
            &[
                ("power-on", 1),
                ("power-on", 2),
                ("power-on", 3),
                ("sel-delete", 1),
                ("sel-delete", 2),
                ("identify", 1),
            ],
        );
        let server_10 = doc("1.0", &[("power-on", 1), ("sel-delete", 1)]);
        let server_v2_only = doc("2.0", &[("power-on", 2), ("power-on", 3)]);
        let check =
            |name: &str, known: Option<&SchemaDocument>, server: &SchemaDocument, want: u32| {
                assert_eq!(
                    default_version(name, known, server),
                    want,
                    "{name} on {}",
                    server.api_level
                );
            };
        // Known and offered: the highest of both, not the server's newest.
        check("power-on", Some(&known), &server_13, 2);
        // The server lacks the newer version the client knows: the floor.
        check("power-on", Some(&known), &server_10, 1);
        // The client knows only v1 although the server has v2.
        check("sel-delete", Some(&known), &server_13, 1);
        // Never heard of: version 1.
        check("identify", Some(&known), &server_13, 1);
        // No bundles at all: everything is version 1.
        check("power-on", None, &server_13, 1);
        // Known versions but none offered: 1, the wire meaning of an unversioned call.
        check("sel-delete", Some(&known), &server_v2_only, 1);
        check("power-on", Some(&known), &server_v2_only, 2);
    }

    #[test]
    fn known_level_override() {
        let bundles = vec![doc("1.0", &[]), doc("1.1", &[]), doc("1.2", &[])];
        let (all, newest) = known_bundles(bundles.clone(), None).unwrap();
        assert_eq!(all.len(), 3);
        assert_eq!(newest.unwrap().api_level.to_string(), "1.2");
        let (some, newest) = known_bundles(bundles.clone(), Some("1.1")).unwrap();
        assert_eq!(some.len(), 2);
        assert_eq!(newest.unwrap().api_level.to_string(), "1.1");
        let err = known_bundles(bundles.clone(), Some("1.7"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("no bundled schema of that level"), "{err}");
        assert!(known_bundles(bundles, Some("x")).is_err());
        let (none, newest) = known_bundles(vec![], None).unwrap();
        assert!(none.is_empty() && newest.is_none());
    }
}
