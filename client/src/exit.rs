//! Exit codes, the one error type that carries a code other than 1, and how stdout and
//! stderr are written so that a closed pipe (`igor ... | head -1`) ends the output quietly
//! instead of failing the run. A leaf module: everything may use it, it uses nothing of
//! ours but the HTTP layer's `Unreachable`.

use std::io::Write;

use crate::http::Unreachable;

/// All went well.
pub const EXIT_OK: i32 = 0;
/// The server refused, or a single call failed.
pub const EXIT_FAILED: i32 = 1;
/// A usage error: a flag, an argument or the server URL as typed.
pub const EXIT_USAGE: i32 = 2;
/// A bulk or multi-record call partly failed: some machines or records are not done.
pub const EXIT_PARTIAL: i32 = 3;
/// The server could not be reached (no connection): nothing was sent to it.
pub const EXIT_UNREACHABLE: i32 = 4;

/// An error that ends the run with `code` rather than 1; shown as its message.
#[derive(Debug)]
pub struct Exit {
    pub code: i32,
    pub message: String,
}

impl Exit {
    pub fn usage(message: impl std::fmt::Display) -> anyhow::Error {
        Exit {
            code: EXIT_USAGE,
            message: message.to_string(),
        }
        .into()
    }
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Exit {}

/// The exit code of a run that ended in `e`.
pub fn code_of(e: &anyhow::Error) -> i32 {
    e.chain()
        .find_map(|c| c.downcast_ref::<Exit>())
        .map_or(EXIT_FAILED, |x| x.code)
}

/// "cannot reach the server": exit 4 when no connection was made, 1 when one was and the
/// answer was unusable or the certificate refused (waiting would not help those).
pub fn unreached(server: &str, e: Unreachable) -> anyhow::Error {
    offline(Unreachable {
        message: format!("cannot reach the server at {server}: {e}"),
        ..e
    })
}

/// The error of a run that had only an offline schema (see `Resolved::offline`), whose
/// message already says which server could not be reached and why.
pub fn offline(e: Unreachable) -> anyhow::Error {
    if e.no_connection {
        Exit {
            code: EXIT_UNREACHABLE,
            message: e.message,
        }
        .into()
    } else {
        anyhow::anyhow!(e.message)
    }
}

/// A line on stderr; a stderr that cannot be written to (closed) is not worth a panic.
pub fn stderr_line(text: impl std::fmt::Display) {
    let _ = writeln!(std::io::stderr(), "{text}");
}

/// Stdout as igor writes it: once the reader has gone (EPIPE), the rest of the output is
/// dropped and every write succeeds, so the run ends as it would have, with its own exit
/// code, and no writer anywhere (clap's completion generator panics on a failed write)
/// sees an error.
pub struct PipeEnd<W> {
    inner: W,
    closed: bool,
}

impl<W: Write> PipeEnd<W> {
    pub fn new(inner: W) -> Self {
        PipeEnd {
            inner,
            closed: false,
        }
    }

    fn guard<T>(&mut self, done: T, r: std::io::Result<T>) -> std::io::Result<T> {
        match r {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(done)
            }
            other => other,
        }
    }
}

impl<W: Write> Write for PipeEnd<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.closed {
            return Ok(buf.len());
        }
        let r = self.inner.write(buf);
        self.guard(buf.len(), r)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.closed {
            return Ok(());
        }
        let r = self.inner.flush();
        self.guard((), r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer whose reader has gone after `room` bytes.
    struct Closing {
        room: usize,
        got: Vec<u8>,
    }

    impl Write for Closing {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if self.got.len() >= self.room {
                return Err(std::io::ErrorKind::BrokenPipe.into());
            }
            let n = buf.len().min(self.room - self.got.len());
            self.got.extend_from_slice(&buf[..n]);
            Ok(n)
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_closed_pipe_ends_the_output_quietly() {
        let mut w = PipeEnd::new(Closing {
            room: 4,
            got: Vec::new(),
        });
        w.write_all(b"line one\nline two\n").unwrap();
        writeln!(w, "more").unwrap();
        w.flush().unwrap();
        assert_eq!(w.inner.got, b"line");
        // Any other error still is one.
        struct Full;
        impl Write for Full {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                Err(std::io::Error::other("disk full"))
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        assert!(PipeEnd::new(Full).write_all(b"x").is_err());
    }
}
