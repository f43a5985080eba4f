//! `console-log` (1.6): a machine's recent console output without attaching, like conman's
//! logs. The console itself is a WebSocket (`console_ws`), not a command: it is a stream
//! both ways, not a call.

use schemars::JsonSchema;
use serde::Deserialize;

use crate::access::Access;
use crate::db::models::Machine;
use crate::error::ApiError;
use crate::registry::{CommandSpec, OnMachine, Out, Verb, on_machine};
use crate::state::Ctx;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsoleLog1 {
    /// Machine name.
    #[schemars(extend("x-igor-positional" = 0))]
    pub machine: String,
    /// How many of the last lines to show.
    #[serde(default = "default_lines")]
    #[schemars(range(min = 1, max = 100000))]
    pub lines: u32,
}

fn default_lines() -> u32 {
    100
}

impl OnMachine for ConsoleLog1 {
    const FIELD: &'static str = "machine";
    fn machine(&self) -> &str {
        &self.machine
    }
}

/// The last `n` lines of `bytes` (a partial first line is dropped when the scrollback is
/// full, as its start is gone), without line ends. Bytes that are not UTF-8 become U+FFFD.
fn last_lines(bytes: &[u8], full: bool, n: usize) -> Vec<String> {
    let text = String::from_utf8_lossy(bytes);
    let mut lines: Vec<&str> = text.split('\n').collect();
    if full && lines.len() > 1 {
        lines.remove(0);
    }
    if lines.last() == Some(&"") {
        lines.pop();
    }
    let skip = lines.len().saturating_sub(n);
    lines[skip..]
        .iter()
        .map(|l| l.trim_end_matches('\r').to_owned())
        .collect()
}

async fn log(ctx: Ctx, m: Machine, p: ConsoleLog1) -> Result<Out<Vec<String>>, ApiError> {
    let (bytes, live) = ctx.state.consoles.recent(m.id);
    let full = bytes.len() >= crate::console::SCROLLBACK;
    let lines = last_lines(&bytes, full, p.lines as usize);
    let summary = format!(
        "{} line(s) of machine '{}''s console (session {})",
        lines.len(),
        m.name,
        if live { "live" } else { "not attached" }
    );
    Ok(Out::new(lines, summary))
}

pub fn specs() -> Vec<CommandSpec> {
    vec![
        on_machine(
            "console-log",
            1,
            "1.6",
            "console",
            Access::Viewer,
            "Show a machine's recent serial console output\n\
             The last lines of what igord's console broker kept (256 KiB per machine) since \
             its console was last attached, without attaching. 'igor console MACHINE' attaches.",
            log,
        )
        .rest(Verb::Get, "/api/machines/{machine}/console/log")
        .audited(),
    ]
}

#[cfg(test)]
mod tests {
    use super::last_lines;

    #[test]
    fn lines_of_the_scrollback() {
        let b = b"boot\r\nkernel\r\nnode1 login: ";
        assert_eq!(
            last_lines(b, false, 100),
            ["boot", "kernel", "node1 login: "]
        );
        assert_eq!(last_lines(b, false, 1), ["node1 login: "]);
        assert_eq!(last_lines(b, true, 100), ["kernel", "node1 login: "]);
        assert_eq!(last_lines(b"a\r\nb\r\n", false, 5), ["a", "b"]);
        assert!(last_lines(b"", false, 5).is_empty());
    }
}
