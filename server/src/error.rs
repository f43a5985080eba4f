//! The one error type at the HTTP edge: each variant has its status and a stable snake_case
//! code. Internal causes are logged with the request and never sent to the client.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use schema::{ErrorBody, ErrorCode, ErrorInfo};
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
    /// A REST request named an API level igord does not serve; `details` holds the range.
    #[error("{message}")]
    UnsupportedLevel {
        message: String,
        details: Option<Value>,
    },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// The machine's BMC lacks what the command needs (the message names both).
    #[error("{0}")]
    NotSupported(String),
    /// The BMC answered with an error; `code` is ours (`bmc_completion_code`,
    /// `bmc_auth_failed`...), the message names the completion code and its meaning.
    #[error("{message}")]
    Bmc {
        code: ErrorCode,
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
    /// One parameter refused by a handler (after the schema accepted it), in the same
    /// shape as a schema violation.
    pub fn invalid_param(field: &str, problem: &str) -> ApiError {
        ApiError::InvalidParams {
            message: format!("invalid parameters: {field}: {problem}"),
            details: Some(serde_json::json!({
                "violations": [{ "path": format!("/{field}"), "message": problem }]
            })),
        }
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            ApiError::InvalidParams { .. } => ErrorCode::InvalidParams,
            ApiError::BadRequest(_) => ErrorCode::BadRequest,
            ApiError::Unauthenticated => ErrorCode::Unauthenticated,
            ApiError::TokenExpired(_) => ErrorCode::TokenExpired,
            ApiError::LoginFailed(_) => ErrorCode::LoginFailed,
            ApiError::Forbidden(_) => ErrorCode::Forbidden,
            ApiError::UnknownCommand(_) => ErrorCode::UnknownCommand,
            ApiError::MethodNotAllowed(_) => ErrorCode::MethodNotAllowed,
            ApiError::UnsupportedLevel { .. } => ErrorCode::UnsupportedLevel,
            ApiError::NotFound(_) => ErrorCode::NotFound,
            ApiError::Conflict(_) => ErrorCode::Conflict,
            ApiError::NotSupported(_) => ErrorCode::NotSupported,
            ApiError::Bmc { code, .. } => *code,
            ApiError::BmcTimeout(_) => ErrorCode::BmcTimeout,
            ApiError::RateLimited { .. } => ErrorCode::RateLimited,
            ApiError::PayloadTooLarge(_) => ErrorCode::PayloadTooLarge,
            ApiError::RequestTimeout(_) => ErrorCode::RequestTimeout,
            ApiError::Busy(_) => ErrorCode::Busy,
            ApiError::Internal(_) => ErrorCode::Internal,
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
        StatusCode::from_u16(self.code().status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Internal(cause) = self {
            tracing::error!(%cause, "internal error");
        }
        let details = match self {
            ApiError::InvalidParams { details, .. }
            | ApiError::Bmc { details, .. }
            | ApiError::UnsupportedLevel { details, .. } => details.clone(),
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
                code: self.code().as_str().to_owned(),
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
            code: ErrorCode::BmcAuthFailed,
            message: format!(
                "machine '{name}': the BMC refused the credentials; check the BMC user and password (machine-mod)"
            ),
            details: None,
        },
        BmcError::Completion { code, meaning } => ApiError::Bmc {
            code: ErrorCode::BmcCompletionCode,
            message,
            details: Some(serde_json::json!({
                "completion_code": format!("{code:#04x}"),
                "meaning": meaning,
            })),
        },
        BmcError::NotFound => ApiError::NotFound(message),
        BmcError::Unreachable(_) => ApiError::Bmc {
            code: ErrorCode::BmcUnreachable,
            message,
            details: None,
        },
        BmcError::Protocol(_) => ApiError::Bmc {
            code: ErrorCode::BmcProtocolError,
            message,
            details: None,
        },
        BmcError::NotSupported(_) => ApiError::NotSupported(message),
        BmcError::Refused { status, .. } => ApiError::Bmc {
            code: ErrorCode::BmcRefused,
            message,
            details: Some(serde_json::json!({ "http_status": status })),
        },
        BmcError::CertificateChanged { .. } => ApiError::Bmc {
            code: ErrorCode::BmcCertificateChanged,
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

    /// The metrics count a BMC call's outcome by `BmcError::code`: the code the API
    /// answers the same error with.
    #[test]
    fn bmc_error_codes_agree_with_the_answers() {
        let errors = [
            BmcError::Timeout(std::time::Duration::from_secs(1)),
            BmcError::AuthFailed,
            BmcError::completion(0xc1),
            BmcError::NotFound,
            BmcError::Unreachable("x".into()),
            BmcError::Protocol("x".into()),
            BmcError::NotSupported("x".into()),
            BmcError::Refused {
                status: 400,
                message: "x".into(),
            },
            BmcError::CertificateChanged {
                pinned: "a".into(),
                presented: "b".into(),
            },
        ];
        for e in errors {
            let code = e.code();
            assert_eq!(bmc_error("m", e).code(), code);
        }
    }

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
