//! Wire types shared by `igord` and `igor`: the schema document, the RPC envelope, error
//! bodies, API levels, command names and the schema fingerprint. No I/O lives here.

mod code;
mod document;
mod fingerprint;
mod level;
mod name;
pub mod params;
mod wire;

pub use code::{ErrorCode, UnknownCode};
pub use document::{
    Attribute, Class, CommandDef, LazyCommand, LazyDocument, SCHEMA_FORMAT_VERSION, SchemaDocument,
    Topic, X_CLI_NAME, X_COLUMNS, X_DYNAMIC_DEFAULT, X_POSITIONAL, X_SENSITIVE,
};
pub use fingerprint::{canonical_json, fingerprint_of};
pub use level::{ApiLevel, LevelParseError};
pub use name::{CommandName, NameParseError};
pub use wire::{
    ErrorBody, ErrorInfo, HEADER_API_LEVEL, HEADER_FINGERPRINT, LoginRequest, LoginResponse,
    PingResponse, RpcRequest, RpcResponse,
};
