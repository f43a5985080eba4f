//! What an operator sees, with the real `igor` against a real igord and `ipmi_sim` BMCs:
//! bulk results in hostlist order (or as they arrive with `--stream`, or merged with `-C`),
//! colour only on a terminal or when asked, `--raw` tables, the help by topic (also before
//! any server is configured), and shell completion of machine and context names from the
//! cache, which ordinary calls keep fresh and TAB only reads.

use std::net::UdpSocket;

use serde_json::{Value, json};
use tests::cli::{CountingProxy, Igor, Run};
use tests::db::{Backend, TestDb};
use tests::server::{ADMIN_PASSWORD, Server, ServerOptions};
use tests::sim::SimBmc;

fn sqlite_server(opts: ServerOptions) -> (TestDb, Server) {
    let db = TestDb::new(Backend::Sqlite);
    let s = Server::start_with(&db, opts);
    (db, s)
}

/// The first word of each line: the machine (or hostlist) column of a bulk table.
fn firsts(text: &str) -> Vec<&str> {
    text.lines()
        .map(|l| l.split_whitespace().next().unwrap_or(""))
        .collect()
}

/// `igor machine-add NAME` to a BMC at `127.0.0.1:port` (a hole: nothing answers).
fn add_dead(igor: &Igor, name: &str, port: u16) {
    igor.ok_stdin(
        &[
            "machine-add",
            name,
            "--bmc-host",
            "127.0.0.1",
            "--bmc-port",
            &port.to_string(),
            "--bmc-user",
            "admin",
            "--bmc-password-stdin",
        ],
        "admin\n",
    );
}

/// Six machines: node2, node4 and node10 on a BMC that is on, node3 on one that is off,
/// node1 on a BMC that never answers (1.5 s deadline), and two names that do not exist.
/// By default the table comes when all have answered, in hostlist order (node10 last,
/// node1 first though it answered last); `--stream` prints in completion order (node1
/// last); `-C` merges identical results and identical errors under one hostlist.
#[test]
fn bulk_results_sorted_streamed_and_consolidated() {
    let (_db, s) = sqlite_server(ServerOptions {
        config_toml: Some("[bmc]\ndeadline_ms = 1500\n".into()),
        ..Default::default()
    });
    let (on, off) = (SimBmc::start_new(), SimBmc::start_new());
    on.ipmitool_ok(&["chassis", "power", "on"]);
    let hole = UdpSocket::bind("127.0.0.1:0").unwrap();
    let igor = Igor::new(&s.url);
    igor.login("admin", ADMIN_PASSWORD);
    for name in ["node2", "node4", "node10"] {
        igor.add_machine(name, &on);
    }
    igor.add_machine("node3", &off);
    add_dead(&igor, "node1", hole.local_addr().unwrap().port());
    let set = ["power-status", "node[1-4]", "node10", "ghost2", "ghost1"];

    let sorted = igor.run(&set);
    sorted.code(3);
    assert_eq!(
        firsts(&sorted.stdout),
        [
            "ghost1", "ghost2", "node1", "node2", "node3", "node4", "node10"
        ],
        "{sorted}"
    );
    let line = |run: &Run, machine: &str| -> String {
        run.stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(machine))
            .unwrap_or_else(|| panic!("no line for {machine}: {run}"))
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(line(&sorted, "node10"), "node10 ok power=on", "{sorted}");
    assert_eq!(line(&sorted, "node3"), "node3 ok power=off", "{sorted}");
    assert!(
        line(&sorted, "node1").starts_with("node1 failed bmc_timeout: "),
        "{sorted}"
    );

    // Completion order: the dead BMC costs its deadline, so it comes last.
    let streamed = igor.run(&[&["--stream"][..], &set].concat());
    streamed.code(3);
    let order = firsts(&streamed.stdout);
    assert_eq!(order.len(), 7, "{streamed}");
    assert_eq!(order.last(), Some(&"node1"), "{streamed}");
    let mut same = order.clone();
    same.sort();
    let mut want = firsts(&sorted.stdout);
    want.sort();
    assert_eq!(same, want, "the same machines: {streamed}");

    let merged = igor.run(&[&["-C"][..], &set].concat());
    merged.code(3);
    let lines: Vec<String> = merged
        .stdout
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(lines.len(), 4, "{merged}");
    assert_eq!(
        lines[0], "ghost[1-2] failed not_found: machine 'ghost[1-2]' not found",
        "{merged}"
    );
    assert!(
        lines[1].starts_with("node1 failed bmc_timeout: machine 'node1': "),
        "{merged}"
    );
    assert_eq!(lines[2], "node[2,4,10] ok power=on", "{merged}");
    assert_eq!(lines[3], "node3 ok power=off", "{merged}");

    // The same groups for programs, one JSON object a line.
    let json = igor.run(&[&["-C", "-o", "json"][..], &set].concat());
    json.code(3);
    let groups = json.json_lines();
    assert_eq!(
        groups[2],
        json!({"machines": "node[2,4,10]", "count": 3, "ok": true, "result": {"power": "on"}}),
        "{json}"
    );
    assert_eq!(
        (
            &groups[0]["machines"],
            &groups[0]["count"],
            &groups[0]["error"]["code"]
        ),
        (
            &Value::from("ghost[1-2]"),
            &Value::from(2),
            &Value::from("not_found")
        ),
        "{json}"
    );
    // Unmerged JSON lines come in hostlist order too, each with its machine.
    let plain = igor.run(&[&["-o", "json"][..], &set].concat());
    let machines: Vec<Value> = plain
        .json_lines()
        .iter()
        .map(|i| i["machine"].clone())
        .collect();
    assert_eq!(
        machines,
        [
            "ghost1", "ghost2", "node1", "node2", "node3", "node4", "node10"
        ]
        .map(Value::from),
        "{plain}"
    );
    // --quiet: one error line per group, nothing else.
    let quiet = igor.run(&[&["-q", "-C"][..], &set].concat());
    quiet.code(3);
    assert!(quiet.stdout.is_empty(), "{quiet}");
    assert_eq!(
        firsts(&quiet.stderr),
        ["error:", "error:"],
        "one line per failed group: {quiet}"
    );
    assert!(
        quiet
            .stderr
            .starts_with("error: ghost[1-2]: not_found: machine 'ghost[1-2]' not found\n"),
        "{quiet}"
    );
    // -C and --stream contradict each other: a usage error.
    igor.run(&[&["-C", "--stream"][..], &set].concat()).code(2);
}

/// Whether `text` holds a colour or bold escape (SGR), not just cursor movements.
fn has_colour(text: &str) -> bool {
    ["\x1b[1m", "\x1b[31m", "\x1b[32m", "\x1b[33m"]
        .iter()
        .any(|sgr| text.contains(sgr))
}

/// A failure stands out in red on a terminal; never in a pipe unless asked; `NO_COLOR`
/// turns it off on a terminal, and `--color always|never` wins over everything.
#[test]
fn colour_on_terminals_only_unless_asked() {
    let (_db, s) = sqlite_server(ServerOptions::default());
    let sim = SimBmc::start_new();
    // NO_COLOR empty counts as unset (no-color.org): these runs decide by the terminal.
    let igor = Igor::with_env(&s.url, &[("NO_COLOR", "")]);
    igor.login("admin", ADMIN_PASSWORD);
    igor.add_machine("m1", &sim);
    let call = ["power-status", "m1", "ghost"];
    const RED: &str = "\x1b[1m\x1b[31m";
    let red_failed = format!("{RED}failed ");

    let pipe = igor.run(&call);
    pipe.code(3);
    assert!(
        pipe.stdout.contains("failed") && !pipe.stdout.contains('\x1b'),
        "{pipe}"
    );
    let asked = igor.run(&[&["--color", "always"][..], &call].concat());
    asked.code(3);
    assert!(asked.stdout.contains(&red_failed), "{asked:?}");
    assert!(asked.stdout.contains("\x1b[32mok"), "{asked:?}");
    let quiet = igor.run(&[&["-q", "--color=always"][..], &call].concat());
    assert!(
        quiet.stderr.starts_with(&format!("{RED}error:")),
        "{quiet:?}"
    );

    let tty = igor.run_on_terminal(&call, &[]);
    assert_eq!(tty.code, 3, "{tty}");
    assert!(tty.stdout.contains(&red_failed), "{tty:?}");
    let refused = igor.run_on_terminal(&["machine-show", "ghost"], &[]);
    assert_eq!(refused.code, 1, "{refused}");
    assert!(
        refused.stdout.starts_with(&format!("{RED}error:")),
        "{refused:?}"
    );
    for (env, args) in [
        (&[("NO_COLOR", "1")][..], &call[..]),
        (&[], &[&["--color", "never"][..], &call].concat()[..]),
    ] {
        let plain = igor.run_on_terminal(args, env);
        assert_eq!(plain.code, 3, "{plain}");
        // The progress bar draws with escapes of its own; colours there are none.
        assert!(
            plain.stdout.contains("failed") && !has_colour(&plain.stdout),
            "{env:?} {args:?}: {plain:?}"
        );
    }
    // NO_COLOR set by the harness, and the flag asks anyway.
    let flagged = Igor::new(&s.url);
    flagged.login("admin", ADMIN_PASSWORD);
    let r = flagged.run(&[&["--color", "always"][..], &call].concat());
    assert!(r.stdout.contains(&red_failed), "{r:?}");
    assert!(!flagged.run(&call).stdout.contains('\x1b'));
}

/// Tables show the columns the output names (`x-igor-columns`); `--raw` every field;
/// `-o json` carries every field either way.
#[test]
fn raw_tables_show_every_column() {
    let (_db, s) = sqlite_server(ServerOptions::default());
    let sim = SimBmc::start_new();
    let igor = Igor::new(&s.url);
    igor.login("admin", ADMIN_PASSWORD);
    igor.add_machine("m1", &sim);
    let header = |run: &Run| -> Vec<String> {
        // The machine's line, then its table's header.
        let line = run.stdout.lines().nth(1).unwrap_or_default();
        line.split_whitespace().map(str::to_owned).collect()
    };
    let narrow = igor.ok(&["sensor-list", "m1"]);
    assert_eq!(
        header(&narrow),
        [
            "name", "value", "unit", "status", "lnr", "lc", "lnc", "unc", "uc", "unr", "states"
        ],
        "{narrow}"
    );
    let raw = igor.ok(&["sensor-list", "m1", "--raw"]);
    let wide = header(&raw);
    for column in ["name", "value", "states", "sensor_number", "sensor_type"] {
        assert!(wide.contains(&column.to_owned()), "{column}: {raw}");
    }
    assert!(raw.stdout.contains("CPU Temp"), "{raw}");
    let json = igor.ok(&["-o", "json", "sensor-list", "m1"]);
    assert!(
        json.json_lines()[0]["result"][0]
            .get("sensor_number")
            .is_some(),
        "{json}"
    );
}

/// `igor --help` lists the commands under their topics, and every command's help keeps
/// the global flags under a heading of their own. Before any server is configured, both
/// come from the newest bundled schema, saying so; a call still needs a server.
#[test]
fn help_by_topic_with_and_without_a_server() {
    let (_db, s) = sqlite_server(ServerOptions::default());
    let igor = Igor::new(&s.url);
    igor.login("admin", ADMIN_PASSWORD);
    let check_top = |help: &Run| {
        let text = &help.stdout;
        let at = |needle: &str| {
            text.find(needle)
                .unwrap_or_else(|| panic!("no '{needle}' in {help}"))
        };
        let power = at("\npower: Power state and power control through the BMC.\n");
        let sel = at("\nsel: The System Event Log kept by the BMC.\n");
        let client = at("\nclient: This client's own commands.\n");
        assert!(
            power < at("\n  power-status ") && at("\n  power-status ") < sel,
            "{help}"
        );
        assert!(
            sel < at("\n  sel-list ") && at("\n  sel-list ") < client,
            "{help}"
        );
        assert!(client < at("\n  login ") && at("\n  completion ") < at("\nGlobal options:"));
        assert!(!text.contains("\nCommands:"), "one list, by topic: {help}");
    };
    let help = igor.ok(&["--help"]);
    check_top(&help);
    assert!(!help.stdout.contains("bundled"), "{help}");
    // One topic, as `ipa help TOPIC` shows it.
    let topic = igor.ok(&["help", "power"]);
    assert!(
        topic
            .stdout
            .starts_with("power: Power state and power control through the BMC.\n  power-cycle ")
            && topic.stdout.contains("\n  power-status ")
            && !topic.stdout.contains("sel-list"),
        "{topic}"
    );
    let help = igor.ok(&["power-on", "--help"]);
    let at = |needle: &str| {
        help.stdout
            .find(needle)
            .unwrap_or_else(|| panic!("{needle}: {help}"))
    };
    assert!(at("--no-wait") < at("\nGlobal options:"), "{help}");
    assert!(at("\nGlobal options:") < at("--server <URL>"), "{help}");
    assert!(at("\nGlobal options:") < at("--consolidate"), "{help}");

    let newest = schema_compat::bundled()
        .iter()
        .map(|d| d.api_level)
        .max()
        .unwrap();
    let note = format!("bundled API level {newest}; your server's may differ");
    let nowhere = Igor::new("");
    let help = nowhere.run_bare(&["--help"], "");
    help.code(0);
    check_top(&help);
    assert!(help.stdout.contains(&note), "{help}");
    assert!(help.stderr.is_empty(), "{help}");
    for args in [
        &["power-on", "--help"][..],
        &["help", "power-on"],
        &["help", "power"],
    ] {
        let help = nowhere.run_bare(args, "");
        help.code(0);
        assert!(
            help.stdout.contains("power-on") && help.stdout.contains(&note),
            "{help}"
        );
        let topic = args == ["help", "power"];
        assert_eq!(help.stdout.contains("--no-wait"), !topic, "{help}");
        assert_eq!(help.stdout.contains("\n  power-status "), topic, "{help}");
    }
    let call = nowhere.run_bare(&["power-on", "node1"], "");
    call.code(1);
    assert!(
        call.stderr.starts_with("error: no server configured"),
        "{call}"
    );
}

/// TAB completes machine names from what ordinary calls keep in the cache folder (a call
/// on machines refreshes them when stale; an unfiltered machine-find stores its own
/// answer), context names from config.toml, and never sends a request: here through
/// bash itself, running the script `igor completion bash` prints.
#[test]
fn completion_of_machines_and_contexts_from_the_cache() {
    let (_db, mut s) = sqlite_server(ServerOptions::default());
    let sim = SimBmc::start_new();
    let proxy = CountingProxy::new(&s.url);
    let igor = Igor::new(&proxy.url);
    igor.login("admin", ADMIN_PASSWORD);
    for name in ["node1", "node2", "node10", "gpu1"] {
        igor.add_machine(name, &sim);
    }
    proxy.take_bodies();
    assert!(
        igor.complete(&["power-status", "no"]).is_empty(),
        "nothing kept before a call on machines"
    );

    // A call on machines keeps the names, with one machine-find after its answer.
    igor.ok(&["power-status", "node1"]);
    let commands = |proxy: &CountingProxy| -> Vec<String> {
        proxy
            .take_bodies()
            .into_iter()
            .map(|(line, body)| {
                let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                format!("{line} {}", v["command"].as_str().unwrap_or(""))
            })
            .collect()
    };
    let sent = commands(&proxy);
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(
        sent[0].starts_with("POST /api/rpc power-status/"),
        "{sent:?}"
    );
    assert!(
        sent[1].starts_with("POST /api/rpc machine-find/"),
        "{sent:?}"
    );
    assert_eq!(
        igor.complete(&["power-status", "no"]),
        ["node1", "node2", "node10"]
    );
    assert_eq!(igor.complete(&["sel-list", "node1"]), ["node1", "node10"]);
    // An empty word also gets the flags, after the names.
    let all = igor.complete(&["machine-show", ""]);
    assert_eq!(all[..4], ["gpu1", "node1", "node2", "node10"], "{all:?}");
    assert!(all[4..].iter().all(|c| c.starts_with('-')), "{all:?}");
    assert_eq!(
        igor.complete(&["power-on", "gpu1,node"]),
        ["gpu1,node1", "gpu1,node2", "gpu1,node10"]
    );
    assert!(commands(&proxy).is_empty(), "TAB sends nothing");

    // Fresh names are not asked again; stale ones are, after the next call on machines.
    igor.ok(&["power-status", "node2"]);
    assert_eq!(commands(&proxy).len(), 1, "fresh: the call alone");
    igor.add_machine("node3", &sim);
    let kept = igor.cache_folder().join("machines.json");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&kept).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "which machines a user sees is private");
    let mut names: Value = serde_json::from_str(&std::fs::read_to_string(&kept).unwrap()).unwrap();
    names["fetched_at"] = json!(0);
    std::fs::write(&kept, names.to_string()).unwrap();
    commands(&proxy);
    igor.ok(&["power-status", "gpu1"]);
    assert_eq!(
        commands(&proxy).len(),
        2,
        "stale: the call, then machine-find"
    );
    assert!(
        igor.complete(&["power-status", "node"])
            .contains(&"node3".to_owned())
    );
    // An unfiltered machine-find keeps its own answer.
    igor.add_machine("node4", &sim);
    commands(&proxy);
    igor.ok(&["machine-find"]);
    assert_eq!(commands(&proxy).len(), 1, "{kept:?}");
    assert!(igor.complete(&["power-off", "node4"]) == ["node4"]);

    // Context names from the configuration.
    for ctx in ["prod", "lab"] {
        igor.run_bare(&["config", "set-context", ctx, "--server", &proxy.url], "")
            .code(0);
    }
    assert_eq!(igor.complete(&["--context", ""]), ["lab", "prod"]);
    // A COMPLETE variable some other tool left behind does not make a run a completion.
    let stray = Igor::with_env(&proxy.url, &[("COMPLETE", "bash")]);
    stray.login("admin", ADMIN_PASSWORD);
    assert!(stray.ok(&["ping"]).stdout.contains("admin"));

    // The script bash loads, run by bash, with the server gone: names from the cache.
    s.stop();
    proxy.take();
    let script = igor.ok(&["completion", "bash"]).stdout;
    assert!(script.contains("COMPLETE=\"bash\""), "{script}");
    let line = format!("igor --server {} power-status no", proxy.url);
    let bash = std::process::Command::new("bash")
        .args([
            "-c",
            &format!(
                "{script}\nCOMP_WORDS=({line}); COMP_CWORD=4; COMP_TYPE=9\n\
                 _clap_complete_igor igor no igor; printf '%s\\n' \"${{COMPREPLY[@]}}\""
            ),
        ])
        .env("HOME", igor.home())
        .env("IGOR_CONFIG", &igor.config)
        .env("IGOR_CACHE_DIR", &igor.cache_dir)
        .env_remove("IGOR_SERVER")
        .output()
        .expect("bash");
    let out = String::from_utf8_lossy(&bash.stdout);
    let got: Vec<&str> = out.lines().collect();
    assert_eq!(
        got,
        ["node1", "node2", "node3", "node4", "node10"],
        "bash: {out} {}",
        String::from_utf8_lossy(&bash.stderr)
    );
    assert!(proxy.take().is_empty(), "completion sent nothing");
}
