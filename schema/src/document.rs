//! The schema document a server publishes and the CLI hint keywords inside
//! its parameter schemas.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::{ApiLevel, fingerprint_of};

/// Bumped only when the document's own shape changes incompatibly.
pub const SCHEMA_FORMAT_VERSION: u32 = 1;

/// Extension keyword on a parameter: its position (0-based) among positional arguments.
pub const X_POSITIONAL: &str = "x-igor-positional";
/// Extension keyword on a parameter: the CLI flag name, when it differs from the JSON name.
pub const X_CLI_NAME: &str = "x-igor-cli-name";
/// Extension keyword on a parameter: the value is a secret; prompt without echo, never log.
pub const X_SENSITIVE: &str = "x-igor-sensitive";
/// Extension keyword on a parameter: its default depends on the server (its configuration
/// or its data), so it cannot be written into the schema; the value names the server
/// setting (`bmc.default_user`), and `command-defaults` returns what the server would use.
pub const X_DYNAMIC_DEFAULT: &str = "x-igor-dynamic-default";
/// Extension keyword on an output record: the fields a table shows by default, in order
/// (the rest are in `-o json` and `-o yaml`).
pub const X_COLUMNS: &str = "x-igor-columns";

/// Everything a client needs to build its command tree. The server's own version and the
/// cache TTL are deliberately not part of it: the document of one level must be the same
/// bytes whichever server release publishes it (pinning, bundles), so they travel in `ping`
/// and in the `Cache-Control` header instead.
///
/// `J` is how the parameter and output schemas of each command are held: parsed (`Value`,
/// the default, what the server builds and every test compares) or as their JSON text
/// (`LazyDocument`: the client's read path, which parses only the invoked command's).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SchemaDocument<J = Value> {
    pub format_version: u32,
    pub api_level: ApiLevel,
    pub topics: Vec<Topic>,
    pub classes: Vec<Class>,
    pub commands: Vec<CommandDef<J>>,
    /// `sha256:<hex>` over the canonical JSON of every other field.
    #[serde(default)]
    pub fingerprint: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Topic {
    pub name: String,
    pub doc: String,
}

/// An object the API manages (`user`, `machine`...), as FreeIPA's `class-show` describes it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Class {
    pub name: String,
    pub doc: String,
    pub attributes: Vec<Attribute>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Attribute {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: String,
    pub doc: String,
}

/// One command version.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct CommandDef<J = Value> {
    pub name: String,
    pub version: u32,
    pub full_name: String,
    /// First line: a summary; the rest: details.
    pub doc: String,
    pub topic: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    pub since: ApiLevel,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removed: Option<ApiLevel>,
    /// `none` (no login), `user`, `admin`, `viewer` or `operator` (on the named machine).
    pub access: String,
    /// JSON Schema (draft 2020-12) of `params`, with `x-igor-*` CLI hints on properties.
    pub params: J,
    /// JSON Schema of `result`; for a streamed command, of one item.
    pub output: J,
    /// The answer is a stream of newline-delimited JSON: one `{"item": ...}` line per
    /// result as it completes, then one `{"done": true, "summary": ...}` line. Absent
    /// (false) in every document before level 1.3, so those stay byte-identical.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stream: bool,
}

/// A schema document whose parameter and output schemas stay JSON text until a command
/// needs them. Serializing it gives the same JSON as the parsed document (the text of each
/// schema is the compact JSON it was read as), so its fingerprint is the same too.
pub type LazyDocument = SchemaDocument<Box<RawValue>>;
/// One command version of a `LazyDocument`.
pub type LazyCommand = CommandDef<Box<RawValue>>;

impl<J> CommandDef<J> {
    pub fn summary(&self) -> &str {
        self.doc.lines().next().unwrap_or_default()
    }
}

impl SchemaDocument {
    /// Builds a document with its arrays in the canonical order and its fingerprint set.
    pub fn new(
        api_level: ApiLevel,
        mut topics: Vec<Topic>,
        mut classes: Vec<Class>,
        mut commands: Vec<CommandDef>,
    ) -> Self {
        topics.sort_by(|a, b| a.name.cmp(&b.name));
        classes.sort_by(|a, b| a.name.cmp(&b.name));
        commands.sort_by(|a, b| (&a.name, a.version).cmp(&(&b.name, b.version)));
        let mut doc = SchemaDocument {
            format_version: SCHEMA_FORMAT_VERSION,
            api_level,
            topics,
            classes,
            commands,
            fingerprint: String::new(),
        };
        doc.fingerprint = doc.compute_fingerprint();
        doc
    }
}

impl<J: Serialize> SchemaDocument<J> {
    /// The fingerprint of this document's content, whatever its `fingerprint` field says.
    pub fn compute_fingerprint(&self) -> String {
        let mut value = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Value::Object(map) = &mut value {
            map.remove("fingerprint");
        }
        fingerprint_of(&value)
    }

    /// Whether the stored fingerprint matches the content (a cache-corruption check).
    pub fn verify(&self) -> bool {
        self.fingerprint == self.compute_fingerprint()
    }
}

impl LazyDocument {
    /// The same document with every parameter and output schema parsed, for printing it
    /// whole (`igor schema show --json`). Each text was valid JSON when the document was
    /// read, so none turns into `null`.
    pub fn parsed(&self) -> SchemaDocument {
        let json = |raw: &RawValue| serde_json::from_str(raw.get()).unwrap_or(Value::Null);
        SchemaDocument {
            format_version: self.format_version,
            api_level: self.api_level,
            topics: self.topics.clone(),
            classes: self.classes.clone(),
            commands: self
                .commands
                .iter()
                .map(|c| CommandDef {
                    name: c.name.clone(),
                    version: c.version,
                    full_name: c.full_name.clone(),
                    doc: c.doc.clone(),
                    topic: c.topic.clone(),
                    object: c.object.clone(),
                    method: c.method.clone(),
                    since: c.since,
                    removed: c.removed,
                    access: c.access.clone(),
                    params: json(&c.params),
                    output: json(&c.output),
                    stream: c.stream,
                })
                .collect(),
            fingerprint: self.fingerprint.clone(),
        }
    }
}

impl<J> SchemaDocument<J> {
    pub fn command(&self, name: &str, version: u32) -> Option<&CommandDef<J>> {
        self.commands
            .iter()
            .find(|c| c.name == name && c.version == version)
    }

    /// The highest version of `name` in this document.
    pub fn latest(&self, name: &str) -> Option<&CommandDef<J>> {
        self.commands
            .iter()
            .filter(|c| c.name == name)
            .max_by_key(|c| c.version)
    }
}
