//! Conversions between Rust values and plain JS objects with camelCase fields.
//!
//! Core and wire types are serialised with serde (snake_case fields), their keys turned into
//! camelCase and handed to JS through `JSON.parse`; inputs go the other way. The keys are renamed
//! here, not by serde, because the same serde form is core's stored state and the relay's wire
//! format. No core record is copied field by field here: their TypeScript declarations are
//! generated from the same types (tsify, core's `ts` feature) and camelCased the same way by
//! `wasm/js/declarations.mjs`; `tests/node`'s declaration check (`dts.mjs`) compares both.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};
use wasm_bindgen::JsValue;

use crate::error::coded;

/// `device_id` → `deviceId`.
fn camel(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    let mut upper = false;
    for c in key.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// `deviceId` → `device_id`.
fn snake(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 4);
    for c in key.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn rename_keys(value: Value, f: &dyn Fn(&str) -> String) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (f(&k), rename_keys(v, f)))
                .collect::<Map<String, Value>>(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(|v| rename_keys(v, f)).collect()),
        other => other,
    }
}

fn internal(what: &str) -> JsValue {
    coded("internal", "internal", &format!("could not convert {what}"))
}

/// A JSON value (already camelCase) as a JS value.
pub(crate) fn value_to_js(value: &Value) -> Result<JsValue, JsValue> {
    let text = serde_json::to_string(value).map_err(|_| internal("a result"))?;
    js_sys::JSON::parse(&text).map_err(|_| internal("a result"))
}

/// A serde value (snake_case fields) as a plain JS object with camelCase fields.
pub(crate) fn to_js<T: Serialize>(value: &T) -> Result<JsValue, JsValue> {
    let v = serde_json::to_value(value).map_err(|_| internal("a result"))?;
    value_to_js(&rename_keys(v, &camel))
}

/// A plain JS object with camelCase fields as a serde value; `what` names the argument in the
/// error.
pub(crate) fn from_js<T: DeserializeOwned>(value: &JsValue, what: &str) -> Result<T, JsValue> {
    let bad = |detail: String| {
        coded(
            "invalid_input",
            "invalid_input",
            &format!("invalid {what}: {detail}"),
        )
    };
    let v: Value = if value.is_undefined() || value.is_null() {
        Value::Object(Map::new())
    } else {
        let text = js_sys::JSON::stringify(value)
            .map_err(|_| bad("not serialisable".into()))?
            .as_string()
            .unwrap_or_default();
        serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?
    };
    serde_json::from_value(rename_keys(v, &snake))
        .map_err(|e| bad(camel_in_backticks(&e.to_string())))
}

/// serde's messages name fields in backticks with their Rust (snake_case) names: the JS
/// (camelCase) names instead (`document_id` → `documentId`).
fn camel_in_backticks(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    for (i, part) in message.split('`').enumerate() {
        if i > 0 {
            out.push('`');
        }
        if i % 2 == 1 {
            out.push_str(&camel(part));
        } else {
            out.push_str(part);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_between_cases() {
        assert_eq!(camel("safety_number"), "safetyNumber");
        assert_eq!(camel("expires_at"), "expiresAt");
        assert_eq!(snake("expiresInSecs"), "expires_in_secs");
        assert_eq!(snake(&camel("next_after")), "next_after");
    }

    #[test]
    fn unknown_field_errors_name_js_fields() {
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct NewFileLike {
            name: String,
            document_id: Option<String>,
            thread_id: Option<String>,
        }
        let v = rename_keys(
            serde_json::json!({ "name": "a", "documentID": "x" }),
            &snake,
        );
        let e = serde_json::from_value::<NewFileLike>(v).unwrap_err();
        let m = camel_in_backticks(&e.to_string());
        assert!(
            m.contains("`documentId`") && m.contains("`threadId`"),
            "{m}"
        );
        assert!(!m.contains("document_id"), "{m}");
    }
}
