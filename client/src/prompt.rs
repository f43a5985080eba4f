//! Asking the user for secrets, behind a trait so tests can answer the prompts.

use std::io::{BufRead, IsTerminal};

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
            .ok_or_else(|| std::io::Error::other("no terminal"))
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
