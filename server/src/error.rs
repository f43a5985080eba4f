//! The one error type at the HTTP edge: each variant has its status and a stable snake_case
//! code. Internal causes are logged with the request and never sent to the client.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use schema::{ErrorBody, ErrorInfo};
use serde_json::Value;

use crate::db::{DatabaseErrorKind, DbError};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    InvalidParams {
        message: String,
        details: Option<Value>,
    },
    #[error("{0}")]
    BadRequest(String),
    #[error("authentication required: log in and send 'Authorization: Bearer TOKEN'")]
    Unauthenticated,
    #[error("{0}")]
    LoginFailed(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("unknown command '{}'", escape_controls(.0))]
    UnknownCommand(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// The BMC answered with an error; `code` is ours (`bmc_completion_code`,
    /// `bmc_auth_failed`...), the message names the completion code and its meaning.
    #[error("{message}")]
    Bmc {
        code: &'static str,
        message: String,
        details: Option<Value>,
    },
    #[error("{0}")]
    BmcTimeout(String),
    /// Our own bug or an infrastructure failure. The cause is logged, never answered.
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::InvalidParams { .. } => "invalid_params",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Unauthenticated => "unauthenticated",
            ApiError::LoginFailed(_) => "login_failed",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::UnknownCommand(_) => "unknown_command",
            ApiError::MethodNotAllowed(_) => "method_not_allowed",
            ApiError::NotFound(_) => "not_found",
            ApiError::Conflict(_) => "conflict",
            ApiError::Bmc { code, .. } => code,
            ApiError::BmcTimeout(_) => "bmc_timeout",
            ApiError::Internal(_) => "internal",
        }
    }

    pub fn internal(cause: impl std::fmt::Display) -> Self {
        ApiError::Internal(cause.to_string())
    }

    pub fn not_found(what: &str, name: &str) -> Self {
        ApiError::NotFound(format!("{what} '{name}' not found"))
    }

    /// Maps a database error for an object named `what 'name'`: not found → 404, unique
    /// violation → 409, anything else → 500.
    pub fn db(e: DbError, what: &str, name: &str) -> Self {
        match e {
            DbError::NotFound => ApiError::not_found(what, name),
            DbError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
                ApiError::Conflict(format!("{what} '{name}' already exists"))
            }
            other => ApiError::internal(other),
        }
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        ApiError::internal(e)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::InvalidParams { .. } | ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthenticated | ApiError::LoginFailed(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::UnknownCommand(_) | ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Bmc { .. } => StatusCode::BAD_GATEWAY,
            ApiError::BmcTimeout(_) => StatusCode::GATEWAY_TIMEOUT,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Internal(cause) = self {
            tracing::error!(%cause, "internal error");
        }
        let details = match self {
            ApiError::InvalidParams { details, .. } | ApiError::Bmc { details, .. } => {
                details.clone()
            }
            _ => None,
        };
        let mut resp = HttpResponse::build(self.status_code());
        if matches!(self, ApiError::Unauthenticated | ApiError::LoginFailed(_)) {
            resp.insert_header(("WWW-Authenticate", "Bearer"));
        }
        resp.json(ErrorBody {
            error: ErrorInfo {
                code: self.code().to_owned(),
                message: self.to_string(),
                details,
            },
        })
    }
}

/// `text` with every control character written as `\xNN`, so a message never carries an
/// escape sequence to the terminal that prints it.
pub fn escape_controls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.push_str(&format!("\\x{:02x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        for (text, want) in [
            ("plain", "plain"),
            ("\u{1b}[31mred", "\\x1b[31mred"),
            ("a\0b\r\n", "a\\x00b\\x0d\\x0a"),
            ("\u{9b}", "\\x9b"),
            ("caf\u{e9}", "caf\u{e9}"),
        ] {
            assert_eq!(escape_controls(text), want, "{text:?}");
        }
    }
}
