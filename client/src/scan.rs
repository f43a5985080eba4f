//! A pre-scan of argv, before any clap tree exists: the global flags that decide which
//! server and schema to use, and the subcommand token, so only that command's arguments
//! need building (DEPENDENCIES.md: building the whole tree costs twice the start-up).
//! clap parses everything again afterwards and stays the judge of what is valid.

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scan {
    pub server: Option<String>,
    pub context: Option<String>,
    pub output: Option<String>,
    pub verbose: u8,
    /// `-q`: only errors on stderr, nothing on stdout.
    pub quiet: bool,
    pub no_headers: bool,
    /// `--stream`: a bulk call's results as they arrive, in completion order.
    pub stream: bool,
    /// `-C`: a bulk call's identical results merged under one hostlist.
    pub consolidate: bool,
    /// `--raw`: tables show every field.
    pub raw: bool,
    /// `--color WHEN`, as typed (clap checks the value).
    pub color: Option<String>,
    pub force_schema_check: bool,
    pub certificate_authority: Option<String>,
    pub trust_fingerprint: Option<String>,
    pub help: bool,
    pub version: bool,
    /// The first free token: the subcommand.
    pub command: Option<String>,
    /// For `igor help X`: X.
    pub help_target: Option<String>,
}

/// Global flags taking a value.
const VALUED: &[&str] = &[
    "--server",
    "--context",
    "--output",
    "-o",
    "--certificate-authority",
    "--trust-fingerprint",
    "--color",
];

/// `args` excludes the program name.
pub fn scan(args: &[String]) -> Scan {
    let mut s = Scan::default();
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        i += 1;
        if a == "--" {
            break;
        }
        if let Some((flag, value)) = a.split_once('=')
            && VALUED.contains(&flag)
        {
            s.set(flag, value.to_owned());
            continue;
        }
        if VALUED.contains(&a) {
            if let Some(v) = args.get(i) {
                s.set(a, v.clone());
                i += 1;
            }
            continue;
        }
        if let Some(v) = a.strip_prefix("-o")
            && !v.is_empty()
            && !a.starts_with("--")
        {
            s.output = Some(v.to_owned());
            continue;
        }
        match a {
            "-v" | "--verbose" => s.verbose = s.verbose.saturating_add(1),
            "--force-schema-check" => s.force_schema_check = true,
            "-q" | "--quiet" => s.quiet = true,
            "--no-headers" => s.no_headers = true,
            "--stream" => s.stream = true,
            "-C" | "--consolidate" => s.consolidate = true,
            "--raw" => s.raw = true,
            "-h" | "--help" => s.help = true,
            "-V" | "--version" if s.command.is_none() => s.version = true,
            // Saturates like clap's count: `-vvv…` of any length is not a crash or a wrap.
            _ if a.starts_with("-v") && a[1..].bytes().all(|b| b == b'v') => {
                let n = u8::try_from(a.len() - 1).unwrap_or(u8::MAX);
                s.verbose = s.verbose.saturating_add(n)
            }
            _ if a.starts_with('-') => {}
            _ if s.command.is_none() => s.command = Some(a.to_owned()),
            _ if s.command.as_deref() == Some("help") && s.help_target.is_none() => {
                s.help_target = Some(a.to_owned())
            }
            _ => {}
        }
    }
    s
}

impl Scan {
    fn set(&mut self, flag: &str, v: String) {
        match flag {
            "--server" => self.server = Some(v),
            "--context" => self.context = Some(v),
            "--certificate-authority" => self.certificate_authority = Some(v),
            "--trust-fingerprint" => self.trust_fingerprint = Some(v),
            "--color" => self.color = Some(v),
            _ => self.output = Some(v),
        }
    }

    /// The command whose tree must be built: `igor help X` and `igor X --help` both mean X.
    pub fn target(&self) -> Option<&str> {
        match self.command.as_deref() {
            Some("help") => self.help_target.as_deref(),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(args: &str) -> Scan {
        scan(
            &args
                .split_whitespace()
                .map(String::from)
                .collect::<Vec<_>>(),
        )
    }

    #[test]
    fn finds_globals_and_command() {
        let x = s("--server http://a:1 -vv ping --output=json");
        assert_eq!(x.server.as_deref(), Some("http://a:1"));
        assert_eq!(x.verbose, 2);
        assert_eq!(x.command.as_deref(), Some("ping"));
        assert_eq!(x.output.as_deref(), Some("json"));
        let x = s("-ojson --context lab sel-delete/2 m1 3 4 --force-schema-check");
        assert_eq!(x.output.as_deref(), Some("json"));
        assert_eq!(x.context.as_deref(), Some("lab"));
        assert_eq!(x.command.as_deref(), Some("sel-delete/2"));
        assert!(x.force_schema_check);
        let x = s("--trust-fingerprint sha256:ab ping --certificate-authority=ca.pem");
        assert_eq!(x.trust_fingerprint.as_deref(), Some("sha256:ab"));
        assert_eq!(x.certificate_authority.as_deref(), Some("ca.pem"));
        assert_eq!(x.command.as_deref(), Some("ping"));
        let x = s("help power-on");
        assert_eq!(x.target(), Some("power-on"));
        let x = s("--version");
        assert!(x.version && x.command.is_none());
        let x = s("-q machine-find --no-headers");
        assert!(x.quiet && x.no_headers);
        let x = s("power-status -C node[1-3] --raw --color=always --stream");
        assert!(x.consolidate && x.raw && x.stream);
        assert_eq!(x.color.as_deref(), Some("always"));
        assert_eq!(x.command.as_deref(), Some("power-status"));
        let x = s("-- --server x");
        assert_eq!(x, Scan::default());
    }

    #[test]
    fn verbose_count_saturates() {
        let one_flag = format!("-{} ping", "v".repeat(300));
        let many_flags = format!("{} ping", "-v ".repeat(300));
        let mixed = format!("-{} -v --verbose -vv ping", "v".repeat(254));
        for args in [&one_flag, &many_flags, &mixed] {
            let x = s(args);
            assert_eq!((x.verbose, x.command.as_deref()), (u8::MAX, Some("ping")));
        }
        assert_eq!(s(&format!("-{}", "v".repeat(255))).verbose, u8::MAX);
        assert_eq!(s(&format!("-{}", "v".repeat(254))).verbose, 254);
    }
}
