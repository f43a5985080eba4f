//! The serial console over IPMI 2.0 SOL against OpenIPMI's ipmi_sim, whose serial port is a
//! TCP server of the test's (the host's side of the line): output reaches us, keystrokes
//! reach the host, a second console is refused while ours holds SOL (ipmitool is too), and
//! a forced one takes it over.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use server::bmc::BmcTarget;
use server::bmc::sol::{ConsoleError, SolConsole};
use tests::sim::SimBmc;

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(10)
}

/// The host's end of the serial line: ipmi_sim connects when SOL is activated.
fn accept(host: &TcpListener) -> TcpStream {
    host.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match host.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                return s;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(
                    Instant::now() < deadline,
                    "ipmi_sim did not connect its serial port"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
}

/// Reads from the host's end until `want` has arrived.
fn read_until(serial: &mut TcpStream, want: &[u8]) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    while !got.windows(want.len()).any(|w| w == want) {
        let n = serial.read(&mut buf).expect("the host's serial line");
        assert!(n > 0, "the serial line closed; got {got:?}");
        got.extend_from_slice(&buf[..n]);
    }
    got
}

async fn output_until(console: &mut SolConsole, want: &[u8]) -> Vec<u8> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut got = Vec::new();
    while !got.windows(want.len()).any(|w| w == want) {
        assert!(Instant::now() < deadline, "no {want:?} in {got:?}");
        let out = console
            .pump(Instant::now() + Duration::from_millis(200))
            .await
            .unwrap();
        got.extend(out.data);
    }
    got
}

#[test]
fn sol_console_against_ipmi_sim() {
    let host = TcpListener::bind("127.0.0.1:0").unwrap();
    let sim = SimBmc::with_serial(host.local_addr().unwrap().port());
    let target = BmcTarget {
        host: sim.host.clone(),
        port: sim.port,
        username: sim.user.clone(),
        password: sim.password.clone(),
        cipher_suite: 3,
        redfish: None,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut console = SolConsole::activate(&target, soon(), false).await.unwrap();
        let mut serial = accept(&host);

        // The host prints; the console sees it.
        serial
            .write_all(b"\r\nDebian GNU/Linux 13 node1 ttyS0\r\n\r\nnode1 login: ")
            .unwrap();
        let got = output_until(&mut console, b"login: ").await;
        assert!(got.ends_with(b"node1 login: "), "{got:?}");

        // Keystrokes reach the host, acknowledged.
        console.write(b"root\r");
        let deadline = Instant::now() + Duration::from_secs(10);
        while console.unacknowledged() > 0 {
            assert!(Instant::now() < deadline, "keystrokes not acknowledged");
            console
                .pump(Instant::now() + Duration::from_millis(100))
                .await
                .unwrap();
        }
        assert_eq!(read_until(&mut serial, b"root\r"), b"root\r");

        // Several kilobytes in one go arrive whole and in order.
        let text: Vec<u8> = (0..4000u32)
            .map(|i| b"abcdefghijklmnopqrstuvwxyz0123456789\r\n"[(i % 38) as usize])
            .chain(b"END".iter().copied())
            .collect();
        serial.write_all(&text).unwrap();
        let got = output_until(&mut console, b"END").await;
        assert_eq!(got, text);

        // While we hold SOL: ipmitool is refused, and so is another console of ours.
        let other = sim.ipmitool(&["sol", "activate"]);
        let said = String::from_utf8_lossy(&other.stdout).to_string()
            + &String::from_utf8_lossy(&other.stderr);
        assert!(said.to_lowercase().contains("already active"), "{said}");
        match SolConsole::activate(&target, soon(), false).await {
            Err(ConsoleError::InUse(why)) => assert!(why.contains("already active"), "{why}"),
            Err(e) => panic!("expected in use, got {e}"),
            Ok(_) => panic!("a second console while SOL is active"),
        }

        // --force takes it over. ipmi_sim tells the session it took SOL from nothing; its
        // next keystrokes go unacknowledged, and it ends with a message saying so.
        let mut second = SolConsole::activate(&target, soon(), true).await.unwrap();
        console.write(b"x");
        let deadline = Instant::now() + Duration::from_secs(10);
        let ended = loop {
            match console
                .pump(Instant::now() + Duration::from_millis(200))
                .await
            {
                Ok(out) if out.deactivated => break "deactivated".to_owned(),
                Ok(_) => assert!(Instant::now() < deadline, "the first console did not end"),
                Err(e) => break e.to_string(),
            }
        };
        assert!(
            ended == "deactivated" || ended.contains("did not acknowledge"),
            "{ended}"
        );
        // The serial line stays connected: the new console sees the host's output.
        serial.write_all(b"again: ").unwrap();
        output_until(&mut second, b"again: ").await;
        second.deactivate(Duration::from_secs(2)).await;
        // Released: ipmitool could activate now (checked through ours, which does not hang).
        let third = SolConsole::activate(&target, soon(), false).await.unwrap();
        third.deactivate(Duration::from_secs(2)).await;
    });
}
