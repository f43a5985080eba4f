//! The REST view: users, machines, permissions and IPMI operations as resources. Nothing
//! here names a command: routes come from the declarations (`CommandSpec::rest`), one
//! generic handler maps path, query and body onto a command version's parameters and calls
//! it through `http::dispatch`, the path every RPC call takes (same admin check, validation,
//! access check, work budget and audit), and `openapi` describes each served level from the
//! same declarations. RPC, the schema document and this view are three views of one
//! declaration.
//!
//! Versions, as Ironic does it, with FreeIPA's default: a request without `Igor-Api-Level`
//! runs version 1 of its command, so a REST client keeps its meaning for ever; with
//! `Igor-Api-Level: X.Y` it runs the highest version of its command alive at X.Y. A level
//! igord does not serve is 406. Where that version is a bulk one (a machine set, streamed),
//! the route acts on the one machine of its path and answers that machine's result or error.

use std::collections::BTreeMap;

use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse, web};
use schema::{ApiLevel, ErrorCode, HEADER_API_LEVEL};
use serde_json::{Map, Value, json};

use crate::access::{self, Access, Who};
use crate::error::ApiError;
use crate::http;
use crate::registry::{Entry, OLDEST_LEVEL, Registry, Reply, RestRoute, Verb};
use crate::state::AppState;

/// Response headers (on every response): the range of levels a request may name.
pub const HEADER_MIN_LEVEL: &str = "Igor-Api-Minimum-Level";
pub const HEADER_MAX_LEVEL: &str = "Igor-Api-Maximum-Level";

/// Which version of each command a request runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pick {
    /// No `Igor-Api-Level` header: version 1.
    First,
    /// The highest version alive at this level.
    Level(ApiLevel),
}

impl Pick {
    fn describe(self) -> String {
        match self {
            Pick::First => "version 1 of the commands (no Igor-Api-Level header)".to_owned(),
            Pick::Level(l) => format!("API level {l}"),
        }
    }
}

/// The level a request names in `Igor-Api-Level`, if it is one igord serves.
pub fn requested(req: &HttpRequest, served: ApiLevel) -> Result<Pick, ApiError> {
    let Some(value) = req.headers().get(HEADER_API_LEVEL) else {
        return Ok(Pick::First);
    };
    let text = value.to_str().unwrap_or("").trim();
    served_level(text, served).map(Pick::Level)
}

/// `text` as a level from `OLDEST_LEVEL` to `served`, else 406 naming the range.
fn served_level(text: &str, served: ApiLevel) -> Result<ApiLevel, ApiError> {
    match text.parse::<ApiLevel>() {
        Ok(l) if (OLDEST_LEVEL..=served).contains(&l) => Ok(l),
        _ => Err(ApiError::UnsupportedLevel {
            message: format!(
                "API level '{}' is not served: this igord serves levels {OLDEST_LEVEL} to {served}",
                crate::error::escape_controls(text)
            ),
            details: Some(json!({
                "minimum": OLDEST_LEVEL.to_string(),
                "maximum": served.to_string(),
            })),
        }),
    }
}

/// One command on a route, at the version a pick runs.
pub struct Member<'a> {
    pub entry: &'a Entry,
    pub route: &'a RestRoute,
}

/// One operation of the view: a verb on a path, and the command(s) behind it.
pub struct Op<'a> {
    pub verb: Verb,
    pub path: &'static str,
    /// Several only where a body field chooses among them (`action`).
    pub members: Vec<Member<'a>>,
}

/// Orders paths so that a literal segment is tried before a variable at the same place
/// (`.../sel/info` before `.../sel/{id}`); actix matches in registration order.
fn path_key(path: &str) -> Vec<(bool, &str)> {
    path.split('/').map(|s| (s.starts_with('{'), s)).collect()
}

/// Every path of the view with its verbs: the routes of every command version igord holds
/// (alive at some level it serves), so that a request naming an older level finds them.
pub fn routes(registry: &Registry) -> Vec<(&'static str, Vec<Verb>)> {
    let mut by_path: BTreeMap<&'static str, Vec<Verb>> = BTreeMap::new();
    for e in registry.entries() {
        if let Some(r) = &e.spec.rest {
            let verbs = by_path.entry(r.path).or_default();
            if !verbs.contains(&r.verb) {
                verbs.push(r.verb);
            }
        }
    }
    let mut out: Vec<(&'static str, Vec<Verb>)> = by_path
        .into_iter()
        .map(|(p, mut v)| {
            v.sort();
            (p, v)
        })
        .collect();
    out.sort_by(|a, b| path_key(a.0).cmp(&path_key(b.0)));
    out
}

/// The operations a pick runs, in path order: per route, per command, the chosen version.
pub fn view(registry: &Registry, pick: Pick) -> Vec<Op<'_>> {
    // (path key, verb) -> command name -> the chosen version.
    type Key<'p> = (Vec<(bool, &'p str)>, Verb, &'static str);
    let mut chosen: BTreeMap<Key<'_>, BTreeMap<&str, &Entry>> = BTreeMap::new();
    for e in registry.entries() {
        let Some(r) = &e.spec.rest else { continue };
        let alive = match pick {
            Pick::First => e.spec.version == 1 && e.spec.alive_at(registry.level()),
            Pick::Level(l) => l <= registry.level() && e.spec.alive_at(l),
        };
        if !alive {
            continue;
        }
        let slot = chosen
            .entry((path_key(r.path), r.verb, r.path))
            .or_default();
        match slot.get(e.spec.name) {
            Some(have) if have.spec.version >= e.spec.version => {}
            _ => {
                slot.insert(e.spec.name, e);
            }
        }
    }
    chosen
        .into_iter()
        .map(|((_, verb, path), members)| Op {
            verb,
            path,
            members: members
                .into_values()
                .filter_map(|entry| {
                    entry
                        .spec
                        .rest
                        .as_ref()
                        .map(|route| Member { entry, route })
                })
                .collect(),
        })
        .collect()
}

fn verb_of(m: &Method) -> Option<Verb> {
    match *m {
        Method::GET => Some(Verb::Get),
        Method::POST => Some(Verb::Post),
        Method::PUT => Some(Verb::Put),
        Method::DELETE => Some(Verb::Delete),
        _ => None,
    }
}

/// The names a path variable `{x}` may fill: `x`, or the list `xs`.
fn plural(var: &str) -> String {
    format!("{var}s")
}

/// The variables of a path template, in order.
pub fn path_vars(path: &str) -> Vec<&str> {
    path.split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .collect()
}

/// Where a path variable goes in a command version's parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fill {
    /// The parameter of the same name.
    Same,
    /// The list parameter of the plural name, holding the one value.
    List,
}

pub fn fill_of(params: &Value, var: &str) -> Option<Fill> {
    let props = &params["properties"];
    if props.get(var).is_some() {
        Some(Fill::Same)
    } else if props
        .get(plural(var))
        .is_some_and(|p| types(p).contains(&"array"))
    {
        Some(Fill::List)
    } else {
        None
    }
}

/// The JSON types a (sub)schema names in `type`.
fn types(schema: &Value) -> Vec<&str> {
    match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    }
}

/// A path segment or query value as the JSON value its parameter's schema asks for; what
/// does not read as that type stays a string, for validation to refuse by name.
fn from_text(text: &str, schema: &Value) -> Value {
    let ts = types(schema);
    if ts.contains(&"integer") {
        if let Ok(i) = text.parse::<i64>() {
            return Value::from(i);
        }
        if let Ok(u) = text.parse::<u64>() {
            return Value::from(u);
        }
    }
    if ts.contains(&"number")
        && let Some(n) = text
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
    {
        return Value::Number(n);
    }
    if ts.contains(&"boolean") {
        match text {
            "true" => return Value::Bool(true),
            "false" => return Value::Bool(false),
            _ => {}
        }
    }
    Value::String(text.to_owned())
}

/// The most values one query parameter may repeat, and the most characters one value may
/// hold: a URI must stay under 64 KiB (every character may be 12 bytes percent-encoded),
/// so the REST view's query carries less than the parameter schemas allow; larger calls go
/// through POST /api/rpc. Published in the OpenAPI document and enforced here.
pub const QUERY_MAX_VALUES: usize = 16;
pub const QUERY_MAX_CHARS: usize = 128;

fn not_offered(key: &str, why: &str) -> ApiError {
    let key = crate::error::escape_controls(key);
    ApiError::InvalidParams {
        message: format!("invalid parameters: {key}: {why}"),
        details: Some(json!({ "violations": [{ "path": format!("/{key}"), "message": why }] })),
    }
}

/// A command version's parameters from a REST request: the path's variables, then the
/// query (GET, DELETE) or the JSON body (POST, PUT). A parameter the path gives may not be
/// given again, and one the route hides may not be given at all.
fn params_of(
    m: &Member<'_>,
    path: &[(String, String)],
    query: Vec<(String, String)>,
    body: Map<String, Value>,
) -> Result<Map<String, Value>, ApiError> {
    let schema = &m.entry.spec.params;
    let props = &schema["properties"];
    let mut params = Map::new();
    let mut taken: Vec<String> = vec![];
    for (var, text) in path {
        match fill_of(schema, var) {
            Some(Fill::Same) => {
                params.insert(var.clone(), from_text(text, &props[var.as_str()]));
            }
            Some(Fill::List) => {
                let key = plural(var);
                let item = from_text(text, &props[key.as_str()]["items"]);
                params.insert(key.clone(), Value::Array(vec![item]));
                taken.push(key);
            }
            None => {
                return Err(ApiError::internal(format!(
                    "{}: the path variable '{var}' of {} is not a parameter",
                    m.entry.spec.full_name(),
                    m.route.path
                )));
            }
        }
        taken.push(var.clone());
    }
    let check = |key: &str| -> Result<(), ApiError> {
        if taken.iter().any(|t| t == key) {
            return Err(not_offered(key, "is given by the path"));
        }
        if m.route.hidden.contains(&key) {
            return Err(not_offered(
                key,
                "is not offered by the REST view (POST /api/rpc has it)",
            ));
        }
        Ok(())
    };
    for (k, v) in body {
        check(&k)?;
        params.insert(k, v);
    }
    let mut grouped: Vec<(String, Vec<String>)> = vec![];
    for (k, v) in query {
        match grouped.iter_mut().find(|(g, _)| *g == k) {
            Some((_, vs)) => vs.push(v),
            None => grouped.push((k, vec![v])),
        }
    }
    for (k, mut vs) in grouped {
        check(&k)?;
        if vs.len() > QUERY_MAX_VALUES {
            return Err(not_offered(
                &k,
                &format!(
                    "is given {} times; the query takes at most {QUERY_MAX_VALUES} (POST /api/rpc takes more)",
                    vs.len()
                ),
            ));
        }
        if vs.iter().any(|v| v.chars().count() > QUERY_MAX_CHARS) {
            return Err(not_offered(
                &k,
                &format!(
                    "is longer than {QUERY_MAX_CHARS} characters, the most the query takes (POST /api/rpc takes more)"
                ),
            ));
        }
        let prop = &props[k.as_str()];
        let value = if types(prop).contains(&"array") {
            Value::Array(vs.iter().map(|v| from_text(v, &prop["items"])).collect())
        } else if vs.len() == 1 {
            from_text(&vs.remove(0), prop)
        } else {
            Value::Array(vs.into_iter().map(Value::String).collect())
        };
        params.insert(k, value);
    }
    Ok(params)
}

/// Whether a path value could select more than one machine (a glob or a hostrange), or a
/// machine under another name (spaces are trimmed from selectors): a REST resource is one
/// machine, so a bulk version never sees such a value.
fn is_selector(name: &str) -> bool {
    name.is_empty() || name.trim() != name || name.contains(['*', '?', '[', ']', ','])
}

/// The one REST handler.
pub async fn handle(
    state: web::Data<std::sync::Arc<AppState>>,
    registry: web::Data<Registry>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let pick = requested(&req, registry.level())?;
    let pattern = req.match_pattern().unwrap_or_default();
    let verb = verb_of(req.method()).ok_or_else(|| {
        ApiError::MethodNotAllowed(format!("{} is not allowed on {}", req.method(), pattern))
    })?;
    let (caller, token_hash) = http::authenticate(&state, &req).await?;
    http::charge(&state, &caller)?;
    let mut body = Map::new();
    if verb.has_body() {
        let bytes = http::read_body(&req, payload).await?;
        if !bytes.iter().all(u8::is_ascii_whitespace) {
            match http::parse_json::<Value>(&bytes)? {
                Value::Object(m) => body = m,
                _ => {
                    return Err(ApiError::BadRequest(
                        "the request body must be a JSON object".into(),
                    ));
                }
            }
        }
    }
    let query: Vec<(String, String)> = url::form_urlencoded::parse(req.query_string().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if verb.has_body() && !query.is_empty() {
        return Err(ApiError::BadRequest(format!(
            "{} {pattern} takes its parameters in the JSON body, not the query",
            verb.as_str()
        )));
    }
    let ops = view(&registry, pick);
    let Some(op) = ops.iter().find(|o| o.verb == verb && o.path == pattern) else {
        let allow = allowed(&ops, &pattern);
        if !allow.is_empty() {
            return Ok(http::method_refused(&req, &allow));
        }
        return Err(ApiError::NotFound(format!(
            "{} {pattern} is not part of {}",
            verb.as_str(),
            pick.describe()
        )));
    };
    let member = choose(op, &mut body)?;
    let path: Vec<(String, String)> = req
        .match_info()
        .iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let params = params_of(member, &path, query, body)?;
    let spec = &member.entry.spec;
    // A bulk version gets the path's one machine as a set of one; a value that would
    // select others is refused as the machine it names would be: by the one access rule.
    if spec.stream
        && let Some((_, name)) = path.iter().find(|(k, _)| k == "machine")
        && is_selector(name)
    {
        let who = Who {
            admin: caller.is_admin(),
        };
        let need = if spec.access == Access::Admin {
            Access::Operator
        } else {
            spec.access
        };
        access::on_machine(who, name, None, need)?;
    }
    let location = member
        .route
        .creates
        .map(|template| fill_location(template, &params));
    let wrapped_list = path
        .iter()
        .any(|(k, _)| fill_of(&spec.params, k) == Some(Fill::List));
    let reply = http::dispatch(
        &state,
        &req,
        caller,
        token_hash,
        member.entry,
        Value::Object(params),
        "rest",
    )
    .await?;
    let result = one_resource(reply, spec.stream, wrapped_list).await?;
    Ok(match (verb, location) {
        (_, Some(location)) => HttpResponse::Created()
            .insert_header((actix_web::http::header::LOCATION, location))
            .json(result),
        (Verb::Delete, None) => HttpResponse::NoContent().finish(),
        _ => HttpResponse::Ok().json(result),
    })
}

/// The methods a path has in a view, for `Allow`: empty when the path is not part of it.
fn allowed(ops: &[Op<'_>], path: &str) -> String {
    let verbs: Vec<&str> = ops
        .iter()
        .filter(|o| o.path == path)
        .map(|o| o.verb.as_str())
        .collect();
    verbs.join(", ")
}

/// A method a REST path does not have: 405 with the methods it has at the level the
/// request names, or 404 when the path is not part of that level.
pub async fn refuse_method(
    registry: web::Data<Registry>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let pick = requested(&req, registry.level())?;
    let pattern = req.match_pattern().unwrap_or_default();
    let allow = allowed(&view(&registry, pick), &pattern);
    if allow.is_empty() {
        return Err(ApiError::NotFound(format!(
            "{pattern} is not part of {}",
            pick.describe()
        )));
    }
    Ok(http::method_refused(&req, &allow))
}

/// The command of a route: the only one, or the one the body's choice field names.
fn choose<'a, 'b>(
    op: &'b Op<'a>,
    body: &mut Map<String, Value>,
) -> Result<&'b Member<'a>, ApiError> {
    let Some(field) = op
        .members
        .iter()
        .find_map(|m| m.route.choice.map(|(f, _)| f))
    else {
        return op
            .members
            .first()
            .ok_or_else(|| ApiError::internal("a REST operation without a command"));
    };
    let values: Vec<&str> = op
        .members
        .iter()
        .filter_map(|m| m.route.choice.map(|(_, v)| v))
        .collect();
    let given = body.remove(field);
    let found = given.as_ref().and_then(Value::as_str).and_then(|g| {
        op.members
            .iter()
            .find(|m| m.route.choice.map(|(_, v)| v) == Some(g))
    });
    found.ok_or_else(|| {
        let why = format!("must be one of: {}", values.join(", "));
        not_offered(field, &why)
    })
}

/// `/api/users/{name}` with the parameters' values, each a percent-encoded path segment.
fn fill_location(template: &str, params: &Map<String, Value>) -> String {
    template
        .split('/')
        .map(
            |seg| match seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(var) => {
                    let value = match params.get(var) {
                        Some(Value::String(s)) => s.clone(),
                        Some(other) => other.to_string(),
                        None => String::new(),
                    };
                    encode_segment(&value)
                }
                None => seg.to_owned(),
            },
        )
        .collect::<Vec<_>>()
        .join("/")
}

fn encode_segment(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The answer of one resource: the result; for a bulk version the one machine's result
/// (or its error); for a version taking a list where the path named one value (a SEL
/// record), that value's entry, whose `outcome` may be an error code. A streamed list of
/// records (`audit-find/4`) is collected into an array. Streams are read to their end, so
/// the call's audit rows are written before the answer, as for RPC.
async fn one_resource(reply: Reply, stream: bool, wrapped_list: bool) -> Result<Value, ApiError> {
    let Some(mut s) = reply.stream else {
        if wrapped_list && let Value::Array(mut items) = reply.result {
            if items.len() != 1 {
                return Err(ApiError::internal(format!(
                    "a list answer of {} entries for one value",
                    items.len()
                )));
            }
            let item = items.remove(0);
            if let Some(code) = item["outcome"]
                .as_str()
                .and_then(|c| c.parse::<ErrorCode>().ok())
            {
                let message = item["message"].as_str().unwrap_or(code.doc()).to_owned();
                return Err(error_of(code, message));
            }
            return Ok(item);
        }
        return Ok(reply.result);
    };
    let mut items = vec![];
    while let Some(item) = s.items.recv().await {
        items.push(item);
    }
    if s.records.is_some() || !stream {
        return Ok(Value::Array(items));
    }
    if items.len() != 1 {
        return Err(ApiError::internal(format!(
            "a bulk answer of {} machines for one",
            items.len()
        )));
    }
    let mut item = items.remove(0);
    if item["ok"] == Value::Bool(true) {
        return Ok(item["result"].take());
    }
    let code = item["error"]["code"]
        .as_str()
        .and_then(|c| c.parse::<ErrorCode>().ok())
        .unwrap_or(ErrorCode::Internal);
    let message = item["error"]["message"].as_str().unwrap_or("").to_owned();
    Err(error_of(code, message))
}

/// The whole-call error for a code a machine or a record failed with.
fn error_of(code: ErrorCode, message: String) -> ApiError {
    match code {
        ErrorCode::BadRequest => ApiError::BadRequest(message),
        ErrorCode::InvalidParams => ApiError::InvalidParams {
            message,
            details: None,
        },
        ErrorCode::Forbidden => ApiError::Forbidden(message),
        ErrorCode::NotFound => ApiError::NotFound(message),
        ErrorCode::Conflict => ApiError::Conflict(message),
        ErrorCode::BmcTimeout => ApiError::BmcTimeout(message),
        ErrorCode::RateLimited => ApiError::RateLimited {
            message,
            retry_after_secs: 1,
        },
        ErrorCode::Busy => ApiError::Busy(message),
        ErrorCode::BmcCompletionCode
        | ErrorCode::BmcAuthFailed
        | ErrorCode::BmcUnreachable
        | ErrorCode::BmcProtocolError => ApiError::Bmc {
            code,
            message,
            details: None,
        },
        other => ApiError::internal(format!("an item failed with {other}: {message}")),
    }
}

/// `GET /api/openapi.json[?level=X.Y]`: the OpenAPI document of a served level (the
/// server's own without `level`), keys sorted.
pub async fn openapi_doc(
    registry: web::Data<Registry>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let served = registry.level();
    let mut level = served;
    for (k, v) in url::form_urlencoded::parse(req.query_string().as_bytes()) {
        if k == "level" {
            level = served_level(&v, served)?;
        } else {
            return Err(ApiError::BadRequest(format!(
                "unknown query parameter '{}': only 'level' is",
                crate::error::escape_controls(&k)
            )));
        }
    }
    let doc = openapi(&registry, level);
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(schema::canonical_json(&doc)))
}

/// The statuses an operation may answer with besides its success: every route may refuse a
/// malformed request (400), a missing token (401), an unserved level (406) and a spent work
/// budget (429); a body may be too slow (408) or too large (413); an admin command refuses
/// other users (403); a command on a machine refuses a user without the role (403) and
/// tells admins a machine does not exist (404); a command reaching a BMC reports what it
/// lacks (409), its failures (502) and its silence (504); and whatever the declaration adds
/// (`rest_may`).
pub fn statuses(m: &Member<'_>) -> Vec<u16> {
    let spec = &m.entry.spec;
    let mut s = vec![400, 401, 406, 429];
    if m.route.verb.has_body() {
        s.extend([408, 413]);
    }
    if spec.access != Access::User {
        s.push(403);
    }
    if spec.access.is_per_machine() {
        s.push(404);
    }
    if BMC_TOPICS.contains(&spec.topic) {
        // 409: the machine's BMC lacks the capability (a Redfish BMC without IPMI's).
        s.extend([409, 502, 504]);
    }
    s.extend(m.route.may);
    s.sort();
    s.dedup();
    s
}

/// The topics whose commands call a BMC.
const BMC_TOPICS: &[&str] = &["power", "chassis", "bmc", "sel", "sensor", "inventory"];

/// Schemas of one command version moved into `components/schemas`: its `$defs` become
/// `NAME.VERSION.in.DEF` (parameters) or `.out.DEF` (output), and references follow.
struct Schemas<'c> {
    components: &'c mut Map<String, Value>,
}

impl Schemas<'_> {
    /// Registers the `$defs` of `schema` under `prefix` and returns `schema` without them.
    fn take(&mut self, schema: &Value, prefix: &str) -> Value {
        let mut s = schema.clone();
        if let Value::Object(m) = &mut s {
            m.remove("$schema");
            if let Some(Value::Object(defs)) = m.remove("$defs") {
                for (name, def) in defs {
                    self.components
                        .insert(format!("{prefix}.{name}"), refs(def, prefix));
                }
            }
        }
        refs(s, prefix)
    }
}

/// `schema` with every `#/$defs/X` reference made `#/components/schemas/PREFIX.X`.
fn refs(schema: Value, prefix: &str) -> Value {
    match schema {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| {
                    let v = match (k.as_str(), v) {
                        ("$ref", Value::String(r)) => match r.strip_prefix("#/$defs/") {
                            Some(name) => {
                                Value::String(format!("#/components/schemas/{prefix}.{name}"))
                            }
                            None => Value::String(r),
                        },
                        (_, v) => refs(v, prefix),
                    };
                    (k, v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(|v| refs(v, prefix)).collect()),
        other => other,
    }
}

/// A query parameter's schema with the query's own bounds (`QUERY_MAX_VALUES`,
/// `QUERY_MAX_CHARS`) where they are tighter than the parameter's.
fn query_bounded(mut schema: Value) -> Value {
    fn cap(schema: &mut Value, key: &str, limit: usize) {
        let current = schema[key].as_u64().and_then(|n| usize::try_from(n).ok());
        if current.is_none_or(|c| c > limit) {
            schema[key] = json!(limit);
        }
    }
    let ts: Vec<String> = types(&schema).into_iter().map(str::to_owned).collect();
    if ts.iter().any(|t| t == "array") {
        cap(&mut schema, "maxItems", QUERY_MAX_VALUES);
        if types(&schema["items"]).contains(&"string") {
            cap(&mut schema["items"], "maxLength", QUERY_MAX_CHARS);
        }
    } else if ts.iter().any(|t| t == "string") {
        cap(&mut schema, "maxLength", QUERY_MAX_CHARS);
    }
    schema
}

/// A parameter's schema where JSON null cannot be written (a path or a query): without the
/// null alternative, since leaving the parameter out is its null.
fn without_null(mut schema: Value) -> Value {
    if let Some(Value::Array(ts)) = schema.get_mut("type") {
        ts.retain(|t| t != "null");
        if ts.len() == 1 {
            let t = ts.remove(0);
            schema["type"] = t;
        }
    }
    if let Some(Value::Array(alts)) = schema.get_mut("anyOf") {
        alts.retain(|a| a.get("type") != Some(&Value::String("null".into())));
    }
    schema
}

fn first_line(doc: &str) -> &str {
    doc.trim().lines().next().unwrap_or("")
}

/// What the chosen version answers as a resource: its output, a bulk item's `result`, the
/// entry of a list answer, or a streamed list of records as an array.
fn resource_schema(m: &Member<'_>, schemas: &mut Schemas<'_>) -> Value {
    let spec = &m.entry.spec;
    let prefix = format!("{}.{}.out", spec.name, spec.version);
    let out = schemas.take(&spec.output, &prefix);
    let wrapped = path_vars(m.route.path)
        .iter()
        .any(|v| fill_of(&spec.params, v) == Some(Fill::List));
    if spec.stream {
        // One machine's outcome (`BulkItem`): its `result`, never null when answered.
        let bulk = out["properties"]["ok"].is_object();
        if !bulk {
            return json!({ "type": "array", "items": out });
        }
        let result = &out["properties"]["result"];
        return match result["anyOf"].as_array() {
            Some(alts) => alts
                .iter()
                .find(|a| a.get("type") != Some(&json!("null")))
                .cloned()
                .unwrap_or(Value::Bool(true)),
            None => {
                let mut r = without_null(result.clone());
                if let Some(m) = r.as_object_mut() {
                    m.remove("description");
                }
                r
            }
        };
    }
    if wrapped {
        return out["items"].clone();
    }
    out
}

/// The OpenAPI 3.1 document of `level` (at most the served level): every operation the
/// REST view runs for a request carrying `Igor-Api-Level: LEVEL`, with the parameter and
/// output schemas of the command versions behind it.
pub fn openapi(registry: &Registry, level: ApiLevel) -> Value {
    let mut components = Map::new();
    let mut paths: Map<String, Value> = Map::new();
    for op in view(registry, Pick::Level(level)) {
        let mut schemas = Schemas {
            components: &mut components,
        };
        let operation = operation(&op, &mut schemas);
        let item = paths.entry(op.path.to_owned()).or_insert_with(|| json!({}));
        item[op.verb.as_str().to_lowercase()] = operation;
    }
    components.insert(
        "Error".into(),
        json!({
            "type": "object",
            "description": "Every error: the same envelope and codes as POST /api/rpc.",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {
                        "code": {
                            "type": "string",
                            "description": "Stable snake_case code (README lists them); a client treats a code it does not know by its status."
                        },
                        "message": { "type": "string" },
                        "details": { "description": "More about the error: the violations of invalid_params, the served range of unsupported_level, the completion code of bmc_completion_code." }
                    }
                }
            }
        }),
    );
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "igord REST view",
            "version": level.to_string(),
            "description": format!(
                "Users, machines, permissions and IPMI operations as resources, derived from the same command declarations as POST /api/rpc and GET /api/schema.\n\n\
                 This document describes API level {level}: what a request carrying the header `Igor-Api-Level: {level}` runs, the highest version of each command alive at {level}. \
                 A request without the header runs version 1 of each command, whatever the server's level, so a client written today keeps its meaning. \
                 A level the server does not serve is answered 406 (`unsupported_level`); every response carries `Igor-Api-Minimum-Level` and `Igor-Api-Maximum-Level`.\n\n\
                 Where the version run is a bulk one (a set of machines, streamed over RPC), the route acts on the one machine of its path and answers that machine's result, or its error with the error's status. \
                 Creates answer 201 with `Location`, deletes 204; errors are `{{\"error\": {{\"code\", \"message\", \"details\"}}}}` as over RPC.\n\n\
                 operationId is the full name of the command version an operation runs; where a body field chooses among several commands (`action` on POST /api/machines/{{machine}}/power), it is their full names in name order joined by `+`, and `x-igor-commands` maps each value of the field to its command."
            ),
        },
        "security": [{ "bearer": [] }],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The token POST /api/login answers."
                }
            },
            "schemas": components,
        },
    })
}

fn operation(op: &Op<'_>, schemas: &mut Schemas<'_>) -> Value {
    let vars = path_vars(op.path);
    let mut o = Map::new();
    let names: Vec<String> = op
        .members
        .iter()
        .map(|m| m.entry.spec.full_name())
        .collect();
    o.insert("operationId".into(), Value::String(names.join("+")));
    let first = op.members.first().map(|m| &m.entry.spec);
    if let Some(spec) = first {
        o.insert("tags".into(), json!([spec.topic]));
    }
    let choice = op.members.iter().find_map(|m| m.route.choice);
    let summary = match (choice, first) {
        (Some((field, _)), _) => {
            let words: Vec<String> = op
                .members
                .iter()
                .filter_map(|m| {
                    m.route
                        .choice
                        .map(|(_, v)| format!("`{v}`: {}", first_line(m.entry.spec.doc)))
                })
                .collect();
            o.insert(
                "x-igor-commands".into(),
                Value::Object(
                    op.members
                        .iter()
                        .filter_map(|m| {
                            m.route
                                .choice
                                .map(|(_, v)| (v.to_owned(), json!(m.entry.spec.full_name())))
                        })
                        .collect(),
                ),
            );
            o.insert(
                "description".into(),
                Value::String(format!("By `{field}`:\n\n- {}", words.join("\n- "))),
            );
            format!("One of {} commands, chosen by `{field}`", op.members.len())
        }
        (None, Some(spec)) => {
            o.insert(
                "description".into(),
                Value::String(format!(
                    "{}\n\nRuns `{}`.",
                    spec.doc.trim(),
                    spec.full_name()
                )),
            );
            first_line(spec.doc).to_owned()
        }
        (None, None) => String::new(),
    };
    o.insert("summary".into(), Value::String(summary));

    // Parameters: the path's variables (from the first command; every command of a route
    // fills them the same way), then the query of a GET or DELETE.
    let mut parameters = vec![];
    if let Some(m) = op.members.first() {
        let spec = &m.entry.spec;
        let prefix = format!("{}.{}.in", spec.name, spec.version);
        let params = schemas.take(&spec.params, &prefix);
        for var in &vars {
            let schema = match fill_of(&spec.params, var) {
                Some(Fill::List) => params["properties"][plural(var)]["items"].clone(),
                _ => params["properties"][*var].clone(),
            };
            let mut schema = without_null(schema);
            let description = schema
                .as_object_mut()
                .and_then(|s| s.remove("description"))
                .unwrap_or(Value::Null);
            let mut p = json!({ "name": var, "in": "path", "required": true, "schema": schema });
            if !description.is_null() {
                p["description"] = description;
            }
            parameters.push(p);
        }
        if !op.verb.has_body() {
            let required: Vec<&str> = params["required"]
                .as_array()
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if let Some(props) = params["properties"].as_object() {
                for (k, prop) in props {
                    if taken_by_path(&spec.params, &vars, k) || m.route.hidden.contains(&k.as_str())
                    {
                        continue;
                    }
                    let mut schema = query_bounded(without_null(prop.clone()));
                    let description = schema
                        .as_object_mut()
                        .and_then(|s| s.remove("description"))
                        .unwrap_or(Value::Null);
                    let mut p = json!({
                        "name": k,
                        "in": "query",
                        "required": required.contains(&k.as_str()),
                        "schema": schema,
                    });
                    if !description.is_null() {
                        p["description"] = description;
                    }
                    if types(prop).contains(&"array") {
                        p["style"] = json!("form");
                        p["explode"] = json!(true);
                    }
                    parameters.push(p);
                }
            }
        }
    }
    if !parameters.is_empty() {
        o.insert("parameters".into(), Value::Array(parameters));
    }

    if op.verb.has_body() {
        let mut variants = vec![];
        let mut any_required = choice.is_some();
        for m in &op.members {
            let spec = &m.entry.spec;
            let prefix = format!("{}.{}.in", spec.name, spec.version);
            let params = schemas.take(&spec.params, &prefix);
            let mut props = Map::new();
            if let Some(all) = params["properties"].as_object() {
                for (k, prop) in all {
                    if !taken_by_path(&spec.params, &vars, k)
                        && !m.route.hidden.contains(&k.as_str())
                    {
                        props.insert(k.clone(), prop.clone());
                    }
                }
            }
            let mut required: Vec<Value> = params["required"]
                .as_array()
                .map(|r| {
                    r.iter()
                        .filter(|k| k.as_str().is_some_and(|k| props.contains_key(k)))
                        .cloned()
                        .collect()
                })
                .unwrap_or_default();
            if let Some((field, value)) = m.route.choice {
                props.insert(
                    field.to_owned(),
                    json!({ "type": "string", "const": value, "description": first_line(spec.doc) }),
                );
                required.insert(0, json!(field));
            }
            any_required |= !required.is_empty();
            let mut body = json!({
                "type": "object",
                "additionalProperties": false,
                "properties": props,
            });
            if !required.is_empty() {
                body["required"] = Value::Array(required);
            }
            variants.push(body);
        }
        let schema = if variants.len() == 1 {
            variants.remove(0)
        } else {
            json!({ "oneOf": variants })
        };
        o.insert(
            "requestBody".into(),
            json!({
                "required": any_required,
                "content": { "application/json": { "schema": schema } }
            }),
        );
    }

    // Responses: the success of the operation's kind, and every error any of its commands
    // may answer.
    let mut responses = Map::new();
    let creates = op.members.iter().any(|m| m.route.creates.is_some());
    let mut results: Vec<Value> = op
        .members
        .iter()
        .map(|m| resource_schema(m, schemas))
        .collect();
    let result = if results.len() == 1 {
        results.remove(0)
    } else {
        json!({ "anyOf": results })
    };
    if creates {
        responses.insert(
            "201".into(),
            json!({
                "description": "created",
                "headers": { "Location": { "description": "the new resource", "required": true, "schema": { "type": "string" } } },
                "content": { "application/json": { "schema": result } }
            }),
        );
    } else if op.verb == Verb::Delete {
        responses.insert("204".into(), json!({ "description": "deleted" }));
    } else {
        responses.insert(
            "200".into(),
            json!({ "description": "the resource", "content": { "application/json": { "schema": result } } }),
        );
    }
    let mut errors: Vec<u16> = op.members.iter().flat_map(statuses).collect();
    errors.sort();
    errors.dedup();
    for status in errors {
        let codes: Vec<String> = ErrorCode::ALL
            .iter()
            .filter(|c| c.status() == status)
            .map(|c| format!("`{c}`: {}", c.doc()))
            .collect();
        responses.insert(
            status.to_string(),
            json!({
                "description": codes.join("; "),
                "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } }
            }),
        );
    }
    o.insert("responses".into(), Value::Object(responses));
    Value::Object(o)
}

/// Whether parameter `key` of a version with `params` is filled from one of `vars`.
fn taken_by_path(params: &Value, vars: &[&str], key: &str) -> bool {
    vars.iter().any(|v| match fill_of(params, v) {
        Some(Fill::Same) => *v == key,
        Some(Fill::List) => plural(v) == key,
        None => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry() -> Registry {
        crate::registry_at(None).unwrap()
    }

    /// Every version of a command with a route declares the same verb, path and choice;
    /// every path variable is a parameter (or the list of its plural) of every version;
    /// a route several commands share says which body field chooses.
    #[test]
    fn routes_are_consistent_across_versions() {
        let mut wrong = vec![];
        let all = crate::commands::all();
        for spec in &all {
            let Some(r) = &spec.rest else { continue };
            for other in all.iter().filter(|o| o.name == spec.name) {
                match &other.rest {
                    Some(o) if o.verb == r.verb && o.path == r.path && o.choice == r.choice => {}
                    _ => wrong.push(format!(
                        "{} and {} declare different routes",
                        spec.full_name(),
                        other.full_name()
                    )),
                }
            }
            for var in path_vars(r.path) {
                if fill_of(&spec.params, var).is_none() {
                    wrong.push(format!(
                        "{}: {{{var}}} is not a parameter",
                        spec.full_name()
                    ));
                }
            }
            for other in all.iter().filter(|o| {
                o.rest
                    .as_ref()
                    .is_some_and(|o| o.verb == r.verb && o.path == r.path)
            }) {
                let oc = other.rest.as_ref().and_then(|o| o.choice);
                if other.name != spec.name && (oc.is_none() || r.choice.is_none()) {
                    wrong.push(format!(
                        "{} and {} share {} {} without a choice field",
                        spec.full_name(),
                        other.full_name(),
                        r.verb.as_str(),
                        r.path
                    ));
                }
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn picks() {
        let r = registry();
        let op = |pick, verb, path: &str| -> Vec<String> {
            view(&r, pick)
                .into_iter()
                .find(|o| o.verb == verb && o.path == path)
                .map(|o| o.members.iter().map(|m| m.entry.spec.full_name()).collect())
                .unwrap_or_default()
        };
        let power = "/api/machines/{machine}/power";
        assert_eq!(
            op(Pick::First, Verb::Post, power),
            [
                "power-cycle/1",
                "power-off/1",
                "power-on/1",
                "power-reset/1",
                "power-soft/1"
            ]
        );
        assert_eq!(
            op(Pick::Level(ApiLevel::new(1, 2)), Verb::Post, power),
            [
                "power-cycle/1",
                "power-off/1",
                "power-on/2",
                "power-reset/1",
                "power-soft/1"
            ]
        );
        assert_eq!(
            op(Pick::Level(ApiLevel::new(1, 5)), Verb::Post, power),
            [
                "power-cycle/2",
                "power-off/3",
                "power-on/4",
                "power-reset/2",
                "power-soft/2"
            ]
        );
        let fru = "/api/machines/{machine}/fru";
        assert!(op(Pick::Level(ApiLevel::new(1, 5)), Verb::Get, fru).is_empty());
        assert_eq!(op(Pick::First, Verb::Get, fru), ["fru-show/1"]);
        let sel = "/api/machines/{machine}/sel/{id}";
        assert_eq!(op(Pick::First, Verb::Delete, sel), ["sel-delete/1"]);
        assert_eq!(
            op(Pick::Level(ApiLevel::new(1, 6)), Verb::Delete, sel),
            ["sel-delete/2"]
        );
    }

    #[test]
    fn literal_segments_route_first() {
        let r = registry();
        let paths: Vec<&str> = routes(&r).into_iter().map(|(p, _)| p).collect();
        let info = paths.iter().position(|p| p.ends_with("/sel/info"));
        let id = paths.iter().position(|p| p.ends_with("/sel/{id}"));
        assert!(info < id, "{paths:?}");
    }

    #[test]
    fn path_and_query_text_as_the_schema_asks() {
        let int = json!({"type": "integer"});
        let opt_int = json!({"type": ["integer", "null"]});
        let boolean = json!({"type": "boolean"});
        let string = json!({"type": "string"});
        for (text, schema, want) in [
            ("7", &int, json!(7)),
            ("-7", &int, json!(-7)),
            ("18446744073709551615", &int, json!(u64::MAX)),
            ("7", &opt_int, json!(7)),
            ("7.5", &int, json!("7.5")),
            ("x", &int, json!("x")),
            ("true", &boolean, json!(true)),
            ("yes", &boolean, json!("yes")),
            ("7", &string, json!("7")),
            ("", &string, json!("")),
        ] {
            assert_eq!(from_text(text, schema), want, "{text:?} as {schema}");
        }
    }

    #[test]
    fn selectors_are_no_machine() {
        for (name, selector) in [
            ("node01", false),
            ("rack4-n1.example", false),
            ("", true),
            (" node01", true),
            ("node*", true),
            ("node?", true),
            ("node[1-2]", true),
            ("a,b", true),
        ] {
            assert_eq!(is_selector(name), selector, "{name:?}");
        }
    }

    #[test]
    fn query_bounds_only_tighten() {
        for (schema, want) in [
            (
                json!({"type": "string", "maxLength": 4096}),
                json!({"type": "string", "maxLength": QUERY_MAX_CHARS}),
            ),
            (
                json!({"type": "string", "maxLength": 64}),
                json!({"type": "string", "maxLength": 64}),
            ),
            (
                json!({"type": "string"}),
                json!({"type": "string", "maxLength": QUERY_MAX_CHARS}),
            ),
            (
                json!({"type": "array", "maxItems": 10000, "items": {"type": "string"}}),
                json!({"type": "array", "maxItems": QUERY_MAX_VALUES,
                       "items": {"type": "string", "maxLength": QUERY_MAX_CHARS}}),
            ),
            (
                json!({"type": "integer", "maximum": 5}),
                json!({"type": "integer", "maximum": 5}),
            ),
        ] {
            assert_eq!(query_bounded(schema.clone()), want, "{schema}");
        }
        assert_eq!(
            without_null(json!({"type": ["string", "null"]})),
            json!({"type": "string"})
        );
    }

    #[test]
    fn locations_are_encoded() {
        let mut p = Map::new();
        p.insert("name".into(), json!("a b/c"));
        assert_eq!(
            fill_location("/api/users/{name}", &p),
            "/api/users/a%20b%2Fc"
        );
    }
}
