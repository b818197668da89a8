//! The `mobileid-phone` CLI against a real server: activate, listen and auto-approve, show.

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use support::*;

/// The phone CLI, built next to the server binary (`cargo build --workspace --bins`).
fn phone_binary() -> PathBuf {
    let path = Path::new(env!("CARGO_BIN_EXE_mobileid")).with_file_name("mobileid-phone");
    assert!(
        path.exists(),
        "{} is missing: build it first with `cargo build --workspace --bins` (cargo test does not build \
         other packages' binaries)",
        path.display()
    );
    path
}

/// Runs the phone CLI to completion; panics with its output if it fails.
fn phone_cli(args: &[&str]) -> String {
    let output = Command::new(phone_binary()).args(args).output().expect("run mobileid-phone");
    succeeded("mobileid-phone", args, output)
}

/// A phone CLI running in the background; killed when dropped, whatever happened.
struct Background {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Background {
    fn start(args: &[&str]) -> Background {
        let mut child = Command::new(phone_binary())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start mobileid-phone");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Background { child, lines }
    }

    /// All of stdout until the process closes it (exits), and whether it exited successfully.
    fn output_until_exit(&mut self, limit: Duration) -> (String, bool) {
        let deadline = Instant::now() + limit;
        let mut out = String::new();
        loop {
            match self.lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) => {
                    out.push_str(&line);
                    out.push('\n');
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => panic!("mobileid-phone did not finish in {limit:?}: {out}"),
            }
        }
        let status = self.child.wait().expect("wait");
        (out, status.success())
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct PhoneFiles {
    _dir: tempfile::TempDir,
    state: String,
    pin: String,
    wrong_pin: String,
}

fn phone_files() -> PhoneFiles {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).display().to_string();
    let (state, pin, wrong_pin) = (path("phone.json"), path("pin"), path("wrong-pin"));
    std::fs::write(&pin, format!("{PIN}\n")).unwrap();
    std::fs::write(&wrong_pin, "000000\n").unwrap();
    PhoneFiles { _dir: dir, state, pin, wrong_pin }
}

/// Activates a CLI phone for a new user; returns the CLI's output.
fn activate(server: &TestServer, msisdn: &str, files: &PhoneFiles) -> String {
    let code = server.activation_code(msisdn);
    let ca = server.root_ca_path().display().to_string();
    phone_cli(&[
        "activate",
        "--server",
        &server.base,
        "--ca",
        &ca,
        "--code",
        &code,
        "--pin-file",
        &files.pin,
        "--state",
        &files.state,
    ])
}

on_both_databases! {
    /// A CLI phone activates, auto-approves a sync request (500, DTBD shown), and shows its serial number.
    async fn cli_phone_activates_and_approves(server) {
        let msisdn = "+41791200001";
        let files = phone_files();
        let out = activate(server, msisdn, &files);
        assert!(out.contains("Activated +41791200001"), "{out}");

        let user = server.cli(&["user", "show", "--msisdn", msisdn]);
        let serial = user
            .lines()
            .find_map(|l| l.strip_prefix("serial number : "))
            .expect("serial number in user show")
            .trim()
            .to_string();
        let shown = phone_cli(&["show", "--state", &files.state]);
        assert!(shown.contains(&format!("serial number : {serial}")), "{shown}");
        assert!(shown.contains("MSISDN        : +41791200001"), "{shown}");

        let mut listener =
            Background::start(&["listen", "--auto-approve", "--pin-file", &files.pin, "--count", "1", "--state", &files.state]);
        let text = "Demo: Approve from the CLI?";
        let (status, body) = server.post("/rest/service", &signature_request(msisdn, text, "synch")).await;
        assert_eq!(status, 200, "{body}");
        let resp = &body["MSS_SignatureResp"];
        assert_eq!(resp["Status"]["StatusCode"]["Value"], "500", "{body}");
        let content = openssl_verify(resp["MSS_Signature"]["Base64Signature"].as_str().unwrap(), &server.root_ca_path());
        assert_eq!(content, text.as_bytes());

        let (out, success) = tokio::task::spawn_blocking(move || listener.output_until_exit(Duration::from_secs(30)))
            .await
            .unwrap();
        assert!(success, "{out}");
        assert!(out.contains(text), "the CLI shows the DTBD: {out}");
        assert!(out.contains("Approved."), "{out}");
    }
}

on_both_databases! {
    /// With a wrong PIN file the CLI does not approve: it says "Not approved" and the request stays open.
    async fn cli_phone_with_a_wrong_pin_does_not_sign(server) {
        let msisdn = "+41791200002";
        let files = phone_files();
        activate(server, msisdn, &files);
        let mut listener = Background::start(&[
            "listen", "--auto-approve", "--pin-file", &files.wrong_pin, "--count", "1", "--state", &files.state,
        ]);
        let (status, body) = server.post("/rest/service", &signature_request(msisdn, "Demo: Wrong PIN?", "asynch")).await;
        assert_eq!(status, 200, "{body}");
        let id = body["MSS_SignatureResp"]["MSSP_TransID"].as_str().unwrap().to_string();

        let (out, _) = tokio::task::spawn_blocking(move || {
            let result = listener.output_until_exit(Duration::from_secs(30));
            drop(listener); // killed if still running
            result
        })
        .await
        .unwrap();
        assert!(out.contains("Demo: Wrong PIN?"), "{out}");
        assert!(out.contains("Not approved"), "{out}");

        let (status, body) = server.post("/rest/service", &status_request(&id)).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["MSS_StatusResp"]["Status"]["StatusCode"]["Value"], "504", "{body}");
        assert!(body["MSS_StatusResp"].get("MSS_Signature").is_none(), "{body}");
        let user = server.cli(&["user", "show", "--msisdn", msisdn]);
        assert!(user.contains("wrong PINs 1"), "the server counted the wrong PIN: {user}");
    }
}

on_both_databases! {
    /// A PIN from --pin-file follows the rule of the typed one (at least 6 digits): "12" is
    /// refused and the code stays unspent; the state file of an accepted one is 0600.
    async fn cli_phone_pin_file_follows_the_pin_rule_and_the_state_file_is_private(server) {
        use std::os::unix::fs::PermissionsExt as _;
        let msisdn = "+41791200003";
        let files = phone_files();
        let code = server.activation_code(msisdn);
        let ca = server.root_ca_path().display().to_string();
        for short in ["12", "12345a"] {
            std::fs::write(&files.pin, format!("{short}\n")).unwrap();
            let args = ["activate", "--server", &server.base, "--ca", &ca, "--code", &code, "--pin-file", &files.pin,
                "--state", &files.state];
            let output = Command::new(phone_binary()).args(args).output().expect("run mobileid-phone");
            assert!(!output.status.success(), "PIN {short:?} was accepted");
            let err = String::from_utf8_lossy(&output.stderr);
            assert!(err.contains("at least 6 digits"), "{err}");
            assert!(!Path::new(&files.state).exists(), "no state written");
        }
        std::fs::write(&files.pin, format!("{PIN}\n")).unwrap();
        let out = phone_cli(&["activate", "--server", &server.base, "--ca", &ca, "--code", &code, "--pin-file",
            &files.pin, "--state", &files.state]);
        assert!(out.contains("Activated"), "the code was not spent by the refused PINs: {out}");
        let mode = std::fs::metadata(&files.state).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "state file mode {mode:o}");
    }
}
