//! Canonical JSON and the `sha256:` fingerprint. Keys are sorted explicitly here rather than
//! relying on serde_json's map ordering, which a `preserve_order` feature anywhere in the
//! dependency graph would silently change.

use serde_json::Value;
use sha2::{Digest, Sha256};

/// Compact JSON with object keys sorted at every depth. Array order is kept: whoever builds
/// the value puts arrays in their defined order (see `SchemaDocument::new`).
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_canonical(&map[k], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// `sha256:` + lowercase hex of SHA-256 over the canonical JSON.
pub fn fingerprint_of(value: &Value) -> String {
    let digest = Sha256::digest(canonical_json(value).as_bytes());
    format!("sha256:{}", hex::encode(digest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_form() {
        let check = |v: Value, want: &str| assert_eq!(canonical_json(&v), want);
        check(
            json!({"b": 1, "a": [true, null, {"z": "x", "y": 1.5}]}),
            r#"{"a":[true,null,{"y":1.5,"z":"x"}],"b":1}"#,
        );
        check(json!("é\n"), r#""é\n""#);
        check(json!([]), "[]");
    }

    #[test]
    fn fingerprint_is_content_only() {
        let a = fingerprint_of(&json!({"x": 1, "y": 2}));
        let b = fingerprint_of(&json!({"y": 2, "x": 1}));
        let c = fingerprint_of(&json!({"y": 2, "x": 2}));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a.starts_with("sha256:") && a.len() == 7 + 64);
    }
}
