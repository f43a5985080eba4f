//! The one reader of the JSON Schemas a command version publishes for its parameters and
//! output: what a parameter is (its kind, range, whether it is positional, sensitive or
//! nullable, its default and doc) and the short type names introspection shows. The
//! server's introspection and validation and the client's command tree all read schemas
//! here, so they cannot disagree about what a schema says. Pure: no I/O.
//!
//! Reading rules (where JSON Schema leaves room):
//! - local `$ref`s (`#/$defs/X` and the older `#/definitions/X`) are followed, at most
//!   [`MAX_REF_HOPS`] in a row, so a cycle in a broken schema cannot hang a reader;
//! - `anyOf`/`oneOf` with a `null` branch is the nullable form of the other branch;
//!   branches that are all string constants are an enum;
//! - integer ranges come from schemars' `format` (`uint16`...), narrowed by `minimum`,
//!   `maximum` and their exclusive forms.

use serde_json::Value;

use crate::{X_CLI_NAME, X_POSITIONAL, X_SENSITIVE};

/// How many `$ref`s in a row a reader follows before giving up on a schema.
pub const MAX_REF_HOPS: usize = 16;

/// What kind of value a parameter takes.
#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    Str,
    Int {
        min: i128,
        max: i128,
    },
    Num,
    Bool,
    /// String constants, each with its description when the schema gives one.
    Enum(Vec<(String, Option<String>)>),
    Array(Box<Kind>),
    /// Objects and anything else without a narrower reading.
    Json,
}

/// One parameter of a command version, as its schema declares it.
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    /// The property name in `params`.
    pub key: String,
    /// Its name on a command line: `x-igor-cli-name`, else the key with `-` for `_`.
    pub cli_name: String,
    pub kind: Kind,
    pub nullable: bool,
    pub required: bool,
    /// Position among positional arguments (`x-igor-positional`).
    pub positional: Option<u64>,
    /// A secret (`x-igor-sensitive`): never echoed, never taken from a command line.
    pub sensitive: bool,
    /// The default the server applies when the parameter is not given.
    pub default: Option<Value>,
    /// `x-igor-dynamic-default`: the server setting that supplies the default, which only
    /// the server knows (ask it with `command-defaults`).
    pub dynamic_default: Option<String>,
    /// The property's description, else that of the schema it refers to.
    pub doc: Option<String>,
    /// The short type name introspection shows (`integer (1-65535)`, `viewer|operator`).
    pub type_name: String,
}

/// Follows local `$ref`s from `s` against the root schema.
pub fn resolve_ref<'a>(root: &'a Value, s: &'a Value) -> &'a Value {
    let mut cur = s;
    for _ in 0..MAX_REF_HOPS {
        let Some(r) = cur.get("$ref").and_then(Value::as_str) else {
            return cur;
        };
        let target = r
            .strip_prefix("#/$defs/")
            .map(|n| &root["$defs"][n])
            .or_else(|| {
                r.strip_prefix("#/definitions/")
                    .map(|n| &root["definitions"][n])
            });
        match target {
            Some(t) if !t.is_null() => cur = t,
            _ => return cur,
        }
    }
    cur
}

fn is_null_schema(s: &Value) -> bool {
    s.get("type").and_then(Value::as_str) == Some("null")
        || s.get("const").is_some_and(Value::is_null)
}

/// The kind of value schema `s` admits, and whether it also admits null.
pub fn classify(root: &Value, s: &Value) -> (Kind, bool) {
    classify_at(root, s, 0)
}

fn classify_at(root: &Value, s: &Value, depth: usize) -> (Kind, bool) {
    if depth > MAX_REF_HOPS {
        return (Kind::Json, false);
    }
    let s = resolve_ref(root, s);
    for key in ["anyOf", "oneOf"] {
        let Some(branches) = s.get(key).and_then(Value::as_array) else {
            continue;
        };
        let non_null: Vec<&Value> = branches
            .iter()
            .map(|b| resolve_ref(root, b))
            .filter(|b| !is_null_schema(b))
            .collect();
        let has_null = non_null.len() != branches.len();
        let consts: Option<Vec<(String, Option<String>)>> = non_null
            .iter()
            .map(|b| {
                let c = b.get("const").or_else(|| {
                    b.get("enum")
                        .and_then(Value::as_array)
                        .filter(|e| e.len() == 1)
                        .and_then(|e| e.first())
                })?;
                let desc = b
                    .get("description")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                Some((c.as_str()?.to_owned(), desc))
            })
            .collect();
        if let Some(values) = consts.filter(|v| !v.is_empty()) {
            return (Kind::Enum(values), has_null);
        }
        if let [only] = non_null.as_slice() {
            let (kind, nullable) = classify_at(root, only, depth + 1);
            return (kind, nullable || has_null);
        }
        return (Kind::Json, has_null);
    }
    if let Some(values) = s.get("enum").and_then(Value::as_array) {
        let has_null = values.iter().any(Value::is_null);
        let strings: Option<Vec<(String, Option<String>)>> = values
            .iter()
            .filter(|v| !v.is_null())
            .map(|v| v.as_str().map(|s| (s.to_owned(), None)))
            .collect();
        return match strings {
            Some(v) if !v.is_empty() => (Kind::Enum(v), has_null),
            _ => (Kind::Json, has_null),
        };
    }
    if let Some(c) = s.get("const").and_then(Value::as_str) {
        return (Kind::Enum(vec![(c.to_owned(), None)]), false);
    }
    let types = types_of(s);
    let nullable = types.contains(&"null");
    let main: Vec<&str> = types.into_iter().filter(|t| *t != "null").collect();
    let kind = match main.as_slice() {
        ["string"] => Kind::Str,
        ["integer"] => {
            let (min, max) = int_bounds(s);
            Kind::Int { min, max }
        }
        ["number"] => Kind::Num,
        ["boolean"] => Kind::Bool,
        ["array"] => {
            let items = s.get("items").unwrap_or(&Value::Null);
            Kind::Array(Box::new(classify_at(root, items, depth + 1).0))
        }
        _ => Kind::Json,
    };
    (kind, nullable)
}

fn types_of(s: &Value) -> Vec<&str> {
    match s.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    }
}

/// The range of an integer schema.
fn int_bounds(s: &Value) -> (i128, i128) {
    let (mut min, mut max): (i128, i128) = match s.get("format").and_then(Value::as_str) {
        Some("int8") => (i8::MIN.into(), i8::MAX.into()),
        Some("int16") => (i16::MIN.into(), i16::MAX.into()),
        Some("int32") => (i32::MIN.into(), i32::MAX.into()),
        Some("uint8") => (0, u8::MAX.into()),
        Some("uint16") => (0, u16::MAX.into()),
        Some("uint32") => (0, u32::MAX.into()),
        Some("uint64" | "uint") => (0, u64::MAX.into()),
        _ => (i64::MIN.into(), i64::MAX.into()),
    };
    // JSON numbers are f64 here; bounds beyond i128 saturate, which `as` does.
    let num = |k: &str| s.get(k).and_then(Value::as_f64);
    if let Some(m) = num("minimum") {
        min = min.max(m.ceil() as i128);
    }
    if let Some(m) = num("exclusiveMinimum") {
        min = min.max(m.floor() as i128 + 1);
    }
    if let Some(m) = num("maximum") {
        max = max.min(m.floor() as i128);
    }
    if let Some(m) = num("exclusiveMaximum") {
        max = max.min(m.ceil() as i128 - 1);
    }
    (min, max)
}

/// A short human type name for a property schema: `string`, `integer (1-65535)` (the
/// range only where the schema states both bounds), `viewer|operator`, `array of integer`.
/// Nullable wrappers are unwrapped. Class attributes in published documents carry these
/// names, so the rules here are part of every frozen level.
pub fn type_name(root: &Value, schema: &Value) -> String {
    type_name_at(root, schema, 0)
}

fn type_name_at(root: &Value, schema: &Value, depth: usize) -> String {
    if depth > MAX_REF_HOPS {
        return "any".into();
    }
    let s = resolve_ref(root, schema);
    if let Some(any) = s.get("anyOf").and_then(Value::as_array) {
        let non_null: Vec<&Value> = any
            .iter()
            .filter(|v| v.get("type").and_then(Value::as_str) != Some("null"))
            .collect();
        if let [one] = non_null.as_slice() {
            return type_name_at(root, one, depth + 1);
        }
    }
    if let Some(values) = s.get("enum").and_then(Value::as_array) {
        return values
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join("|");
    }
    if let Some(one_of) = s.get("oneOf").and_then(Value::as_array) {
        let consts: Vec<&str> = one_of
            .iter()
            .filter_map(|v| v.get("const").and_then(Value::as_str))
            .collect();
        if consts.len() == one_of.len() {
            return consts.join("|");
        }
    }
    let ty = types_of(s)
        .into_iter()
        .find(|t| *t != "null")
        .unwrap_or("any")
        .to_owned();
    match ty.as_str() {
        "array" => format!(
            "array of {}",
            s.get("items")
                .map(|i| type_name_at(root, i, depth + 1))
                .unwrap_or_else(|| "any".into())
        ),
        "integer" | "number" => match (s.get("minimum"), s.get("maximum")) {
            (Some(lo), Some(hi)) => format!("{ty} ({lo}-{hi})"),
            _ => ty,
        },
        _ => ty,
    }
}

/// The properties of an object schema, or of the items of an array schema, in the
/// schema's order.
pub fn properties(root: &Value) -> Vec<(&String, &Value)> {
    let mut s = root;
    if s.get("type").and_then(Value::as_str) == Some("array")
        && let Some(items) = s.get("items")
    {
        s = resolve_ref(root, items);
    }
    s.get("properties")
        .and_then(Value::as_object)
        .map(|m| m.iter().collect())
        .unwrap_or_default()
}

/// The attributes of a class or the fields of an output: the properties of `root` (or of
/// its items) with their type names and descriptions.
pub fn attributes(root: &Value) -> Vec<crate::Attribute> {
    properties(root)
        .into_iter()
        .map(|(name, prop)| crate::Attribute {
            name: name.clone(),
            ty: type_name(root, prop),
            doc: prop
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        })
        .collect()
}

/// The fields a table shows by default for the records of a list, when the output schema
/// says (`x-igor-columns` on the record's schema). `schema` is the list, or a nullable
/// list, or the items' schema itself; `root` holds the definitions.
pub fn list_columns(root: &Value, schema: &Value) -> Option<Vec<String>> {
    let mut s = resolve_ref(root, schema);
    for _ in 0..MAX_REF_HOPS {
        if let Some(cols) = s.get(crate::X_COLUMNS).and_then(Value::as_array) {
            return Some(
                cols.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect(),
            );
        }
        let next = s.get("items").or_else(|| {
            s.get("anyOf")
                .and_then(Value::as_array)
                .and_then(|b| b.iter().find(|b| !is_null_schema(resolve_ref(root, b))))
        })?;
        s = resolve_ref(root, next);
    }
    None
}

/// The parameters a command version's params schema declares, in property order.
pub fn params(root: &Value) -> Vec<Param> {
    let required: Vec<&str> = root
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    properties(root)
        .into_iter()
        .map(|(key, prop)| {
            let resolved = resolve_ref(root, prop);
            let (kind, nullable) = classify(root, prop);
            Param {
                key: key.clone(),
                cli_name: prop
                    .get(X_CLI_NAME)
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .unwrap_or_else(|| key.replace('_', "-")),
                kind,
                nullable,
                required: required.contains(&key.as_str()),
                positional: prop.get(X_POSITIONAL).and_then(Value::as_u64),
                sensitive: prop.get(X_SENSITIVE).and_then(Value::as_bool) == Some(true),
                default: prop.get("default").cloned(),
                dynamic_default: prop
                    .get(crate::X_DYNAMIC_DEFAULT)
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                doc: prop
                    .get("description")
                    .or_else(|| resolved.get("description"))
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                type_name: type_name(root, prop),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// Schemas as schemars writes them, and the older `definitions` form, read as data.
    #[test]
    fn kinds_and_type_names() {
        let root = json!({
            "$defs": {
                "Role": {"type": "string", "enum": ["viewer", "operator"]},
                "Alias": {"$ref": "#/$defs/Role"},
                "Loop": {"$ref": "#/$defs/Loop"}
            },
            "definitions": {"Old": {"type": "boolean", "description": "old style"}}
        });
        let int = |min, max| Kind::Int { min, max };
        let role = Kind::Enum(vec![("viewer".into(), None), ("operator".into(), None)]);
        let cases: Vec<(Value, Kind, bool, &str)> = vec![
            (json!({"type": "string"}), Kind::Str, false, "string"),
            (
                json!({"type": ["string", "null"]}),
                Kind::Str,
                true,
                "string",
            ),
            (
                json!({"type": "integer", "format": "uint16", "minimum": 1, "maximum": 65535}),
                int(1, 65535),
                false,
                "integer (1-65535)",
            ),
            (
                json!({"type": "integer", "format": "uint8"}),
                int(0, 255),
                false,
                "integer",
            ),
            (
                json!({"type": "integer", "exclusiveMaximum": 10}),
                int(i64::MIN.into(), 9),
                false,
                "integer",
            ),
            (
                json!({"$ref": "#/$defs/Role"}),
                role.clone(),
                false,
                "viewer|operator",
            ),
            (
                json!({"$ref": "#/$defs/Alias"}),
                role.clone(),
                false,
                "viewer|operator",
            ),
            (
                json!({"anyOf": [{"$ref": "#/$defs/Role"}, {"type": "null"}]}),
                role,
                true,
                "viewer|operator",
            ),
            (
                json!({"oneOf": [{"const": "a", "description": "first"}, {"const": "b"}]}),
                Kind::Enum(vec![("a".into(), Some("first".into())), ("b".into(), None)]),
                false,
                "a|b",
            ),
            (
                json!({"type": "array", "items": {"type": "integer", "format": "uint16"}}),
                Kind::Array(Box::new(int(0, 65535))),
                false,
                "array of integer",
            ),
            (
                json!({"$ref": "#/definitions/Old"}),
                Kind::Bool,
                false,
                "boolean",
            ),
            (json!({"type": "object"}), Kind::Json, false, "object"),
            (json!({"$ref": "#/$defs/Loop"}), Kind::Json, false, "any"),
            (json!({}), Kind::Json, false, "any"),
        ];
        let mut wrong = vec![];
        for (schema, kind, nullable, name) in cases {
            let got = (classify(&root, &schema), type_name(&root, &schema));
            if got != ((kind.clone(), nullable), name.to_owned()) {
                wrong.push(format!(
                    "{schema}: got {got:?}, want {kind:?} {nullable} {name}"
                ));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn columns_of_a_list() {
        let root = json!({
            "properties": {"result": {"anyOf": [
                {"type": "array", "items": {"$ref": "#/$defs/Rec"}}, {"type": "null"}]}},
            "$defs": {"Rec": {"type": "object", "x-igor-columns": ["id", "event"]}}
        });
        let want = Some(vec!["id".to_owned(), "event".to_owned()]);
        assert_eq!(list_columns(&root, &root["properties"]["result"]), want);
        assert_eq!(list_columns(&root, &json!({"$ref": "#/$defs/Rec"})), want);
        assert_eq!(
            list_columns(&root, &json!({"type": "array", "items": {}})),
            None
        );
        assert_eq!(list_columns(&root, &json!({"type": "string"})), None);
    }

    #[test]
    fn params_of_a_command() {
        let root = json!({
            "type": "object",
            "required": ["machine", "bmc_password"],
            "properties": {
                "machine": {"type": "string", "description": "Machine name.",
                            "x-igor-positional": 0},
                "bmc_password": {"type": "string", "x-igor-sensitive": true},
                "role": {"$ref": "#/$defs/Role"},
                "timeout_secs": {"type": "integer", "default": 60, "x-igor-cli-name": "timeout"}
            },
            "$defs": {"Role": {"type": "string", "enum": ["viewer"], "description": "A role."}}
        });
        type Row = (String, String, bool, Option<u64>, bool, Option<String>);
        let got: Vec<Row> = params(&root)
            .into_iter()
            .map(|p| {
                (
                    p.key,
                    p.cli_name,
                    p.required,
                    p.positional,
                    p.sensitive,
                    p.doc,
                )
            })
            .collect();
        let want = vec![
            (
                "bmc_password".into(),
                "bmc-password".into(),
                true,
                None,
                true,
                None,
            ),
            (
                "machine".into(),
                "machine".into(),
                true,
                Some(0),
                false,
                Some("Machine name.".into()),
            ),
            (
                "role".into(),
                "role".into(),
                false,
                None,
                false,
                Some("A role.".into()),
            ),
            (
                "timeout_secs".into(),
                "timeout".into(),
                false,
                None,
                false,
                None,
            ),
        ];
        assert_eq!(got, want);
    }
}
