//! Rendering a result: a table for people (object → key/value rows, array of objects → one
//! row per item with columns in the output schema's property order), JSON or YAML for
//! programs, and names (one a line, for xargs). JSON, YAML and names carry the result alone;
//! the summary line is for people, and the caller decides where it goes.
//!
//! A table is boxed on a terminal and plain columns elsewhere (a pipe, a file): one line per
//! row, columns apart by three spaces, an empty cell written `<none>`, so that `awk`, `cut`
//! and `grep` see one record per line and a field per column.
//!
//! Text in tables comes from other users (a machine's description, a user name) and goes
//! to a terminal: control characters are shown as `\x1b`, never sent raw, so that nobody
//! can retitle, clear or rewrite a viewer's terminal through a field.
//!
//! YAML is written here rather than by a YAML library, because it must read back the same
//! in YAML 1.1 parsers (PyYAML, hence Ansible) as in YAML 1.2 ones: a string is written
//! plain only when no version could take it for anything else (`off`, `yes`, `~`, `012`,
//! `1_000`, `12:30`, `2024-01-01` are quoted), numbers always have a form both read as
//! numbers, and characters YAML forbids or folds are escaped.

use comfy_table::{ContentArrangement, Table, presets};
use serde_json::Value;

use crate::color::Paint;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Yaml,
    /// One name a line: each item's `name`, else `machine`, else `id`.
    Name,
}

/// The values `--output` and the configuration's `output` accept.
pub const FORMATS: [&str; 4] = ["table", "json", "yaml", "name"];

impl Format {
    pub fn parse(s: Option<&str>) -> Result<Self, String> {
        match s {
            None | Some("table") => Ok(Format::Table),
            Some("json") => Ok(Format::Json),
            Some("yaml") => Ok(Format::Yaml),
            Some("name") => Ok(Format::Name),
            Some(other) => Err(format!(
                "invalid output format '{other}': expected table, json, yaml or name"
            )),
        }
    }
}

/// How a table is drawn: boxed (a terminal) or plain columns, with or without its header,
/// in the columns the output names (`x-igor-columns`) or all of them (`--raw`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Style {
    pub boxed: bool,
    pub headers: bool,
    /// `--raw`: every field a column, whatever `x-igor-columns` names.
    pub all_columns: bool,
}

impl Style {
    pub const BOXED: Style = Style {
        boxed: true,
        headers: true,
        all_columns: false,
    };
    pub const PLAIN: Style = Style {
        boxed: false,
        headers: true,
        all_columns: false,
    };
}

/// The text to print on stdout for a result, ending with a newline (or empty). Only `-o
/// name` can fail: an item without a name.
pub fn render(
    format: Format,
    style: Style,
    result: &Value,
    output_schema: &Value,
) -> Result<String, String> {
    Ok(match format {
        Format::Json => {
            let mut s = serde_json::to_string_pretty(result).unwrap_or_default();
            s.push('\n');
            s
        }
        Format::Yaml => yaml(result),
        Format::Name => names(result)?
            .into_iter()
            .map(|n| format!("{n}\n"))
            .collect(),
        Format::Table => table(result, output_schema, style),
    })
}

/// `-o name`: the name of each item of a list, or of a single record. A list of plain
/// values is its own names.
fn names(result: &Value) -> Result<Vec<String>, String> {
    match result {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items.iter().map(name_of).collect(),
        one => name_of(one).map(|n| vec![n]),
    }
}

fn name_of(item: &Value) -> Result<String, String> {
    let field = match item {
        Value::Object(o) => ["name", "machine", "id"]
            .iter()
            .find_map(|k| o.get(*k).filter(|v| v.is_string() || v.is_number())),
        v @ (Value::String(_) | Value::Number(_)) => Some(v),
        _ => None,
    };
    match field {
        Some(Value::String(s)) => Ok(visible(s)),
        Some(n) => Ok(n.to_string()),
        None => Err(
            "-o name: the result has an item without a name, machine or id field; use -o json"
                .to_owned(),
        ),
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

/// Rows as plain columns: each column as wide as its widest cell, three spaces apart, an
/// empty cell `<none>` (so every line has every field), no trailing spaces.
fn columns_text(rows: &[Vec<String>]) -> String {
    let cell = |c: &str| if c.is_empty() { "<none>" } else { c }.to_owned();
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().map(|c| cell(c)).collect())
        .collect();
    let mut widths: Vec<usize> = Vec::new();
    for row in &rows {
        for (i, c) in row.iter().enumerate() {
            let w = c.chars().count();
            match widths.get_mut(i) {
                Some(max) => *max = (*max).max(w),
                None => widths.push(w),
            }
        }
    }
    let mut out = String::new();
    for row in &rows {
        let mut line = String::new();
        for (i, c) in row.iter().enumerate() {
            if i > 0 {
                line.push_str("   ");
            }
            line.push_str(c);
            let pad = widths[i].saturating_sub(c.chars().count());
            line.extend(std::iter::repeat_n(' ', pad));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Rows (and a header) in the given style.
fn grid(header: Option<Vec<String>>, rows: Vec<Vec<String>>, style: Style) -> String {
    let header = header.filter(|_| style.headers);
    if style.boxed {
        let mut t = new_table();
        if let Some(h) = header {
            t.set_header(h);
        }
        for r in rows {
            t.add_row(r);
        }
        return format!("{t}\n");
    }
    let all: Vec<Vec<String>> = header.into_iter().chain(rows).collect();
    columns_text(&all)
}

fn table(result: &Value, schema: &Value, style: Style) -> String {
    match result {
        Value::Null => String::new(),
        Value::Object(map) => {
            let mut rows = Vec::new();
            // A list of records inside a record (command-show's parameters, say) reads better
            // as its own table under the first than as JSON in a cell.
            let mut nested = String::new();
            for k in columns(properties(schema, schema), std::iter::once(map)) {
                match map.get(&k) {
                    Some(v @ Value::Array(items))
                        if !items.is_empty() && items.iter().all(Value::is_object) =>
                    {
                        nested.push_str(&format!(
                            "{}:\n{}",
                            visible(&k),
                            table(v, &Value::Null, style)
                        ));
                    }
                    Some(v) => rows.push(vec![visible(&k), cell(v)]),
                    None => {}
                }
            }
            // Key and value rows have no header line to leave out.
            let body = grid(None, rows, style);
            format!("{body}{nested}")
        }
        Value::Array(items) if items.is_empty() => "(none)\n".to_owned(),
        Value::Array(items) if items.iter().all(Value::is_object) => {
            let item_schema = schema.get("items").unwrap_or(&Value::Null);
            let objects = items.iter().filter_map(Value::as_object);
            // The schema may name the columns a table shows (the rest are in -o json and
            // --raw).
            let cols = (!style.all_columns)
                .then(|| schema::params::list_columns(schema, schema))
                .flatten()
                .unwrap_or_else(|| columns(properties(schema, item_schema), objects.clone()));
            let rows = objects
                .map(|o| {
                    cols.iter()
                        .map(|c| o.get(c).map(cell).unwrap_or_default())
                        .collect()
                })
                .collect();
            grid(Some(cols.iter().map(|c| visible(c)).collect()), rows, style)
        }
        Value::Array(items) => items.iter().map(|i| format!("{}\n", cell(i))).collect(),
        scalar => format!("{}\n", cell(scalar)),
    }
}

/// YAML text of a value, one block document without a `---` line (see the module doc).
pub fn yaml(v: &Value) -> String {
    let mut out = String::new();
    yaml_node(v, 0, &mut out, false);
    out
}

fn is_block(v: &Value) -> bool {
    match v {
        Value::Object(m) => !m.is_empty(),
        Value::Array(a) => !a.is_empty(),
        _ => false,
    }
}

/// Writes `v` at `indent`; `pad_first` says whether its first line still needs the indent
/// (it does not after `- `, which already took its place).
fn yaml_node(v: &Value, indent: usize, out: &mut String, pad_first: bool) {
    let pad = |out: &mut String| out.extend(std::iter::repeat_n(' ', indent));
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (i, (k, val)) in m.iter().enumerate() {
                if i > 0 || pad_first {
                    pad(out);
                }
                out.push_str(&yaml_string(k));
                out.push(':');
                match val {
                    Value::Object(_) if is_block(val) => {
                        out.push('\n');
                        yaml_node(val, indent + 2, out, true);
                    }
                    // A sequence under a key may start at the key's own column.
                    Value::Array(_) if is_block(val) => {
                        out.push('\n');
                        yaml_node(val, indent, out, true);
                    }
                    scalar => {
                        out.push(' ');
                        out.push_str(&yaml_scalar(scalar));
                        out.push('\n');
                    }
                }
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for (i, item) in items.iter().enumerate() {
                if i > 0 || pad_first {
                    pad(out);
                }
                out.push_str("- ");
                if is_block(item) {
                    yaml_node(item, indent + 2, out, false);
                } else {
                    out.push_str(&yaml_scalar(item));
                    out.push('\n');
                }
            }
        }
        scalar => {
            if pad_first {
                pad(out);
            }
            out.push_str(&yaml_scalar(scalar));
            out.push('\n');
        }
    }
}

fn yaml_scalar(v: &Value) -> String {
    match v {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => yaml_number(n),
        Value::String(s) => yaml_string(s),
        Value::Array(_) => "[]".to_owned(),
        Value::Object(_) => "{}".to_owned(),
    }
}

/// Integers as JSON writes them; a float always with a fraction and, with an exponent, a
/// signed one (`1.0e+300`): YAML 1.1 reads `1e300` as a string.
fn yaml_number(n: &serde_json::Number) -> String {
    let s = n.to_string();
    if !n.is_f64() {
        return s;
    }
    let (mantissa, exp) = match s.split_once(['e', 'E']) {
        Some((m, e)) => (m.to_owned(), Some(e.to_owned())),
        None => (s.clone(), None),
    };
    let mantissa = if mantissa.contains('.') {
        mantissa
    } else {
        format!("{mantissa}.0")
    };
    match exp {
        Some(e) if e.starts_with(['-', '+']) => format!("{mantissa}e{e}"),
        Some(e) => format!("{mantissa}e+{e}"),
        None => mantissa,
    }
}

/// Words YAML 1.1 or 1.2 reads as booleans or null, compared in lower case.
const YAML_WORDS: &[&str] = &[
    "y", "n", "yes", "no", "on", "off", "true", "false", "null", "nan", "inf",
];

/// A string plain when nothing could read it as another type or another structure: it
/// starts with a letter, holds only letters, digits and `_ - . / @`, and single spaces
/// inside, and is not one of `YAML_WORDS`. Everything else is double-quoted.
fn yaml_string(s: &str) -> String {
    let plain = s.starts_with(|c: char| c.is_ascii_alphabetic())
        && !s.ends_with(' ')
        && !s.contains("  ")
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || " _-./@".contains(c))
        && !YAML_WORDS.contains(&s.to_ascii_lowercase().as_str());
    if plain {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            // Control characters are not allowed raw; NEL and the Unicode line and
            // paragraph separators are line breaks to YAML 1.1; the BOM and U+FFFE/U+FFFF
            // are not printable.
            c if c.is_control()
                || matches!(
                    c,
                    '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}'
                ) =>
            {
                out.push_str(&format!("\\u{:04x}", u32::from(c)));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// In which order a streamed answer's items are printed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Order {
    /// All at the end, in hostlist order of their machines (`node2` before `node10`).
    #[default]
    Sorted,
    /// Each as it arrives, in completion order (`--stream`).
    Stream,
    /// All at the end, machines with identical results merged under one hostlist
    /// (`-C`/`--consolidate`): `node[1-2,4]  ok  power=on`.
    Consolidated,
}

/// Text for stdout, and one line per failure (`machine: code: message`) for stderr, which
/// the caller prints under `--quiet` (where stdout is silent).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Printed {
    pub out: String,
    pub errors: Vec<String>,
}

impl Printed {
    fn push(&mut self, other: Printed) {
        self.out.push_str(&other.out);
        self.errors.extend(other.errors);
    }
}

/// Stands for the machine's name inside an error message while results are compared for
/// `--consolidate` (a message never holds a NUL: igord escapes control characters).
const NAME_MARK: &str = "\u{0}machine\u{0}";

/// Prints a streamed answer: in a table, one line per machine (`node01  ok  power=on`);
/// in JSON, one compact object per line (NDJSON); in YAML, one document per item; with `-o
/// name`, the machine. Items print as they arrive (`Order::Stream`) or, by default, all
/// at once in hostlist order when the answer is complete; `Order::Consolidated` merges
/// identical results. Counts failures for the exit code.
pub struct StreamPrinter {
    pub format: Format,
    /// How a list result is laid out under its machine's line.
    pub style: Style,
    /// What a list result's table is drawn from: the columns the command's output names
    /// (`x-igor-columns`), as a schema `table` reads; null for every field.
    pub list_schema: Value,
    pub order: Order,
    /// Colours for stdout's table lines.
    pub paint: Paint,
    pub total: Option<u64>,
    pub seen: u64,
    pub failed: u64,
    pub summary: Option<String>,
    /// Items held until the answer is complete (every order but `Stream`).
    held: Vec<Value>,
    /// Records (not per-machine outcomes) held for one aligned table at the end, unless
    /// the stream is followed (`--follow`) or `--stream`: then each prints as it comes.
    held_records: Vec<Value>,
    pub follow: bool,
}

impl StreamPrinter {
    pub fn new(format: Format) -> Self {
        StreamPrinter {
            format,
            style: Style::PLAIN,
            list_schema: Value::Null,
            order: Order::Stream,
            paint: Paint::OFF,
            total: None,
            seen: 0,
            failed: 0,
            summary: None,
            held: Vec::new(),
            held_records: Vec::new(),
            follow: false,
        }
    }

    /// Lays list results out as the command's output schema says, in `style` (every field
    /// under `all_columns`).
    pub fn for_output(mut self, output: &Value, style: Style) -> Self {
        let result = output
            .get("properties")
            .and_then(|p| p.get("result"))
            .unwrap_or(&Value::Null);
        if let Some(cols) = schema::params::list_columns(output, result)
            && !style.all_columns
        {
            self.list_schema = serde_json::json!({ schema::X_COLUMNS: cols });
        }
        self.style = style;
        self
    }

    pub fn ordered(mut self, order: Order, paint: Paint) -> Self {
        self.order = order;
        self.paint = paint;
        self
    }

    /// Takes one line of the stream; returns what to print for it now (empty unless the
    /// order is `Stream`).
    pub fn line(&mut self, line: &str) -> Printed {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            return Printed::default();
        };
        if let Some(total) = v.get("total").and_then(Value::as_u64) {
            self.total = Some(total);
            return Printed::default();
        }
        if v.get("done") == Some(&Value::Bool(true)) {
            self.summary = v.get("summary").and_then(Value::as_str).map(str::to_owned);
            return Printed::default();
        }
        let Some(item) = v.get("item") else {
            return Printed::default();
        };
        self.seen += 1;
        if item.get("ok").is_none() {
            // A stream of records (audit-find), not per-machine outcomes: one aligned table
            // at the end, or each record as it comes when the stream is followed (it may
            // never end) or --stream asks so.
            if self.follow || self.order == Order::Stream {
                return Printed {
                    out: self.record(item),
                    errors: Vec::new(),
                };
            }
            self.held_records.push(item.clone());
            return Printed::default();
        }
        if !is_ok(item) {
            self.failed += 1;
        }
        if self.order == Order::Stream {
            let label = machine_of(item).to_owned();
            return self.print(item, &label, MACHINE_WIDTH);
        }
        self.held.push(item.clone());
        Printed::default()
    }

    /// The answer is complete: what is left to print (all of it unless `Stream`).
    pub fn finish(&mut self) -> Printed {
        let records = std::mem::take(&mut self.held_records);
        if !records.is_empty() {
            let out = match self.format {
                Format::Table => table(
                    &Value::Array(records),
                    &self.list_schema,
                    Style {
                        boxed: false,
                        ..self.style
                    },
                ),
                _ => records.iter().map(|r| self.record_text(r)).collect(),
            };
            return Printed {
                out,
                errors: Vec::new(),
            };
        }
        let mut held = std::mem::take(&mut self.held);
        held.sort_by(|a, b| crate::hostlist::natural_cmp(machine_of(a), machine_of(b)));
        let mut printed = Printed::default();
        if self.order == Order::Consolidated && self.format != Format::Name {
            let groups = consolidate(&held);
            let labels: Vec<String> = groups
                .iter()
                .map(|(names, _)| crate::hostlist::compress(names.iter().map(String::as_str)))
                .collect();
            let width = column_width(labels.iter().map(String::as_str));
            for ((names, item), label) in groups.iter().zip(&labels) {
                let item = unmark(item, label);
                printed.push(self.print_group(&item, label, names.len(), width));
            }
            return printed;
        }
        let width = column_width(held.iter().map(machine_of));
        for item in &held {
            printed.push(self.print(item, machine_of(item), width));
        }
        printed
    }

    /// One item, its machine shown as `label` in a column `width` wide.
    fn print(&self, item: &Value, label: &str, width: usize) -> Printed {
        let errors = error_line(item, label).into_iter().collect();
        let out = match self.format {
            Format::Json => format!("{item}\n"),
            Format::Yaml => format!("---\n{}", yaml(item)),
            // An item always names its machine.
            Format::Name => name_of(item).map(|n| format!("{n}\n")).unwrap_or_default(),
            Format::Table => self.table_line(item, label, width),
        };
        Printed { out, errors }
    }

    /// A group of `count` machines with the same result, named by the hostlist `label`.
    fn print_group(&self, item: &Value, label: &str, count: usize, width: usize) -> Printed {
        let mut group = serde_json::Map::new();
        group.insert("machines".to_owned(), Value::from(label));
        group.insert("count".to_owned(), Value::from(count));
        for key in ["ok", "result", "error"] {
            if let Some(v) = item.get(key).filter(|v| !v.is_null()) {
                group.insert(key.to_owned(), v.clone());
            }
        }
        let group = Value::Object(group);
        match self.format {
            Format::Json => Printed {
                out: format!("{group}\n"),
                errors: error_line(item, label).into_iter().collect(),
            },
            Format::Yaml => Printed {
                out: format!("---\n{}", yaml(&group)),
                errors: error_line(item, label).into_iter().collect(),
            },
            _ => self.print(item, label, width),
        }
    }

    fn table_line(&self, item: &Value, label: &str, width: usize) -> String {
        let ok = is_ok(item);
        let machine = visible(label);
        let machine = format!("{machine:<width$}");
        let word = if ok {
            self.paint.good(&format!("{:<7}", "ok"))
        } else {
            self.paint.bad(&format!("{:<7}", "failed"))
        };
        // A list of records (a SEL, sensors) is a table of its own under the machine's
        // line, in the columns the schema names.
        if let (true, Some(list @ Value::Array(rows))) = (ok, item.get("result"))
            && rows.iter().all(Value::is_object)
        {
            let body = table(list, &self.list_schema, self.style);
            let count = format!("{} record(s)", rows.len());
            return format!("{machine} {word} {count}\n{body}");
        }
        // A record shows the fields the schema names (`x-igor-columns`, in its order), or
        // every field with --raw or when it names none.
        let named: Option<Vec<&str>> = self
            .list_schema
            .get(schema::X_COLUMNS)
            .and_then(Value::as_array)
            .map(|c| c.iter().filter_map(Value::as_str).collect());
        let detail = if ok {
            match item.get("result") {
                Some(Value::Object(m)) => {
                    let fields: Vec<(&str, &Value)> = match &named {
                        Some(cols) => cols
                            .iter()
                            .filter_map(|c| m.get(*c).map(|v| (*c, v)))
                            .collect(),
                        None => m.iter().map(|(k, v)| (k.as_str(), v)).collect(),
                    };
                    fields
                        .into_iter()
                        .filter(|(k, _)| *k != "machine")
                        .map(|(k, v)| format!("{}={}", visible(k), cell(v)))
                        .collect::<Vec<_>>()
                        .join(" ")
                }
                Some(other) => cell(other),
                None => String::new(),
            }
        } else {
            let (code, message) = error_of(item);
            self.paint.bad(&format!("{code}: {message}"))
        };
        format!("{machine} {word} {detail}").trim_end().to_owned() + "\n"
    }
}

/// The machine column's least width; wider when a name (or a hostlist) is.
const MACHINE_WIDTH: usize = 16;

fn column_width<'a>(labels: impl Iterator<Item = &'a str>) -> usize {
    labels
        .map(|l| visible(l).chars().count())
        .max()
        .unwrap_or(0)
        .max(MACHINE_WIDTH)
}

fn is_ok(item: &Value) -> bool {
    item.get("ok") == Some(&Value::Bool(true))
}

fn machine_of(item: &Value) -> &str {
    item.get("machine").and_then(Value::as_str).unwrap_or("?")
}

/// A failed item's code and message, made visible.
fn error_of(item: &Value) -> (String, String) {
    let e = item.get("error").unwrap_or(&Value::Null);
    let text = |k: &str, or: &str| visible(e.get(k).and_then(Value::as_str).unwrap_or(or));
    (text("code", "error"), text("message", ""))
}

/// `label: code: message` for a failed item, for stderr under `--quiet`.
fn error_line(item: &Value, label: &str) -> Option<String> {
    (!is_ok(item)).then(|| {
        let (code, message) = error_of(item);
        format!("{}: {code}: {message}", visible(label))
    })
}

/// Groups items (in hostlist order) whose results are the same, each with its machines,
/// in the order of their first machine. Results are compared without the machine's own
/// name: a result's `machine` field is left out, and an error message naming the machine
/// (`machine 'node3': ...`) is compared with the name marked, to be put back as the group's
/// hostlist (`unmark`).
fn consolidate(items: &[Value]) -> Vec<(Vec<String>, Value)> {
    let mut groups: Vec<(Vec<String>, Value)> = Vec::new();
    let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for item in items {
        let machine = machine_of(item);
        let mut key = serde_json::Map::new();
        key.insert("ok".to_owned(), Value::Bool(is_ok(item)));
        match item.get("result") {
            Some(Value::Object(m)) => {
                let mut m = m.clone();
                m.remove("machine");
                key.insert("result".to_owned(), Value::Object(m));
            }
            Some(other) if !other.is_null() => {
                key.insert("result".to_owned(), other.clone());
            }
            _ => {}
        }
        if let Some(Value::Object(e)) = item.get("error") {
            let mut e = e.clone();
            if let Some(Value::String(m)) = e.get_mut("message") {
                *m = m.replace(&format!("'{machine}'"), &format!("'{NAME_MARK}'"));
            }
            key.insert("error".to_owned(), Value::Object(e));
        }
        let key = Value::Object(key);
        let text = key.to_string();
        match index.get(&text) {
            Some(&i) => groups[i].0.push(machine.to_owned()),
            None => {
                index.insert(text, groups.len());
                groups.push((vec![machine.to_owned()], key));
            }
        }
    }
    groups
}

/// A group's result with its hostlist where the machine's name was (see `consolidate`).
fn unmark(item: &Value, label: &str) -> Value {
    let mut item = item.clone();
    if let Some(Value::String(m)) = item.pointer_mut("/error/message") {
        *m = m.replace(NAME_MARK, label);
    }
    if let Value::Object(o) = &mut item {
        o.insert("machine".to_owned(), Value::from(label));
    }
    item
}

impl StreamPrinter {
    /// An item of a stream of records (`audit-find --follow`) rather than of per-machine
    /// outcomes: one table row per record, the header before the first.
    /// A record in a format for programs (one line or document each).
    fn record_text(&self, item: &Value) -> String {
        match self.format {
            Format::Yaml => format!("---\n{}", yaml(item)),
            Format::Name => name_of(item).map(|n| format!("{n}\n")).unwrap_or_default(),
            Format::Json | Format::Table => format!("{item}\n"),
        }
    }

    fn record(&mut self, item: &Value) -> String {
        match self.format {
            Format::Json | Format::Yaml | Format::Name => self.record_text(item),
            Format::Table => {
                let rows = Value::Array(vec![item.clone()]);
                let text = table(
                    &rows,
                    &self.list_schema,
                    Style {
                        boxed: false,
                        ..self.style
                    },
                );
                if self.seen == 1 {
                    text
                } else {
                    text.lines()
                        .skip(usize::from(self.style.headers))
                        .map(|l| format!("{l}\n"))
                        .collect()
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A list result in a stream is a table under its machine's line, in the columns the
    /// output schema names; the other fields stay out of the table.
    #[test]
    fn streamed_lists_show_the_named_columns() {
        let output = json!({
            "properties": {"result": {"type": ["array", "null"],
                                      "items": {"$ref": "#/$defs/Rec"}}},
            "$defs": {"Rec": {"type": "object", "x-igor-columns": ["id", "event"]}}
        });
        let mut p = StreamPrinter::new(Format::Table).for_output(&output, Style::PLAIN);
        let line = json!({"item": {"machine": "m1", "ok": true, "result": [
            {"id": 1, "event": "Upper Critical going high", "raw": "0100"},
            {"id": 2, "event": "Absent", "raw": "0200"}]}});
        let text = p.line(&line.to_string()).out;
        let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
        assert_eq!(lines[0], "m1               ok      2 record(s)", "{text}");
        assert!(
            lines[1].starts_with("id") && lines[1].contains("event"),
            "{text}"
        );
        assert!(lines[2].contains("Upper Critical going high"), "{text}");
        assert!(!text.contains("raw") && !text.contains("0100"), "{text}");
    }

    #[test]
    fn a_stream_of_records_is_one_table_with_one_header() {
        // Followed: each record as it comes, the header before the first.
        let mut p = StreamPrinter::new(Format::Table);
        p.follow = true;
        let mut text = String::new();
        for (id, user) in [(7, "alice"), (8, "bob")] {
            text += &p
                .line(&json!({"item": {"id": id, "user": user}}).to_string())
                .out;
        }
        let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(
            lines[0].starts_with("id") && lines[0].contains("user"),
            "{text}"
        );
        assert!(
            lines[1].contains("alice") && lines[2].contains("bob"),
            "{text}"
        );
        // Records are not outcomes: none of them counts as failed.
        assert_eq!((p.seen, p.failed), (2, 0));
    }

    #[test]
    fn records_not_followed_are_one_aligned_table_at_the_end() {
        let mut p = StreamPrinter::new(Format::Table).ordered(Order::Sorted, Paint::OFF);
        for (id, user) in [(7, "alice"), (8, "a-much-longer-name")] {
            let now = p.line(&json!({"item": {"id": id, "user": user}}).to_string());
            assert!(now.out.is_empty(), "held until the end: {}", now.out);
        }
        let text = p.finish().out;
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        // One table: the user column starts at the same place on every line.
        let at: Vec<usize> = lines
            .iter()
            .map(|l| {
                l.find("user")
                    .or_else(|| l.find("alice"))
                    .or_else(|| l.find("a-much"))
                    .unwrap()
            })
            .collect();
        assert!(at.iter().all(|a| *a == at[0]), "{text}");
    }

    /// A bulk answer's items, in completion order, as igord streams them.
    fn bulk_lines() -> Vec<String> {
        let ok = |m: &str, p: &str| {
            json!({"item": {"machine": m, "ok": true, "duration_ms": 3,
            "result": {"machine": m, "power": p}}})
        };
        let refused = |m: &str| {
            json!({"item": {"machine": m, "ok": false, "duration_ms": 1,
            "error": {"code": "forbidden", "message": format!("not permitted on machine '{m}'")}}})
        };
        let mut lines = vec![json!({"total": 7})];
        lines.extend([
            ok("node10", "on"),
            ok("node2", "on"),
            refused("node5"),
            ok("node3", "off"),
            ok("node1", "on"),
            refused("node4"),
            json!({"item": {"machine": "gh*", "ok": false, "duration_ms": 0,
                "error": {"code": "not_found", "message": "no machine you may see matches 'gh*'"}}}),
        ]);
        lines.push(json!({"done": true, "ok": 4, "failed": 3, "summary": "4 of 7"}));
        lines.iter().map(Value::to_string).collect()
    }

    fn run(format: Format, order: Order) -> (Vec<Printed>, Printed) {
        let mut p = StreamPrinter::new(format).ordered(order, Paint::OFF);
        let now = bulk_lines().iter().map(|l| p.line(l)).collect();
        (now, p.finish())
    }

    /// By default a bulk answer prints once complete, in hostlist order; `--stream` prints
    /// each item as it comes; `-C` merges identical results (errors naming their machine
    /// too) under one hostlist, in the table and in JSON.
    #[test]
    fn bulk_orders() {
        let firsts = |text: &str| -> Vec<String> {
            text.lines()
                .map(|l| l.split_whitespace().next().unwrap_or("").to_owned())
                .collect()
        };
        let (now, end) = run(Format::Table, Order::Sorted);
        assert!(now.iter().all(|p| p.out.is_empty()), "{now:?}");
        assert_eq!(
            firsts(&end.out),
            ["gh*", "node1", "node2", "node3", "node4", "node5", "node10"],
            "{}",
            end.out
        );
        assert_eq!(end.errors.len(), 3, "{end:?}");
        assert_eq!(
            end.errors[1],
            "node4: forbidden: not permitted on machine 'node4'"
        );

        let (now, end) = run(Format::Table, Order::Stream);
        let streamed: String = now.iter().map(|p| p.out.as_str()).collect();
        assert_eq!(
            firsts(&streamed),
            ["node10", "node2", "node5", "node3", "node1", "node4", "gh*"]
        );
        assert_eq!(end, Printed::default());

        let (_, end) = run(Format::Table, Order::Consolidated);
        let lines: Vec<&str> = end.out.lines().collect();
        assert_eq!(
            lines,
            [
                "gh*              failed  not_found: no machine you may see matches 'gh*'",
                "node[1-2,10]     ok      power=on",
                "node3            ok      power=off",
                "node[4-5]        failed  forbidden: not permitted on machine 'node[4-5]'",
            ],
            "{}",
            end.out
        );
        assert_eq!(
            end.errors,
            [
                "gh*: not_found: no machine you may see matches 'gh*'",
                "node[4-5]: forbidden: not permitted on machine 'node[4-5]'"
            ]
        );

        let (_, end) = run(Format::Json, Order::Consolidated);
        let groups: Vec<Value> = end
            .out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(
            groups[1],
            json!({"machines": "node[1-2,10]", "count": 3, "ok": true, "result": {"power": "on"}})
        );
        assert_eq!(
            groups[3]["error"]["message"],
            "not permitted on machine 'node[4-5]'"
        );
        // Names stay names, one a line, for xargs.
        let (_, end) = run(Format::Name, Order::Consolidated);
        assert_eq!(firsts(&end.out).len(), 7, "{}", end.out);
    }

    /// A boxed rendering, as on a terminal.
    fn r(format: Format, result: &Value, schema: &Value) -> String {
        render(format, Style::BOXED, result, schema).unwrap()
    }

    #[test]
    fn control_characters_are_shown_not_sent() {
        let evil = "rack 4\x1b]0;owned\x07\x1b[2J\u{9b}31m\tend";
        let shown = "rack 4\\x1b]0;owned\\x07\\x1b[2J\\x9b31m\\x09end";
        assert_eq!(visible(evil), shown);
        // A literal backslash-x in the text cannot pass for an escape.
        assert_eq!(visible("a\\x1b"), "a\\\\x1b");
        let record = r(Format::Table, &json!({"description": evil}), &json!({}));
        let list = r(
            Format::Table,
            &json!([{"name": "m1", "description": evil}]),
            &json!({}),
        );
        let plain = render(
            Format::Table,
            Style::PLAIN,
            &json!([{"name": "m1", "description": evil}]),
            &json!({}),
        )
        .unwrap();
        let mut stream = StreamPrinter::new(Format::Table);
        let line = stream.line(
            &json!({"item": {"machine": evil, "ok": false, "error": {"code": "x", "message": evil}}})
                .to_string(),
        )
        .out;
        for out in [record, list, plain, line] {
            assert!(!out.chars().any(|c| c.is_control() && c != '\n'), "{out:?}");
            assert!(out.contains("\\x1b]0;owned\\x07"), "{out}");
        }
        // JSON for programs keeps the value exact (escaped as JSON does).
        let j = r(Format::Json, &json!({"d": evil}), &json!({}));
        assert!(j.contains("\\u001b]0;owned\\u0007"), "{j}");
    }

    #[test]
    fn nested_records_get_their_own_table() {
        let out = r(
            Format::Table,
            &json!({"full_name": "x/1", "params": [{"type": "string", "name": "machine"}], "tags": []}),
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
        let out = r(
            Format::Table,
            &json!([{"address": "10.0.0.1", "name": "m1", "extra": true}]),
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
        let out = r(Format::Table, &json!({"b": 1, "a": "x"}), &json!({}));
        let (a, b) = (out.find(" a ").unwrap(), out.find(" b ").unwrap());
        assert!(a < b && out.contains(" x "), "{out}");
        assert_eq!(r(Format::Table, &json!("pong"), &json!({})), "pong\n");
        assert_eq!(
            r(Format::Json, &json!({"a": 1}), &json!({})),
            "{\n  \"a\": 1\n}\n"
        );
        assert_eq!(r(Format::Yaml, &json!({"a": 1}), &json!({})), "a: 1\n");
        assert_eq!(r(Format::Table, &json!([]), &json!({})), "(none)\n");
    }

    /// Strings YAML 1.1 or 1.2 would read as something else, and the shapes of block YAML:
    /// each must come back equal through a YAML 1.2 parser (PyYAML, YAML 1.1, reads them
    /// back in the integration tests), and the words are quoted.
    #[test]
    fn yaml_reads_back_as_written() {
        let tricky = [
            "off",
            "On",
            "YES",
            "no",
            "y",
            "N",
            "true",
            "False",
            "null",
            "Null",
            "~",
            "",
            " ",
            "012",
            "0o17",
            "0x1f",
            "0b101",
            "1_000",
            "1e3",
            "1.5",
            ".5",
            "-1",
            "+1",
            ".inf",
            "-.inf",
            ".NaN",
            "12:30",
            "190:20:30",
            "2024-01-01",
            "2024-01-01T12:00:00Z",
            "=",
            "<<",
            "- x",
            "a: b",
            "a #b",
            "# c",
            "@x",
            "`x",
            "!x",
            "&x",
            "*x",
            "%x",
            "|",
            ">",
            "[x]",
            "{x}",
            "'q'",
            "\"q\"",
            "tab\there",
            "multi\nline",
            "cr\rx",
            "trailing ",
            " leading",
            "two  spaces",
            "é",
            "x\u{85}y",
            "x\u{2028}y",
            "\u{feff}bom",
            "back\\slash",
            "\u{1f600}",
            "\u{1b}[2J",
            "node01",
            "rack 4 node",
            "a.b/c@d-e_f",
        ];
        let mut v = serde_json::Map::new();
        for (i, t) in tricky.iter().enumerate() {
            v.insert(format!("k{i}"), json!(t));
            v.insert((*t).to_owned(), json!(i));
        }
        let doc = json!({
            "strings": tricky.to_vec(),
            "keys": v,
            "numbers": [0, -7, 18446744073709551615u64, 1.5, 1e300, 1e-7, -2.5e-300, 100.0],
            "nested": [[1, [2, []]], {"a": {"b": [{"c": null}, {}]}}, [], {}],
            "flags": [true, false, null],
        });
        let text = yaml(&doc);
        let back: Value = serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
        assert_eq!(back, doc, "{text}");
        for (word, written) in [
            ("off", "\"off\""),
            ("012", "\"012\""),
            ("1_000", "\"1_000\""),
            ("12:30", "\"12:30\""),
            ("x\u{85}y", "\"x\\u0085y\""),
            ("node01", "node01"),
            ("rack 4 node", "rack 4 node"),
        ] {
            assert_eq!(yaml_string(word), written, "{word}");
        }
        assert_eq!(
            yaml(&json!({"power": "off", "on": true, "n": 1e300, "m": [1, {"a": []}]})),
            "m:\n- 1\n- a: []\n\"n\": 1.0e+300\n\"on\": true\npower: \"off\"\n"
        );
        assert_eq!(yaml(&json!([])), "[]\n");
        assert_eq!(yaml(&json!("off")), "\"off\"\n");
    }

    /// Plain columns (a pipe): no box drawing, one line per row, an empty cell `<none>`,
    /// and the header left out with `--no-headers`.
    #[test]
    fn plain_tables_and_names() {
        let rows = json!([
            {"name": "m1", "bmc_host": "10.0.0.1", "description": null},
            {"name": "node-long", "bmc_host": "h", "description": "rack 4"},
        ]);
        let plain = |style| render(Format::Table, style, &rows, &json!({})).unwrap();
        assert_eq!(
            plain(Style::PLAIN),
            "name        bmc_host   description\n\
             m1          10.0.0.1   <none>\n\
             node-long   h          rack 4\n"
        );
        let no_headers = Style {
            headers: false,
            ..Style::PLAIN
        };
        assert_eq!(
            plain(no_headers),
            "m1          10.0.0.1   <none>\nnode-long   h          rack 4\n"
        );
        let boxed = render(Format::Table, no_headers, &rows, &json!({})).unwrap();
        assert!(!boxed.contains("bmc_host"), "{boxed}");
        let record = render(
            Format::Table,
            Style::PLAIN,
            &json!({"power": "on", "x": ""}),
            &json!({}),
        );
        assert_eq!(record.unwrap(), "power   on\nx       <none>\n");

        let names = |v: Value| render(Format::Name, Style::PLAIN, &v, &json!({}));
        assert_eq!(names(rows.clone()).unwrap(), "m1\nnode-long\n");
        assert_eq!(
            names(json!([{"machine": "m1", "name": "n"}, {"machine": "m2"}, {"id": 7}])).unwrap(),
            "n\nm2\n7\n"
        );
        assert_eq!(
            names(json!({"machine": "m1", "power": "on"})).unwrap(),
            "m1\n"
        );
        assert_eq!(names(json!(["a", "b"])).unwrap(), "a\nb\n");
        assert!(
            names(json!([{"power": "on"}]))
                .unwrap_err()
                .contains("use -o json")
        );
        let mut stream = StreamPrinter::new(Format::Name);
        assert_eq!(
            stream
                .line(&json!({"item": {"machine": "m3", "ok": false}}).to_string())
                .out,
            "m3\n"
        );
        assert_eq!(stream.failed, 1);
    }
}
