//! Which version `igor NAME` means, and which level this client "knows".
//! Pure functions: the bundles and the override are parameters.

use anyhow::{Result, bail};
use schema::{ApiLevel, LazyDocument, SchemaDocument};
use serde::Deserialize;

/// The command versions of the newest known level: all the default-version rule needs of
/// it. Every start needs them, so they come as `(name, version)` pairs read at build time
/// (`schema_compat::KNOWN_COMMANDS`), or from a bundle's text with everything else skipped;
/// never from a whole parsed document, whose parameter schemas are most of its text.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Known {
    /// The level these are the commands of.
    pub api_level: ApiLevel,
    commands: Vec<KnownCommand>,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
struct KnownCommand {
    name: String,
    version: u32,
}

impl Known {
    /// The pairs of a document's text; fields other than each command's name and version
    /// are skipped unread.
    pub fn parse(text: &str) -> Option<Known> {
        serde_json::from_str(text).ok()
    }

    /// Pairs read at build time (`schema_compat::known_commands`).
    pub fn from_pairs(api_level: ApiLevel, pairs: &[(&str, u32)]) -> Known {
        Known {
            api_level,
            commands: pairs
                .iter()
                .map(|(name, version)| KnownCommand {
                    name: (*name).to_owned(),
                    version: *version,
                })
                .collect(),
        }
    }

    /// The pairs of a parsed document (tests, fixtures).
    pub fn of<J>(doc: &SchemaDocument<J>) -> Known {
        Known {
            api_level: doc.api_level,
            commands: doc
                .commands
                .iter()
                .map(|c| KnownCommand {
                    name: c.name.clone(),
                    version: c.version,
                })
                .collect(),
        }
    }

    /// The versions of `name` this client knows.
    fn versions<'a>(&'a self, name: &'a str) -> impl Iterator<Item = u32> + 'a {
        self.commands
            .iter()
            .filter(move |c| c.name == name)
            .map(|c| c.version)
    }
}

/// The default version of `name`: the highest version this client knows (the commands of
/// its newest known level) that the server also offers; for a command the client has
/// never heard of, 1. When the client knows versions of `name` but the server offers none
/// of them, 1 as well: that is what an unversioned call means on the wire, so
/// the answer is the server's own.
pub fn default_version<J>(name: &str, known: Option<&Known>, offered: &SchemaDocument<J>) -> u32 {
    let Some(known) = known else { return 1 };
    known
        .versions(name)
        .filter(|v| offered.command(name, *v).is_some())
        .max()
        .unwrap_or(1)
}

/// Bundled documents as a resolver sees them: a slice in tests, parsed-on-demand in igor.
pub trait BundleSet {
    fn docs(&self) -> &[LazyDocument];
}

impl BundleSet for &[LazyDocument] {
    fn docs(&self) -> &[LazyDocument] {
        self
    }
}

/// The bundles this client may use, parsed on first use: most runs (a server that publishes
/// its schema, a fresh cache) never need them, and parsing them all costs more than the
/// rest of a start.
pub struct Bundles {
    texts: Vec<(ApiLevel, &'static str)>,
    docs: std::cell::OnceCell<Vec<LazyDocument>>,
}

impl Bundles {
    /// The newest of them alone (help without a server), without parsing the others.
    pub fn newest(&self) -> Option<LazyDocument> {
        match self.docs.get() {
            Some(docs) => docs.iter().max_by_key(|d| d.api_level).cloned(),
            None => self
                .texts
                .iter()
                .max_by_key(|(level, _)| *level)
                .and_then(|(_, t)| serde_json::from_str(t).ok()),
        }
    }
}

impl BundleSet for Bundles {
    fn docs(&self) -> &[LazyDocument] {
        self.docs.get_or_init(|| {
            self.texts
                .iter()
                .filter_map(|(_, t)| serde_json::from_str(t).ok())
                .collect()
        })
    }
}

/// The bundles this client may use, and the "known" set (the command versions of the
/// newest, read now: the default-version rule needs them on every call).
/// `IGOR_KNOWN_LEVEL=X.Y` (for the cross-version tests) makes the client behave as a
/// release whose newest bundle is X.Y: bundles above it are dropped and the one of level
/// X.Y is the known set. Without bundles the known set is empty. `bundled` is
/// `(level, JSON text)` as `schema_compat::BUNDLED`; `pairs` the same bundles' command
/// versions by level, as `schema_compat::KNOWN_COMMANDS` (a level missing there is read
/// from its text).
pub fn known_bundles(
    bundled: &[(&'static str, &'static str)],
    pairs: &[(&str, &[(&str, u32)])],
    known_level: Option<&str>,
) -> Result<(Bundles, Option<Known>)> {
    let levels: Vec<(ApiLevel, &'static str)> = bundled
        .iter()
        .filter_map(|(l, t)| Some((l.parse().ok()?, *t)))
        .collect();
    let max = match known_level {
        Some(text) => {
            let level: ApiLevel = match text.parse() {
                Ok(l) => l,
                Err(e) => bail!("IGOR_KNOWN_LEVEL: {e}"),
            };
            if !levels.iter().any(|(l, _)| *l == level) {
                let have: Vec<String> = levels.iter().map(|(l, _)| l.to_string()).collect();
                bail!(
                    "IGOR_KNOWN_LEVEL={level}: this client carries no bundled schema of that level (bundled: {})",
                    if have.is_empty() {
                        "none".to_owned()
                    } else {
                        have.join(", ")
                    }
                );
            }
            Some(level)
        }
        None => levels.iter().map(|(l, _)| *l).max(),
    };
    let Some(max) = max else {
        return Ok((
            Bundles {
                texts: vec![],
                docs: Default::default(),
            },
            None,
        ));
    };
    let known = levels.iter().find(|(l, _)| *l == max).and_then(|(l, t)| {
        let level = l.to_string();
        match pairs.iter().find(|(p, _)| *p == level) {
            Some((_, pairs)) => Some(Known::from_pairs(*l, pairs)),
            None => Known::parse(t),
        }
    });
    let texts = levels.into_iter().filter(|(l, _)| *l <= max).collect();
    Ok((
        Bundles {
            texts,
            docs: Default::default(),
        },
        known,
    ))
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
        let known = Known::of(&known);
        let check = |name: &str, known: Option<&Known>, server: &SchemaDocument, want: u32| {
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

    /// The known set read as pairs is the pairs of the whole document; a bundle read lazily
    /// is the same document, with the same fingerprint.
    #[test]
    fn bundles_read_lazily() {
        for (level, text) in schema_compat::BUNDLED {
            let doc: SchemaDocument = serde_json::from_str(text).unwrap();
            assert_eq!(Known::parse(text), Some(Known::of(&doc)), "{level}");
            let pairs = schema_compat::known_commands(level).unwrap();
            assert_eq!(
                Known::from_pairs(doc.api_level, pairs),
                Known::of(&doc),
                "{level}"
            );
            let lazy: LazyDocument = serde_json::from_str(text).unwrap();
            assert!(lazy.verify(), "{level}: fingerprint of the lazy document");
            assert_eq!(lazy.parsed(), doc, "{level}");
        }
    }

    /// igor's own setup: the known set is the pairs of the newest bundle, or of the level
    /// `IGOR_KNOWN_LEVEL` names, as the whole documents would give them.
    #[test]
    fn known_set_of_the_carried_bundles() {
        let (bundled, pairs) = (schema_compat::BUNDLED, schema_compat::KNOWN_COMMANDS);
        let docs = schema_compat::bundled();
        let (_, known) = known_bundles(bundled, pairs, None).unwrap();
        assert_eq!(known, docs.last().map(Known::of));
        let (_, known) = known_bundles(bundled, pairs, Some("1.3")).unwrap();
        let doc13 = docs.iter().find(|d| d.api_level.to_string() == "1.3");
        assert_eq!(known, doc13.map(Known::of));
    }

    #[test]
    fn known_level_override() {
        // Texts as the bundles are embedded: 'static, like include_str!.
        let text = |l: &str| -> (&'static str, &'static str) {
            let t = serde_json::to_string(&doc(l, &[])).unwrap();
            (
                Box::leak(l.to_owned().into_boxed_str()),
                Box::leak(t.into_boxed_str()),
            )
        };
        let bundled = vec![text("1.0"), text("1.1"), text("1.2")];
        let (all, newest) = known_bundles(&bundled, &[], None).unwrap();
        assert_eq!(all.newest().unwrap().api_level.to_string(), "1.2");
        assert_eq!(all.docs().len(), 3);
        assert_eq!(newest.unwrap().api_level.to_string(), "1.2");
        let (some, newest) = known_bundles(&bundled, &[], Some("1.1")).unwrap();
        assert_eq!(some.docs().len(), 2);
        assert_eq!(newest.unwrap().api_level.to_string(), "1.1");
        let err = known_bundles(&bundled, &[], Some("1.7"))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("no bundled schema of that level"), "{err}");
        assert!(known_bundles(&bundled, &[], Some("x")).is_err());
        let (none, newest) = known_bundles(&[], &[], None).unwrap();
        assert!(none.docs().is_empty() && newest.is_none());
    }
}
