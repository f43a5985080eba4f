//! Rendering a result: a table for people (object → key/value rows, array of objects → one
//! row per item with columns in the output schema's property order), JSON or YAML for
//! programs. JSON and YAML carry the result alone; the summary line is for people.
//!
//! Text in tables comes from other users (a machine's description, a user name) and goes
//! to a terminal: control characters are shown as `\x1b`, never sent raw, so that nobody
//! can retitle, clear or rewrite a viewer's terminal through a field.

use comfy_table::{ContentArrangement, Table, presets};
use serde_json::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Yaml,
}

impl Format {
    pub fn parse(s: Option<&str>) -> Result<Self, String> {
        match s {
            None | Some("table") => Ok(Format::Table),
            Some("json") => Ok(Format::Json),
            Some("yaml") => Ok(Format::Yaml),
            Some(other) => Err(format!(
                "invalid output format '{other}': expected table, json or yaml"
            )),
        }
    }
}

/// The text to print on stdout, ending with a newline (or empty).
pub fn render(format: Format, result: &Value, summary: &str, output_schema: &Value) -> String {
    match format {
        Format::Json => {
            let mut s = serde_json::to_string_pretty(result).unwrap_or_default();
            s.push('\n');
            s
        }
        Format::Yaml => serde_yaml_ng::to_string(result).unwrap_or_default(),
        Format::Table => {
            let mut out = table(result, output_schema);
            if !summary.is_empty() {
                out.push_str(summary);
                out.push('\n');
            }
            out
        }
    }
}

/// `s` with every control character (C0, DEL, C1) written as `\xHH`, and a backslash that
/// would read as such an escape doubled, so what is shown is unambiguous.
pub fn visible(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_control() {
            out.push_str(&format!("\\x{:02x}", u32::from(c)));
        } else if c == '\\' && chars.peek() == Some(&'x') {
            out.push_str("\\\\");
        } else {
            out.push(c);
        }
    }
    out
}

fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => visible(s),
        Value::Array(items) if items.iter().all(|i| !i.is_object() && !i.is_array()) => {
            items.iter().map(cell).collect::<Vec<_>>().join(", ")
        }
        other => other.to_string(),
    }
}

/// Property names in schema order, then any key the schema did not declare.
fn columns<'a>(
    schema_props: Vec<String>,
    rows: impl Iterator<Item = &'a serde_json::Map<String, Value>>,
) -> Vec<String> {
    let mut cols = schema_props;
    for row in rows {
        for k in row.keys() {
            if !cols.contains(k) {
                cols.push(k.clone());
            }
        }
    }
    // JSON objects carry no order a reader could rely on, so the identifying columns go
    // first (what a row is about), the rest keep their order.
    const FIRST: &[&str] = &["id", "name", "full_name", "machine", "user"];
    cols.sort_by_key(|c| FIRST.iter().position(|f| f == c).unwrap_or(FIRST.len()));
    cols
}

fn properties(root: &Value, s: &Value) -> Vec<String> {
    let s = deref(root, s);
    if let Some(p) = s.get("properties").and_then(Value::as_object) {
        return p.keys().cloned().collect();
    }
    // `Option<T>` and friends: the first branch with properties.
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(bs) = s.get(key).and_then(Value::as_array) {
            for b in bs {
                let p = properties(root, b);
                if !p.is_empty() {
                    return p;
                }
            }
        }
    }
    Vec::new()
}

fn deref<'a>(root: &'a Value, s: &'a Value) -> &'a Value {
    match s
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix("#/$defs/"))
    {
        Some(name) if !root["$defs"][name].is_null() => &root["$defs"][name],
        _ => s,
    }
}

fn new_table() -> Table {
    let mut t = Table::new();
    t.load_style(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic);
    t
}

fn table(result: &Value, schema: &Value) -> String {
    match result {
        Value::Null => String::new(),
        Value::Object(map) => {
            let mut t = new_table();
            // A list of records inside a record (command-show's parameters, say) reads better
            // as its own table under the first than as JSON in a cell.
            let mut nested = String::new();
            for k in columns(properties(schema, schema), std::iter::once(map)) {
                match map.get(&k) {
                    Some(v @ Value::Array(items))
                        if !items.is_empty() && items.iter().all(Value::is_object) =>
                    {
                        nested.push_str(&format!("{}:\n{}", visible(&k), table(v, &Value::Null)));
                    }
                    Some(v) => {
                        t.add_row(vec![visible(&k), cell(v)]);
                    }
                    None => {}
                }
            }
            format!("{t}\n{nested}")
        }
        Value::Array(items) if items.is_empty() => "(none)\n".to_owned(),
        Value::Array(items) if items.iter().all(Value::is_object) => {
            let item_schema = schema.get("items").unwrap_or(&Value::Null);
            let objects = items.iter().filter_map(Value::as_object);
            let cols = columns(properties(schema, item_schema), objects.clone());
            let mut t = new_table();
            t.set_header(cols.iter().map(|c| visible(c)));
            for o in objects {
                t.add_row(cols.iter().map(|c| o.get(c).map(cell).unwrap_or_default()));
            }
            format!("{t}\n")
        }
        Value::Array(items) => items.iter().map(|i| format!("{}\n", cell(i))).collect(),
        scalar => format!("{}\n", cell(scalar)),
    }
}

/// Prints a streamed answer as it arrives: in a table, one line per machine
/// (`node01  ok      power=on`); in JSON, one compact object per line (NDJSON); in YAML, one
/// document per item. Counts failures for the exit code.
pub struct StreamPrinter {
    pub format: Format,
    pub total: Option<u64>,
    pub seen: u64,
    pub failed: u64,
    pub summary: Option<String>,
}

impl StreamPrinter {
    pub fn new(format: Format) -> Self {
        StreamPrinter {
            format,
            total: None,
            seen: 0,
            failed: 0,
            summary: None,
        }
    }

    /// Takes one line of the stream; returns the text to print for it (may be empty).
    pub fn line(&mut self, line: &str) -> String {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            return String::new();
        };
        if let Some(total) = v.get("total").and_then(Value::as_u64) {
            self.total = Some(total);
            return String::new();
        }
        if v.get("done") == Some(&Value::Bool(true)) {
            self.summary = v.get("summary").and_then(Value::as_str).map(str::to_owned);
            return String::new();
        }
        let Some(item) = v.get("item") else {
            return String::new();
        };
        self.seen += 1;
        let ok = item.get("ok") == Some(&Value::Bool(true));
        if !ok {
            self.failed += 1;
        }
        match self.format {
            Format::Json => format!("{item}\n"),
            Format::Yaml => format!(
                "---\n{}",
                serde_yaml_ng::to_string(item).unwrap_or_default()
            ),
            Format::Table => {
                let machine = visible(item.get("machine").and_then(Value::as_str).unwrap_or("?"));
                let detail = if ok {
                    match item.get("result") {
                        Some(Value::Object(m)) => m
                            .iter()
                            .filter(|(k, _)| k.as_str() != "machine")
                            .map(|(k, v)| format!("{}={}", visible(k), cell(v)))
                            .collect::<Vec<_>>()
                            .join(" "),
                        Some(other) => cell(other),
                        None => String::new(),
                    }
                } else {
                    let e = item.get("error").cloned().unwrap_or(Value::Null);
                    format!(
                        "{}: {}",
                        visible(e.get("code").and_then(Value::as_str).unwrap_or("error")),
                        visible(e.get("message").and_then(Value::as_str).unwrap_or(""))
                    )
                };
                let word = if ok { "ok" } else { "failed" };
                format!("{machine:<16} {word:<7} {detail}\n")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn control_characters_are_shown_not_sent() {
        let evil = "rack 4\x1b]0;owned\x07\x1b[2J\u{9b}31m\tend";
        let shown = "rack 4\\x1b]0;owned\\x07\\x1b[2J\\x9b31m\\x09end";
        assert_eq!(visible(evil), shown);
        // A literal backslash-x in the text cannot pass for an escape.
        assert_eq!(visible("a\\x1b"), "a\\\\x1b");
        let record = render(Format::Table, &json!({"description": evil}), "", &json!({}));
        let list = render(
            Format::Table,
            &json!([{"name": "m1", "description": evil}]),
            "",
            &json!({}),
        );
        let mut stream = StreamPrinter::new(Format::Table);
        let line = stream.line(
            &json!({"item": {"machine": evil, "ok": false, "error": {"code": "x", "message": evil}}})
                .to_string(),
        );
        for out in [record, list, line] {
            assert!(!out.chars().any(|c| c.is_control() && c != '\n'), "{out:?}");
            assert!(out.contains("\\x1b]0;owned\\x07"), "{out}");
        }
        // JSON for programs keeps the value exact (escaped as JSON does).
        let j = render(Format::Json, &json!({"d": evil}), "", &json!({}));
        assert!(j.contains("\\u001b]0;owned\\u0007"), "{j}");
    }

    #[test]
    fn nested_records_get_their_own_table() {
        let out = render(
            Format::Table,
            &json!({"full_name": "x/1", "params": [{"type": "string", "name": "machine"}], "tags": []}),
            "",
            &json!({}),
        );
        let (head, nested) = out.split_once("params:\n").expect("a titled sub-table");
        assert!(
            head.contains("full_name") && !head.contains("machine"),
            "{out}"
        );
        let header = nested.lines().nth(1).unwrap();
        assert!(
            header.find("name").unwrap() < header.find("type").unwrap(),
            "{out}"
        );
        assert!(nested.contains("machine"), "{out}");
    }

    #[test]
    fn renders_generically() {
        let schema = json!({"type": "array", "items": {"$ref": "#/$defs/M"},
            "$defs": {"M": {"type": "object", "properties": {"address": {}, "name": {}}}}});
        let out = render(
            Format::Table,
            &json!([{"address": "10.0.0.1", "name": "m1", "extra": true}]),
            "1 machine",
            &schema,
        );
        let header = out.lines().nth(1).unwrap();
        let (n, a, e) = (
            header.find("name").unwrap(),
            header.find("address").unwrap(),
            header.find("extra").unwrap(),
        );
        assert!(
            n < a && a < e,
            "identifying columns first, then schema order: {out}"
        );
        assert!(out.ends_with("1 machine\n"), "{out}");
        let out = render(Format::Table, &json!({"b": 1, "a": "x"}), "", &json!({}));
        let (a, b) = (out.find(" a ").unwrap(), out.find(" b ").unwrap());
        assert!(a < b && out.contains(" x "), "{out}");
        assert_eq!(
            render(Format::Table, &json!("pong"), "", &json!({})),
            "pong\n"
        );
        assert_eq!(
            render(Format::Json, &json!({"a": 1}), "s", &json!({})),
            "{\n  \"a\": 1\n}\n"
        );
        assert_eq!(
            render(Format::Yaml, &json!({"a": 1}), "s", &json!({})),
            "a: 1\n"
        );
        assert_eq!(
            render(Format::Table, &json!([]), "", &json!({})),
            "(none)\n"
        );
    }
}
