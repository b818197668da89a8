//! The peer: panva's certified `oidc-provider` for Node.js, as set up in
//! `../shared/peers/node-oidc-provider` (copied and `npm install`ed by
//! `scripts/bench-oidc`), on a loopback port and one CPU, like ours.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context};
use tokio::process::{Child, Command};

const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Where the peer answers once it is up.
const JWKS: &str = "/jwks";
/// The client of the peer's `par.lua`: `rp-basic` with its secret, as `provider.mjs`
/// registers it.
pub const PAR_AUTHORIZATION: &str = "Basic cnAtYmFzaWM6cnAtYmFzaWMtc2VjcmV0LTAxMjM0NTY3ODlhYmNkZWYwMTIzNDU2Nzg5";
pub const PAR_CLIENT: &str = "rp-basic";
pub const PAR_REDIRECT_ENCODED: &str = "http%3A%2F%2F127.0.0.1%3A8080%2Fcb";

pub struct Peer {
    child: Child,
    pub base: String,
    pub version: String,
}

impl Peer {
    /// Starts `node provider.mjs` in `dir` on `cpu`, with opaque access tokens and RS256,
    /// and waits until it answers.
    pub async fn start(dir: &Path, cpu: usize, log: &Path) -> anyhow::Result<Peer> {
        let version = installed_version(dir)?;
        let port = free_port()?;
        let child = Command::new("taskset")
            .args(["-c", &cpu.to_string(), "node", "provider.mjs"])
            .current_dir(dir)
            .env("PORT", port.to_string())
            .env("AT_FORMAT", "opaque")
            .env("SIG_ALG", "RS256")
            .stdout(std::fs::File::create(log)?)
            .stderr(std::fs::File::create(log.with_extension("err"))?)
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("starting node (is Node.js installed?)")?;
        let peer = Peer { child, base: format!("http://127.0.0.1:{port}"), version };
        let http = reqwest::Client::new();
        let ready = tokio::time::timeout(START_TIMEOUT, async {
            loop {
                if let Ok(answer) = http.get(format!("{}{JWKS}", peer.base)).send().await {
                    if answer.status().is_success() {
                        return;
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        if ready.await.is_err() {
            bail!("the peer did not answer within 30 s; see {}", log.display());
        }
        Ok(peer)
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// The installed `oidc-provider` version, which also proves `npm install` ran.
fn installed_version(dir: &Path) -> anyhow::Result<String> {
    let manifest: PathBuf = dir.join("node_modules/oidc-provider/package.json");
    let text = std::fs::read_to_string(&manifest).with_context(|| {
        format!("{} is missing: copy the peer there and run npm install (scripts/bench-oidc does)", manifest.display())
    })?;
    let value: serde_json::Value = serde_json::from_str(&text)?;
    value["version"].as_str().map(str::to_string).context("no version in oidc-provider's package.json")
}

/// A loopback port that was free a moment ago.
fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}
