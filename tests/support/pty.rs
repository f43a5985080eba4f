//! A program run on a real pseudo-terminal, as a person at a terminal runs it: the test
//! types on the master side and reads what the program writes, and can read the terminal's
//! settings before and after (raw mode must be undone on every way out).

use std::fs::File;
use std::io::{Read, Write};
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
use rustix::termios::{LocalModes, Termios, tcgetattr};

pub struct Pty {
    master: File,
    /// Kept open so the terminal's settings can be read after the program exits.
    slave: File,
    child: Child,
    out: Arc<Mutex<Vec<u8>>>,
}

impl Pty {
    /// Starts `cmd` with its stdin, stdout and stderr on a new pseudo-terminal.
    pub fn spawn(mut cmd: Command) -> Pty {
        let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).expect("openpt");
        grantpt(&master).expect("grantpt");
        unlockpt(&master).expect("unlockpt");
        let name = ptsname(&master, Vec::new()).expect("ptsname");
        let name = name.to_str().expect("pty name").to_owned();
        let slave = File::options()
            .read(true)
            .write(true)
            .open(&name)
            .expect("open the pty's terminal side");
        let io = |f: &File| std::process::Stdio::from(f.try_clone().expect("dup pty"));
        cmd.stdin(io(&slave)).stdout(io(&slave)).stderr(io(&slave));
        let child = cmd.spawn().expect("start the program on the pty");
        let master = File::from(master);
        let out = Arc::new(Mutex::new(Vec::new()));
        let mut reader = master.try_clone().expect("dup master");
        let sink = out.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            // Ends with EIO once every terminal-side descriptor is closed.
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Pty {
            master,
            slave,
            child,
            out,
        }
    }

    /// Everything the program wrote so far, as text.
    pub fn screen(&self) -> String {
        String::from_utf8_lossy(&self.out.lock().unwrap()).into_owned()
    }

    /// Waits until the screen shows `text` at least `times` times.
    pub fn expect_n(&self, text: &str, times: usize, within: Duration) {
        let deadline = Instant::now() + within;
        while self.screen().matches(text).count() < times {
            assert!(
                Instant::now() < deadline,
                "the terminal did not show {text:?} ({times}x) within {within:?}; it shows:\n{}",
                self.screen()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits until the screen shows `text`. Only what arrived since the last look is
    /// searched, so a long screen (megabytes of output) costs no more per look.
    pub fn expect(&self, text: &str, within: Duration) {
        let deadline = Instant::now() + within;
        let want = text.as_bytes();
        let mut from = 0;
        loop {
            {
                let out = self.out.lock().unwrap();
                if out[from..].windows(want.len()).any(|w| w == want) {
                    return;
                }
                from = out.len().saturating_sub(want.len());
            }
            assert!(
                Instant::now() < deadline,
                "the terminal did not show {text:?} within {within:?}; it ends with:\n{}",
                String::from_utf8_lossy(&self.out.lock().unwrap()[from.saturating_sub(2000)..])
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Whether the screen holds `bytes` anywhere.
    pub fn shows(&self, bytes: &[u8]) -> bool {
        self.out
            .lock()
            .unwrap()
            .windows(bytes.len())
            .any(|w| w == bytes)
    }

    /// Types `bytes`, as keystrokes.
    pub fn type_keys(&mut self, bytes: &[u8]) {
        self.master.write_all(bytes).expect("type on the pty");
    }

    /// The terminal's settings now.
    pub fn termios(&self) -> Termios {
        tcgetattr(&self.slave).expect("tcgetattr")
    }

    /// Waits for the program to exit; its exit code.
    pub fn wait(&mut self, within: Duration) -> i32 {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status.code().unwrap_or(-1);
            }
            assert!(
                Instant::now() < deadline,
                "the program did not exit within {within:?}; the terminal shows:\n{}",
                self.screen()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether a terminal is in its cooked mode (line editing and echo), as a shell leaves it.
pub fn is_cooked(t: &Termios) -> bool {
    t.local_modes
        .contains(LocalModes::ICANON | LocalModes::ECHO | LocalModes::ISIG)
}
