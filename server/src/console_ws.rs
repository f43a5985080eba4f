//! `GET /api/console/{machine}`: a machine's serial console over a WebSocket.
//!
//! The upgrade carries the bearer token, and everything is decided before it: the token,
//! the caller's role on the machine (an operator may type, a viewer only watches), and the
//! SOL session itself (a BMC whose SOL is held by another tool answers 409 unless `force`).
//! Refusals are therefore ordinary JSON errors, never a socket that opens and dies.
//!
//! On the socket, binary frames are the serial line's bytes both ways; text frames are
//! JSON control messages:
//!
//! - to the client: `attached` (mode `write` or `read`, whether it may ever type, who
//!   holds the keyboard, whom `force` took it from), then the scrollback as one binary frame; `writer` when the
//!   keyboard changes hands; `notice`; `dropped` (output this client was too slow for);
//!   `ended` (the session is over, and why); `detached` (the answer to `detach`);
//! - from the client: `break` (a serial break), `detach` (leave once what was typed has
//!   reached the BMC and the host's answer has been relayed: until the line is quiet for
//!   0.3 s, 3 s at most).
//!
//! Every attach, detach, takeover and break is an audit record; keystrokes are not.
//!
//! An attached client keeps the access it attached with only while it still has it: after
//! any change to users, tokens, machines or permissions (here or on another replica), and
//! every `RECHECK_EVERY` besides (tokens expire), its token and its role on the machine are
//! checked again. A revoked or expired token, a revoked permission, or a writer whose role
//! fell to viewer ends its attachment, with the reason (`ended`).
//!
//! A browser's WebSocket cannot send an `Authorization` header, so a client may instead
//! offer two subprotocols: `igor.console` and `igor.bearer.TOKEN`. igord reads the token
//! from the second and answers with the first only, so the token never comes back.

use std::sync::Arc;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use actix_ws::{AggregatedMessage, Session};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;

use crate::access::Access;
use crate::bmc::sol::ConsoleError;
use crate::console::{Attachment, Event, Holder, Refused, clock};
use crate::error::{ApiError, bmc_error};
use crate::http::{authenticate_token, bearer, caller_of, charge};
use crate::state::{AppState, AuditRow, Ctx};

/// The largest frame a client may send (keystrokes come a few bytes at a time).
const MAX_FRAME: usize = 64 * 1024;

/// The subprotocol a browser offers, and the one igord answers with.
const PROTOCOL: &str = "igor.console";
/// The prefix of the subprotocol that carries a browser's token.
const BEARER_PROTOCOL: &str = "igor.bearer.";

/// The token a browser offered as a subprotocol, with `igor.console` beside it.
fn offered_token(req: &HttpRequest) -> Option<String> {
    let offered: Vec<&str> = req
        .headers()
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    if !offered.contains(&PROTOCOL) {
        return None;
    }
    offered
        .iter()
        .find_map(|p| p.strip_prefix(BEARER_PROTOCOL))
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleQuery {
    /// Take the keyboard from its holder, and SOL from another session on the BMC.
    #[serde(default)]
    force: bool,
    /// Watch only, even with the operator role.
    #[serde(default)]
    read_only: bool,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum Control {
    Break,
    Detach,
}

pub async fn console(
    state: web::Data<Arc<AppState>>,
    req: HttpRequest,
    body: web::Payload,
    machine: web::Path<String>,
    query: Result<web::Query<ConsoleQuery>, actix_web::Error>,
) -> Result<HttpResponse, ApiError> {
    let (token, by_protocol) = match bearer(&req) {
        Some(t) => (t, false),
        None => (offered_token(&req).ok_or(ApiError::Unauthenticated)?, true),
    };
    let (caller, token_hash) = authenticate_token(&state, &token).await?;
    charge(&state, &caller)?;
    let query = query.map_err(|e| {
        ApiError::BadRequest(format!(
            "console query: {e}; the parameters are force=true and read_only=true"
        ))
    })?;
    let ctx = Ctx {
        state: state.get_ref().clone(),
        caller: caller.clone(),
        token_hash,
        peer: crate::http::peer(&req),
        audit: None,
        audit_params: None,
    };
    let name = machine.into_inner();
    // An operator may type; a viewer only watches; anyone else learns nothing.
    let (m, may_write) = match ctx.machine(&name, Access::Operator).await {
        Ok(m) => (m, !query.read_only),
        Err(ApiError::Forbidden(_)) => (ctx.machine(&name, Access::Viewer).await?, false),
        Err(e) => return Err(e),
    };
    let driver = crate::commands::machine::Driver::of(&m);
    if driver != crate::commands::machine::Driver::Ipmi {
        return Err(ApiError::NotSupported(format!(
            "machine '{name}': the serial console needs IPMI SOL; this machine's BMC is driven over {}",
            driver.as_str()
        )));
    }
    let target = ctx.target(&m)?;
    let user = caller.name.clone();
    // The handshake is checked before anything reaches the BMC: a plain GET opens no SOL
    // session. Its answer is sent only if the attach succeeds.
    let (mut response, session, stream) = actix_ws::handle(&req, body)
        .map_err(|e| ApiError::BadRequest(format!("the console is a WebSocket: {e}")))?;
    if by_protocol {
        response.headers_mut().insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static(PROTOCOL),
        );
    }
    // Taking SOL from another session, or the keyboard from its holder, is an operator's
    // act: a viewer's (or a read-only client's) `force` is ignored.
    let force = query.force && may_write;
    let attached = state
        .consoles
        .attach(m.id, &m.name, &target, &user, may_write, force)
        .await;
    let att = match attached {
        Ok(att) => att,
        Err(e) => {
            let e = refused(&name, e);
            record(
                &state,
                &user,
                "console-attach",
                &name,
                e.code().as_str(),
                None,
            )
            .await;
            return Err(e);
        }
    };
    let detail = match (&att.took_over_from, att.is_writer()) {
        (Some(h), _) => format!("writer; took the keyboard from {}", h.user),
        (None, true) => "writer".to_owned(),
        (None, false) => "read-only".to_owned(),
    };
    let command = if att.took_over_from.is_some() {
        "console-takeover"
    } else {
        "console-attach"
    };
    record(&state, &user, command, &name, "ok", Some(detail)).await;
    let stream = stream
        .max_frame_size(MAX_FRAME)
        .aggregate_continuations()
        .max_continuation_size(MAX_FRAME);
    let state = state.get_ref().clone();
    let access = Recheck {
        ctx,
        generation: state.caches.generation(),
        checked: std::time::Instant::now(),
    };
    actix_web::rt::spawn(async move {
        let why = serve(&state, &name, att, session, stream, access).await;
        record(&state, &user, "console-detach", &name, "ok", Some(why)).await;
    });
    Ok(response)
}

fn refused(machine: &str, e: Refused) -> ApiError {
    match e {
        Refused::Console(ConsoleError::InUse(why)) => ApiError::Conflict(format!(
            "machine '{machine}': {why}; --force takes it over (the other session loses it)"
        )),
        Refused::Console(ConsoleError::Bmc(e)) => bmc_error(machine, e),
        Refused::Console(ConsoleError::Ended(why)) => ApiError::Bmc {
            code: schema::ErrorCode::BmcProtocolError,
            message: format!("machine '{machine}': the serial console ended: {why}"),
            details: None,
        },
        Refused::ReadOnly(why) => ApiError::Forbidden(why),
        Refused::Gone => ApiError::Bmc {
            code: schema::ErrorCode::BmcUnreachable,
            message: format!("machine '{machine}': the console session ended while opening"),
            details: None,
        },
    }
}

async fn record(
    state: &AppState,
    user: &str,
    command: &str,
    machine: &str,
    outcome: &str,
    detail: Option<String>,
) {
    state
        .audit(
            user.to_owned(),
            command.to_owned(),
            vec![AuditRow {
                at_ms: chrono::Utc::now().timestamp_millis(),
                machine: Some(machine.to_owned()),
                outcome: outcome.to_owned(),
                duration_ms: 0,
                detail,
                params: None,
            }],
        )
        .await;
}

fn writer_json(h: &Option<Holder>) -> serde_json::Value {
    match h {
        Some(h) => json!({"user": h.user, "since": crate::state::rfc3339(h.since)}),
        None => serde_json::Value::Null,
    }
}

/// A client that takes nothing for this long is gone (a stalled or half-open connection),
/// and leaves: it must not keep the keyboard, or the session, for ever.
const SEND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

async fn text(session: &mut Session, v: serde_json::Value) -> Result<(), actix_ws::Closed> {
    match tokio::time::timeout(SEND_TIMEOUT, session.text(v.to_string())).await {
        Ok(r) => r,
        Err(_) => Err(actix_ws::Closed),
    }
}

async fn binary(session: &mut Session, bytes: Vec<u8>) -> Result<(), actix_ws::Closed> {
    match tokio::time::timeout(SEND_TIMEOUT, session.binary(bytes)).await {
        Ok(r) => r,
        Err(_) => Err(actix_ws::Closed),
    }
}

/// After a detach's keystrokes are acknowledged, the output that answers them: relayed
/// until [`QUIET`] passes without any, for at most [`LINGER`].
async fn linger(att: &mut Attachment, session: &mut Session) {
    let until = tokio::time::Instant::now() + LINGER;
    loop {
        let wait = until.min(tokio::time::Instant::now() + QUIET);
        match tokio::time::timeout_at(wait, att.events.recv()).await {
            Ok(Ok(Event::Output(bytes))) => {
                if binary(session, bytes.to_vec()).await.is_err() {
                    return;
                }
            }
            Ok(Ok(_)) | Ok(Err(RecvError::Lagged(_))) => {}
            Ok(Err(RecvError::Closed)) | Err(_) => return,
        }
    }
}

/// How long a detaching client still gets output: quiet for this long ends it...
const QUIET: std::time::Duration = std::time::Duration::from_millis(300);
/// ...and this long at most.
const LINGER: std::time::Duration = std::time::Duration::from_secs(3);

/// How often an attached client's access is checked again when nothing has changed.
const RECHECK_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

/// What an attached client's access is checked again with.
struct Recheck {
    /// The client's call: its token (by hash) and the machine access rule.
    ctx: Ctx,
    /// The caches' generation at the last check: it moves with every change.
    generation: u64,
    checked: std::time::Instant,
}

impl Recheck {
    /// `Err(why)` when the client may no longer stay: its token is gone, or its role on
    /// the machine no longer allows what it attached for. A database that does not answer
    /// ends nothing (it is checked again next time).
    async fn still_allowed(&mut self, machine: &str, may_write: bool) -> Result<(), String> {
        let state = self.ctx.state.clone();
        let generation = state.caches.generation();
        if generation == self.generation && self.checked.elapsed() < RECHECK_EVERY {
            return Ok(());
        }
        let caller = match caller_of(&state, self.ctx.token_hash.clone()).await {
            Ok(caller) => caller,
            Err(ApiError::Unauthenticated) => {
                return Err("your session ended (logged out, revoked or expired)".into());
            }
            Err(e) => {
                tracing::warn!(error = %e, machine, "cannot check a console client's token");
                return Ok(());
            }
        };
        let ctx = Ctx {
            caller,
            ..self.ctx.clone()
        };
        let need = if may_write {
            Access::Operator
        } else {
            Access::Viewer
        };
        match ctx.machine(machine, need).await {
            Ok(_) => {}
            Err(e @ (ApiError::Forbidden(_) | ApiError::NotFound(_))) => {
                return Err(format!("your access to the console changed: {e}"));
            }
            Err(e) => {
                tracing::warn!(error = %e, machine, "cannot check a console client's access");
                return Ok(());
            }
        }
        self.generation = generation;
        self.checked = std::time::Instant::now();
        Ok(())
    }
}

/// Relays between one client and its console until either ends; returns how it ended,
/// for the audit record.
async fn serve(
    state: &AppState,
    machine: &str,
    mut att: Attachment,
    mut session: Session,
    mut stream: actix_ws::AggregatedMessageStream,
    mut access: Recheck,
) -> String {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mode = if att.is_writer() { "write" } else { "read" };
    let mut hello = json!({
        "type": "attached",
        "machine": machine,
        "mode": mode,
        // Whether this client may ever type (an operator, not read-only): a client offers
        // the keyboard, a break and a takeover only then.
        "may_write": att.may_write,
        "writer": writer_json(&att.writer),
        "took_over_from": writer_json(&att.took_over_from),
        "scrollback": att.scrollback.len(),
    });
    if mode == "read" {
        let why = match &att.writer {
            Some(h) => format!("read-only: held by {} since {}", h.user, clock(h.since)),
            None if att.may_write => "the keyboard is free: type to take it".to_owned(),
            None => "read-only: watching".to_owned(),
        };
        hello["message"] = why.into();
    }
    if text(&mut session, hello).await.is_err() {
        return "the client left".into();
    }
    let scrollback = std::mem::take(&mut att.scrollback);
    if !scrollback.is_empty() && binary(&mut session, scrollback).await.is_err() {
        return "the client left".into();
    }
    let mut told_read_only = false;
    let why = loop {
        tokio::select! {
            _ = tick.tick() => {
                if let Err(why) = access.still_allowed(machine, att.may_write).await {
                    let _ = text(&mut session, json!({"type": "ended", "message": why})).await;
                    break why;
                }
            }
            event = att.events.recv() => {
                let sent = match event {
                    Ok(Event::Output(bytes)) => binary(&mut session, bytes.to_vec()).await,
                    Ok(Event::Notice { to, text: t }) if to.is_none_or(|c| c == att.client) => {
                        text(&mut session, json!({"type": "notice", "message": t})).await
                    }
                    Ok(Event::Notice { .. }) => Ok(()),
                    Ok(Event::Writer(h)) => {
                        told_read_only = false;
                        text(&mut session, json!({"type": "writer", "writer": writer_json(&h)})).await
                    }
                    Ok(Event::Ended(why)) => {
                        let _ = text(&mut session, json!({"type": "ended", "message": why})).await;
                        break format!("the console ended: {why}");
                    }
                    Err(RecvError::Lagged(n)) => {
                        text(&mut session, json!({
                            "type": "dropped",
                            "chunks": n,
                            "message": format!("{n} chunks of output were dropped: this client read too slowly"),
                        })).await
                    }
                    Err(RecvError::Closed) => break "the console ended".to_owned(),
                };
                if sent.is_err() {
                    break "the client left".to_owned();
                }
            }
            msg = stream.next() => {
                let done = match msg {
                    Some(Ok(AggregatedMessage::Binary(keys))) => {
                        match att.type_keys(keys.to_vec()).await {
                            Ok(()) => None,
                            Err(Refused::ReadOnly(why)) if !told_read_only => {
                                told_read_only = true;
                                let _ = text(&mut session, json!({"type": "notice", "message": why})).await;
                                None
                            }
                            Err(Refused::ReadOnly(_)) => None,
                            Err(e) => Some(e.to_string()),
                        }
                    }
                    Some(Ok(AggregatedMessage::Text(t))) => match serde_json::from_str::<Control>(&t) {
                        Ok(Control::Break) => match att.send_break().await {
                            Ok(()) => {
                                record(state, &att.user, "console-break", machine, "ok", None).await;
                                None
                            }
                            Err(e) => {
                                let _ = text(&mut session, json!({"type": "notice", "message": e.to_string()})).await;
                                None
                            }
                        },
                        Ok(Control::Detach) => {
                            att.sync().await;
                            // What the host answers to the last line still reaches the
                            // client: until the line is quiet (bounded).
                            linger(&mut att, &mut session).await;
                            let _ = text(&mut session, json!({"type": "detached"})).await;
                            Some("detached".to_owned())
                        }
                        Err(e) => {
                            let _ = text(&mut session, json!({
                                "type": "notice",
                                "message": format!("unknown control message ({e}); known: {{\"type\":\"break\"}}, {{\"type\":\"detach\"}}"),
                            })).await;
                            None
                        }
                    },
                    Some(Ok(AggregatedMessage::Ping(p))) => session.pong(&p).await.err().map(|_| "the client left".to_owned()),
                    Some(Ok(AggregatedMessage::Pong(_))) => None,
                    Some(Ok(AggregatedMessage::Close(_))) | None => Some("the client left".to_owned()),
                    Some(Err(e)) => Some(format!("the client's WebSocket failed: {e}")),
                };
                if let Some(why) = done {
                    break why;
                }
            }
        }
    };
    let _ = session.close(None).await;
    why
}
