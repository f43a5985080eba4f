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
