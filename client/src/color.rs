//! Colour: failures in red, successes in green, warnings in yellow, on a terminal only.
//! `--color auto` (the default) colours a stream that is a terminal unless `NO_COLOR` is set
//! to anything but the empty string (<https://no-color.org>) or `TERM` is `dumb`;
//! `--color always` colours even a pipe and wins over `NO_COLOR`, as a flag typed for one
//! run should; `--color never` never does. stdout and stderr decide each for itself, so
//! `igor ... | less` keeps red errors on the terminal and plain text in the pipe. The
//! escapes come from anstyle, which clap already builds.

use anstyle::{AnsiColor, Style};

/// What `--color` says.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Choice {
    #[default]
    Auto,
    Always,
    Never,
}

/// The values `--color` accepts.
pub const CHOICES: [&str; 3] = ["auto", "always", "never"];

impl Choice {
    /// `None` for anything else (clap refuses it before this is asked).
    pub fn parse(s: Option<&str>) -> Option<Self> {
        match s {
            None | Some("auto") => Some(Choice::Auto),
            Some("always") => Some(Choice::Always),
            Some("never") => Some(Choice::Never),
            Some(_) => None,
        }
    }

    /// Whether a stream gets colour: `terminal` is whether it is one, `no_color` the value of
    /// `NO_COLOR` and `term` that of `TERM`, as the environment has them.
    pub fn enabled(self, terminal: bool, no_color: Option<&str>, term: Option<&str>) -> bool {
        match self {
            Choice::Always => true,
            Choice::Never => false,
            Choice::Auto => terminal && no_color.is_none_or(str::is_empty) && term != Some("dumb"),
        }
    }

    /// The same choice for clap's own help and errors.
    pub fn clap(self, enabled: bool) -> clap::ColorChoice {
        if enabled {
            clap::ColorChoice::Always
        } else {
            clap::ColorChoice::Never
        }
    }
}

/// Paints text for one stream; a `Paint` that is off returns the text as it is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Paint {
    pub on: bool,
}

impl Paint {
    pub const OFF: Paint = Paint { on: false };

    fn with(self, style: Style, text: &str) -> String {
        if self.on && !text.is_empty() {
            format!("{style}{text}{style:#}")
        } else {
            text.to_owned()
        }
    }

    /// Text clap styled (help, its errors): with its escapes, or stripped of them.
    pub fn styled(self, text: &clap::builder::StyledStr) -> String {
        if self.on {
            text.ansi().to_string()
        } else {
            text.to_string()
        }
    }

    /// A failure: an error, a failed machine.
    pub fn bad(self, text: &str) -> String {
        self.with(
            Style::new().fg_color(Some(AnsiColor::Red.into())).bold(),
            text,
        )
    }

    /// A success.
    pub fn good(self, text: &str) -> String {
        self.with(Style::new().fg_color(Some(AnsiColor::Green.into())), text)
    }

    /// A warning.
    pub fn warn(self, text: &str) -> String {
        self.with(
            Style::new().fg_color(Some(AnsiColor::Yellow.into())).bold(),
            text,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn who_gets_colour() {
        // (choice, terminal, NO_COLOR, TERM) -> colour
        let cases = [
            (Choice::Auto, true, None, Some("xterm"), true),
            (Choice::Auto, false, None, Some("xterm"), false),
            (Choice::Auto, true, Some("1"), Some("xterm"), false),
            (Choice::Auto, true, Some(""), Some("xterm"), true),
            (Choice::Auto, true, None, Some("dumb"), false),
            (Choice::Always, false, Some("1"), Some("dumb"), true),
            (Choice::Never, true, None, Some("xterm"), false),
        ];
        for (choice, tty, no_color, term, want) in cases {
            assert_eq!(
                choice.enabled(tty, no_color, term),
                want,
                "{choice:?} tty={tty} NO_COLOR={no_color:?} TERM={term:?}"
            );
        }
        assert_eq!(Paint::OFF.bad("x"), "x");
        assert_eq!(Paint { on: true }.bad("x"), "\x1b[1m\x1b[31mx\x1b[0m");
    }
}
