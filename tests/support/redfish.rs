//! sushy-tools' Redfish emulator (`sushy-emulator --fake`, OpenStack's own, from PyPI) as a
//! real Redfish BMC on loopback: HTTPS with a self-signed certificate, HTTP Basic auth
//! checked against an htpasswd file (bcrypt), and `systems` ComputerSystems. Its fake
//! driver applies a power change 1 to 11 seconds after the request, as real BMCs do. Each
//! emulator keeps its state in its own folder (otherwise the fake driver shares one).

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn tool(name: &str) -> PathBuf {
    crate::python_tool(name)
}

pub struct RedfishSim {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
    /// The emulator's certificate (PEM).
    pub cert: PathBuf,
    /// The CA that signed it (PEM), for curl's `--cacert` and for CA trust.
    pub ca: PathBuf,
    /// The ComputerSystem ids, in the order configured.
    pub systems: Vec<String>,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl RedfishSim {
    pub fn start(systems: usize) -> RedfishSim {
        let dir = tempfile::tempdir().expect("temp dir");
        let cert = dir.path().join("cert.pem");
        let ca = dir.path().join("ca.pem");
        // A CA of the test's own and the emulator's certificate for 127.0.0.1 signed by it,
        // so that both ways of trusting a BMC (its pinned fingerprint, or a CA) are real.
        certificates(dir.path(), true);
        let (user, password) = ("rfadmin".to_owned(), "rf-secret-7".to_owned());
        let python = tool("python");
        let hash = Command::new(&python)
            .args([
                "-c",
                "import bcrypt, sys; print(bcrypt.hashpw(sys.argv[1].encode(), bcrypt.gensalt()).decode())",
                &password,
            ])
            .output()
            .expect("the virtualenv's python");
        assert!(
            hash.status.success(),
            "bcrypt: {}",
            String::from_utf8_lossy(&hash.stderr)
        );
        let htpasswd = dir.path().join("htpasswd");
        std::fs::write(
            &htpasswd,
            format!("{user}:{}\n", String::from_utf8_lossy(&hash.stdout).trim()),
        )
        .expect("write htpasswd");
        let ids: Vec<String> = (0..systems)
            .map(|i| format!("5f1c0a2e-0000-4000-8000-{:012x}", i + 1))
            .collect();
        let fake: Vec<String> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| {
                format!(
                    "{{\"uuid\": \"{id}\", \"name\": \"sys{i}\", \"power_state\": \"Off\", \
                     \"external_notifier\": False, \
                     \"nics\": [{{\"mac\": \"00:5c:52:31:3a:{i:02x}\", \"ip\": \"127.0.0.1\"}}]}}"
                )
            })
            .collect();
        let conf = dir.path().join("conf.py");
        std::fs::write(
            &conf,
            format!(
                "SUSHY_EMULATOR_FAKE_SYSTEMS = [{}]\nSUSHY_EMULATOR_AUTH_FILE = {:?}\n\
                 SUSHY_EMULATOR_STATE_DIR = {:?}\n",
                fake.join(", "),
                htpasswd.display().to_string(),
                dir.path().join("state").display().to_string()
            ),
        )
        .expect("write conf.py");
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
            l.local_addr().expect("its address").port()
        };
        let mut sim = RedfishSim {
            host: "127.0.0.1".into(),
            port,
            user,
            password,
            cert,
            ca,
            systems: ids,
            dir,
            child: None,
        };
        sim.run();
        sim
    }

    fn run(&mut self) {
        let log = std::fs::File::create(self.dir.path().join("emulator.log")).expect("log");
        let child = Command::new("setsid")
            .arg(tool("sushy-emulator"))
            .args(["--fake", "-i", &self.host, "-p", &self.port.to_string()])
            .arg("--config")
            .arg(self.dir.path().join("conf.py"))
            .arg("--ssl-certificate")
            .arg(&self.cert)
            .arg("--ssl-key")
            .arg(self.dir.path().join("key.pem"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log)
            .spawn()
            .expect("start sushy-emulator");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        // Listening is enough: Flask answers once its socket accepts.
        while TcpStream::connect((self.host.as_str(), self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "sushy-emulator did not listen within 30 s:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("emulator.log")).unwrap_or_default()
    }

    /// Restarts the emulator with a new certificate (a new key, signed by the same CA), as
    /// after a BMC's certificate was replaced.
    pub fn new_certificate(&mut self) {
        self.stop();
        certificates(self.dir.path(), false);
        self.run();
    }

    /// Stops the emulator (a BMC that went away).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The emulator's own view of a resource, through curl (a client we did not write).
    pub fn curl_json(&self, path: &str) -> serde_json::Value {
        let out = Command::new("curl")
            .args(["-sf", "--cacert"])
            .arg(&self.ca)
            .args(["-u", &format!("{}:{}", self.user, self.password)])
            .arg(format!("https://{}:{}{path}", self.host, self.port))
            .output()
            .expect("curl");
        assert!(
            out.status.success(),
            "curl {path}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("JSON from the emulator")
    }

    /// The certificate's SHA-256 fingerprint as openssl computes it, in igor's form.
    pub fn fingerprint(&self) -> String {
        let out = Command::new("openssl")
            .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
            .arg(&self.cert)
            .output()
            .expect("openssl");
        let text = String::from_utf8_lossy(&out.stdout);
        let hex = text
            .split('=')
            .nth(1)
            .expect("openssl's fingerprint line")
            .trim()
            .replace(':', "")
            .to_ascii_lowercase();
        format!("sha256:{hex}")
    }

    pub fn system_path(&self, i: usize) -> String {
        format!("/redfish/v1/Systems/{}", self.systems[i])
    }
}

impl Drop for RedfishSim {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Writes into `dir` the test CA (when `with_ca`; `ca.pem`, `ca.key`) and a fresh
/// certificate for 127.0.0.1 signed by it, with a key of its own (`cert.pem`, `key.pem`).
fn certificates(dir: &std::path::Path, with_ca: bool) {
    let d = |name: &str| dir.join(name).display().to_string();
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .expect("write leaf.ext");
    let ca: Vec<String> = [
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=igor test BMC CA",
        "-keyout",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([d("ca.key"), "-out".into(), d("ca.pem")])
    .collect();
    let csr: Vec<String> = [
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([d("key.pem"), "-out".into(), d("leaf.csr")])
    .collect();
    let sign: Vec<String> = vec![
        "x509".into(),
        "-req".into(),
        "-in".into(),
        d("leaf.csr"),
        "-CA".into(),
        d("ca.pem"),
        "-CAkey".into(),
        d("ca.key"),
        "-CAcreateserial".into(),
        "-days".into(),
        "2".into(),
        "-extfile".into(),
        d("leaf.ext"),
        "-out".into(),
        d("cert.pem"),
    ];
    let mut steps = vec![];
    if with_ca {
        steps.push(ca);
    }
    steps.extend([csr, sign]);
    for args in steps {
        let out = Command::new("openssl")
            .args(&args)
            .output()
            .expect("openssl (apt-get install openssl)");
        assert!(
            out.status.success(),
            "openssl {}: {}",
            args[0],
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
