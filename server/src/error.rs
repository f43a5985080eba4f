//! The one error type at the HTTP edge: each variant has its status and a stable snake_case
//! code. Internal causes are logged with the request and never sent to the client.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use schema::{ErrorBody, ErrorInfo};
use serde_json::Value;

use crate::bmc::BmcError;
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
    /// A token that was valid and has expired (401, so the client can say "log in again").
    #[error("{0}")]
    TokenExpired(String),
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
    /// Too many attempts or too much work: try again after `retry_after_secs`.
    #[error("{message}")]
    RateLimited {
        message: String,
        retry_after_secs: u64,
    },
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    RequestTimeout(String),
    /// igord is at a capacity limit for this kind of work (the password-hashing queue).
    #[error("{0}")]
    Busy(String),
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
            ApiError::TokenExpired(_) => "token_expired",
            ApiError::LoginFailed(_) => "login_failed",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::UnknownCommand(_) => "unknown_command",
            ApiError::MethodNotAllowed(_) => "method_not_allowed",
            ApiError::NotFound(_) => "not_found",
            ApiError::Conflict(_) => "conflict",
            ApiError::Bmc { code, .. } => code,
            ApiError::BmcTimeout(_) => "bmc_timeout",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::RequestTimeout(_) => "request_timeout",
            ApiError::Busy(_) => "busy",
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

impl ApiError {
    /// Too many tries: `what` says of what, and the wait is rounded up to whole seconds.
    pub fn rate_limited(what: &str, wait: std::time::Duration) -> Self {
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let secs = secs.max(1);
        ApiError::RateLimited {
            message: format!("{what}; try again in {secs} s"),
            retry_after_secs: secs,
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
            ApiError::Unauthenticated | ApiError::TokenExpired(_) | ApiError::LoginFailed(_) => {
                StatusCode::UNAUTHORIZED
            }
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::UnknownCommand(_) | ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Bmc { .. } => StatusCode::BAD_GATEWAY,
            ApiError::BmcTimeout(_) => StatusCode::GATEWAY_TIMEOUT,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
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
        if matches!(
            self,
            ApiError::Unauthenticated | ApiError::TokenExpired(_) | ApiError::LoginFailed(_)
        ) {
            resp.insert_header(("WWW-Authenticate", "Bearer"));
        }
        match self {
            ApiError::RateLimited {
                retry_after_secs, ..
            } => {
                resp.insert_header(("Retry-After", retry_after_secs.max(&1).to_string()));
            }
            ApiError::Busy(_) => {
                resp.insert_header(("Retry-After", "1"));
            }
            // The connection may hold the rest of an unread body: do not keep it.
            ApiError::PayloadTooLarge(_) | ApiError::RequestTimeout(_) => {
                resp.force_close();
            }
            _ => {}
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

/// Maps a BMC failure on machine `name` to its HTTP answer: the BMC's error is
/// 502 with the completion code named, silence is 504, a missing record 404.
pub fn bmc_error(name: &str, e: BmcError) -> ApiError {
    let message = format!("machine '{name}': {e}");
    match e {
        BmcError::Timeout(_) => ApiError::BmcTimeout(message),
        BmcError::AuthFailed => ApiError::Bmc {
            code: "bmc_auth_failed",
            message: format!(
                "machine '{name}': the BMC refused the credentials; check the BMC user and password (machine-mod)"
            ),
            details: None,
        },
        BmcError::Completion { code, meaning } => ApiError::Bmc {
            code: "bmc_completion_code",
            message,
            details: Some(serde_json::json!({
                "completion_code": format!("{code:#04x}"),
                "meaning": meaning,
            })),
        },
        BmcError::NotFound => ApiError::NotFound(message),
        BmcError::Unreachable(_) => ApiError::Bmc {
            code: "bmc_unreachable",
            message,
            details: None,
        },
        BmcError::Protocol(_) => ApiError::Bmc {
            code: "bmc_protocol_error",
            message,
            details: None,
        },
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
