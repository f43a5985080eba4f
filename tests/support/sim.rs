//! `SimBmc`: a real BMC for tests, OpenIPMI's `ipmi_sim` on loopback.
//!
//! Each instance gets its own folder (lan.conf, bmc.emu, SDRs and a copy of the
//! chassis-control helper keeping power/boot state in files), a free UDP port for RMCP and
//! a TCP console port for injecting events. It depends on nothing but std and the
//! reference files in tests/bmc-sim/, so any test crate can use it.
//! The password is passed to ipmitool through `IPMI_PASSWORD` (`-E`), never in argv.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub struct SimBmc {
    dir: PathBuf,
    pub host: String,
    pub port: u16,
    pub console_port: u16,
    pub user: String,
    pub password: String,
    /// The TCP port playing the host's serial console, when SOL is configured.
    serial: Option<u16>,
    child: Option<Child>,
}

/// The reference configuration kept in the repository (tests/bmc-sim/).
pub fn reference_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/bmc-sim"))
}

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("no free udp port")
        .port()
}

/// A free UDP port below 32768: FreeIPMI's tools read `HOST:PORT` into a signed 16-bit
/// number ("hostname invalid" above), and the kernel's ephemeral ports all lie above.
fn free_low_udp_port() -> u16 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    // Spread over 20000..32767 by process and call, so parallel tests rarely collide; a
    // port in use is skipped.
    let base = 20_000 + (std::process::id() % 6_000) * 2;
    for _ in 0..1_000 {
        let port = u16::try_from(base + NEXT.fetch_add(1, Ordering::Relaxed) % 12_700)
            .expect("port below 32768");
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free udp port below 32768");
}

fn free_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("no free tcp port")
        .port()
}

fn require(tool: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        found,
        "{tool} is missing: install it with `apt-get install -y openipmi ipmitool`"
    );
}

impl SimBmc {
    /// Starts a simulator with user `admin`/`admin`.
    pub fn start_new() -> SimBmc {
        Self::with_user("admin", "admin")
    }

    /// Starts a simulator whose serial port (SOL) is the TCP server on 127.0.0.1:`port`,
    /// which plays the host's serial console; it must listen before this is called.
    pub fn with_serial(port: u16) -> SimBmc {
        Self::build("admin", "admin", Some(port))
    }

    /// Starts a simulator whose administrator is `user` with `password`.
    pub fn with_user(user: &str, password: &str) -> SimBmc {
        Self::build(user, password, None)
    }

    fn build(user: &str, password: &str, serial: Option<u16>) -> SimBmc {
        require("ipmi_sim");
        require("ipmitool");
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "simbmc-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("state")).expect("create sim dir");
        let mut sim = SimBmc {
            dir,
            host: "127.0.0.1".to_string(),
            // The serial console is cross-checked with FreeIPMI's ipmiconsole.
            port: if serial.is_some() {
                free_low_udp_port()
            } else {
                free_udp_port()
            },
            console_port: free_tcp_port(),
            user: user.to_string(),
            password: password.to_string(),
            serial,
            child: None,
        };
        sim.write_config();
        sim.start();
        sim
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn write_config(&self) {
        let reference = reference_dir();
        let read = |name: &str| {
            std::fs::read_to_string(reference.join(name))
                .unwrap_or_else(|e| panic!("reading {name} from {}: {e}", reference.display()))
        };
        // The helper script, copied so each instance keeps its own state.
        let script = self.dir.join("chassiscontrol");
        std::fs::write(&script, read("chassiscontrol")).expect("write helper");
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
                .expect("make the helper executable");
        }

        let mut lan = String::new();
        for line in read("lan.conf").lines() {
            let trimmed = line.trim_start();
            if trimmed.starts_with("addr ") {
                lan.push_str(&format!("    addr {} {}\n", self.host, self.port));
            } else if trimmed.starts_with("chassis_control ") {
                lan.push_str(&format!(
                    "  chassis_control \"{} {}\"\n",
                    script.display(),
                    self.dir.join("state").display()
                ));
            } else if trimmed.starts_with("user 2 ") {
                lan.push_str(&format!(
                    "  user 2 true  \"{}\" \"{}\" admin 63\n",
                    self.user, self.password
                ));
            } else {
                lan.push_str(line);
                lan.push('\n');
                // SOL: the BMC's serial port is a TCP server of the test's (after endlan).
                if trimmed.starts_with("endlan")
                    && let Some(port) = self.serial
                {
                    lan.push_str(&format!("  sol \"tcp:127.0.0.1:{port}\" 115200\n"));
                }
            }
        }
        // Telnet-style console for ipmi_sim_cmd(5) commands (loopback only).
        lan.push_str(&format!("  console 127.0.0.1 {}\n", self.console_port));
        std::fs::write(self.dir.join("lan.conf"), lan).expect("write lan.conf");

        // sdrs.emu is already compiled (sdrcomp output as main_sdr_add lines): no sdrcomp run.
        let sdrs = self.dir.join("sdrs.emu");
        std::fs::write(&sdrs, read("sdrs.emu")).expect("write sdrs.emu");
        let emu = read("bmc.emu").replace("SDRS_EMU_PATH", &sdrs.display().to_string());
        std::fs::write(self.dir.join("bmc.emu"), emu).expect("write bmc.emu");
    }

    /// Starts (or restarts) the simulator and waits until it answers an RMCP ping.
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "simulator already running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("sim.log"))
            .expect("open sim.log");
        // setsid: its own session, so no terminal signal from the test runner reaches it.
        // setsid execs in place (we are not a group leader), and so does the shell, so the
        // child PID is ipmi_sim's. The shell ignores SIGPIPE for it: ipmi_sim 1.0.13 writes
        // to console connections it has not yet seen closed (a LAN packet right after
        // `console()` hung up is enough), and dies of SIGPIPE without a word in its log; with
        // the signal ignored the write fails and it drops the connection.
        let child = Command::new("setsid")
            .args([
                "sh",
                "-c",
                "trap '' PIPE; exec ipmi_sim -n -c lan.conf -f bmc.emu -p",
            ])
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log)
            .spawn()
            .expect("start ipmi_sim");
        self.child = Some(child);
        let started = Instant::now();
        while !self.answers_ping() {
            if let Some(c) = self.child.as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                panic!(
                    "ipmi_sim exited early ({status}); see {}/sim.log",
                    self.dir.display()
                );
            }
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "ipmi_sim did not answer on port {}",
                self.port
            );
        }
    }

    /// Kills the simulator (by PID) and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn restart(&mut self) {
        self.stop();
        self.start();
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// RMCP/ASF presence ping; true once the simulator answers with a pong.
    fn answers_ping(&self) -> bool {
        let Ok(sock) = UdpSocket::bind("127.0.0.1:0") else {
            return false;
        };
        let _ = sock.set_read_timeout(Some(Duration::from_millis(50)));
        let ping = [
            0x06, 0x00, 0xFF, 0x06, 0x00, 0x00, 0x11, 0xBE, 0x80, 0x01, 0x00, 0x00,
        ];
        if sock
            .send_to(&ping, (self.host.as_str(), self.port))
            .is_err()
        {
            std::thread::sleep(Duration::from_millis(20));
            return false;
        }
        let mut buf = [0u8; 64];
        matches!(sock.recv(&mut buf), Ok(n) if n >= 9 && buf[8] == 0x40)
    }

    /// Sends one ipmi_sim_cmd(5) line to the console and returns its output.
    pub fn console(&self, cmd: &str) -> String {
        let mut stream =
            TcpStream::connect(("127.0.0.1", self.console_port)).expect("connect to sim console");
        stream
            .set_read_timeout(Some(Duration::from_secs(2)))
            .expect("console timeout");
        let read_prompt = |stream: &mut TcpStream| {
            let mut got = Vec::new();
            let mut buf = [0u8; 512];
            while !got.ends_with(b"> ") {
                let n = stream.read(&mut buf).expect("read sim console");
                assert!(n > 0, "sim console closed");
                got.extend_from_slice(&buf[..n]);
            }
            String::from_utf8_lossy(&got).into_owned()
        };
        read_prompt(&mut stream);
        stream
            .write_all(format!("{cmd}\n").as_bytes())
            .expect("write sim console");
        let out = read_prompt(&mut stream);
        out.trim_end_matches("> ")
            .replace('\r', "")
            .trim()
            .to_string()
    }

    /// Runs `ipmitool -I lanplus -C 3` against this simulator; the password goes through
    /// the environment (`-E`), not the command line.
    pub fn ipmitool(&self, args: &[&str]) -> Output {
        let port = self.port.to_string();
        Command::new("ipmitool")
            .args(["-I", "lanplus", "-C", "3", "-H", &self.host, "-p", &port])
            .args(["-U", &self.user, "-E"])
            .args(args)
            .env("IPMI_PASSWORD", &self.password)
            .output()
            .expect("run ipmitool")
    }

    /// ipmitool's stdout, panicking with its stderr when it fails.
    pub fn ipmitool_ok(&self, args: &[&str]) -> String {
        let out = self.ipmitool(args);
        assert!(
            out.status.success(),
            "ipmitool {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `ipmitool chassis power status`, trimmed: "Chassis Power is on".
    pub fn power_status(&self) -> String {
        self.ipmitool_ok(&["chassis", "power", "status"])
            .trim()
            .to_owned()
    }

    /// The record ids of `ipmitool sel list` (its first column, hex).
    pub fn sel_ids<T: From<u16>>(&self) -> Vec<T> {
        self.ipmitool_ok(&["sel", "list"])
            .lines()
            .filter_map(|l| l.split('|').next())
            .filter_map(|id| u16::from_str_radix(id.trim(), 16).ok())
            .map(T::from)
            .collect()
    }

    /// Content of a state file of the chassis-control helper ("power", "boot", "identify").
    pub fn state(&self, name: &str) -> Option<String> {
        std::fs::read_to_string(self.dir.join("state").join(name))
            .ok()
            .map(|s| s.trim().to_string())
    }
}

impl Drop for SimBmc {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
