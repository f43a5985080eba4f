//! Talking to the server: the RPC call and its envelope, login and logout requests, and
//! the server's refusals as an error type that keeps code, message and details.

use schema::{ErrorBody, ErrorCode, HEADER_FINGERPRINT, RpcRequest, RpcResponse};
use serde_json::Value;

use crate::http::{Http, HttpRequest, HttpResponse, Unreachable};

/// The server refused: its `{"error": ...}` body, or a stand-in when the body was not one.
#[derive(Clone, Debug)]
pub struct ApiError {
    pub status: u16,
    pub code: String,
    pub message: String,
    pub details: Option<Value>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ApiError {}

impl ApiError {
    pub fn from_response(resp: &HttpResponse) -> Self {
        match serde_json::from_str::<ErrorBody>(&resp.body) {
            Ok(b) => ApiError {
                status: resp.status,
                code: b.error.code,
                message: b.error.message,
                details: b.error.details,
            },
            Err(_) => ApiError {
                status: resp.status,
                code: "http_error".to_owned(),
                message: format!(
                    "the server answered HTTP {} without an error body",
                    resp.status
                ),
                details: None,
            },
        }
    }

    /// The lines printed under `error: <message>`: one per violation for invalid params,
    /// and a hint for missing credentials.
    pub fn detail_lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if let Some(details) = &self.details {
            let items: Vec<&Value> = match details {
                Value::Array(a) => a.iter().collect(),
                Value::Object(o) => match ["violations", "errors"].iter().find_map(|k| o.get(*k)) {
                    Some(Value::Array(a)) => a.iter().collect(),
                    _ => vec![details],
                },
                other => vec![other],
            };
            // igord's invalid-params message already lists every violation: a detail the
            // message says in its own words is not printed twice.
            let said = |item: &Value| {
                item.get("message")
                    .and_then(Value::as_str)
                    .is_some_and(|m| self.message.contains(m))
            };
            for item in items.into_iter().filter(|i| !said(i)) {
                lines.push(violation_line(item));
            }
        }
        // A failed login is a 401 too, and telling its user to log in helps nobody.
        if self.status == 401 && self.code != ErrorCode::LoginFailed {
            lines.push("hint: run 'igor login'".to_owned());
        }
        lines
    }
}

fn violation_line(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Object(o) => {
            let msg = o.get("message").and_then(Value::as_str);
            let path = ["path", "instance_path", "pointer", "param", "field"]
                .iter()
                .find_map(|k| o.get(*k).and_then(Value::as_str))
                .filter(|p| !p.is_empty());
            match (path, msg) {
                (Some(p), Some(m)) => format!("{p}: {m}"),
                (None, Some(m)) => m.to_owned(),
                _ => v.to_string(),
            }
        }
        other => other.to_string(),
    }
}

/// What one call produced, with the schema fingerprint the server announced.
pub struct CallOutcome {
    pub fingerprint: Option<String>,
    pub result: Result<RpcResponse, ApiError>,
}

pub fn rpc(
    http: &dyn Http,
    server: &str,
    token: Option<&str>,
    command: &str,
    params: &Value,
) -> Result<CallOutcome, Unreachable> {
    rpc_within(http, server, token, command, params, None)
}

/// [`rpc`], given up after `within` (for what a run can do without, such as the server's
/// defaults in a help text).
pub fn rpc_within(
    http: &dyn Http,
    server: &str,
    token: Option<&str>,
    command: &str,
    params: &Value,
    within: Option<std::time::Duration>,
) -> Result<CallOutcome, Unreachable> {
    let body = RpcRequest {
        command: command.to_owned(),
        params: params.clone(),
    };
    let body = serde_json::to_string(&body).map_err(|e| Unreachable::answer(e.to_string()))?;
    let mut req = HttpRequest::post(format!("{server}/api/rpc"), Some(body)).bearer(token);
    if let Some(t) = within {
        req = req.timeout(t);
    }
    let resp = http.send(req)?;
    let fingerprint = resp.header(HEADER_FINGERPRINT).map(str::to_owned);
    let result = if resp.status == 200 {
        serde_json::from_str::<RpcResponse>(&resp.body).map_err(|e| ApiError {
            status: 200,
            code: "bad_response".to_owned(),
            message: format!("the server's answer is not an RPC response: {e}"),
            details: None,
        })
    } else {
        Err(ApiError::from_response(&resp))
    };
    Ok(CallOutcome {
        fingerprint,
        result,
    })
}

/// What one streamed call produced: its lines went to the callback as they arrived.
pub struct StreamOutcome {
    pub fingerprint: Option<String>,
    pub result: Result<(), ApiError>,
}

/// `POST /api/rpc` for a streamed command: each NDJSON line of a 200 answer is handed to
/// `line` as it arrives; an error answer comes back as an `ApiError` like any call's.
pub fn rpc_lines(
    http: &dyn Http,
    server: &str,
    token: Option<&str>,
    command: &str,
    params: &Value,
    line: &mut dyn FnMut(&str),
) -> Result<StreamOutcome, Unreachable> {
    let body = RpcRequest {
        command: command.to_owned(),
        params: params.clone(),
    };
    let body = serde_json::to_string(&body).map_err(|e| Unreachable::answer(e.to_string()))?;
    let resp = http.send_lines(
        HttpRequest::post(format!("{server}/api/rpc"), Some(body)).bearer(token),
        line,
    )?;
    let fingerprint = resp.header(HEADER_FINGERPRINT).map(str::to_owned);
    let result = if resp.status == 200 {
        Ok(())
    } else {
        Err(ApiError::from_response(&resp))
    };
    Ok(StreamOutcome {
        fingerprint,
        result,
    })
}
