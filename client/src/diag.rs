//! Diagnostics for the user on stderr: warnings (each text at most once per run), notes
//! (a summary kept off a piped stdout) and the `-v` trace, all silent under `--quiet`,
//! which leaves only errors. Collected as well as printed, so tests can assert on them.

use std::cell::RefCell;
use std::fmt::Display;

/// Where warnings and verbose lines go. `echo` prints them to stderr as they happen.
#[derive(Default)]
pub struct Diag {
    echo: bool,
    verbose: bool,
    quiet: bool,
    /// Colours for what is echoed (the `warning:` word); lines are kept plain.
    paint: crate::color::Paint,
    lines: RefCell<Vec<String>>,
}

impl Diag {
    pub fn stderr(verbose: bool, quiet: bool, paint: crate::color::Paint) -> Self {
        Diag {
            echo: true,
            verbose,
            quiet,
            paint,
            lines: RefCell::default(),
        }
    }

    /// A silent collector, for tests.
    pub fn collect() -> Self {
        Diag::default()
    }

    /// `warning: ...`, once per distinct text: a cache that fails the same way on every
    /// file must not drown the command's own output.
    pub fn warn(&self, msg: impl Display) {
        self.push(format!("warning: {msg}"));
    }

    /// A line for people that is not part of the output (a table's summary when stdout is
    /// not a terminal).
    pub fn note(&self, msg: impl Display) {
        self.push(msg.to_string());
    }

    /// A `-v` line; dropped unless verbose.
    pub fn info(&self, msg: impl Display) {
        if self.verbose {
            self.push(msg.to_string());
        }
    }

    fn push(&self, line: String) {
        let mut lines = self.lines.borrow_mut();
        if lines.contains(&line) {
            return;
        }
        if self.echo && !self.quiet {
            match line.strip_prefix("warning:") {
                Some(rest) => {
                    crate::exit::stderr_line(format_args!("{}{rest}", self.paint.warn("warning:")))
                }
                None => crate::exit::stderr_line(&line),
            }
        }
        lines.push(line);
    }

    pub fn lines(&self) -> Vec<String> {
        self.lines.borrow().clone()
    }

    pub fn warnings(&self) -> Vec<String> {
        self.lines()
            .into_iter()
            .filter(|l| l.starts_with("warning: "))
            .collect()
    }
}
