//! HTTP envelopes: ping, login, RPC request and response, error bodies, header names.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ApiLevel;

/// Every response carries the API level the server serves.
pub const HEADER_API_LEVEL: &str = "Igor-Api-Level";
/// Every response from a level with a schema endpoint carries the schema's fingerprint, so
/// that a client learns its cache is stale from any call.
pub const HEADER_FINGERPRINT: &str = "Igor-Schema-Fingerprint";

/// `GET /api/ping`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct PingResponse {
    pub server_version: String,
    pub api_level: ApiLevel,
    pub min_api_level: ApiLevel,
    /// Whether `GET /api/schema` exists at this level.
    #[serde(default)]
    pub schema: bool,
}

/// `POST /api/login`.
#[derive(Clone, Serialize, Deserialize)]
pub struct LoginRequest {
    pub user: String,
    pub password: String,
}

impl std::fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRequest")
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .finish()
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LoginResponse {
    pub token: String,
    /// RFC 3339.
    pub expires_at: String,
    pub user: String,
    pub role: String,
}

/// `POST /api/rpc` body.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RpcRequest {
    pub command: String,
    #[serde(default = "empty_object")]
    pub params: Value,
}

fn empty_object() -> Value {
    Value::Object(Default::default())
}

/// `POST /api/rpc` success.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RpcResponse {
    pub result: Value,
    #[serde(default)]
    pub summary: String,
}

/// Every error answer: `{"error": {"code", "message", "details"}}`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorInfo,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ErrorInfo {
    /// Stable snake_case code, e.g. `invalid_params`, `not_found`, `bmc_timeout`.
    pub code: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
}
