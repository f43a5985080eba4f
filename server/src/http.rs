//! The HTTP edge. Every fixed route is listed once in `ROUTES` (with whether it needs a
//! token); the REST view's routes come from the command declarations (`crate::rest`). The
//! app is configured from these two lists only, and tests walk both. RPC and REST reach a
//! handler through one function, `dispatch`.

use std::net::IpAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use actix_web::http::Method;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::DefaultHeaders;
use actix_web::{HttpRequest, HttpResponse, web};
use schema::{
    CommandName, HEADER_API_LEVEL, HEADER_FINGERPRINT, LoginRequest, LoginResponse, PingResponse,
    RpcRequest, RpcResponse,
};
use serde_json::{Value, json};

use crate::access::Access;
use crate::auth::{self, Caller};
use crate::db::models;
use crate::error::ApiError;
use crate::metrics::Login;
use crate::registry::{Entry, ItemStream, OLDEST_LEVEL, Registry, Reply, SCHEMA_LEVEL};
use crate::state::{AppState, AuditRow, CallAudit, Ctx, now, rfc3339};
use schema::ErrorCode;

/// The largest request body accepted (an RPC call's parameters are small).
pub const MAX_BODY: usize = 256 * 1024;
/// A whole request body must arrive within this; a client sending it a byte at a time
/// would otherwise hold its connection for ever.
pub const BODY_DEADLINE: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteKind {
    Ping,
    Schema,
    Login,
    Logout,
    Rpc,
    OpenApi,
    Console,
    UiRedirect,
    /// The web UI's third-party files (xterm.js), from npm at build time.
    UiVendor,
    Ui,
}

#[derive(Clone, Copy, Debug)]
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    /// Needs `Authorization: Bearer TOKEN`.
    pub auth: bool,
    pub kind: RouteKind,
}

/// Every route of the API. Nothing is routed that is not here.
pub const ROUTES: &[Route] = &[
    Route {
        method: "GET",
        path: "/api/ping",
        auth: false,
        kind: RouteKind::Ping,
    },
    Route {
        method: "GET",
        path: "/api/schema",
        auth: false,
        kind: RouteKind::Schema,
    },
    Route {
        method: "POST",
        path: "/api/login",
        auth: false,
        kind: RouteKind::Login,
    },
    Route {
        method: "POST",
        path: "/api/logout",
        auth: true,
        kind: RouteKind::Logout,
    },
    Route {
        method: "POST",
        path: "/api/rpc",
        auth: true,
        kind: RouteKind::Rpc,
    },
    Route {
        method: "GET",
        path: "/api/openapi.json",
        auth: false,
        kind: RouteKind::OpenApi,
    },
    // The web UI's static files (`ui`), not the API: served at the levels with a schema.
    Route {
        method: "GET",
        path: "/ui",
        auth: false,
        kind: RouteKind::UiRedirect,
    },
    Route {
        method: "GET",
        path: "/ui/",
        auth: false,
        kind: RouteKind::Ui,
    },
    Route {
        method: "GET",
        path: "/ui/{file}",
        auth: false,
        kind: RouteKind::Ui,
    },
    Route {
        method: "GET",
        path: "/ui/vendor/{file}",
        auth: false,
        kind: RouteKind::UiVendor,
    },
    // A WebSocket (`console_ws`), served at the levels that have `console-log`.
    Route {
        method: "GET",
        path: "/api/console/{machine}",
        auth: true,
        kind: RouteKind::Console,
    },
];

type State = web::Data<Arc<AppState>>;

/// Registers the routes the served level has: a level without a schema endpoint answers
/// 404 there, as a server of that level would.
pub fn configure(
    state: Arc<AppState>,
    registry: Arc<Registry>,
) -> impl Fn(&mut web::ServiceConfig) + Clone {
    move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(web::Data::new(state.clone()));
        cfg.app_data(web::Data::from(registry.clone()));
        for r in ROUTES {
            if matches!(
                r.kind,
                RouteKind::Schema | RouteKind::Ui | RouteKind::UiVendor | RouteKind::UiRedirect
            ) && state.published.level() < SCHEMA_LEVEL
            {
                continue;
            }
            if r.kind == RouteKind::Console && registry.get("console-log", 1).is_none() {
                continue;
            }
            let method = Method::from_bytes(r.method.as_bytes()).unwrap_or(Method::GET);
            let route = web::method(method);
            let route = match r.kind {
                RouteKind::Ping => route.to(ping),
                RouteKind::Schema => route.to(schema),
                RouteKind::Login => route.to(login),
                RouteKind::Logout => route.to(logout),
                RouteKind::Rpc => route.to(rpc),
                RouteKind::OpenApi => route.to(crate::rest::openapi_doc),
                RouteKind::Console => route.to(crate::console_ws::console),
                RouteKind::UiRedirect => route.to(crate::ui::redirect),
                RouteKind::Ui => route.to(crate::ui::file),
                RouteKind::UiVendor => route.to(crate::ui::vendor_file),
            };
            cfg.service(
                web::resource(r.path)
                    .route(route)
                    .default_service(refuse_method(r.method.to_owned())),
            );
        }
        // The REST view: its routes come from the command declarations, never from here.
        for (path, verbs) in crate::rest::routes(&registry) {
            let mut resource = web::resource(path);
            for verb in verbs {
                let method = Method::from_bytes(verb.as_str().as_bytes()).unwrap_or(Method::GET);
                resource = resource.route(web::method(method).to(crate::rest::handle));
            }
            cfg.service(resource.default_service(web::to(crate::rest::refuse_method)));
        }
        cfg.default_service(web::to(no_route));
    }
}

/// The metrics listener's app (`[metrics] listen`): `GET /metrics` and nothing else. It
/// is never part of the API's app, so the API's port does not serve it.
pub fn configure_metrics(state: Arc<AppState>) -> impl Fn(&mut web::ServiceConfig) + Clone {
    move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(web::Data::new(state.clone()));
        cfg.service(
            web::resource("/metrics")
                .route(web::get().to(metrics))
                .default_service(refuse_method("GET".to_owned())),
        );
        cfg.default_service(web::to(no_route));
    }
}

async fn metrics(state: State) -> HttpResponse {
    let locked = state.logins.locked_keys(Instant::now());
    let held = state.bmc.replica_locks_held();
    HttpResponse::Ok()
        .content_type(crate::metrics::CONTENT_TYPE)
        .body(state.metrics.render(locked, held))
}

/// The headers every response carries, errors included.
pub fn default_headers(state: &AppState) -> DefaultHeaders {
    let level = state.published.level();
    let mut h = DefaultHeaders::new()
        .add((HEADER_API_LEVEL, level.to_string()))
        .add((crate::rest::HEADER_MIN_LEVEL, OLDEST_LEVEL.to_string()))
        .add((crate::rest::HEADER_MAX_LEVEL, level.to_string()));
    if level >= SCHEMA_LEVEL {
        h = h.add((
            HEADER_FINGERPRINT,
            state.published.document.fingerprint.clone(),
        ));
    }
    h
}

async fn no_route(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound(format!(
        "no such endpoint: {} {}",
        req.method(),
        req.path()
    )))
}

/// 405 for a method a route does not have, with `Allow` naming those it has (RFC 9110).
fn refuse_method(allow: String) -> actix_web::Route {
    web::to(move |req: HttpRequest| {
        let allow = allow.clone();
        async move { method_refused(&req, &allow) }
    })
}

/// The 405 answer naming the methods a route has.
pub(crate) fn method_refused(req: &HttpRequest, allow: &str) -> HttpResponse {
    use actix_web::ResponseError;
    let mut resp = ApiError::MethodNotAllowed(format!(
        "{} is not allowed on {}",
        req.method(),
        crate::error::escape_controls(req.path())
    ))
    .error_response();
    if let Ok(v) = HeaderValue::from_str(allow) {
        resp.headers_mut().insert(header::ALLOW, v);
    }
    resp
}

async fn ping(state: State) -> HttpResponse {
    let level = state.published.level();
    HttpResponse::Ok().json(PingResponse {
        server_version: env!("CARGO_PKG_VERSION").to_owned(),
        api_level: level,
        min_api_level: OLDEST_LEVEL,
        schema: level >= SCHEMA_LEVEL,
    })
}

/// Whether the request's `If-None-Match` names the fingerprint's entity tag (weak
/// comparison, as RFC 9110 asks for `If-None-Match`), or is `*`. A malformed header names
/// nothing: the document is sent.
pub(crate) fn none_match(req: &HttpRequest, fingerprint: &str) -> bool {
    use actix_web::http::header::{EntityTag, Header, IfNoneMatch};
    let ours = EntityTag::new_strong(fingerprint.to_owned());
    match IfNoneMatch::parse(req) {
        Ok(IfNoneMatch::Any) => true,
        Ok(IfNoneMatch::Items(tags)) => tags.iter().any(|t| t.weak_eq(&ours)),
        Err(_) => false,
    }
}

async fn schema(state: State, req: HttpRequest) -> HttpResponse {
    let fp = &state.published.document.fingerprint;
    let etag = format!("\"{fp}\"");
    let cache = format!("max-age={}", state.config.schema_ttl.as_secs());
    let matched = none_match(&req, fp);
    let mut resp = if matched {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    resp.insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, cache));
    if matched {
        resp.finish()
    } else {
        resp.content_type("application/json")
            .body(state.published.document_json.clone())
    }
}

pub(crate) fn bearer(req: &HttpRequest) -> Option<String> {
    let value: &HeaderValue = req.headers().get(header::AUTHORIZATION)?;
    let text = value.to_str().ok()?;
    let (scheme, token) = text.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
        .filter(|t| !t.is_empty())
}

pub(crate) async fn authenticate(
    state: &AppState,
    req: &HttpRequest,
) -> Result<(Caller, String), ApiError> {
    let token = bearer(req).ok_or(ApiError::Unauthenticated)?;
    authenticate_token(state, &token).await
}

/// The caller a token belongs to, and the token's hash; wherever the request carried it.
pub(crate) async fn authenticate_token(
    state: &AppState,
    token: &str,
) -> Result<(Caller, String), ApiError> {
    let hash = auth::token_hash(token);
    let caller = caller_of(state, hash.clone()).await?;
    Ok((caller, hash))
}

/// The caller whose token has this hash (from the token cache when it may be used).
pub(crate) async fn caller_of(state: &AppState, hash: String) -> Result<Caller, ApiError> {
    let caches = &state.caches;
    if caches.is_live()
        && let Some(caller) = caches.tokens.get(&hash, now())
    {
        return Ok(caller);
    }
    let generation = caches.tokens.generation();
    let h = hash.clone();
    let found = state
        .db(move |c| match models::token_user(c, &h, now()) {
            Ok(found) => Ok(Some(found)),
            Err(crate::db::DbError::NotFound) => Ok(None),
            Err(e) => Err(ApiError::from(e)),
        })
        .await?;
    let Some((user, expires_at)) = found else {
        return Err(expired_or_unknown(state, hash).await);
    };
    let caller = Caller {
        id: user.id,
        role: auth::Role::parse(&user.role),
        name: user.name,
    };
    if caches.is_live() {
        caches
            .tokens
            .put(hash, caller.clone(), expires_at, generation);
    }
    Ok(caller)
}

/// Reads a request body: at most `MAX_BODY` bytes (413 beyond, as the JSON error envelope),
/// all of it within `BODY_DEADLINE` (408 otherwise).
pub(crate) async fn read_body(
    req: &HttpRequest,
    mut payload: web::Payload,
) -> Result<web::Bytes, ApiError> {
    use futures_util::StreamExt;
    let too_large =
        || ApiError::PayloadTooLarge(format!("request body larger than {MAX_BODY} bytes"));
    // Refused from the head when it says so: nothing is read.
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        return Err(too_large());
    }
    let read = async {
        let mut body = web::BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk =
                chunk.map_err(|e| ApiError::BadRequest(format!("cannot read the body: {e}")))?;
            if body.len() + chunk.len() > MAX_BODY {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    };
    tokio::time::timeout(BODY_DEADLINE, read)
        .await
        .map_err(|_| {
            ApiError::RequestTimeout(format!(
                "the request body did not arrive within {} s",
                BODY_DEADLINE.as_secs()
            ))
        })?
}

/// The TCP peer's address. No forwarding header is trusted: a client could write any.
pub(crate) fn peer(req: &HttpRequest) -> Option<IpAddr> {
    req.peer_addr().map(|a| a.ip())
}

/// A token that is not valid: 401 either way, but one that merely expired says so, so that
/// a client can tell its user to log in again rather than suspect a revoked account.
async fn expired_or_unknown(state: &AppState, hash: String) -> ApiError {
    let expired = state
        .db(move |c| models::token_expiry(c, &hash).map_err(ApiError::from))
        .await;
    match expired {
        Ok(Some(at)) if at <= now() => ApiError::TokenExpired(format!(
            "your token expired at {}: log in again",
            rfc3339(at)
        )),
        _ => ApiError::Unauthenticated,
    }
}

pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("request body is not valid: {e}")))
}

/// A valid argon2id hash to verify against when the user does not exist, so that a wrong
/// user name takes as long as a wrong password.
fn dummy_hash() -> &'static str {
    static H: OnceLock<String> = OnceLock::new();
    H.get_or_init(|| auth::hash_password("igor-dummy-password").unwrap_or_default())
}

async fn login(
    state: State,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = read_body(&req, payload).await?;
    let login: LoginRequest = parse_json(&body)?;
    let addr = peer(&req);
    // Locked out: refused before any hashing, so a flood costs next to nothing.
    if let Some(addr) = addr {
        state
            .logins
            .check(&login.user, addr, Instant::now())
            .map_err(|wait| {
                state.metrics.login(Login::Throttled);
                ApiError::rate_limited("too many failed logins", wait)
            })?;
    }
    // A place on the hashing pool first: when it is full, the login costs no database read.
    let slot = state.hash_slot()?;
    let name = login.user.clone();
    let user = state
        .db(move |c| match models::user_by_name(c, &name) {
            Ok(u) => Ok(Some(u)),
            Err(crate::db::DbError::NotFound) => Ok(None),
            Err(e) => Err(ApiError::from(e)),
        })
        .await?;
    let hash = user.as_ref().map(|u| u.password_hash.clone());
    let password = login.password;
    let ok = slot
        .run(move || {
            let hash = hash.unwrap_or_else(|| dummy_hash().to_owned());
            auth::verify_password(&password, &hash)
        })
        .await
        .map_err(|_| crate::state::hasher_busy())?;
    let user = match user {
        Some(u) if ok => u,
        known => {
            let failed = known.map(|u| u.name);
            // What was typed as a name is neither logged nor audited when no such user
            // exists: it may be a password typed into the wrong field.
            match &failed {
                Some(name) => tracing::info!(user = %name, "login failed: wrong password"),
                None => tracing::info!("login failed: no such user"),
            }
            state.metrics.login(Login::Failed);
            if let Some(addr) = addr {
                state.logins.failed(&login.user, addr, Instant::now());
            }
            let who = failed.unwrap_or_else(|| "(no such user)".to_owned());
            audit_login(&state, who, ErrorCode::LoginFailed.as_str(), addr).await;
            return Err(ApiError::LoginFailed(
                "invalid user name or password".into(),
            ));
        }
    };
    if let Some(addr) = addr {
        state.logins.succeeded(&user.name, addr);
    }
    if !user.enabled {
        state.metrics.login(Login::Failed);
        return Err(ApiError::LoginFailed(format!(
            "user '{}' is disabled",
            user.name
        )));
    }
    let token = auth::new_token().map_err(ApiError::internal)?;
    let hash = auth::token_hash(&token);
    let issued = now();
    let expires = issued + i64::try_from(state.config.token_ttl.as_secs()).unwrap_or(i64::MAX / 2);
    let uid = user.id;
    state
        .db(move |c| models::token_insert(c, &hash, uid, issued, expires).map_err(ApiError::from))
        .await?;
    state.metrics.login(Login::Ok);
    tracing::info!(user = %user.name, "login");
    audit_login(&state, user.name.clone(), "ok", addr).await;
    Ok(HttpResponse::Ok().json(LoginResponse {
        token,
        expires_at: rfc3339(expires),
        user: user.name,
        role: user.role,
    }))
}

/// One audit row per login, successful or not, with its source address.
async fn audit_login(state: &AppState, user: String, outcome: &str, addr: Option<IpAddr>) {
    let row = AuditRow {
        at_ms: chrono::Utc::now().timestamp_millis(),
        machine: None,
        outcome: outcome.to_owned(),
        duration_ms: 0,
        detail: Some(match addr {
            Some(a) => format!("from {a}"),
            None => "from an unknown address".to_owned(),
        }),
        params: None,
    };
    state.audit(user, "login".to_owned(), vec![row]).await;
}

async fn logout(state: State, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let (caller, hash) = authenticate(&state, &req).await?;
    state
        .db(move |c| {
            models::token_delete(c, &hash)?;
            crate::db::notify_changed(c).map_err(ApiError::from)
        })
        .await?;
    // A change like any other, once committed: the caches let go of the token (and cannot
    // take it back from a lookup that began before), and what holds on to it, an attached
    // console, checks it again. Other replicas hear the NOTIFY.
    state.caches.changed();
    tracing::info!(user = %caller.name, "logout");
    Ok(HttpResponse::NoContent().finish())
}

async fn rpc(
    state: State,
    registry: web::Data<Registry>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let (caller, token_hash) = authenticate(&state, &req).await?;
    charge(&state, &caller)?;
    let body = read_body(&req, payload).await?;
    let call: RpcRequest = parse_json(&body)?;
    let name: CommandName = call
        .command
        .parse()
        .map_err(|_| ApiError::UnknownCommand(call.command.clone()))?;
    let entry = registry
        .get(&name.name, name.server_version())
        .ok_or_else(|| ApiError::UnknownCommand(call.command.clone()))?;
    // An absent `params` is `{}` (the wire type's default); anything else must be an object.
    let params = match call.params {
        p @ Value::Object(_) => p,
        other => {
            let kind = match other {
                Value::Null => "null",
                Value::Bool(_) => "a boolean",
                Value::Number(_) => "a number",
                Value::String(_) => "a string",
                _ => "an array",
            };
            return Err(ApiError::BadRequest(format!(
                "'params' must be a JSON object, not {kind}"
            )));
        }
    };
    let reply = dispatch(&state, &req, caller, token_hash, entry, params, "rpc").await?;
    if let Some(stream) = reply.stream {
        return Ok(stream_response(stream));
    }
    Ok(HttpResponse::Ok().json(RpcResponse {
        result: reply.result,
        summary: reply.summary,
    }))
}

/// Every call costs one unit of the caller's budget; bulk calls more (see bulk.rs).
pub(crate) fn charge(state: &AppState, caller: &Caller) -> Result<(), ApiError> {
    state
        .work
        .charge(caller.id, 1, Instant::now())
        .map_err(|wait| ApiError::rate_limited("too many calls", wait))
}

/// The one way to a command handler, for RPC and the REST view alike: the admin check,
/// validation against the version's schema, the call's audit record, the handler, the log
/// line. The caller is authenticated and charged, and `params` is an object.
pub(crate) async fn dispatch(
    state: &State,
    req: &HttpRequest,
    caller: Caller,
    token_hash: String,
    entry: &Entry,
    params: Value,
    via: &'static str,
) -> Result<Reply, ApiError> {
    let spec = &entry.spec;
    let full_name = spec.full_name();
    let started = Instant::now();
    // Refusals before the handler are counted as calls of the command too.
    let refused = |e: ApiError| {
        state.metrics.request(
            &full_name,
            via,
            e.code().status(),
            started.elapsed().as_secs_f64(),
        );
        e
    };
    if spec.access == Access::Admin && !caller.is_admin() {
        return Err(refused(ApiError::Forbidden(format!(
            "'{full_name}' needs the admin role"
        ))));
    }
    entry.validate(&params).map_err(refused)?;
    // Streamed (bulk) commands write their own rows: one for the call, one per machine
    // acted on.
    let audit_params = entry.audit_params(&params);
    let audit = (spec.audited && !spec.stream).then(|| {
        Arc::new(
            CallAudit::new(
                full_name.clone(),
                spec.target
                    .and_then(|field| params.get(field))
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            )
            .with_params(audit_params.clone()),
        )
    });
    let ctx = Ctx {
        state: state.get_ref().clone(),
        caller: caller.clone(),
        token_hash,
        peer: peer(req),
        audit: audit.clone(),
        audit_params: audit_params.clone(),
    };
    let outcome = spec.call(ctx, params).await;
    let elapsed = started.elapsed();
    let (code, status) = match &outcome {
        Ok(_) => ("ok", 200),
        Err(e) => (e.code().as_str(), e.code().status()),
    };
    state
        .metrics
        .request(&full_name, via, status, elapsed.as_secs_f64());
    tracing::info!(
        user = %caller.name,
        command = %full_name,
        outcome = code,
        ms = elapsed.as_millis() as u64,
        "{via}"
    );
    if let Some(audit) = audit.filter(|a| !a.written()) {
        let row = AuditRow {
            at_ms: chrono::Utc::now().timestamp_millis(),
            machine: audit.machine.clone(),
            outcome: code.to_owned(),
            duration_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
            detail: None,
            params: audit_params,
        };
        state.audit(caller.name.clone(), full_name, vec![row]).await;
    }
    outcome
}

/// The peer address of a new connection, plain or TLS (for the per-address cap).
pub fn peer_of_connection(conn: &dyn std::any::Any) -> Option<IpAddr> {
    use actix_web::rt::net::TcpStream;
    if let Some(tcp) = conn.downcast_ref::<TcpStream>() {
        return tcp.peer_addr().ok().map(|a| a.ip());
    }
    conn.downcast_ref::<actix_tls::accept::rustls_0_23::TlsStream<TcpStream>>()
        .and_then(|tls| tls.get_ref().0.peer_addr().ok())
        .map(|a| a.ip())
}

/// Refuses every request of a connection that came while its address already held its
/// share (`[limits] connections_per_address`), with 429 and `Connection: close`. The
/// request is answered from its head: an over-cap connection never gets to send a body.
pub async fn connection_cap(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    use actix_web::ResponseError;
    let over = req
        .conn_data::<std::rc::Rc<crate::limits::ConnSlot>>()
        .is_some_and(|slot| slot.over);
    if over {
        let err = ApiError::rate_limited(
            "too many connections from your address",
            Duration::from_secs(1),
        );
        let mut resp = err.error_response();
        resp.head_mut()
            .set_connection_type(actix_web::http::ConnectionType::Close);
        return Ok(req.into_response(resp).map_into_right_body());
    }
    next.call(req).await.map(|r| r.map_into_left_body())
}

/// A net under every route: an error answer that is not already the JSON error envelope
/// (one that actix itself produced) is rewritten into it, with a code from its status.
pub fn json_errors<B: actix_web::body::MessageBody + 'static>()
-> actix_web::middleware::ErrorHandlers<B> {
    use actix_web::middleware::{ErrorHandlerResponse, ErrorHandlers};
    ErrorHandlers::new().default_handler(|res: actix_web::dev::ServiceResponse<B>| {
        let is_json = res
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if is_json {
            return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
        }
        let status = res.status();
        let code = match status.as_u16() {
            400 => ErrorCode::BadRequest,
            401 => ErrorCode::Unauthenticated,
            404 => ErrorCode::NotFound,
            405 => ErrorCode::MethodNotAllowed,
            408 => ErrorCode::RequestTimeout,
            413 => ErrorCode::PayloadTooLarge,
            429 => ErrorCode::RateLimited,
            503 => ErrorCode::Busy,
            s if s >= 500 => ErrorCode::Internal,
            _ => ErrorCode::BadRequest,
        };
        let message = status.canonical_reason().unwrap_or("error").to_lowercase();
        let (req, old) = res.into_parts();
        let mut resp = HttpResponse::build(status);
        for (name, value) in old.headers() {
            if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
                resp.append_header((name.clone(), value.clone()));
            }
        }
        let resp = resp.json(schema::ErrorBody {
            error: schema::ErrorInfo {
                code: code.as_str().to_owned(),
                message,
                details: None,
            },
        });
        Ok(ErrorHandlerResponse::Response(
            actix_web::dev::ServiceResponse::new(req, resp).map_into_right_body(),
        ))
    })
}

fn ndjson_line(v: &Value) -> web::Bytes {
    let mut line = serde_json::to_vec(v).unwrap_or_default();
    line.push(b'\n');
    web::Bytes::from(line)
}

/// A streamed answer: `{"total": N}`, then `{"item": ...}` per result as it completes, then
/// `{"done": true, "ok": K, "failed": F, "summary": "..."}`. Chunked, so a client sees each
/// line as soon as it is produced.
fn stream_response(s: ItemStream) -> HttpResponse {
    struct St {
        first: Option<Value>,
        rx: tokio::sync::mpsc::UnboundedReceiver<Value>,
        ok: usize,
        failed: usize,
        done: bool,
        records: Option<&'static str>,
    }
    let start = St {
        first: Some(json!({ "total": s.total })),
        rx: s.items,
        ok: 0,
        failed: 0,
        done: false,
        records: s.records,
    };
    let body = futures_util::stream::unfold(start, |mut st| async move {
        if let Some(first) = st.first.take() {
            return Some((Ok::<_, std::convert::Infallible>(ndjson_line(&first)), st));
        }
        if st.done {
            return None;
        }
        match st.rx.recv().await {
            Some(item) => {
                if st.records.is_some() || item["ok"] == Value::Bool(true) {
                    st.ok += 1;
                } else {
                    st.failed += 1;
                }
                Some((Ok(ndjson_line(&json!({ "item": item }))), st))
            }
            None => {
                st.done = true;
                let summary = match st.records {
                    Some(noun) => format!("{} {noun}", st.ok),
                    None => format!(
                        "{} machine(s): {} ok, {} failed",
                        st.ok + st.failed,
                        st.ok,
                        st.failed
                    ),
                };
                let last =
                    json!({ "done": true, "ok": st.ok, "failed": st.failed, "summary": summary });
                Some((Ok(ndjson_line(&last)), st))
            }
        }
    });
    HttpResponse::Ok()
        .content_type("application/x-ndjson")
        .streaming(body)
}

#[cfg(test)]
mod tests {
    use super::none_match;

    #[test]
    fn if_none_match_forms() {
        let fp = "sha256:abc";
        let mut wrong = vec![];
        for (h, want) in [
            (Some("\"sha256:abc\""), true),
            (Some("W/\"sha256:abc\""), true),
            (Some("\"x\", \"sha256:abc\""), true),
            (Some("*"), true),
            (Some("\"sha256:abd\""), false),
            // Not an entity tag (unquoted): names nothing.
            (Some("sha256:abc"), false),
            (Some(""), false),
            (None, false),
        ] {
            let mut req = actix_web::test::TestRequest::default();
            if let Some(h) = h {
                req = req.insert_header((actix_web::http::header::IF_NONE_MATCH, h));
            }
            if none_match(&req.to_http_request(), fp) != want {
                wrong.push(format!("{h:?}: want {want}"));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }
}
