//! The command registry: each command version is declared once (name, version, levels, doc,
//! topic, object/method, access, parameter and output types, handler). The published schema,
//! parameter validation and dispatch all come from it.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use schema::{ApiLevel, Class, CommandDef, CommandName, SchemaDocument, Topic};
use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::access::Access;
use crate::db::models::Machine;
use crate::error::{ApiError, escape_controls};
use crate::state::{Ctx, Published};

/// The longest string any parameter may hold, whatever its published schema says: a safety
/// net so that no input reaches the database (SQLite refuses LIKE patterns over 50,000
/// bytes) or a message unbounded. Newer command versions publish tighter `maxLength`s.
pub const MAX_STRING_CHARS: usize = 4096;

/// Parameters holding free text, where tabs and newlines (and no other control character)
/// are allowed.
const FREE_TEXT: &[&str] = &["description", "bmc_ca"];

/// The oldest level a server can pin to.
pub const OLDEST_LEVEL: ApiLevel = ApiLevel::new(1, 0);
/// The first level with `GET /api/schema` and the introspection commands.
pub const SCHEMA_LEVEL: ApiLevel = ApiLevel::new(1, 1);

/// What a handler returns: its typed output and a one-line summary for humans.
pub struct Out<O> {
    pub value: O,
    pub summary: String,
}

impl<O> Out<O> {
    pub fn new(value: O, summary: impl Into<String>) -> Self {
        Out {
            value,
            summary: summary.into(),
        }
    }
}

pub struct Reply {
    pub result: Value,
    pub summary: String,
    /// For streamed commands: the items, sent as they complete.
    pub stream: Option<ItemStream>,
}

/// The items of a streamed answer (see `CommandDef::stream`).
pub struct ItemStream {
    /// How many items will come, so a client can show progress (for a followed stream,
    /// how many were there at the start).
    pub total: usize,
    pub items: tokio::sync::mpsc::UnboundedReceiver<Value>,
    /// What the items are: one outcome per machine (`{"machine", "ok", ...}`, counted as
    /// ok or failed), or plain records, named in the summary (`audit record(s)`).
    pub records: Option<&'static str>,
}

type BoxFut = Pin<Box<dyn Future<Output = Result<Reply, ApiError>> + Send>>;
type Handler = Arc<dyn Fn(Ctx, Value) -> BoxFut + Send + Sync>;

#[derive(Clone)]
pub struct CommandSpec {
    pub name: &'static str,
    pub version: u32,
    pub since: ApiLevel,
    pub removed: Option<ApiLevel>,
    pub doc: &'static str,
    pub topic: &'static str,
    pub object: Option<(&'static str, &'static str)>,
    pub access: Access,
    /// Recorded in the audit log (changes and BMC commands).
    pub audited: bool,
    /// The parameter naming the one machine the call acts on (`machine`, or `name` for the
    /// machine object's own commands): where the audit row's machine comes from.
    pub target: Option<&'static str>,
    pub params: Value,
    pub output: Value,
    /// Answers with a stream of items (NDJSON) instead of one result.
    pub stream: bool,
    /// Where the REST view serves this command version. Not part of the schema document:
    /// declaring a route changes no published level.
    pub rest: Option<RestRoute>,
    handler: Handler,
}

/// The HTTP methods of the REST view.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Verb {
    Get,
    Post,
    Put,
    Delete,
}

impl Verb {
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "GET",
            Verb::Post => "POST",
            Verb::Put => "PUT",
            Verb::Delete => "DELETE",
        }
    }

    /// Whether parameters come in a JSON body (else in the query string).
    pub fn has_body(self) -> bool {
        matches!(self, Verb::Post | Verb::Put)
    }
}

/// A command's route in the REST view (`crate::rest`). Every version of a command declares
/// the same verb and path; what differs between versions (a machine or a set of machines,
/// one record id or a list) is bridged by one rule: a path variable `{x}` fills the
/// parameter `x`, or, in a version that takes a list `xs` instead, that list with the one
/// value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestRoute {
    pub verb: Verb,
    /// `/api/machines/{machine}/sel/{id}`.
    pub path: &'static str,
    /// For a route several commands share (`POST .../power`): the body field and the value
    /// of it that chooses this command (`action` = `on`).
    pub choice: Option<(&'static str, &'static str)>,
    /// Parameters the REST view does not offer; their defaults apply (`audit-find/4`'s
    /// `follow`, which would hold a request open for an hour).
    pub hidden: &'static [&'static str],
    /// A create: answered 201 with `Location`, this template filled from the parameters.
    pub creates: Option<&'static str>,
    /// Statuses the handler may answer besides those every route of its kind may (see
    /// `crate::rest::statuses`): `409` for a conflict, `404` for a named record.
    pub may: &'static [u16],
}

// Invariant: levels in declarations are string literals in this crate, and every
// declaration is built by every test run (and at every start), so a typo cannot ship.
#[allow(clippy::panic)]
fn level(text: &str) -> ApiLevel {
    text.parse()
        .unwrap_or_else(|e| panic!("bad level literal in a command declaration: {e}"))
}

fn schema_of<T: JsonSchema>() -> Value {
    let generator = schemars::generate::SchemaSettings::draft2020_12().into_generator();
    let mut v = serde_json::to_value(generator.into_root_schema_for::<T>()).unwrap_or(Value::Null);
    // The Rust type's name and doc comment are not part of the interface: dropping them
    // keeps a rename from changing the fingerprint of a frozen level.
    if let Value::Object(m) = &mut v {
        m.remove("title");
        m.remove("description");
    }
    v
}

/// Declares one command version.
pub fn command<P, O, F, Fut>(
    name: &'static str,
    version: u32,
    since: &str,
    topic: &'static str,
    access: Access,
    doc: &'static str,
    f: F,
) -> CommandSpec
where
    P: DeserializeOwned + JsonSchema + Send + 'static,
    O: Serialize + JsonSchema + 'static,
    F: Fn(Ctx, P) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Out<O>, ApiError>> + Send + 'static,
{
    let head = Head {
        name,
        version,
        since,
        topic,
        access,
        doc,
    };
    declare(head, schema_of::<O>(), false, move |ctx, p: P| {
        let fut = f(ctx, p);
        async move {
            let out = fut.await?;
            let result = serde_json::to_value(&out.value).map_err(ApiError::internal)?;
            Ok(Reply {
                result,
                summary: out.summary,
                stream: None,
            })
        }
    })
}

/// Parameters of a command version that acts on one machine.
pub trait OnMachine {
    /// The parameter naming the machine: `machine`, or `name` for the machine object's own
    /// commands.
    const FIELD: &'static str;
    fn machine(&self) -> &str;
}

/// Declares a command version on one machine: the access it needs (viewer or operator) is
/// checked here, through `Ctx::machine`, before the handler runs, and the handler receives
/// the machine. The audit row names that machine.
pub fn on_machine<P, O, F, Fut>(
    name: &'static str,
    version: u32,
    since: &str,
    topic: &'static str,
    access: Access,
    doc: &'static str,
    f: F,
) -> CommandSpec
where
    P: OnMachine + DeserializeOwned + JsonSchema + Send + 'static,
    O: Serialize + JsonSchema + 'static,
    F: Fn(Ctx, Machine, P) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Out<O>, ApiError>> + Send + 'static,
{
    let f = Arc::new(f);
    let mut spec = command(
        name,
        version,
        since,
        topic,
        access,
        doc,
        move |ctx: Ctx, p: P| {
            let f = f.clone();
            async move {
                let m = ctx.machine(p.machine(), access).await?;
                f(ctx, m, p).await
            }
        },
    );
    spec.target = Some(P::FIELD);
    spec
}

/// Declares a streamed command version: the handler checks what it can up front (errors
/// then are ordinary HTTP errors) and returns the stream of items, each shaped like `I`.
pub fn streaming<P, I, F, Fut>(
    name: &'static str,
    version: u32,
    since: &str,
    topic: &'static str,
    access: Access,
    doc: &'static str,
    f: F,
) -> CommandSpec
where
    P: DeserializeOwned + JsonSchema + Send + 'static,
    I: JsonSchema + 'static,
    F: Fn(Ctx, P) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<ItemStream, ApiError>> + Send + 'static,
{
    let head = Head {
        name,
        version,
        since,
        topic,
        access,
        doc,
    };
    declare(head, schema_of::<I>(), true, move |ctx, p: P| {
        let fut = f(ctx, p);
        async move {
            Ok(Reply {
                result: Value::Null,
                summary: String::new(),
                stream: Some(fut.await?),
            })
        }
    })
}

/// What every declaration names.
struct Head<'a> {
    name: &'static str,
    version: u32,
    since: &'a str,
    topic: &'static str,
    access: Access,
    doc: &'static str,
}

fn declare<P, F, Fut>(head: Head<'_>, output: Value, stream: bool, f: F) -> CommandSpec
where
    P: DeserializeOwned + JsonSchema + Send + 'static,
    F: Fn(Ctx, P) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Reply, ApiError>> + Send + 'static,
{
    let full_name = format!("{}/{}", head.name, head.version);
    let handler: Handler = Arc::new(move |ctx, v| {
        match serde_json::from_value::<P>(integral_numbers_as_integers(v)) {
            Ok(p) => Box::pin(f(ctx, p)),
            // Validation ran first, so this means the schema and the type disagree: our bug.
            Err(e) => {
                let cause =
                    format!("{full_name}: the schema accepted parameters the type refuses: {e}");
                Box::pin(async move { Err(ApiError::internal(cause)) })
            }
        }
    });
    CommandSpec {
        name: head.name,
        version: head.version,
        since: level(head.since),
        removed: None,
        doc: head.doc,
        topic: head.topic,
        object: None,
        access: head.access,
        audited: false,
        target: None,
        params: schema_of::<P>(),
        output,
        stream,
        rest: None,
        handler,
    }
}

impl CommandSpec {
    pub fn object(mut self, object: &'static str, method: &'static str) -> Self {
        self.object = Some((object, method));
        self
    }

    pub fn audited(mut self) -> Self {
        self.audited = true;
        self
    }

    /// Names the parameter that names the machine an admin command changes (what
    /// `on_machine` declares for the others), so its audit row names the machine.
    pub fn target(mut self, field: &'static str) -> Self {
        self.target = Some(field);
        self
    }

    /// Serves this command version in the REST view at `verb path`.
    pub fn rest(mut self, verb: Verb, path: &'static str) -> Self {
        self.rest = Some(RestRoute {
            verb,
            path,
            choice: None,
            hidden: &[],
            creates: None,
            may: &[],
        });
        self
    }

    /// On a route several commands share: this one is chosen by `field` = `value` in the
    /// body. Declared after `rest`.
    pub fn rest_choice(mut self, field: &'static str, value: &'static str) -> Self {
        if let Some(r) = &mut self.rest {
            r.choice = Some((field, value));
        }
        self
    }

    /// Parameters the REST view does not offer. Declared after `rest`.
    pub fn rest_hidden(mut self, params: &'static [&'static str]) -> Self {
        if let Some(r) = &mut self.rest {
            r.hidden = params;
        }
        self
    }

    /// A create, answered 201 with `Location: location` filled from the parameters
    /// (`/api/users/{name}`). Declared after `rest`.
    pub fn rest_creates(mut self, location: &'static str) -> Self {
        if let Some(r) = &mut self.rest {
            r.creates = Some(location);
        }
        self
    }

    /// Statuses this command's handler may answer beyond those of its kind of route.
    /// Declared after `rest`.
    pub fn rest_may(mut self, statuses: &'static [u16]) -> Self {
        if let Some(r) = &mut self.rest {
            r.may = statuses;
        }
        self
    }

    pub fn removed(mut self, at: &str) -> Self {
        self.removed = Some(level(at));
        self
    }

    pub fn full_name(&self) -> String {
        format!("{}/{}", self.name, self.version)
    }

    pub fn alive_at(&self, l: ApiLevel) -> bool {
        self.since <= l && self.removed.is_none_or(|r| l < r)
    }

    pub fn def(&self) -> CommandDef {
        CommandDef {
            name: self.name.to_owned(),
            version: self.version,
            full_name: self.full_name(),
            doc: self.doc.trim().to_owned(),
            topic: self.topic.to_owned(),
            object: self.object.map(|(o, _)| o.to_owned()),
            method: self.object.map(|(_, m)| m.to_owned()),
            since: self.since,
            removed: self.removed,
            access: self.access.as_str().to_owned(),
            params: self.params.clone(),
            output: self.output.clone(),
            stream: self.stream,
        }
    }

    pub fn call(&self, ctx: Ctx, params: Value) -> BoxFut {
        (self.handler)(ctx, params)
    }

    /// Top-level parameter names marked sensitive (their values are never echoed).
    pub fn sensitive_params(&self) -> Vec<String> {
        schema::params::params(&self.params)
            .into_iter()
            .filter(|p| p.sensitive)
            .map(|p| p.key)
            .collect()
    }
}

/// A class (object) as the introspection commands describe it: its attributes come from
/// the JSON Schema of the type its `show` command returns.
pub struct ClassSpec {
    pub name: &'static str,
    pub doc: &'static str,
    pub schema: Value,
}

pub fn class<T: JsonSchema>(name: &'static str, doc: &'static str) -> ClassSpec {
    ClassSpec {
        name,
        doc,
        schema: schema_of::<T>(),
    }
}

/// One served command version: its declaration and its compiled parameter validator.
pub struct Entry {
    pub spec: CommandSpec,
    validator: jsonschema::Validator,
    sensitive: Vec<String>,
}

/// The commands alive at one level, with their compiled validators and the document.
pub struct Registry {
    entries: BTreeMap<(String, u32), Entry>,
    /// The document and its JSON, serialized once: what `GET /api/schema` answers.
    published: Arc<Published>,
}

#[derive(Debug, thiserror::Error)]
pub enum LevelError {
    #[error("cannot serve API level {wanted}: this igord serves levels {oldest} to {newest}")]
    OutOfRange {
        wanted: ApiLevel,
        oldest: ApiLevel,
        newest: ApiLevel,
    },
    #[error("the parameter schema of '{0}' does not compile: {1}")]
    BadSchema(String, String),
}

/// The newest level the declarations reach.
pub fn newest_level(specs: &[CommandSpec]) -> ApiLevel {
    specs
        .iter()
        .flat_map(|s| std::iter::once(s.since).chain(s.removed))
        .max()
        .unwrap_or(OLDEST_LEVEL)
}

impl Registry {
    pub fn at_level(
        specs: Vec<CommandSpec>,
        classes: Vec<ClassSpec>,
        topics: &[(&str, &str)],
        level: ApiLevel,
    ) -> Result<Registry, LevelError> {
        let newest = newest_level(&specs);
        if level < OLDEST_LEVEL || level > newest {
            return Err(LevelError::OutOfRange {
                wanted: level,
                oldest: OLDEST_LEVEL,
                newest,
            });
        }
        // Every version alive at some level up to the served one: the REST view runs, for a
        // request naming an older level, the versions of that level.
        let mut entries = BTreeMap::new();
        for spec in specs
            .into_iter()
            .filter(|s| s.since <= level && s.removed.is_none_or(|r| OLDEST_LEVEL < r))
        {
            let validator = jsonschema::validator_for(&spec.params)
                .map_err(|e| LevelError::BadSchema(spec.full_name(), e.to_string()))?;
            let sensitive = spec.sensitive_params();
            entries.insert(
                (spec.name.to_owned(), spec.version),
                Entry {
                    spec,
                    validator,
                    sensitive,
                },
            );
        }
        let defs: Vec<CommandDef> = entries
            .values()
            .filter(|e| e.spec.alive_at(level))
            .map(|e| e.spec.def())
            .collect();
        let used_topics: Vec<Topic> = topics
            .iter()
            .filter(|(name, _)| defs.iter().any(|d| d.topic == *name))
            .map(|(name, doc)| Topic {
                name: (*name).to_owned(),
                doc: (*doc).to_owned(),
            })
            .collect();
        let used_classes: Vec<Class> = classes
            .into_iter()
            .filter(|c| defs.iter().any(|d| d.object.as_deref() == Some(c.name)))
            .map(|c| Class {
                name: c.name.to_owned(),
                doc: c.doc.to_owned(),
                attributes: schema::params::attributes(&c.schema),
            })
            .collect();
        let document = SchemaDocument::new(level, used_topics, used_classes, defs);
        let document_json = serde_json::to_vec(&document).unwrap_or_default();
        Ok(Registry {
            entries,
            published: Arc::new(Published {
                document,
                document_json,
            }),
        })
    }

    pub fn level(&self) -> ApiLevel {
        self.published.level()
    }

    pub fn document(&self) -> &SchemaDocument {
        &self.published.document
    }

    /// What the served level publishes, shared with the command handlers through the state.
    pub fn published(&self) -> Arc<Published> {
        self.published.clone()
    }

    /// The served command version `name/version`; validation goes through the entry, so
    /// there is no way to validate against a command that is not served.
    pub fn get(&self, name: &str, version: u32) -> Option<&Entry> {
        self.get_at(name, version, self.level())
    }

    /// The command version `name/version` as alive at `level` (at most the served level).
    pub fn get_at(&self, name: &str, version: u32, level: ApiLevel) -> Option<&Entry> {
        self.entries
            .get(&(name.to_owned(), version))
            .filter(|e| level <= self.level() && e.spec.alive_at(level))
    }

    /// Every command version alive at some level from `OLDEST_LEVEL` to the served one.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.values()
    }
}

/// The most of a call's parameters an audit record keeps (a bulk call may name thousands of
/// machines; its selector is then cut, and the record says so).
pub const AUDIT_PARAMS_MAX: usize = 4096;

impl Entry {
    /// The call's parameters as the audit records them: JSON with every secret (a parameter
    /// marked sensitive) replaced by `***`, at most `AUDIT_PARAMS_MAX` characters; `None`
    /// for a call without parameters.
    pub fn audit_params(&self, params: &Value) -> Option<Arc<str>> {
        let map = params.as_object().filter(|m| !m.is_empty())?;
        let masked: serde_json::Map<String, Value> = map
            .iter()
            .map(|(k, v)| {
                let v = if self.sensitive.contains(k) {
                    Value::String("***".into())
                } else {
                    v.clone()
                };
                (k.clone(), v)
            })
            .collect();
        let text = Value::Object(masked).to_string();
        if text.chars().count() <= AUDIT_PARAMS_MAX {
            return Some(text.into());
        }
        let mut cut: String = text.chars().take(AUDIT_PARAMS_MAX).collect();
        cut.push_str("...");
        Some(cut.into())
    }

    /// What a parameter the version does not have is told: "is not a parameter; ping/1
    /// takes no parameters" or "...; machine-show/1 takes: name".
    fn unknown_parameter(&self) -> String {
        let names: Vec<&str> = schema::params::properties(&self.spec.params)
            .into_iter()
            .map(|(k, _)| k.as_str())
            .collect();
        let full = self.spec.full_name();
        if names.is_empty() {
            format!("is not a parameter; {full} takes no parameters")
        } else {
            format!("is not a parameter; {full} takes: {}", names.join(", "))
        }
    }

    /// Every violation of `params` against the command's schema, at once, and then, for
    /// string values the schema let through, what every command refuses (`string_problem`):
    /// released versions whose schemas do not bound a string get the same protection as the
    /// newer versions that publish it. Values of sensitive parameters are masked in the
    /// messages, and no message echoes a control character.
    pub fn validate(&self, params: &Value) -> Result<(), ApiError> {
        let entry = self;
        // Unknown parameters are named here: the validator reports them as a nameless
        // "False schema does not allow 1" at the root.
        let known: Vec<&String> = schema::params::properties(&entry.spec.params)
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        let unknown: Vec<Value> = params
            .as_object()
            .into_iter()
            .flat_map(|m| m.keys())
            .filter(|k| !known.contains(k))
            .map(|k| {
                json!({
                    "path": format!("/{}", escape_controls(k)),
                    "message": entry.unknown_parameter(),
                })
            })
            .collect();
        let mut violations: Vec<Value> = entry
            .validator
            .iter_errors(params)
            .filter(|err| {
                unknown.is_empty()
                    || !matches!(
                        err.kind(),
                        jsonschema::error::ValidationErrorKind::FalseSchema
                            | jsonschema::error::ValidationErrorKind::AdditionalProperties { .. }
                    )
            })
            .map(|err| {
                let path = err.instance_path().to_string();
                let top = path.trim_start_matches('/').split('/').next().unwrap_or("");
                let message = match err.kind() {
                    // The default message quotes the whole value, which may be huge.
                    jsonschema::error::ValidationErrorKind::MaxLength { limit } => {
                        format!("is longer than {limit} characters")
                    }
                    _ if entry.sensitive.iter().any(|s| s == top) => err.masked().to_string(),
                    _ => err.to_string(),
                };
                json!({ "path": path, "message": escape_controls(&message) })
            })
            .collect();
        violations.extend(unknown);
        let mut strings = Vec::new();
        string_values(params, String::new(), &mut strings);
        for (path, text) in strings {
            let top = path.trim_start_matches('/').split('/').next().unwrap_or("");
            let secret = entry.sensitive.iter().any(|s| s == top);
            if !secret && let Some(problem) = control_problem(text, FREE_TEXT.contains(&top)) {
                // Says more than the pattern a newer version's schema fails on.
                violations.retain(|v| v["path"] != path.as_str());
                violations.push(json!({ "path": path, "message": problem }));
            } else if let Some(problem) = length_problem(text)
                && !violations.iter().any(|v| v["path"] == path.as_str())
            {
                violations.push(json!({ "path": path, "message": problem }));
            }
        }
        if violations.is_empty() {
            return Ok(());
        }
        let list: Vec<String> = violations
            .iter()
            .map(|v| {
                let path = v["path"].as_str().unwrap_or_default();
                let msg = v["message"].as_str().unwrap_or_default();
                if path.is_empty() {
                    msg.to_owned()
                } else {
                    format!("{}: {msg}", path.trim_start_matches('/'))
                }
            })
            .collect();
        Err(ApiError::InvalidParams {
            message: format!(
                "invalid parameters for '{}': {}",
                CommandName::full(entry.spec.name, entry.spec.version),
                list.join("; ")
            ),
            details: Some(json!({ "violations": violations })),
        })
    }
}

/// `v` with every number that has no fraction (`5.0`) written as an integer. JSON Schema
/// counts `5.0` as an integer, so validation lets it through to an integer parameter, and
/// serde would then refuse it; numbers with a fraction stay as they are.
fn integral_numbers_as_integers(v: Value) -> Value {
    match v {
        Value::Number(n) if !n.is_i64() && !n.is_u64() => {
            let f = n.as_f64().unwrap_or(f64::NAN);
            // Exactly representable integers only: beyond 2^53 an f64 is not one number.
            let exact = f.fract() == 0.0 && f.abs() <= 9_007_199_254_740_992.0;
            if !exact {
                Value::Number(n)
            } else if f < 0.0 {
                Value::from(f as i64)
            } else {
                Value::from(f as u64)
            }
        }
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(integral_numbers_as_integers)
                .collect(),
        ),
        Value::Object(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| (k, integral_numbers_as_integers(v)))
                .collect(),
        ),
        other => other,
    }
}

/// Every string in `v` with its JSON pointer (`/machines/3`).
fn string_values<'a>(v: &'a Value, path: String, out: &mut Vec<(String, &'a str)>) {
    match v {
        Value::String(s) => out.push((path, s)),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                string_values(item, format!("{path}/{i}"), out);
            }
        }
        Value::Object(m) => {
            for (k, item) in m {
                string_values(item, format!("{path}/{k}"), out);
            }
        }
        _ => {}
    }
}

/// What is wrong with a string parameter whatever its command: longer than
/// `MAX_STRING_CHARS`, or holding a control character (NUL, escape, carriage return...,
/// which would reach terminals through every listing; PostgreSQL cannot store NUL at all).
/// Free text may hold tabs and newlines. Secrets are only bounded in length: they are never
/// shown, and a message about one must not describe it.
pub fn string_problem(s: &str, free_text: bool, secret: bool) -> Option<String> {
    (!secret)
        .then(|| control_problem(s, free_text))
        .flatten()
        .or_else(|| length_problem(s))
}

fn length_problem(s: &str) -> Option<String> {
    if s.len() <= MAX_STRING_CHARS {
        return None;
    }
    let n = s.chars().count();
    (n > MAX_STRING_CHARS)
        .then(|| format!("is {n} characters long; at most {MAX_STRING_CHARS} are allowed"))
}

fn control_problem(s: &str, free_text: bool) -> Option<String> {
    let c = s
        .chars()
        .find(|c| c.is_control() && !(free_text && matches!(c, '\t' | '\n')))?;
    let what = if free_text {
        "only tabs and newlines are allowed"
    } else {
        "control characters are not allowed"
    };
    Some(format!(
        "contains the control character {}; {what}",
        escape_controls(&c.to_string())
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every command version that acts on one machine declares which parameter names it:
    /// per-machine access comes with `on_machine`, and every audited single-machine call
    /// (admin commands on the machine object and permissions included) names its target,
    /// which is a parameter of its schema.
    #[test]
    fn machine_commands_declare_their_target() {
        let mut wrong = vec![];
        for spec in crate::commands::all() {
            let props = &spec.params["properties"];
            let names_one = ["machine", "name"]
                .into_iter()
                .find(|k| props.get(*k).is_some_and(|p| p["type"] == "string"));
            let expected = match (spec.access.is_per_machine(), spec.stream, spec.object) {
                // Bulk versions resolve their own machine set; their rows name each machine.
                (_, true, _) => None,
                (true, false, _) => names_one,
                (false, false, Some(("machine" | "permission", _))) if spec.audited => names_one,
                _ => None,
            };
            if spec.target != expected {
                wrong.push(format!(
                    "{}: target {:?}, expected {expected:?}",
                    spec.full_name(),
                    spec.target
                ));
            }
            if let Some(t) = spec.target
                && props.get(t).is_none()
            {
                wrong.push(format!(
                    "{}: target '{t}' is not a parameter",
                    spec.full_name()
                ));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn string_problems() {
        let long = "x".repeat(MAX_STRING_CHARS + 1);
        let at_cap = "\u{e9}".repeat(MAX_STRING_CHARS);
        let check = |s: &str, free_text: bool, secret: bool, want: Option<&str>| {
            assert_eq!(
                string_problem(s, free_text, secret).as_deref(),
                want,
                "{s:?} free_text={free_text} secret={secret}"
            );
        };
        check("node01", false, false, None);
        check("", false, false, None);
        check(&at_cap, false, false, None);
        check(
            &long,
            false,
            false,
            Some("is 4097 characters long; at most 4096 are allowed"),
        );
        let long_and_escaped = format!("{long}\u{1b}");
        check(
            &long_and_escaped,
            false,
            false,
            Some("contains the control character \\x1b; control characters are not allowed"),
        );
        check(
            &long,
            false,
            true,
            Some("is 4097 characters long; at most 4096 are allowed"),
        );
        check(
            "a\u{1b}[2Jb",
            false,
            false,
            Some("contains the control character \\x1b; control characters are not allowed"),
        );
        check(
            "a\0b",
            false,
            false,
            Some("contains the control character \\x00; control characters are not allowed"),
        );
        check(
            "tab\there",
            false,
            false,
            Some("contains the control character \\x09; control characters are not allowed"),
        );
        check("line\none\ttab", true, false, None);
        check(
            "cr\rhere",
            true,
            false,
            Some("contains the control character \\x0d; only tabs and newlines are allowed"),
        );
        check(
            "c1\u{9b}31m",
            true,
            false,
            Some("contains the control character \\x9b; only tabs and newlines are allowed"),
        );
        check(
            "del\u{7f}",
            false,
            false,
            Some("contains the control character \\x7f; control characters are not allowed"),
        );
        check("p\u{1b}ss\0word", false, true, None);
        check("caf\u{e9} \u{2603}", false, false, None);
    }
}
