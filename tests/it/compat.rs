//! Cross-version compatibility that needs no client: the bundled schemas are frozen
//! exports, every command version belongs to a level, and levels only grow.

use schema::{ApiLevel, SchemaDocument};

/// Each bundled file is byte-for-byte what the server still exports for that level. A
/// change to an old level's interface, docs included, fails here: released levels are
/// frozen (ARCHITECTURE.md, "Levels and bundles"). A new level gets a new file with
/// `igord schema export --api-level X.Y > schema-compat/bundled/X.Y.json`.
#[test]
fn bundled_schemas_equal_the_server_export() {
    assert!(schema_compat::BUNDLED.len() >= 3);
    for (level, text) in schema_compat::BUNDLED {
        let level: ApiLevel = level.parse().unwrap();
        let out = std::process::Command::new(tests::bin("igord"))
            .args(["schema", "export", "--api-level", &level.to_string()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let exported = String::from_utf8(out.stdout).unwrap();
        assert!(
            exported == *text,
            "schema-compat/bundled/{level}.json differs from `igord schema export --api-level {level}`: \
             a released level changed. Revert the change, or make it a new command version at a new level."
        );
    }
}

/// The server's newest level is bundled, so this client release knows everything its own
/// server serves, and every level from the oldest up is there.
#[test]
fn every_served_level_is_bundled() {
    let newest = server::own_level();
    let bundled: Vec<ApiLevel> = schema_compat::bundled()
        .iter()
        .map(|d| d.api_level)
        .collect();
    assert_eq!(
        bundled.last(),
        Some(&newest),
        "bundle the newest level: igord schema export > schema-compat/bundled/{newest}.json"
    );
    assert_eq!(bundled.first(), Some(&server::registry::OLDEST_LEVEL));
    for pair in bundled.windows(2) {
        assert_eq!(pair[1].major, pair[0].major);
        assert_eq!(
            pair[1].minor,
            pair[0].minor + 1,
            "no level skipped: {bundled:?}"
        );
    }
}

/// Levels only grow: every command version of a level is still in every later level,
/// unchanged (unless withdrawn with `removed`), and a level adds at least one.
#[test]
fn levels_grow_and_command_versions_never_change() {
    let docs: Vec<SchemaDocument> = schema_compat::bundled();
    for pair in docs.windows(2) {
        let (old, new) = (&pair[0], &pair[1]);
        for c in &old.commands {
            match new.command(&c.name, c.version) {
                Some(n) => assert_eq!(
                    n, c,
                    "{} changed between {} and {}",
                    c.full_name, old.api_level, new.api_level
                ),
                None => assert!(
                    c.removed.is_some_and(|r| r <= new.api_level),
                    "{} vanished at {} without being removed",
                    c.full_name,
                    new.api_level
                ),
            }
        }
        assert!(
            new.commands.len() > old.commands.len(),
            "{} adds nothing",
            new.api_level
        );
        for c in &new.commands {
            assert!(c.since <= new.api_level);
            let was_there = old.command(&c.name, c.version).is_some();
            assert_eq!(
                was_there,
                c.since <= old.api_level,
                "{}: since {} disagrees with the bundles",
                c.full_name,
                c.since
            );
        }
    }
    // Planned history: 1.0 has no introspection; 1.1 adds it; 1.2 adds the
    // second versions and identify, boot device, audit.
    let at = |l: &str| docs.iter().find(|d| d.api_level.to_string() == l).unwrap();
    assert!(at("1.0").command("command-find", 1).is_none());
    assert!(at("1.0").command("power-on", 1).is_some());
    assert!(at("1.1").command("command-find", 1).is_some());
    assert!(at("1.1").command("sel-delete", 2).is_none());
    for (name, v) in [
        ("sel-delete", 2),
        ("power-on", 2),
        ("chassis-identify", 1),
        ("bootdev-set", 1),
        ("audit-find", 1),
    ] {
        assert_eq!(
            at("1.2").command(name, v).map(|c| c.since.to_string()),
            Some("1.2".into()),
            "{name}/{v}"
        );
    }
    // The bulk versions, and they alone, are streamed: 1.3's, 1.5's but machine-find/3 and
    // audit-find/3, and 1.6's fru-show and audit-find/4.
    for d in &docs {
        for c in &d.commands {
            let since = c.since.to_string();
            assert_eq!(
                c.stream,
                since == "1.3"
                    || (since == "1.5"
                        && !["machine-find", "audit-find"].contains(&c.name.as_str()))
                    || (since == "1.6" && ["fru-show", "audit-find"].contains(&c.name.as_str())),
                "{} at {}",
                c.full_name,
                d.api_level
            );
        }
    }
    for (name, v) in [
        ("power-status", 2),
        ("power-on", 3),
        ("power-off", 2),
        ("chassis-status", 2),
        ("chassis-identify", 2),
        ("bootdev-set", 2),
        ("sel-info", 2),
    ] {
        assert!(
            at("1.3").command(name, v).is_some_and(|c| c.stream),
            "{name}/{v}"
        );
    }
    // 1.4: the input limits the server applies to every version, published.
    for (name, v, param, keyword) in [
        ("user-find", 2, "criteria", "maxLength"),
        ("machine-find", 2, "criteria", "maxLength"),
        ("audit-find", 2, "command", "maxLength"),
        ("machine-add", 2, "bmc_host", "pattern"),
        ("machine-add", 2, "bmc_user", "pattern"),
        ("machine-add", 2, "description", "pattern"),
        ("machine-mod", 2, "bmc_host", "pattern"),
        ("machine-mod", 2, "description", "pattern"),
    ] {
        let c = at("1.4").command(name, v);
        assert_eq!(
            c.map(|c| c.since.to_string()),
            Some("1.4".into()),
            "{name}/{v}"
        );
        let p = &c.unwrap().params["properties"][param];
        // Option<String> is `{"type": ["string", "null"], ...}`: the keyword is on it.
        assert!(p.get(keyword).is_some(), "{name}/{v} {param}: {p}");
    }
    // 1.5: every per-machine read and the grants over machine sets, streamed; machine-find
    // takes the same selectors without streaming.
    for (name, v) in [
        ("bmc-info", 2),
        ("sel-list", 2),
        ("sel-clear", 2),
        ("sensor-list", 2),
        ("permission-grant", 2),
        ("permission-revoke", 2),
        ("bootdev-get", 1),
        ("bootdev-set", 3),
        ("power-on", 4),
        ("power-off", 3),
    ] {
        let c = at("1.5").command(name, v);
        assert!(c.is_some_and(|c| c.stream), "{name}/{v}");
        assert!(
            at("1.4").command(name, v).is_none(),
            "{name}/{v} is new at 1.5"
        );
    }
    let find = at("1.5").command("machine-find", 3);
    assert!(
        find.is_some_and(|c| !c.stream && c.params["properties"].get("machines").is_some()),
        "machine-find/3"
    );
    // 1.6: FRU inventory, and defaults that come from the server's configuration, marked
    // in the schema with the setting that supplies them.
    assert!(at("1.6").command("fru-show", 1).is_some_and(|c| c.stream));
    assert!(at("1.6").command("command-defaults", 1).is_some());
    let add = at("1.6").command("machine-add", 3).expect("machine-add/3");
    for (param, setting) in [
        ("bmc_user", "bmc.default_user"),
        ("bmc_port", "bmc.default_port"),
    ] {
        assert_eq!(
            add.params["properties"][param][schema::X_DYNAMIC_DEFAULT],
            setting,
            "machine-add/3 {param}"
        );
        assert!(
            !add.params["required"]
                .as_array()
                .is_some_and(|r| r.iter().any(|v| v == param)),
            "machine-add/3 {param} is optional"
        );
    }
    for name in ["fru-show", "command-defaults"] {
        assert!(at("1.5").latest(name).is_none(), "{name} is new at 1.6");
    }
}
