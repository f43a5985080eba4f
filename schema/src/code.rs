//! The error codes igord answers with, one enum shared by server and client. On the wire a
//! code is its snake_case name (`ErrorInfo::code` stays a string, so a client reads codes
//! newer than itself); this enum is what both sides compare and produce.

use std::fmt;
use std::str::FromStr;

macro_rules! codes {
    ($($variant:ident = $text:literal, $status:literal, $doc:literal;)*) => {
        /// Every error code, with the HTTP status it comes with.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $(#[doc = $doc] $variant,)*
        }

        impl ErrorCode {
            /// Every code, in the order of the table in README.md.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The snake_case name sent on the wire.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $text,)*
                }
            }

            /// The HTTP status this code is answered with.
            pub fn status(self) -> u16 {
                match self {
                    $(ErrorCode::$variant => $status,)*
                }
            }

            /// What the code means, one line.
            pub fn doc(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $doc,)*
                }
            }
        }

        impl FromStr for ErrorCode {
            type Err = UnknownCode;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok(ErrorCode::$variant),)*
                    _ => Err(UnknownCode(s.to_owned())),
                }
            }
        }
    };
}

codes! {
    BadRequest = "bad_request", 400, "the request is malformed: not JSON, params not an object, a bad selector";
    InvalidParams = "invalid_params", 400, "parameters violate the command version's schema; every violation is listed";
    Unauthenticated = "unauthenticated", 401, "no token, or one igord does not know";
    TokenExpired = "token_expired", 401, "the token has expired: log in again";
    LoginFailed = "login_failed", 401, "wrong user name or password, or a disabled user";
    Forbidden = "forbidden", 403, "not permitted (also for machines the caller may not see, whether or not they exist)";
    UnknownCommand = "unknown_command", 404, "no such command version at the served level";
    NotFound = "not_found", 404, "no such user, machine, permission or record";
    MethodNotAllowed = "method_not_allowed", 405, "the route exists but not with this HTTP method";
    UnsupportedLevel = "unsupported_level", 406, "the `Igor-Api-Level` header names a level igord does not serve; the range it serves is in the answer";
    RequestTimeout = "request_timeout", 408, "the request's head or body did not arrive in time";
    Conflict = "conflict", 409, "it already exists, or the change would leave no enabled admin";
    NotSupported = "not_supported", 409, "the machine's BMC lacks what the command needs; the message names the machine and the capability";
    PayloadTooLarge = "payload_too_large", 413, "the body is over 256 KiB";
    RateLimited = "rate_limited", 429, "too many failed logins or too much work; see Retry-After";
    Internal = "internal", 500, "igord's own fault; the cause is in its log, never in the answer";
    BmcCompletionCode = "bmc_completion_code", 502, "the BMC refused with a completion code, named with its meaning";
    BmcAuthFailed = "bmc_auth_failed", 502, "the BMC refused the stored BMC user and password";
    BmcUnreachable = "bmc_unreachable", 502, "the BMC could not be reached (address, network, socket error)";
    BmcProtocolError = "bmc_protocol_error", 502, "the BMC answered something igord could not understand";
    BmcRefused = "bmc_refused", 502, "the BMC refused the request with an error of its own (Redfish), given in its words";
    BmcCertificateChanged = "bmc_certificate_changed", 502, "the BMC's TLS certificate is not the pinned one; an admin re-pins with machine-mod --repin-certificate";
    Busy = "busy", 503, "igord is at a capacity limit for this kind of work; see Retry-After";
    BmcTimeout = "bmc_timeout", 504, "the BMC did not answer within the call's deadline";
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<ErrorCode> for str {
    fn eq(&self, other: &ErrorCode) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<ErrorCode> for String {
    fn eq(&self, other: &ErrorCode) -> bool {
        self == other.as_str()
    }
}

/// A code this build does not know (a newer server's, or a client's stand-in).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown error code '{0}'")]
pub struct UnknownCode(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_and_is_snake_case() {
        for &code in ErrorCode::ALL {
            assert_eq!(code.as_str().parse::<ErrorCode>(), Ok(code));
            assert!(
                code.as_str()
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '_'),
                "{code}"
            );
            assert!((400..600).contains(&code.status()), "{code}");
        }
        let readme = include_str!("../../README.md");
        for &code in ErrorCode::ALL {
            let row = format!("| {} | `{code}` | {} |", code.status(), code.doc());
            assert!(readme.contains(&row), "README.md lacks the row {row}");
        }
        assert_eq!(
            "http_error".parse::<ErrorCode>(),
            Err(UnknownCode("http_error".into()))
        );
    }
}
