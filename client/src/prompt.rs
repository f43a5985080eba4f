//! Asking the user for secrets, behind a trait so tests can answer the prompts.

use std::io::{BufRead, IsTerminal};

use serde_json::Value;

use crate::tree::{SecretAsk, SecretSource};

pub trait Prompter {
    /// Asks for a secret on the terminal without echo.
    fn secret(&mut self, prompt: &str) -> std::io::Result<String>;
    /// One line from stdin, newline removed (`--password-stdin`, `--FLAG-stdin`).
    fn stdin_line(&mut self) -> std::io::Result<String>;
    fn stdin_is_terminal(&self) -> bool;
    /// The first line of a file, newline removed (`--FLAG-file PATH`).
    fn file_line(&mut self, path: &str) -> std::io::Result<String>;
    /// A visible question (a user name).
    fn line(&mut self, prompt: &str) -> std::io::Result<String>;
}

/// The real terminal.
pub struct TermPrompter;

impl Prompter for TermPrompter {
    fn secret(&mut self, prompt: &str) -> std::io::Result<String> {
        rpassword::prompt_password(prompt)
    }

    fn stdin_line(&mut self) -> std::io::Result<String> {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        Ok(line.trim_end_matches(['\n', '\r']).to_owned())
    }

    fn stdin_is_terminal(&self) -> bool {
        std::io::stdin().is_terminal()
    }

    fn file_line(&mut self, path: &str) -> std::io::Result<String> {
        let text = std::fs::read_to_string(path)?;
        Ok(text.lines().next().unwrap_or_default().to_owned())
    }

    fn line(&mut self, prompt: &str) -> std::io::Result<String> {
        eprint!("{prompt}");
        self.stdin_line()
    }
}

/// An I/O error in words, without the OS's error number, for a message that goes on to say
/// what to do: `no such file`, `permission denied`.
pub fn io_words(e: &std::io::Error) -> String {
    use std::io::ErrorKind;
    match e.kind() {
        ErrorKind::NotFound => "no such file".to_owned(),
        ErrorKind::PermissionDenied => "permission denied".to_owned(),
        ErrorKind::IsADirectory => "it is a folder".to_owned(),
        ErrorKind::InvalidData => "it is not UTF-8 text".to_owned(),
        _ => {
            let text = e.to_string();
            let text = text.split(" (os error ").next().unwrap_or_default();
            let mut chars = text.chars();
            match chars.next() {
                Some(first) => first.to_lowercase().chain(chars).collect(),
                None => text.to_owned(),
            }
        }
    }
}

/// Whether a prompt failed because there is no terminal to ask on: the process has no
/// controlling terminal (`/dev/tty` gives ENXIO) or none exists.
pub fn no_terminal(e: &std::io::Error) -> bool {
    const ENXIO: i32 = 6;
    e.raw_os_error() == Some(ENXIO) || e.kind() == std::io::ErrorKind::NotFound
}

/// Scripted answers, for tests: every prompt pops the next answer and is recorded.
#[derive(Default)]
pub struct ScriptedPrompter {
    pub answers: Vec<String>,
    pub asked: Vec<String>,
    pub terminal: bool,
}

impl ScriptedPrompter {
    pub fn new(answers: &[&str]) -> Self {
        ScriptedPrompter {
            answers: answers.iter().rev().map(|s| s.to_string()).collect(),
            asked: Vec::new(),
            terminal: true,
        }
    }

    fn next(&mut self, what: String) -> std::io::Result<String> {
        self.asked.push(what);
        self.answers
            .pop()
            .ok_or_else(|| std::io::Error::from_raw_os_error(6))
    }
}

impl Prompter for ScriptedPrompter {
    fn secret(&mut self, prompt: &str) -> std::io::Result<String> {
        self.next(format!("secret:{prompt}"))
    }

    fn stdin_line(&mut self) -> std::io::Result<String> {
        self.next("stdin".to_owned())
    }

    fn stdin_is_terminal(&self) -> bool {
        self.terminal
    }

    fn file_line(&mut self, path: &str) -> std::io::Result<String> {
        self.next(format!("file:{path}"))
    }

    fn line(&mut self, prompt: &str) -> std::io::Result<String> {
        self.next(format!("line:{prompt}"))
    }
}

/// Reads a secret; an empty one is refused (a closed or empty stdin, an empty file), so
/// that a mistake in a script does not set an empty password.
pub fn read_secret(
    flag: &str,
    source: &SecretSource,
    prompter: &mut dyn Prompter,
) -> Result<String, String> {
    let prompt = format!("{flag}: ");
    let fail = |e: std::io::Error| {
        if no_terminal(&e) {
            format!(
                "no terminal to ask for --{flag} on: pass --{flag}-stdin (with the secret on stdin) or --{flag}-file PATH"
            )
        } else {
            format!(
                "cannot ask for --{flag} ({}): pass --{flag}-stdin or --{flag}-file PATH",
                io_words(&e)
            )
        }
    };
    let (text, from) = match source {
        SecretSource::Stdin if prompter.stdin_is_terminal() => {
            (prompter.secret(&prompt).map_err(fail)?, "the prompt")
        }
        SecretSource::Stdin => (
            prompter.stdin_line().map_err(|e| {
                format!(
                    "cannot read --{flag} from stdin ({}): pass --{flag}-file PATH instead",
                    io_words(&e)
                )
            })?,
            "stdin",
        ),
        SecretSource::File(path) => (
            prompter.file_line(path).map_err(|e| {
                format!(
                    "cannot read --{flag}-file {path}: {}; give a readable file holding the secret on its first line",
                    io_words(&e)
                )
            })?,
            "the file",
        ),
        SecretSource::Prompt => (prompter.secret(&prompt).map_err(fail)?, "the prompt"),
    };
    if text.is_empty() {
        return Err(format!(
            "--{flag}: the secret from {from} is empty; refusing to send an empty secret"
        ));
    }
    Ok(text)
}

/// Reads every secret a call still needs into its `params`, in the order asked.
pub fn ask_secrets(
    params: &mut Value,
    asks: &[SecretAsk],
    prompter: &mut dyn Prompter,
) -> Result<(), String> {
    for ask in asks {
        let text = read_secret(&ask.flag, &ask.source, prompter)?;
        if let Value::Object(m) = params {
            m.insert(ask.key.clone(), Value::String(text));
        }
    }
    Ok(())
}
