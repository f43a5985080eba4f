//! Integration tests of the BMC layer against real `ipmi_sim` BMCs, cross-checked with
//! `ipmitool`. One binary (STYLE rule 8); each test starts its own simulator.

use std::net::UdpSocket;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use server::bmc::{
    BmcConfig, BmcError, BmcPool, BmcTarget, BootDevice, ChassisAction, Identify, PowerState,
    SelDeletion, Thresholds,
};
use tests::relay::CutRelay;
use tests::sim::SimBmc;

fn target(sim: &SimBmc) -> BmcTarget {
    BmcTarget {
        host: sim.host.clone(),
        port: sim.port,
        username: sim.user.clone(),
        password: sim.password.clone(),
        cipher_suite: 3,
        redfish: None,
    }
}

fn pool(deadline_ms: u64) -> BmcPool {
    BmcPool::new(BmcConfig {
        deadline: Duration::from_millis(deadline_ms),
        ..BmcConfig::default()
    })
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn power_on_off_status_agree_with_ipmitool() {
    let sim = SimBmc::start_new();
    let t = target(&sim);
    let pool = pool(3000);
    assert_eq!(pool.power_status(1, &t).await.unwrap(), PowerState::Off);
    assert_eq!(sim.power_status(), "Chassis Power is off");

    pool.chassis_control(1, &t, ChassisAction::PowerOn)
        .await
        .unwrap();
    assert_eq!(pool.power_status(1, &t).await.unwrap(), PowerState::On);
    assert_eq!(sim.power_status(), "Chassis Power is on");
    let status = pool.chassis_status(1, &t).await.unwrap();
    assert!(status.power_on);

    // Changed behind our back: the kept session must not cache anything.
    sim.ipmitool_ok(&["chassis", "power", "off"]);
    assert_eq!(pool.power_status(1, &t).await.unwrap(), PowerState::Off);

    pool.chassis_control(1, &t, ChassisAction::PowerOn)
        .await
        .unwrap();
    pool.chassis_control(1, &t, ChassisAction::SoftShutdown)
        .await
        .unwrap();
    assert_eq!(sim.power_status(), "Chassis Power is off");
    pool.chassis_control(1, &t, ChassisAction::HardReset)
        .await
        .unwrap();
    assert!(sim.state("resets").is_some(), "reset reached the helper");

    let dev = pool.device_id(1, &t).await.unwrap();
    let mc = sim.ipmitool_ok(&["mc", "info"]);
    assert!(
        mc.contains(&format!(
            "Firmware Revision         : {}",
            dev.firmware_version
        )),
        "{mc}\n{dev:?}"
    );
    assert!(
        mc.contains(&format!("IPMI Version              : {}", dev.ipmi_version)),
        "{mc}"
    );
    assert!(
        mc.contains(&format!(
            "Manufacturer ID           : {}",
            dev.manufacturer_id
        )),
        "{mc}"
    );
    assert!(
        mc.contains(&format!("Product ID                : {}", dev.product_id)),
        "{mc}"
    );

    pool.identify(1, &t, Identify::Seconds(15)).await.unwrap();
    assert_eq!(sim.state("identify").as_deref(), Some("15 0"));
    pool.identify(1, &t, Identify::ForceOn).await.unwrap();
    assert_eq!(sim.state("identify").as_deref(), Some("0 1"));
    pool.identify(1, &t, Identify::Off).await.unwrap();
    assert_eq!(sim.state("identify").as_deref(), Some("0 0"));
    pool.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boot_device_agrees_with_ipmitool_bootparam() {
    let sim = SimBmc::start_new();
    let t = target(&sim);
    let pool = pool(3000);
    for (dev, persistent, text) in [
        (BootDevice::Pxe, false, "Force PXE"),
        (BootDevice::Disk, true, "Force Boot from default Hard-Drive"),
        (BootDevice::Cdrom, false, "Force Boot from CD/DVD"),
        (BootDevice::Bios, false, "Force Boot into BIOS Setup"),
    ] {
        pool.set_boot_device(1, &t, dev, persistent, false)
            .await
            .unwrap();
        let out = sim.ipmitool_ok(&["chassis", "bootparam", "get", "5"]);
        assert!(out.contains(text), "{dev:?}: {out}");
        // ipmi_sim keeps only the device selector of parameter 5 (the first data byte, with
        // "valid" and "persistent", reads back as 00 even after `ipmitool chassis bootdev`),
        // so the persistence flag is sent but cannot be checked against it.
    }
    pool.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sel_add_list_delete_clear_agree_with_ipmitool() {
    let sim = SimBmc::start_new();
    let t = target(&sim);
    let pool = pool(3000);
    let added = sim.console(
        "sel_add 0x20 0x02 0x00 0x00 0x00 0x00 0x20 0x00 0x04 0x01 0x01 0x01 0x57 0x5c 0x5a",
    );
    assert!(added.contains("Added record"), "{added}");

    let list = pool.sel_list(1, &t).await.unwrap();
    let ids: Vec<u16> = list.iter().map(|r| r.id).collect();
    assert_eq!(ids, sim.sel_ids::<u16>());
    assert_eq!(list.len(), 5);
    let temp = &list[0];
    assert_eq!(temp.sensor_type, "temperature");
    assert_eq!(temp.event, "upper critical going high");
    assert!(temp.asserted);
    assert_eq!(temp.timestamp, None, "ipmi_sim's clock is pre-init");
    let last = list.last().unwrap();
    assert_eq!(last.event, "upper non-critical going high");
    assert_eq!(list[1].sensor_type, "entity presence");
    assert_eq!(list[1].event, "offset 1");
    assert_eq!(list[3].record_type, 0xC0);

    let info = pool.sel_info(1, &t).await.unwrap();
    assert_eq!(info.entries, 5);
    assert_eq!(info.version, "1.5");
    let tool_info = sim.ipmitool_ok(&["sel", "info"]);
    assert!(tool_info.contains("Entries          : 5"), "{tool_info}");

    let outcome = pool
        .sel_delete(1, &t, vec![ids[1], 0x7777, ids[2]])
        .await
        .unwrap();
    assert_eq!(
        outcome,
        vec![
            SelDeletion::Deleted,
            SelDeletion::NotFound,
            SelDeletion::Deleted
        ]
    );
    let remaining = sim.sel_ids::<u16>();
    assert_eq!(remaining, vec![ids[0], ids[3], ids[4]]);

    pool.sel_clear(1, &t).await.unwrap();
    assert!(pool.sel_list(1, &t).await.unwrap().is_empty());
    assert!(sim.sel_ids::<u16>().is_empty());
    pool.shutdown().await;
}

/// Datagrams igord sends to open a session and make one request, learned through a relay
/// rather than assumed, so the cut tests follow the session setup wherever it goes.
async fn datagrams_for_session_and_one_request(pool: &BmcPool, sim: &SimBmc) -> usize {
    let relay = CutRelay::start(sim.port);
    let t = BmcTarget {
        port: relay.port,
        ..target(sim)
    };
    // A key no other call uses, so the session is opened here.
    pool.device_id(9_999, &t)
        .await
        .expect("device id through the relay");
    relay.forwarded()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sel_delete_reports_what_was_deleted_when_the_link_breaks() {
    let sim = SimBmc::start_new();
    let pool = pool(3000);
    let ids = sim.sel_ids::<u16>();
    assert!(
        ids.len() >= 4,
        "the simulator starts with 4 SEL records: {ids:?}"
    );
    let setup = datagrams_for_session_and_one_request(&pool, &sim).await - 1;

    let relay = CutRelay::start(sim.port);
    let t = BmcTarget {
        port: relay.port,
        ..target(&sim)
    };
    // Session setup, Reserve SEL, then two deletes get through; the third is lost.
    relay.cut_after(setup + 1 + 2);
    let outcome = pool.sel_delete(1, &t, ids[..4].to_vec()).await.unwrap();
    assert_eq!(outcome.len(), 4, "{outcome:?}");
    assert_eq!(outcome[..2], [SelDeletion::Deleted, SelDeletion::Deleted]);
    assert!(
        matches!(outcome[2], SelDeletion::Unknown(BmcError::Timeout(_))),
        "the record in flight: {outcome:?}"
    );
    assert!(
        matches!(outcome[3], SelDeletion::NotAttempted(_)),
        "the record after it: {outcome:?}"
    );
    // What the BMC holds agrees: the first two are gone, the others are still there.
    assert_eq!(sim.sel_ids::<u16>(), ids[2..]);

    // The broken session was thrown away: once the link is back, a fresh one answers.
    relay.cut_after(usize::MAX / 2);
    let remaining: Vec<u16> = pool
        .sel_list(1, &t)
        .await
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(remaining, ids[2..]);
    pool.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sensors_agree_with_ipmitool_sensor_list() {
    let sim = SimBmc::start_new();
    let t = target(&sim);
    let pool = pool(3000);
    // Drive CPU Temp over its upper critical threshold (0x5c = 92 > 90).
    sim.console("sensor_set_value 0x20 0 1 0x5c 1");
    let ours = pool.sensors(1, &t).await.unwrap();
    let tool = sim.ipmitool_ok(&["sensor", "list"]);
    let mut compared = 0;
    for line in tool.lines() {
        let cols: Vec<&str> = line.split('|').map(str::trim).collect();
        if cols.len() < 4 {
            continue;
        }
        let r = ours
            .iter()
            .find(|r| r.name == cols[0])
            .unwrap_or_else(|| panic!("{} missing in {ours:?}", cols[0]));
        if cols[2] == "discrete" {
            // ipmitool prints the two state bytes in wire order ("0x0100" = bit 0 set).
            let tool_state = u16::from_str_radix(cols[3].trim_start_matches("0x"), 16)
                .unwrap()
                .swap_bytes();
            assert_eq!(r.status, format!("{tool_state:#06x}"), "{line}");
        } else {
            let v: f64 = cols[1].parse().unwrap();
            assert!((r.value.unwrap() - v).abs() < 0.01, "{line} vs {r:?}");
            assert_eq!(r.unit.as_deref(), Some(cols[2]), "{line}");
            let expect = match cols[3] {
                "ok" => "ok",
                "cr" => "upper critical",
                other => panic!("unexpected status {other}"),
            };
            assert_eq!(r.status, expect, "{line}");
        }
        compared += 1;
    }
    assert_eq!(compared, 3, "{tool}");
    let cpu = ours.iter().find(|r| r.name == "CPU Temp").unwrap();
    assert_eq!(
        (cpu.value, cpu.status.as_str(), cpu.sensor_type.as_str()),
        (Some(92.0), "upper critical", "temperature")
    );
    pool.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_bmc_times_out_while_healthy_bmc_answers() {
    let sim = SimBmc::start_new();
    // A socket that never answers: what a powered-off BMC behind a router looks like.
    let hole = UdpSocket::bind("127.0.0.1:0").unwrap();
    let dead = BmcTarget {
        port: hole.local_addr().unwrap().port(),
        ..target(&sim)
    };
    let healthy = target(&sim);
    let deadline = Duration::from_millis(1500);
    let pool = pool(1500);
    // The dead call's first datagram arriving at the hole: its worker is waiting on it.
    let listener = hole.try_clone().unwrap();
    listener
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let stuck = tokio::task::spawn_blocking(move || listener.recv_from(&mut [0u8; 512]));
    let started = Instant::now();
    let ((dead_result, dead_at), (healthy_result, healthy_at)) = tokio::join!(
        async { (pool.power_status(1, &dead).await, Instant::now()) },
        async {
            stuck
                .await
                .unwrap()
                .expect("the dead call sent nothing to its BMC");
            (pool.power_status(2, &healthy).await, Instant::now())
        }
    );
    assert_eq!(dead_result, Err(BmcError::Timeout(deadline)));
    assert_eq!(healthy_result, Ok(PowerState::Off));
    // The healthy BMC answered while the dead one's call was still pending: it did not
    // wait behind it. Only a hang is bounded by the clock, generously for a loaded machine.
    assert!(
        healthy_at < dead_at,
        "the healthy call ended {:?} after the dead one",
        healthy_at - dead_at
    );
    assert!(
        dead_at - started < 5 * deadline,
        "the dead call took {:?}",
        dead_at - started
    );

    // Nobody on the port at all: loopback answers ICMP port unreachable.
    drop(hole);
    let refused = pool.power_status(3, &dead).await;
    assert!(
        matches!(refused, Err(BmcError::Unreachable(_))),
        "{refused:?}"
    );
    pool.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bmc_restarted_between_calls() {
    let mut sim = SimBmc::start_new();
    let t = target(&sim);
    let pool = pool(2000);
    assert_eq!(pool.power_status(1, &t).await.unwrap(), PowerState::Off);
    sim.restart();
    let started = Instant::now();
    assert_eq!(pool.power_status(1, &t).await.unwrap(), PowerState::Off);
    eprintln!("read after restart took {:?}", started.elapsed());
    // Actions too: a kept session idle for over a second is probed before the action is
    // sent. What makes it idle is its age on igord's clock, which nothing outside shows:
    // waiting past that second is the condition itself, not a guess at an event's timing.
    sim.restart();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    pool.chassis_control(1, &t, ChassisAction::PowerOn)
        .await
        .unwrap();
    assert_eq!(sim.power_status(), "Chassis Power is on");
    pool.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_is_auth_failed() {
    let sim = SimBmc::with_user("ops", "s3cret-pass");
    let pool = pool(2000);
    let mut t = target(&sim);
    assert_eq!(pool.power_status(1, &t).await, Ok(PowerState::Off));
    t.password = "wrong".into();
    let err = pool.power_status(1, &t).await.unwrap_err();
    assert_eq!(err, BmcError::AuthFailed);
    assert!(
        !format!("{err} {err:?} {t:?}").contains("wrong"),
        "password leaked"
    );
    t.username = "nobody".into();
    assert_eq!(pool.power_status(1, &t).await, Err(BmcError::AuthFailed));
    // Credentials fixed: a new session is opened with them.
    assert_eq!(
        pool.power_status(1, &target(&sim)).await,
        Ok(PowerState::Off)
    );
    pool.shutdown().await;
}

/// Active sessions on the BMC, from Get Session Info (byte 3), seen by ipmitool's session.
fn active_sessions(sim: &SimBmc) -> u32 {
    let out = sim.ipmitool_ok(&["raw", "0x06", "0x3d", "0x00"]);
    let bytes: Vec<&str> = out.split_whitespace().collect();
    u32::from_str_radix(bytes[2], 16).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_calls_do_not_leak_sessions() {
    let sim = SimBmc::start_new();
    let t = target(&sim);
    let pool = pool(3000);
    for i in 0..200 {
        assert_eq!(
            pool.power_status(1, &t).await,
            Ok(PowerState::Off),
            "call {i}"
        );
        // Half the calls open a fresh session: 100 sessions, more than the 63 slots.
        if i % 2 == 1 {
            pool.forget(1).await;
        }
    }
    assert_eq!(
        active_sessions(&sim),
        1,
        "only ipmitool's own session is left"
    );
    assert_eq!(pool.device_id(1, &t).await.unwrap().ipmi_version, "2.0");
    assert_eq!(active_sessions(&sim), 2, "our kept session plus ipmitool's");
    pool.shutdown().await;
    assert_eq!(active_sessions(&sim), 1, "shutdown closed our session");
}

/// Forwards datagrams between clients and the simulator; when `delay_next` is set, the next
/// reply from the simulator is held back for `delay`, then sent where a real BMC would send
/// it: to the socket that asked. `delivered` counts the held-back replies sent so far.
struct DelayProxy {
    port: u16,
    delay_next: Arc<AtomicBool>,
    delivered: Arc<AtomicUsize>,
}

impl DelayProxy {
    fn start(upstream: u16, delay: Duration) -> DelayProxy {
        let front = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = front.local_addr().unwrap().port();
        let back = UdpSocket::bind("127.0.0.1:0").unwrap();
        back.connect(("127.0.0.1", upstream)).unwrap();
        let client = Arc::new(std::sync::Mutex::new(None));
        let delay_next = Arc::new(AtomicBool::new(false));
        let delivered = Arc::new(AtomicUsize::new(0));
        {
            let (front, back, client) = (
                front.try_clone().unwrap(),
                back.try_clone().unwrap(),
                client.clone(),
            );
            std::thread::spawn(move || {
                let mut buf = [0u8; 2048];
                while let Ok((n, from)) = front.recv_from(&mut buf) {
                    *client.lock().unwrap() = Some(from);
                    let _ = back.send(&buf[..n]);
                }
            });
        }
        {
            let (delay_next, delivered) = (delay_next.clone(), delivered.clone());
            std::thread::spawn(move || {
                let mut buf = [0u8; 2048];
                loop {
                    let Ok(n) = back.recv(&mut buf) else { continue };
                    let data = buf[..n].to_vec();
                    let (front, client) = (front.try_clone().unwrap(), client.clone());
                    if delay_next.swap(false, Ordering::SeqCst) {
                        let to = client.lock().unwrap().unwrap();
                        let delivered = delivered.clone();
                        std::thread::spawn(move || {
                            // The delay is what this proxy simulates: a reply that is late.
                            std::thread::sleep(delay);
                            front.send_to(&data, to).expect("send the late reply");
                            delivered.fetch_add(1, Ordering::SeqCst);
                        });
                    } else {
                        let to = client.lock().unwrap().unwrap();
                        let _ = front.send_to(&data, to);
                    }
                }
            });
        }
        DelayProxy {
            port,
            delay_next,
            delivered,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_reply_is_never_taken_for_the_next_answer() {
    let sim = SimBmc::start_new();
    let proxy = DelayProxy::start(sim.port, Duration::from_millis(1500));
    let t = BmcTarget {
        port: proxy.port,
        ..target(&sim)
    };
    let pool = pool(1000);
    sim.ipmitool_ok(&["chassis", "power", "on"]);
    // Establish a kept session, then delay the answer to the next request past the deadline.
    assert_eq!(pool.power_status(1, &t).await, Ok(PowerState::On));
    proxy.delay_next.store(true, Ordering::SeqCst);
    let first = pool.power_status(1, &t).await;
    // Either the read was retried on a fresh session in time, or it timed out.
    assert!(
        matches!(first, Ok(PowerState::On) | Err(BmcError::Timeout(_))),
        "{first:?}"
    );
    // Flip the truth, and wait until the stale "on" has been sent back.
    sim.ipmitool_ok(&["chassis", "power", "off"]);
    let waiting = Instant::now();
    while proxy.delivered.load(Ordering::SeqCst) == 0 {
        assert!(
            waiting.elapsed() < Duration::from_secs(10),
            "the late reply was never sent"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for _ in 0..3 {
        assert_eq!(pool.power_status(1, &t).await, Ok(PowerState::Off));
    }
    // An action after the stale reply: answered by its own reply, not the stale one.
    pool.chassis_control(1, &t, ChassisAction::PowerOn)
        .await
        .unwrap();
    assert_eq!(pool.power_status(1, &t).await, Ok(PowerState::On));
    pool.shutdown().await;
}

#[test]
fn target_debug_redacts_password() {
    let t = BmcTarget {
        host: "10.0.0.1".into(),
        port: 623,
        username: "admin".into(),
        password: "hunter2".into(),
        cipher_suite: 3,
        redfish: None,
    };
    let shown = format!("{t:?}");
    assert!(
        !shown.contains("hunter2") && shown.contains("redacted"),
        "{shown}"
    );
}

/// `ipmitool sel elist` in UTC, the zone igord's timestamp texts are in.
fn sel_elist(sim: &SimBmc) -> String {
    let port = sim.port.to_string();
    let out = std::process::Command::new("ipmitool")
        .args(["-I", "lanplus", "-C", "3", "-H", &sim.host, "-p", &port])
        .args(["-U", &sim.user, "-E", "sel", "elist"])
        .env("IPMI_PASSWORD", &sim.password)
        .env("TZ", "UTC")
        .output()
        .expect("run ipmitool");
    assert!(
        out.status.success(),
        "ipmitool sel elist failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sel_texts_agree_with_ipmitool_sel_elist() {
    let sim = SimBmc::start_new();
    let t = target(&sim);
    let pool = pool(3000);
    // The four seeded records keep their pre-init stamps; those added after Set SEL Time
    // (2024-06-15 12:00:00 UTC) get dates.
    sim.ipmitool_ok(&["raw", "0x0a", "0x49", "0x40", "0x82", "0x6d", "0x66"]);
    // generator (2 bytes), EvM rev, sensor type, number, event dir|type, event data 1-3
    for event in [
        // FAN1 lower critical going low, deasserted, reading and threshold given.
        "0x20 0x00 0x04 0x04 0x03 0x81 0x52 0x0f 0x10",
        // CPU Temp upper non-critical going high, the reading only.
        "0x20 0x00 0x04 0x01 0x01 0x01 0x47 0x55 0xff",
        // CPU Temp lower non-critical going low, asserted: "<".
        "0x20 0x00 0x04 0x01 0x01 0x01 0x50 0x05 0x0a",
        // DIMM1 present, then absent deasserted.
        "0x20 0x00 0x04 0x25 0x02 0x6f 0x00 0xff 0xff",
        "0x20 0x00 0x04 0x25 0x02 0xef 0x01 0xff 0xff",
        // The event-only watchdog sensor (number 0), power down.
        "0x20 0x00 0x04 0x23 0x00 0x6f 0x02 0xff 0xff",
        // Sensors without SDRs: processor presence, firmware progress refined by event
        // data 2, a software generator's severity event, version change offset 1 without
        // data 2 and an OEM event type (both without text in ipmitool).
        "0x20 0x00 0x04 0x07 0x09 0x6f 0x07 0xff 0xff",
        "0x20 0x00 0x04 0x0f 0x0a 0x6f 0xc2 0x13 0xff",
        "0x41 0x00 0x04 0x08 0x07 0x07 0x02 0xff 0xff",
        "0x20 0x00 0x04 0x2b 0x0c 0x6f 0x01 0xff 0xff",
        "0x20 0x00 0x04 0x01 0x0b 0x70 0x00 0xff 0xff",
    ] {
        let added = sim.console(&format!("sel_add 0x20 0x02 0 0 0 0 {event}"));
        assert!(added.contains("Added record"), "{event}: {added}");
    }
    let oem = sim.console("sel_add 0x20 0xe0 1 2 3 4 5 6 7 8 9 10 11 12 13");
    assert!(oem.contains("Added record"), "{oem}");

    let ours = pool.sel_list(1, &t).await.unwrap();
    let tool = sel_elist(&sim);
    let mut compared = 0;
    for line in tool.lines() {
        let cols: Vec<&str> = line.split('|').map(str::trim).collect();
        let id = u16::from_str_radix(cols[0], 16).unwrap_or_else(|_| panic!("{line}"));
        let r = ours
            .iter()
            .find(|r| r.id == id)
            .unwrap_or_else(|| panic!("{line}: record missing in {ours:?}"));
        let rest = if r.record_type < 0xE0 {
            // Date and time columns ("Pre-Init" and the seconds before Set SEL Time).
            let shown = format!("{} {}", cols[1], cols[2]);
            assert_eq!(r.timestamp_text.as_deref(), Some(shown.as_str()), "{line}");
            &cols[3..]
        } else {
            assert_eq!(r.timestamp_text, None, "{line}");
            &cols[1..]
        };
        compared += 1;
        if r.record_type >= 0xC0 {
            assert_eq!(r.event_text, rest.join(" | "), "{line}");
            continue;
        }
        // ipmitool's sensor column: its sensor type name, then the SDR's name, or the
        // number when it found no SDR (none for number 0).
        match &r.sensor_name {
            Some(name) => assert!(rest[0].ends_with(&format!(" {name}")), "{line}: {r:?}"),
            None if r.sensor_number != 0 => assert!(
                rest[0].ends_with(&format!(" #0x{:02x}", r.sensor_number)),
                "{line}: {r:?}"
            ),
            None => {}
        }
        assert_eq!(r.event_text, rest[1], "{line}");
        let direction = if r.asserted { "Asserted" } else { "Deasserted" };
        assert_eq!(direction, rest[2], "{line}");
        assert_eq!(r.reading_text.as_deref(), rest.get(3).copied(), "{line}");
    }
    assert_eq!(compared, ours.len(), "{tool}");
    assert_eq!(ours.len(), 16, "{tool}");

    // What the comparison rests on, spelled out for a few records.
    let show = |id: u16| {
        let r = ours.iter().find(|r| r.id == id).unwrap();
        format!(
            "{} | {} | {} | {}",
            r.sensor_name.as_deref().unwrap_or("-"),
            r.event_text,
            r.reading_text.as_deref().unwrap_or("-"),
            r.timestamp_text.as_deref().unwrap_or("-"),
        )
    };
    assert!(show(1).starts_with(
        "CPU Temp | Upper Critical going high | Reading 92 > Threshold 90 degrees C | Pre-Init "
    ));
    assert!(show(2).starts_with("DIMM1 Presence | Absent | - | Pre-Init "));
    // Added a few seconds after the clock was set.
    assert!(
        show(5).starts_with(
            "FAN1 | Lower Critical going low | Reading 750 > Threshold 800 RPM | 06/15/24 12:00:"
        ),
        "{}",
        show(5)
    );
    let fan = ours.iter().find(|r| r.id == 5).unwrap();
    assert_eq!(
        (
            fan.reading_raw,
            fan.threshold_raw,
            fan.reading,
            fan.threshold
        ),
        (Some(0x0f), Some(0x10), Some(750.0), Some(800.0))
    );
    assert!(show(7).starts_with(
        "CPU Temp | Lower Non-critical going low | Reading 5 < Threshold 10 degrees C | "
    ));
    assert!(show(11).starts_with("- | Presence detected | - | "));
    assert!(show(12).starts_with("- | System boot initiated | - | "));
    pool.shutdown().await;
}

/// The asserted states `ipmitool sensor get NAME` lists ("[Present]" lines).
fn tool_states(sim: &SimBmc, name: &str) -> Vec<String> {
    sim.ipmitool_ok(&["sensor", "get", name])
        .lines()
        .filter_map(|l| l.trim().strip_prefix('['))
        .filter_map(|l| l.strip_suffix(']'))
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sensor_thresholds_and_states_agree_with_ipmitool() {
    let sim = SimBmc::start_new();
    let t = target(&sim);
    let pool = pool(3000);
    let check = |ours: &[server::bmc::SensorReading], tool: &str| {
        let mut compared = 0;
        for line in tool.lines() {
            let cols: Vec<&str> = line.split('|').map(str::trim).collect();
            if cols.len() < 10 {
                continue;
            }
            let r = ours
                .iter()
                .find(|r| r.name == cols[0])
                .unwrap_or_else(|| panic!("{} missing in {ours:?}", cols[0]));
            if cols[2] == "discrete" {
                assert_eq!(r.thresholds, Thresholds::default(), "{line}");
                assert_eq!(r.states, tool_states(&sim, cols[0]), "{line}");
            } else {
                assert!(r.states.is_empty(), "{line}: {r:?}");
                let t = &r.thresholds;
                // lnr lc lnc unc uc unr, as ipmitool orders its columns.
                for (ours, shown) in [t.lnr, t.lc, t.lnc, t.unc, t.uc, t.unr]
                    .iter()
                    .zip(&cols[4..10])
                {
                    match (ours, *shown) {
                        (None, "na") => {}
                        (Some(v), shown) if shown != "na" => {
                            let shown: f64 = shown.parse().unwrap();
                            assert!((v - shown).abs() < 0.001, "{line}: {t:?}");
                        }
                        _ => panic!("{line}: {t:?}"),
                    }
                }
            }
            compared += 1;
        }
        assert_eq!(compared, 3, "{tool}");
    };

    let ours = pool.sensors(1, &t).await.unwrap();
    check(&ours, &sim.ipmitool_ok(&["sensor"]));
    let cpu = ours.iter().find(|r| r.name == "CPU Temp").unwrap();
    assert_eq!(
        cpu.thresholds,
        Thresholds {
            unc: Some(80.0),
            uc: Some(90.0),
            unr: Some(100.0),
            ..Thresholds::default()
        }
    );
    let fan = ours.iter().find(|r| r.name == "FAN1").unwrap();
    assert_eq!(
        fan.thresholds,
        Thresholds {
            lc: Some(800.0),
            ..Thresholds::default()
        }
    );
    let dimm = ours.iter().find(|r| r.name == "DIMM1 Presence").unwrap();
    assert_eq!(dimm.states, vec!["Present".to_string()]);

    // Changed behind the pool's back, on the same kept session: the DIMM goes absent and
    // CPU Temp's upper non-critical threshold moves to 85.
    sim.console("sensor_set_bit_clr_rest 0x20 0 2 1 1");
    sim.ipmitool_ok(&["sensor", "thresh", "CPU Temp", "unc", "85"]);
    let ours = pool.sensors(1, &t).await.unwrap();
    check(&ours, &sim.ipmitool_ok(&["sensor"]));
    let dimm = ours.iter().find(|r| r.name == "DIMM1 Presence").unwrap();
    assert_eq!(dimm.states, vec!["Absent".to_string()]);
    let cpu = ours.iter().find(|r| r.name == "CPU Temp").unwrap();
    assert_eq!(cpu.thresholds.unc, Some(85.0));
    pool.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sel_list_reads_the_sdrs_once_per_session() {
    let sim = SimBmc::start_new();
    let pool = pool(3000);
    let relay = CutRelay::start(sim.port);
    let t = BmcTarget {
        port: relay.port,
        ..target(&sim)
    };
    // Opens the session, so the counts below are requests only.
    pool.device_id(1, &t).await.unwrap();
    let start = relay.forwarded();
    let first = pool.sel_list(1, &t).await.unwrap();
    let first_cost = relay.forwarded() - start;
    let second = pool.sel_list(1, &t).await.unwrap();
    let second_cost = relay.forwarded() - start - first_cost;
    assert_eq!(first, second);
    assert_eq!(first[0].sensor_name.as_deref(), Some("CPU Temp"));
    // The second call: Get SDR Repository Info plus one Get SEL Entry per record, where
    // the first also reserved and read the five SDRs in chunks.
    assert_eq!(second_cost, 1 + first.len(), "first call {first_cost}");
    assert!(first_cost > second_cost + 5, "first call {first_cost}");
    pool.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_global_cap_bounds_calls_in_flight() {
    const CAP: usize = 2;
    const CALLS: usize = 6;
    let pool = BmcPool::new(BmcConfig {
        max_concurrent: CAP,
        deadline: Duration::from_millis(1000),
        ..BmcConfig::default()
    })
    .unwrap();
    // BMCs that never answer: each call holds its permit until its wait ends.
    let holes: Vec<UdpSocket> = (0..CALLS)
        .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
        .collect();
    // Each hole notes when its first datagram came; once the calls are over, `over` is set
    // and a wake-up datagram ends the wait of holes nothing reached.
    let over = Arc::new(AtomicBool::new(false));
    let arrivals: Vec<_> = holes
        .iter()
        .map(|hole| {
            let (hole, over) = (hole.try_clone().unwrap(), over.clone());
            hole.set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            std::thread::spawn(move || {
                hole.recv_from(&mut [0u8; 512]).ok()?;
                (!over.load(Ordering::SeqCst)).then(Instant::now)
            })
        })
        .collect();
    let calls: Vec<_> = holes
        .iter()
        .enumerate()
        .map(|(i, hole)| {
            let t = BmcTarget {
                host: "127.0.0.1".into(),
                port: hole.local_addr().unwrap().port(),
                username: "admin".into(),
                password: "admin".into(),
                cipher_suite: 3,
                redfish: None,
            };
            let pool = pool.clone();
            tokio::spawn(async move {
                let r = pool.power_status(i as i64, &t).await;
                assert!(matches!(r, Err(BmcError::Timeout(_))), "{r:?}");
                Instant::now()
            })
        })
        .collect();
    for call in calls {
        call.await.unwrap();
    }
    over.store(true, Ordering::SeqCst);
    let waker = UdpSocket::bind("127.0.0.1:0").unwrap();
    for hole in &holes {
        waker.send_to(b"wake", hole.local_addr().unwrap()).unwrap();
    }
    // The first datagrams hit the holes (or never do, for calls whose deadline passed in
    // the queue); whenever one arrives, fewer than CAP calls may have ended before it.
    let mut arrived: Vec<Instant> = arrivals
        .into_iter()
        .filter_map(|a| a.join().unwrap())
        .collect();
    arrived.sort();
    assert!(
        arrived.len() >= CAP,
        "{} calls reached a BMC",
        arrived.len()
    );
    // A call into a hole holds its permit for its receive wait, half the deadline (500 ms),
    // so call k + CAP can only have started once call k has ended: at least that long
    // after it (less a margin for the holes' own threads, which note arrivals late).
    for (k, later) in arrived.iter().skip(CAP).enumerate() {
        let gap = *later - arrived[k];
        assert!(
            gap >= Duration::from_millis(350),
            "call {} reached its BMC {gap:?} after call {}: more than {CAP} were in flight",
            k + CAP + 1,
            k + 1
        );
    }
    pool.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sessions_are_closed() {
    let sim = SimBmc::start_new();
    let t = target(&sim);
    let pool = BmcPool::new(BmcConfig {
        deadline: Duration::from_millis(3000),
        idle_timeout: Duration::from_millis(300),
        ..BmcConfig::default()
    })
    .unwrap();
    assert_eq!(pool.power_status(1, &t).await, Ok(PowerState::Off));
    assert_eq!(pool.power_status(2, &t).await, Ok(PowerState::Off));
    // Closed by the pool once idle, not by the BMC's own 30 s timeout.
    let waiting = Instant::now();
    while active_sessions(&sim) > 1 {
        assert!(
            waiting.elapsed() < Duration::from_secs(10),
            "idle sessions still open"
        );
    }
    // And the machines are forgotten (at the reaper's next round).
    while pool.slots() > 0 {
        assert!(
            waiting.elapsed() < Duration::from_secs(10),
            "idle machines are still known"
        );
        tokio::task::yield_now().await;
    }
    // The next call opens a fresh session.
    assert_eq!(pool.power_status(1, &t).await, Ok(PowerState::Off));
    assert_eq!(active_sessions(&sim), 2);
    pool.shutdown().await;
}

/// Forwards datagrams between one client and the simulator, and makes the way back noisy:
/// before each reply a datagram of garbage, after it the same reply again (a duplicate, as
/// a network or a retransmitting BMC may deliver).
fn noisy_proxy(upstream: u16) -> u16 {
    let front = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = front.local_addr().unwrap().port();
    let back = UdpSocket::bind("127.0.0.1:0").unwrap();
    back.connect(("127.0.0.1", upstream)).unwrap();
    let client = Arc::new(std::sync::Mutex::new(None));
    {
        let (front, back, client) = (
            front.try_clone().unwrap(),
            back.try_clone().unwrap(),
            client.clone(),
        );
        std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            while let Ok((n, from)) = front.recv_from(&mut buf) {
                *client.lock().unwrap() = Some(from);
                let _ = back.send(&buf[..n]);
            }
        });
    }
    std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        while let Ok(n) = back.recv(&mut buf) {
            let Some(to) = *client.lock().unwrap() else {
                continue;
            };
            let _ = front.send_to(b"\x06\x00\xff\x07\x06\xc0garbage", to);
            let _ = front.send_to(&buf[..n], to);
            let _ = front.send_to(&buf[..n], to);
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_duplicate_replies_are_ignored() {
    let sim = SimBmc::start_new();
    let t = BmcTarget {
        port: noisy_proxy(sim.port),
        ..target(&sim)
    };
    let pool = pool(3000);
    // Each answer is followed by its duplicate, which arrives while the next request waits:
    // it must neither answer that request nor fail it. The truth flips between reads.
    for round in 0..5 {
        let (tool, want) = if round % 2 == 0 {
            ("on", PowerState::On)
        } else {
            ("off", PowerState::Off)
        };
        sim.ipmitool_ok(&["chassis", "power", tool]);
        assert_eq!(pool.power_status(1, &t).await, Ok(want), "round {round}");
        assert_eq!(pool.device_id(1, &t).await.unwrap().ipmi_version, "2.0");
    }
    pool.chassis_control(1, &t, ChassisAction::PowerOn)
        .await
        .unwrap();
    assert_eq!(sim.power_status(), "Chassis Power is on");
    // All of it on one session: nothing was taken for a broken link.
    assert_eq!(active_sessions(&sim), 2, "our one session plus ipmitool's");
    pool.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_action_whose_answer_is_lost_reaches_the_bmc_once() {
    let sim = SimBmc::start_new();
    let proxy = DelayProxy::start(sim.port, Duration::from_millis(2500));
    let t = BmcTarget {
        port: proxy.port,
        ..target(&sim)
    };
    let pool = pool(1000);
    let resets = || sim.state("resets").unwrap_or_default().lines().count();
    // A kept session, then a reset whose answer comes after the deadline.
    assert_eq!(pool.power_status(1, &t).await, Ok(PowerState::Off));
    proxy.delay_next.store(true, Ordering::SeqCst);
    let reset = pool.chassis_control(1, &t, ChassisAction::HardReset).await;
    // Reads are retried on a fresh session; an action is not: the caller hears of the
    // timeout. (Had more than a second passed since the read, a probe would have taken the
    // late answer instead, and the reset gone out once on a fresh session.)
    assert!(
        matches!(reset, Ok(()) | Err(BmcError::Timeout(_))),
        "{reset:?}"
    );
    let waiting = Instant::now();
    while proxy.delivered.load(Ordering::SeqCst) == 0 {
        assert!(
            waiting.elapsed() < Duration::from_secs(10),
            "the late reply was never sent"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(resets(), 1, "the reset reached the BMC once");
    assert_eq!(pool.power_status(1, &t).await, Ok(PowerState::Off));
    assert_eq!(resets(), 1);
    pool.shutdown().await;
}
