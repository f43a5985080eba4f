//! Power: `power-status`, `power-on`, `power-off`, `power-cycle`, `power-reset`, `power-soft`
//! (one machine, level 1.0), `power-on/2` (optional wait, 1.2), and the bulk versions over a
//! set of machines (1.3). Actions are sent once and never retried.

use std::sync::Arc;
use std::time::{Duration, Instant};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::bulk::{MachineSet, bulk};
use crate::access::Access;
use crate::bmc::{BmcTarget, ChassisAction, PowerState};
use crate::db::models::Machine;
use crate::error::{ApiError, bmc_error};
use crate::registry::{CommandSpec, OnMachine, Out, Verb, on_machine};
use crate::state::Ctx;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MachineParam {
    /// Machine name.
    #[schemars(extend("x-igor-positional" = 0))]
    pub machine: String,
}

impl OnMachine for MachineParam {
    const FIELD: &'static str = "machine";
    fn machine(&self) -> &str {
        &self.machine
    }
}

/// A set of machines (bulk command versions, level 1.3).
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MachinesParam {
    /// Machines: names, hostranges such as node[01-40], or globs such as rack4-*.
    #[schemars(extend("x-igor-positional" = 0))]
    #[schemars(length(min = 1, max = 10000))]
    pub machines: Vec<String>,
}

impl MachineSet for MachinesParam {
    fn machines(&self) -> &[String] {
        &self.machines
    }
}

#[derive(Serialize, JsonSchema)]
pub struct PowerOut {
    /// Machine name.
    pub machine: String,
    /// `on` or `off`, as the BMC reports it.
    pub power: String,
}

#[derive(Serialize, JsonSchema)]
pub struct PowerActionOut {
    /// Machine name.
    pub machine: String,
    /// What was sent: `on`, `off`, `cycle`, `reset` or `soft`.
    pub action: String,
}

fn state_name(p: PowerState) -> &'static str {
    match p {
        PowerState::On => "on",
        PowerState::Off => "off",
    }
}

fn action_spec(
    name: &'static str,
    doc: &'static str,
    action: ChassisAction,
    word: &'static str,
) -> CommandSpec {
    on_machine(
        name,
        1,
        "1.0",
        "power",
        Access::Operator,
        doc,
        move |ctx: Ctx, m: Machine, _: MachineParam| power_action(ctx, m, action, word),
    )
    .audited()
    .rest(Verb::Post, POWER)
    .rest_choice("action", word)
}

/// The bulk version (level 1.3) of a power action.
fn bulk_action_spec(
    name: &'static str,
    version: u32,
    doc: &'static str,
    action: ChassisAction,
    word: &'static str,
) -> CommandSpec {
    bulk(
        name,
        version,
        "1.3",
        "power",
        Access::Operator,
        doc,
        move |ctx: Ctx, m: Machine, _: Arc<MachinesParam>| async move {
            act_on(&ctx, m, action, word).await
        },
    )
    .rest(Verb::Post, POWER)
    .rest_choice("action", word)
}

/// The REST route of every power action, chosen by `action` (`on`, `off`, `cycle`,
/// `reset`, `soft`: the word each declaration reports).
const POWER: &str = "/api/machines/{machine}/power";

pub fn specs() -> Vec<CommandSpec> {
    vec![
        on_machine(
            "power-status",
            1,
            "1.0",
            "power",
            Access::Viewer,
            "Show whether a machine is powered on",
            status,
        )
        .rest(Verb::Get, "/api/machines/{machine}/power")
        .audited(),
        action_spec(
            "power-on",
            "Power a machine on",
            ChassisAction::PowerOn,
            "on",
        ),
        action_spec(
            "power-off",
            "Power a machine off at once (no clean shutdown; see power-soft)",
            ChassisAction::PowerOff,
            "off",
        ),
        action_spec(
            "power-cycle",
            "Power a machine off, then on again",
            ChassisAction::PowerCycle,
            "cycle",
        ),
        action_spec(
            "power-reset",
            "Hard-reset a machine (its power stays on)",
            ChassisAction::HardReset,
            "reset",
        ),
        action_spec(
            "power-soft",
            "Ask the operating system to shut down cleanly (ACPI soft-off)",
            ChassisAction::SoftShutdown,
            "soft",
        ),
        on_machine(
            "power-on",
            2,
            "1.2",
            "power",
            Access::Operator,
            "Power a machine on, optionally waiting until the BMC reports it on\n\
             Without --wait this is power-on/1 and returns at once. With --wait the server \
             polls the power state until it is on or timeout_secs have passed (then the \
             call fails with bmc_timeout); the power-on request itself is sent once.",
            power_on_2,
        )
        .audited()
        .rest(Verb::Post, POWER)
        .rest_choice("action", "on"),
        bulk(
            "power-status",
            2,
            "1.3",
            "power",
            Access::Viewer,
            "Show whether machines are powered on, for a set of machines\n\
             Machines are names, hostranges (node[01-40]) or globs (rack4-*); each answers \
             as soon as its BMC does.",
            |ctx: Ctx, m: Machine, _: Arc<MachinesParam>| async move { status_of(&ctx, m).await },
        )
        .rest(Verb::Get, "/api/machines/{machine}/power"),
        bulk(
            "power-on",
            3,
            "1.3",
            "power",
            Access::Operator,
            "Power a set of machines on, optionally waiting until each reports on\n\
             Each machine's power-on request is sent once; with --wait each machine is \
             polled until it is on or timeout_secs have passed.",
            |ctx: Ctx, m: Machine, p: Arc<PowerOnBulk>| async move {
                power_on_wait(&ctx, m, p.wait, p.timeout_secs).await
            },
        )
        .rest(Verb::Post, POWER)
        .rest_choice("action", "on"),
        bulk_action_spec(
            "power-off",
            2,
            "Power a set of machines off at once (no clean shutdown; see power-soft)",
            ChassisAction::PowerOff,
            "off",
        ),
        bulk_action_spec(
            "power-cycle",
            2,
            "Power-cycle a set of machines",
            ChassisAction::PowerCycle,
            "cycle",
        ),
        bulk_action_spec(
            "power-reset",
            2,
            "Hard-reset a set of machines",
            ChassisAction::HardReset,
            "reset",
        ),
        bulk_action_spec(
            "power-soft",
            2,
            "Ask the operating systems of a set of machines to shut down cleanly",
            ChassisAction::SoftShutdown,
            "soft",
        ),
        bulk(
            "power-on",
            4,
            "1.5",
            "power",
            Access::Operator,
            "Power a set of machines on, and report what each was and became\n\
             A machine already on is reported as such and nothing is sent to it; otherwise \
             the request is sent once and the machine polled until its BMC reports it on \
             (or timeout_secs pass: bmc_timeout). --no-wait returns once the request is sent.",
            |ctx: Ctx, m: Machine, p: Arc<PowerSwitch>| async move {
                switch(&ctx, m, PowerState::On, p.no_wait, p.timeout_secs).await
            },
        )
        .rest(Verb::Post, POWER)
        .rest_choice("action", "on"),
        bulk(
            "power-off",
            3,
            "1.5",
            "power",
            Access::Operator,
            "Power a set of machines off at once, and report what each was and became\n\
             No clean shutdown (see power-soft). A machine already off is reported as such \
             and nothing is sent to it; otherwise the request is sent once and the machine \
             polled until its BMC reports it off (or timeout_secs pass: bmc_timeout).",
            |ctx: Ctx, m: Machine, p: Arc<PowerSwitch>| async move {
                switch(&ctx, m, PowerState::Off, p.no_wait, p.timeout_secs).await
            },
        )
        .rest(Verb::Post, POWER)
        .rest_choice("action", "off"),
    ]
}

/// `power-on/4` and `power-off/3`: a set of machines, waiting by default.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PowerSwitch {
    /// Machines: names, hostranges such as node[01-40], or globs such as rack4-*.
    #[schemars(extend("x-igor-positional" = 0))]
    #[schemars(length(min = 1, max = 10000))]
    pub machines: Vec<String>,
    /// Return once the request is sent, without waiting for the BMC to report the state.
    #[serde(default)]
    pub no_wait: bool,
    /// How long to wait per machine, in seconds.
    #[serde(default = "default_wait_secs")]
    #[schemars(range(min = 1, max = 600))]
    pub timeout_secs: u32,
}

impl MachineSet for PowerSwitch {
    fn machines(&self) -> &[String] {
        &self.machines
    }
}

/// What a power switch found and did on one machine.
#[derive(Serialize, JsonSchema)]
pub struct PowerSwitchOut {
    /// Machine name.
    pub machine: String,
    /// The state the BMC reported before anything was sent: `on` or `off`.
    pub found: String,
    /// The last state the BMC reported: `on` or `off`.
    pub power: String,
    /// `already on` / `already off` (nothing was sent), `on` / `off` (sent, and the BMC
    /// reports it), or `sent` (with --no-wait: sent, not waited for).
    pub outcome: String,
    /// Milliseconds from sending to the BMC reporting the state (0 when nothing was sent or
    /// nothing was waited for).
    pub waited_ms: u64,
}

/// Switches `m` to `want` unless it is there already: reads the state, sends the request
/// once if needed, then (unless `no_wait`) polls until the BMC reports `want` or the time
/// is up (`bmc_timeout`, naming the last state).
async fn switch(
    ctx: &Ctx,
    m: Machine,
    want: PowerState,
    no_wait: bool,
    timeout_secs: u32,
) -> Result<PowerSwitchOut, ApiError> {
    let t = ctx.target(&m)?;
    let bmc = &ctx.state.bmc;
    let word = state_name(want);
    let found = bmc
        .power_status(m.id, &t)
        .await
        .map_err(|e| bmc_error(&m.name, e))?;
    let out = |power: PowerState, outcome: String, waited_ms: u64| PowerSwitchOut {
        machine: m.name.clone(),
        found: state_name(found).to_owned(),
        power: state_name(power).to_owned(),
        outcome,
        waited_ms,
    };
    if found == want {
        return Ok(out(found, format!("already {word}"), 0));
    }
    let action = match want {
        PowerState::On => ChassisAction::PowerOn,
        PowerState::Off => ChassisAction::PowerOff,
    };
    bmc.chassis_control(m.id, &t, action)
        .await
        .map_err(|e| bmc_error(&m.name, e))?;
    if no_wait {
        return Ok(out(found, "sent".to_owned(), 0));
    }
    let waited_ms = wait_for(ctx, &m, &t, want, timeout_secs).await?;
    Ok(out(want, word.to_owned(), waited_ms))
}

async fn status_of(ctx: &Ctx, m: Machine) -> Result<PowerOut, ApiError> {
    let t = ctx.target(&m)?;
    let s = ctx
        .state
        .bmc
        .power_status(m.id, &t)
        .await
        .map_err(|e| bmc_error(&m.name, e))?;
    Ok(PowerOut {
        machine: m.name,
        power: state_name(s).to_owned(),
    })
}

async fn status(ctx: Ctx, m: Machine, _: MachineParam) -> Result<Out<PowerOut>, ApiError> {
    let out = status_of(&ctx, m).await?;
    let summary = format!("machine '{}' is powered {}", out.machine, out.power);
    Ok(Out::new(out, summary))
}

async fn act_on(
    ctx: &Ctx,
    m: Machine,
    action: ChassisAction,
    word: &'static str,
) -> Result<PowerActionOut, ApiError> {
    let t = ctx.target(&m)?;
    ctx.state
        .bmc
        .chassis_control(m.id, &t, action)
        .await
        .map_err(|e| bmc_error(&m.name, e))?;
    Ok(PowerActionOut {
        machine: m.name,
        action: word.to_owned(),
    })
}

async fn power_action(
    ctx: Ctx,
    m: Machine,
    action: ChassisAction,
    word: &'static str,
) -> Result<Out<PowerActionOut>, ApiError> {
    let out = act_on(&ctx, m, action, word).await?;
    let summary = format!("power {word} sent to machine '{}'", out.machine);
    Ok(Out::new(out, summary))
}

fn default_wait_secs() -> u32 {
    60
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PowerOn2 {
    /// Machine name.
    #[schemars(extend("x-igor-positional" = 0))]
    pub machine: String,
    /// Wait until the BMC reports the machine powered on.
    #[serde(default)]
    pub wait: bool,
    /// How long to wait, in seconds.
    #[serde(default = "default_wait_secs")]
    #[schemars(range(min = 1, max = 600))]
    pub timeout_secs: u32,
}

impl OnMachine for PowerOn2 {
    const FIELD: &'static str = "machine";
    fn machine(&self) -> &str {
        &self.machine
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PowerOnBulk {
    /// Machines: names, hostranges such as node[01-40], or globs such as rack4-*.
    #[schemars(extend("x-igor-positional" = 0))]
    #[schemars(length(min = 1, max = 10000))]
    pub machines: Vec<String>,
    /// Wait until each BMC reports its machine powered on.
    #[serde(default)]
    pub wait: bool,
    /// How long to wait per machine, in seconds.
    #[serde(default = "default_wait_secs")]
    #[schemars(range(min = 1, max = 600))]
    pub timeout_secs: u32,
}

impl MachineSet for PowerOnBulk {
    fn machines(&self) -> &[String] {
        &self.machines
    }
}

#[derive(Serialize, JsonSchema)]
pub struct PowerOn2Out {
    /// Machine name.
    pub machine: String,
    /// The last state the BMC reported: `on` or `off`; `unknown` without --wait.
    pub power: String,
    /// Whether the server waited for the state.
    pub waited: bool,
    /// Milliseconds from sending power-on to the BMC reporting it on (0 without --wait).
    pub waited_ms: u64,
}

async fn power_on_2(ctx: Ctx, m: Machine, p: PowerOn2) -> Result<Out<PowerOn2Out>, ApiError> {
    let out = power_on_wait(&ctx, m, p.wait, p.timeout_secs).await?;
    let summary = if out.waited {
        format!(
            "machine '{}' is powered on after {} ms",
            out.machine, out.waited_ms
        )
    } else {
        format!("power on sent to machine '{}'", out.machine)
    };
    Ok(Out::new(out, summary))
}

async fn power_on_wait(
    ctx: &Ctx,
    m: Machine,
    wait: bool,
    timeout_secs: u32,
) -> Result<PowerOn2Out, ApiError> {
    let t = ctx.target(&m)?;
    let bmc = &ctx.state.bmc;
    bmc.chassis_control(m.id, &t, ChassisAction::PowerOn)
        .await
        .map_err(|e| bmc_error(&m.name, e))?;
    if !wait {
        return Ok(PowerOn2Out {
            machine: m.name,
            power: "unknown".into(),
            waited: false,
            waited_ms: 0,
        });
    }
    let waited_ms = wait_for(ctx, &m, &t, PowerState::On, timeout_secs).await?;
    Ok(PowerOn2Out {
        machine: m.name,
        power: "on".into(),
        waited: true,
        waited_ms,
    })
}

/// Polls `m`'s power state until the BMC reports `want`, every 250 ms for at most
/// `timeout_secs`; the milliseconds it took, or `bmc_timeout` naming the last state seen.
/// A failed poll is not fatal while time remains: the BMC may be busy switching.
async fn wait_for(
    ctx: &Ctx,
    m: &Machine,
    t: &BmcTarget,
    want: PowerState,
    timeout_secs: u32,
) -> Result<u64, ApiError> {
    let started = Instant::now();
    let limit = Duration::from_secs(u64::from(timeout_secs));
    loop {
        let last = ctx.state.bmc.power_status(m.id, t).await;
        if last.as_ref().is_ok_and(|s| *s == want) {
            return Ok(u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX));
        }
        if started.elapsed() >= limit {
            let last = match last {
                Ok(s) => state_name(s).to_owned(),
                Err(e) => e.to_string(),
            };
            return Err(ApiError::BmcTimeout(format!(
                "machine '{}' did not report power {} within {timeout_secs} s (last: {last})",
                m.name,
                state_name(want)
            )));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
