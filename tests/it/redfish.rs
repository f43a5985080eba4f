//! The Redfish client against sushy-tools' emulator, a Redfish service we did not write:
//! trust on first use and pinning, session or Basic login, power with the emulator's
//! delayed apply, boot override and identify read back through curl, readings, and the
//! faults (wrong credentials, a changed certificate, a refused reset, a BMC that is gone).

use std::time::{Duration, Instant};

use server::bmc::redfish::tls::Trust;
use server::bmc::redfish::{Conn, RedfishError, RedfishTarget, probe_certificate};
use tests::redfish::RedfishSim;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(10)
}

fn target(sim: &RedfishSim, trust: Trust) -> RedfishTarget {
    RedfishTarget {
        host: sim.host.clone(),
        port: sim.port,
        user: sim.user.clone(),
        password: sim.password.clone(),
        trust,
    }
}

#[test]
fn redfish_client_against_sushy_emulator() {
    let mut sim = RedfishSim::start(2);
    let rt = rt();
    rt.block_on(async {
        // Trust on first use: the fingerprint seen is the certificate's, as openssl has it.
        let pin = probe_certificate(&sim.host, sim.port, soon())
            .await
            .unwrap();
        assert_eq!(pin, sim.fingerprint());
        let conn = Conn::open(&target(&sim, Trust::Pinned(pin.clone())), soon())
            .await
            .unwrap();
        let systems = conn.systems(soon()).await.unwrap();
        assert_eq!(systems.len(), 2, "{systems:?}");
        let path = sim.system_path(0);
        assert!(systems.contains(&path), "{systems:?}");
        let s = conn.system(&path, soon()).await.unwrap();
        assert_eq!(s.power_state.as_deref(), Some("Off"));

        // Power on: accepted at once, applied by the emulator 1 to 11 s later.
        conn.reset(&s, "On", soon()).await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let now = conn.system(&path, soon()).await.unwrap();
            if now.power_state.as_deref() == Some("On") {
                break;
            }
            assert!(Instant::now() < deadline, "not On within 30 s");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        assert_eq!(sim.curl_json(&path)["PowerState"], "On");
        // A reset the BMC refuses: its own words come back (the fake driver lists Nmi but
        // does not do it).
        let e = conn.reset(&s, "Nmi", soon()).await.unwrap_err();
        assert_eq!(
            e,
            RedfishError::Refused {
                status: 501,
                message: "Power state Nmi is not supported".into()
            }
        );
        // A reset type the service does not list is refused before anything is sent.
        let e = conn.reset(&s, "Bogus", soon()).await.unwrap_err();
        assert!(matches!(e, RedfishError::NotSupported(_)), "{e}");

        // Boot override and identify, read back through the emulator's own API.
        // (The fake driver keeps BootSourceOverrideEnabled at Continuous whatever is sent,
        // so a persistent override is what can be read back.)
        conn.set_boot(&path, &s, "Pxe", true, Some("UEFI"), soon())
            .await
            .unwrap();
        let boot = &sim.curl_json(&path)["Boot"];
        assert_eq!(
            (
                &boot["BootSourceOverrideTarget"],
                &boot["BootSourceOverrideEnabled"],
                &boot["BootSourceOverrideMode"]
            ),
            (
                &serde_json::json!("Pxe"),
                &serde_json::json!("Continuous"),
                &serde_json::json!("UEFI")
            ),
            "{boot}"
        );
        let read = conn.system(&path, soon()).await.unwrap();
        assert_eq!(read.boot.target.as_deref(), Some("Pxe"));
        let e = conn
            .set_boot(&path, &s, "Floppy", true, None, soon())
            .await
            .unwrap_err();
        assert!(e.to_string().contains("boot target Floppy"), "{e}");
        conn.identify(&path, &s, false, soon()).await.unwrap();
        assert_eq!(sim.curl_json(&path)["IndicatorLED"], "Off");
        conn.identify(&path, &s, true, soon()).await.unwrap();
        assert_eq!(sim.curl_json(&path)["IndicatorLED"], "Lit");

        // Readings from the chassis' Thermal resource; the fake driver has no event log.
        let chassis = conn.chassis(&s, soon()).await.unwrap().expect("a chassis");
        let readings = conn.readings(&chassis, soon()).await.unwrap();
        assert!(
            readings
                .iter()
                .any(|r| r.name == "CPU Temp" && r.value.is_some()),
            "{readings:?}"
        );
        let e = conn.log(&s, soon()).await.unwrap_err();
        assert_eq!(
            e.to_string(),
            "not supported by this BMC: an event log (LogServices)"
        );
        conn.close().await;

        // Wrong credentials are the BMC's 401, said as such.
        let mut wrong = target(&sim, Trust::Pinned(pin.clone()));
        wrong.password = "not-the-password".into();
        assert_eq!(
            Conn::open(&wrong, soon()).await.err(),
            Some(RedfishError::AuthFailed)
        );
        // A different pin: refused, naming both, nothing sent.
        let other = "sha256:".to_owned() + &"ab".repeat(32);
        let e = Conn::open(&target(&sim, Trust::Pinned(other.clone())), soon())
            .await
            .err()
            .expect("refused");
        assert_eq!(
            e,
            RedfishError::CertificateChanged {
                pinned: other,
                presented: pin.clone()
            }
        );
        // Trust through the CA that signed the emulator's certificate; a certificate that
        // is not a CA is no CA, and another CA does not vouch for this BMC.
        let ca = std::fs::read_to_string(&sim.ca).unwrap();
        Conn::open(&target(&sim, Trust::Ca(ca)), soon())
            .await
            .unwrap();
        let leaf = std::fs::read_to_string(&sim.cert).unwrap();
        let e = Conn::open(&target(&sim, Trust::Ca(leaf)), soon())
            .await
            .err()
            .expect("refused");
        assert!(e.to_string().contains("certificate"), "{e}");
    });

    // A BMC that is gone costs one deadline, and says it could not be reached.
    sim.stop();
    rt.block_on(async {
        let started = Instant::now();
        let e = Conn::open(
            &target(&sim, Trust::Pinned(sim.fingerprint())),
            Instant::now() + Duration::from_secs(3),
        )
        .await
        .err()
        .expect("refused");
        assert!(started.elapsed() < Duration::from_secs(4), "{e}");
        assert!(
            matches!(e, RedfishError::Unreachable(_) | RedfishError::Timeout(_)),
            "{e}"
        );
    });
}

on_both_backends!(redfish_machines_beside_ipmi_ones);

/// Redfish machines through igord and igor, beside an IPMI one: enrolment (the pin shown,
/// several systems refused without a choice), power with the emulator's delayed apply and
/// `--wait`, boot device, identify, sensors and inventory read back through curl, what
/// Redfish lacks answered as not_supported, one bulk call over both protocols, and the
/// faults: wrong credentials, a replaced certificate until an admin re-pins, a BMC gone.
fn redfish_machines_beside_ipmi_ones(backend: tests::db::Backend) {
    use serde_json::json;
    use tests::cli::Igor;
    use tests::db::TestDb;
    use tests::server::{ADMIN_PASSWORD, Server, ServerOptions};
    use tests::sim::SimBmc;

    let mut one = RedfishSim::start(1);
    let two = RedfishSim::start(2);
    let ipmi = SimBmc::start_new();
    let db = TestDb::new(backend);
    let s = Server::start_with(
        &db,
        ServerOptions {
            config_toml: Some("[bmc]\ndeadline_ms = 4000\n".into()),
            ..Default::default()
        },
    );
    let igor = Igor::new(&s.url);
    igor.login("admin", ADMIN_PASSWORD);
    let add = |name: &str, sim: &RedfishSim, extra: &[&str]| {
        let port = sim.port.to_string();
        let mut args = vec![
            "-o",
            "json",
            "machine-add",
            name,
            "--driver",
            "redfish",
            "--bmc-host",
            &sim.host,
            "--bmc-port",
            &port,
            "--bmc-user",
            &sim.user,
            "--bmc-password-stdin",
        ];
        args.extend_from_slice(extra);
        igor.run_stdin(&args, &format!("{}\n", sim.password))
    };

    // Wrong credentials: refused at enrolment, nothing added.
    let port = one.port.to_string();
    let r = igor.run_stdin(
        &[
            "machine-add",
            "rack1-rf",
            "--driver",
            "redfish",
            "--bmc-host",
            &one.host,
            "--bmc-port",
            &port,
            "--bmc-user",
            &one.user,
            "--bmc-password-stdin",
        ],
        "wrong-password\n",
    );
    r.code(1);
    assert!(r.stderr.contains("refused the credentials"), "{r}");
    // Two systems and no choice: refused, listing both.
    let r = add("rack1-two", &two, &[]);
    r.code(1);
    assert!(
        r.stderr.contains(&two.systems[0]) && r.stderr.contains(&two.systems[1]),
        "{r}"
    );
    let r = add("rack1-two", &two, &["--redfish-system", &two.systems[1]]);
    r.code(0);
    // The answer shows the pinned certificate, the driver and what igor can do there.
    let m = add("rack1-rf", &one, &[]).json();
    assert_eq!(m["driver"], "redfish", "{m}");
    assert_eq!(m["tls_fingerprint"], one.fingerprint(), "{m}");
    assert_eq!(m["redfish_system"], one.systems[0], "{m}");
    let caps: Vec<&str> = m["capabilities"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c.as_str())
        .collect();
    assert!(
        caps.contains(&"power") && !caps.contains(&"bmc-info") && !caps.contains(&"console"),
        "{m}"
    );
    igor.add_machine("rack1-ipmi", &ipmi);

    // One bulk call over both protocols: one result per machine.
    let lines = igor
        .ok(&["-o", "json", "power-status", "rack1-*"])
        .json_lines();
    let power: Vec<(String, String)> = lines
        .iter()
        .map(|l| {
            (
                l["machine"].as_str().unwrap().to_owned(),
                l["result"]["power"].as_str().unwrap_or("?").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        power,
        [
            ("rack1-ipmi".into(), "off".into()),
            ("rack1-rf".into(), "off".into()),
            ("rack1-two".into(), "off".into())
        ],
        "{lines:?}"
    );

    // Power on waits until the BMC reports it (the emulator applies it 1 to 11 s later).
    let r = igor.ok(&["-o", "json", "power-on", "rack1-rf", "--timeout-secs", "40"]);
    let on = &r.json_lines()[0];
    assert_eq!(on["result"]["power"], "on", "{r}");
    assert_eq!(one.curl_json(&one.system_path(0))["PowerState"], "On");

    // Boot device, identify: set, then read back through igor and through curl.
    igor.ok(&["bootdev-set", "rack1-rf", "pxe", "--persistent", "--efi"]);
    let boot = &one.curl_json(&one.system_path(0))["Boot"];
    assert_eq!(
        (
            &boot["BootSourceOverrideTarget"],
            &boot["BootSourceOverrideMode"]
        ),
        (&json!("Pxe"), &json!("UEFI")),
        "{boot}"
    );
    let got = &igor
        .ok(&["-o", "json", "bootdev-get", "rack1-rf"])
        .json_lines()[0];
    assert_eq!(
        (&got["result"]["device"], &got["result"]["efi"]),
        (&json!("pxe"), &json!(true)),
        "{got}"
    );
    igor.ok(&["chassis-identify", "rack1-rf", "--action", "off"]);
    assert_eq!(one.curl_json(&one.system_path(0))["IndicatorLED"], "Off");

    // Sensors from the chassis' Thermal resource; inventory from the system and chassis.
    let sensors = &igor
        .ok(&["-o", "json", "sensor-list", "rack1-rf"])
        .json_lines()[0];
    let rows = sensors["result"].as_array().unwrap();
    assert!(
        rows.iter()
            .any(|r| r["name"] == "CPU Temp" && r["value"].is_number()),
        "{sensors}"
    );
    let fru = &igor
        .ok(&["-o", "json", "fru-show", "rack1-rf"])
        .json_lines()[0];
    let chassis = one.curl_json(
        one.curl_json(&one.system_path(0))["Links"]["Chassis"][0]["@odata.id"]
            .as_str()
            .unwrap(),
    );
    assert_eq!(
        fru["result"]["chassis_serial"], chassis["SerialNumber"],
        "{fru}"
    );
    assert_eq!(
        fru["result"]["product_manufacturer"], "Sushy Emulator",
        "{fru}"
    );

    // What Redfish (or this emulator) lacks: a clear answer naming machine and capability.
    let r = igor.run(&["-o", "json", "sel-list", "rack1-rf", "rack1-ipmi"]);
    r.code(3);
    let lines = r.json_lines();
    let rf = lines.iter().find(|l| l["machine"] == "rack1-rf").unwrap();
    assert_eq!(rf["error"]["code"], "not_supported", "{r}");
    let message = rf["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("rack1-rf") && message.contains("event log"),
        "{message}"
    );
    let ipmi_line = lines.iter().find(|l| l["machine"] == "rack1-ipmi").unwrap();
    assert_eq!(ipmi_line["ok"], true, "{r}");
    let r = igor.run(&["-o", "json", "bmc-info", "rack1-rf"]);
    r.code(3);
    assert_eq!(r.json_lines()[0]["error"]["code"], "not_supported", "{r}");

    // A replaced certificate fails every call, naming both fingerprints, until re-pinned.
    let old = one.fingerprint();
    one.new_certificate();
    let new = one.fingerprint();
    assert_ne!(old, new);
    let r = igor.run(&["-o", "json", "power-status", "rack1-rf"]);
    r.code(3);
    let e = &r.json_lines()[0]["error"];
    assert_eq!(e["code"], "bmc_certificate_changed", "{r}");
    let message = e["message"].as_str().unwrap();
    assert!(
        message.contains(&old) && message.contains(&new),
        "{message}"
    );
    let m = igor.json(&["machine-mod", "rack1-rf", "--repin-certificate"]);
    assert_eq!(m["tls_fingerprint"], new, "{m}");
    let lines = igor
        .ok(&["-o", "json", "power-status", "rack1-rf"])
        .json_lines();
    assert_eq!(lines[0]["result"]["power"], "on", "{lines:?}");

    // A BMC that is gone: its machine reports it, the others answer.
    one.stop();
    let r = igor.run(&["-o", "json", "power-status", "rack1-*"]);
    r.code(3);
    let lines = r.json_lines();
    let gone = lines.iter().find(|l| l["machine"] == "rack1-rf").unwrap();
    assert!(
        ["bmc_unreachable", "bmc_timeout"].contains(&gone["error"]["code"].as_str().unwrap()),
        "{r}"
    );
    assert_eq!(lines.iter().filter(|l| l["ok"] == true).count(), 2, "{r}");
}
