//! Scenario `oidc`: our OpenID provider against the certified peer, in one run, with one
//! load generator and one CPU pinning. Each server runs on CPU 0 alone and wrk on CPU 1,
//! as in the peer's own `bench.sh`. Discovery, JWKS and PAR are loaded on both, in
//! alternating order, round after round; the token endpoint is loaded on ours with
//! refresh-token chains (each grant signs an RS256 ID token) and set against this
//! machine's raw RSA-2048 signing rate on the same CPU (`openssl speed`), measured right
//! before and right after each round, since the rate of a shared machine drifts.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use base64::Engine as _;
use serde_json::Value;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

use crate::peer::{self, Peer};
use crate::scenario::{self, Unlock};
use crate::server::{Database, Server};
use crate::wrk::{self, Load, Report};
use crate::{Args, PhonesRuntime};

/// The servers' CPU and the load generator's, as in the peer's `bench.sh`.
const SERVER_CPU: usize = 0;
const LOAD_CPU: usize = 1;
/// Targets of the issue: at least 5 times the peer's rate on discovery, JWKS and PAR, and
/// the token endpoint at 85% of the raw RSA-2048 signing rate.
const PEER_RATIO_TARGET: f64 = 5.0;
const SIGN_RATIO_TARGET: f64 = 0.85;
/// How long each `openssl speed` measurement of the raw signing rate runs.
const RAW_SECONDS: u64 = 3;
const CLIENT_ID: &str = "bench-rp";
const REDIRECT: &str = "https://rp.example/cb";
const REDIRECT_ENCODED: &str = "https%3A%2F%2Frp.example%2Fcb";
/// The PAR body of the peer's `par.lua`, with our client's id and redirect URI.
const PAR_PARAMS: &str = "response_type=code&scope=openid%20phone&state=af0ifjsldkj&nonce=n-0S6_WzA2Mj\
    &code_challenge_method=S256&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&acr_values=mid_al3_any";
const FORM: &str = "Content-Type: application/x-www-form-urlencoded";
/// CIBA logins run at once while the refresh-token chains are made.
const LOGIN_PARALLELISM: usize = 16;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Discovery,
    Jwks,
    Par,
}

impl Endpoint {
    const ALL: [Endpoint; 3] = [Endpoint::Discovery, Endpoint::Jwks, Endpoint::Par];

    fn name(self) -> &'static str {
        match self {
            Endpoint::Discovery => "discovery",
            Endpoint::Jwks => "JWKS",
            Endpoint::Par => "PAR",
        }
    }
}

/// A provider under load: where its endpoints are, as its discovery document says, and
/// how to authenticate a PAR.
struct Target {
    label: &'static str,
    /// The discovery document.
    document: Value,
    discovery: String,
    jwks: String,
    par: String,
    par_headers: Vec<String>,
    par_body: String,
}

impl Target {
    /// Reads the endpoints from `{base}/.well-known/openid-configuration`, as a relying
    /// party does.
    async fn discover(
        http: &reqwest::Client,
        label: &'static str,
        base: &str,
        authorization: &str,
        par_body: String,
    ) -> anyhow::Result<Target> {
        let discovery = format!("{base}/.well-known/openid-configuration");
        let document: Value = http.get(&discovery).send().await?.error_for_status()?.json().await?;
        let mut target = Target {
            label,
            document,
            discovery,
            jwks: String::new(),
            par: String::new(),
            par_headers: vec![format!("Authorization: {authorization}"), FORM.to_string()],
            par_body,
        };
        target.jwks = target.endpoint("jwks_uri")?;
        target.par = target.endpoint("pushed_authorization_request_endpoint")?;
        Ok(target)
    }

    /// An endpoint's URL, as the discovery document names it.
    fn endpoint(&self, name: &str) -> anyhow::Result<String> {
        let url = self.document[name].as_str().map(str::to_string);
        url.with_context(|| format!("{}: no {name} in discovery", self.label))
    }

    fn url(&self, endpoint: Endpoint) -> &str {
        match endpoint {
            Endpoint::Discovery => &self.discovery,
            Endpoint::Jwks => &self.jwks,
            Endpoint::Par => &self.par,
        }
    }
}

/// Per endpoint, per target: the rate of each round.
#[derive(Default)]
struct Rates {
    ours: Vec<f64>,
    peer: Vec<f64>,
}

pub async fn bench(args: &Args) -> anyhow::Result<()> {
    let Some(peer_dir) = &args.peer else { bail!("scenario oidc needs --peer DIR (scripts/bench-oidc sets it up)") };
    wrk::check_installed().await?;
    mobileid_phone::install_crypto_provider();
    crate::server::check_binary(&args.server_bin)?;
    let files = tempfile::Builder::new().prefix("mobileid-bench-oidc-").tempdir()?;
    let peer = Peer::start(peer_dir, SERVER_CPU, &files.path().join("peer.log")).await?;
    let database = Database::choose(args.database_url.as_deref())?;
    let server = Server::start(&args.server_bin, database, &args.log, Some(SERVER_CPU)).await?;
    eprintln!(
        "peer oidc-provider {} on {}, ours on {} ({})",
        peer.version,
        peer.base,
        server.browser_base,
        server.database_label()
    );
    let measured = tokio::select! {
        measured = measure(args, &server, &peer, files.path()) => measured,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
    };
    let rss = (server.peak_rss_kib(), peer.pid().and_then(crate::server::peak_rss_kib));
    let database = server.database_label();
    let log = server.log_lines();
    server.stop().await;
    let peer_version = peer.version.clone();
    peer.stop().await;
    let measured = measured?;
    print_report(args, &database, &peer_version, &measured, rss);
    crate::print_log(&log);
    Ok(())
}

struct Measured {
    rates: Vec<(Endpoint, Rates)>,
    token: Vec<TokenRound>,
    failures: Vec<String>,
}

/// One round of the token endpoint, with the raw signing rate measured on the same CPU
/// right before and right after it.
struct TokenRound {
    requests_per_second: f64,
    raw_before: f64,
    raw_after: f64,
    /// The server's CPU time per answered request, in µs.
    server_cpu_us: Option<f64>,
}

impl TokenRound {
    fn raw_sign(&self) -> f64 {
        (self.raw_before + self.raw_after) / 2.0
    }

    fn ratio(&self) -> f64 {
        self.requests_per_second / self.raw_sign()
    }
}

async fn measure(args: &Args, server: &Server, peer: &Peer, files: &Path) -> anyhow::Result<Measured> {
    let secret = server
        .operator()
        .add_oidc_client(
            CLIENT_ID,
            &[
                "--name",
                "Benchmark RP",
                "--redirect-uri",
                REDIRECT,
                "--scopes",
                "openid,phone,offline_access",
                "--entitlements",
                "ciba",
            ],
        )
        .await?;
    let basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{secret}")));
    let form_script = files.join("form.lua");
    std::fs::write(&form_script, wrk::FORM_SCRIPT)?;
    let http = browser_client(server)?;
    let ours = Target::discover(
        &http,
        "ours",
        &server.browser_base,
        &basic,
        format!("{PAR_PARAMS}&client_id={CLIENT_ID}&redirect_uri={REDIRECT_ENCODED}"),
    )
    .await?;
    let (token_url, ciba_url) =
        (ours.endpoint("token_endpoint")?, ours.endpoint("backchannel_authentication_endpoint")?);
    let theirs = Target::discover(
        &http,
        "peer",
        &peer.base,
        peer::PAR_AUTHORIZATION,
        format!("{PAR_PARAMS}&client_id={}&redirect_uri={}", peer::PAR_CLIENT, peer::PAR_REDIRECT_ENCODED),
    )
    .await?;

    // The refresh-token chains come first: making them needs phones and CPU, which must
    // not overlap the measured rounds.
    let sets = args.runs + 1;
    let users = args.concurrency * sets;
    eprintln!("enrolling {users} users and logging each in once by CIBA, for {sets} sets of refresh-token chains…");
    let chains = refresh_chains(server, &http, &ciba_url, &token_url, &basic, users).await?;
    let mut chain_files = Vec::new();
    for (index, set) in chains.chunks(args.concurrency).enumerate() {
        let path = files.join(format!("refresh-{index}.txt"));
        std::fs::write(&path, set.join("\n"))?;
        chain_files.push(path);
    }

    let mut failures = Vec::new();
    let mut rates: Vec<(Endpoint, Rates)> = Endpoint::ALL.iter().map(|e| (*e, Rates::default())).collect();
    for round in 0..args.runs {
        for (endpoint, rates) in &mut rates {
            // Alternate who goes first, so that a drift of the machine favours neither.
            let order = if round % 2 == 0 { [&theirs, &ours] } else { [&ours, &theirs] };
            for target in order {
                let report = load(args, target, *endpoint, &form_script).await?;
                eprintln!("round {} {:<9} {:<4} {}", round + 1, endpoint.name(), target.label, report.summary());
                note_failures(&mut failures, round, endpoint.name(), target.label, &report);
                let list = if target.label == "ours" { &mut rates.ours } else { &mut rates.peer };
                list.push(report.requests_per_second);
            }
        }
    }

    let refresh_script = files.join("refresh.lua");
    std::fs::write(&refresh_script, wrk::REFRESH_SCRIPT)?;
    let token_headers = vec![format!("Authorization: {basic}"), FORM.to_string()];
    let mut token = Vec::new();
    let mut raw_before = None;
    for (index, chain_file) in chain_files.iter().enumerate() {
        let chain_file = chain_file.to_string_lossy();
        let load = Load { url: &token_url, script: Some((&refresh_script, &chain_file)), headers: &token_headers };
        // The first set warms up; each measured round has its own, since a chain's last
        // token is spent when wrk stops in the middle of its request.
        if index == 0 {
            wrk::run(&load, args.concurrency, args.warm_up.max(1), LOAD_CPU).await?;
            continue;
        }
        let raw = match raw_before {
            Some(raw) => raw,
            None => openssl_rsa2048_signs_per_second(SERVER_CPU).await?,
        };
        let cpu_before = server.pid().and_then(crate::cpu::process_seconds);
        let report = wrk::run(&load, args.concurrency, args.duration, LOAD_CPU).await?;
        let cpu_after = server.pid().and_then(crate::cpu::process_seconds);
        let raw_after = openssl_rsa2048_signs_per_second(SERVER_CPU).await?;
        raw_before = Some(raw_after);
        let requests = report.requests_per_second * args.duration as f64;
        let server_cpu_us = cpu_before.zip(cpu_after).map(|(before, after)| 1e6 * (after - before) / requests);
        let round =
            TokenRound { requests_per_second: report.requests_per_second, raw_before: raw, raw_after, server_cpu_us };
        eprintln!(
            "round {index} token     ours {}; openssl speed {raw:.0} before, {raw_after:.0} after; ratio {:.2}",
            report.summary(),
            round.ratio()
        );
        note_failures(&mut failures, index - 1, "token", "ours", &report);
        token.push(round);
    }
    Ok(Measured { rates, token, failures })
}

/// A warm-up run, then the measured one.
async fn load(args: &Args, target: &Target, endpoint: Endpoint, form_script: &Path) -> anyhow::Result<Report> {
    let url = target.url(endpoint);
    let load = match endpoint {
        Endpoint::Par => {
            Load { url, script: Some((form_script, target.par_body.as_str())), headers: &target.par_headers }
        }
        _ => Load { url, script: None, headers: &[] },
    };
    if args.warm_up > 0 {
        wrk::run(&load, args.concurrency, args.warm_up, LOAD_CPU).await?;
    }
    wrk::run(&load, args.concurrency, args.duration, LOAD_CPU).await
}

fn note_failures(failures: &mut Vec<String>, round: usize, endpoint: &str, target: &str, report: &Report) {
    if let Some(failed) = report.failures() {
        failures.push(format!("round {} {endpoint} {target}: {failed}", round + 1));
    }
}

/// `users` refresh tokens, each the start of a chain: users are enrolled with virtual
/// phones, and each logs in once by CIBA (one push per user and minute is allowed).
async fn refresh_chains(
    server: &Server,
    http: &reqwest::Client,
    ciba_url: &str,
    token_url: &str,
    basic: &str,
    users: usize,
) -> anyhow::Result<Vec<String>> {
    let phones_runtime = PhonesRuntime::start()?;
    let handsets = scenario::enrol(server, users, Unlock::Once, &phones_runtime.handle).await?;
    let msisdns: Vec<String> = handsets.iter().map(|h| h.msisdn().to_string()).collect();
    let (stop, stopped) = watch::channel(false);
    let mut phones = JoinSet::new();
    for handset in handsets {
        phones.spawn_on(scenario::answer(handset, stopped.clone()), &phones_runtime.handle);
    }
    let permits = Arc::new(Semaphore::new(LOGIN_PARALLELISM));
    let mut logins = JoinSet::new();
    for msisdn in msisdns {
        let urls = (ciba_url.to_string(), token_url.to_string());
        let (http, basic, permits) = (http.clone(), basic.to_string(), permits.clone());
        logins.spawn(async move {
            let _permit = permits.acquire_owned().await?;
            ciba_login(&http, &urls, &basic, &msisdn).await.with_context(|| format!("the CIBA login of {msisdn}"))
        });
    }
    let mut tokens = Vec::with_capacity(users);
    while let Some(token) = logins.join_next().await {
        tokens.push(token??);
    }
    let _ = stop.send(true);
    while phones.join_next().await.is_some() {}
    Ok(tokens)
}

/// A client for the browser port, trusting the server's CA.
fn browser_client(server: &Server) -> anyhow::Result<reqwest::Client> {
    let ca = std::fs::read(server.data_dir().join("ca.pem")).context("reading ca.pem")?;
    Ok(reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&ca)?)
        .timeout(Duration::from_secs(30))
        .build()?)
}

/// Starts a CIBA login of `msisdn`, whose phone approves it, and polls for the tokens.
async fn ciba_login(
    http: &reqwest::Client,
    (ciba_url, token_url): &(String, String),
    basic: &str,
    msisdn: &str,
) -> anyhow::Result<String> {
    let login_hint = format!("tel:{msisdn}");
    let started: Value = http
        .post(ciba_url)
        .header("Authorization", basic)
        .form(&[("scope", "openid phone offline_access"), ("login_hint", login_hint.as_str())])
        .send()
        .await?
        .json()
        .await?;
    let id = started["auth_req_id"].as_str().with_context(|| format!("no auth_req_id in {started}"))?;
    let interval = Duration::from_secs(started["interval"].as_u64().unwrap_or(2));
    for _ in 0..30 {
        tokio::time::sleep(interval).await;
        let answer: Value = http
            .post(token_url)
            .header("Authorization", basic)
            .form(&[("grant_type", "urn:openid:params:grant-type:ciba"), ("auth_req_id", id)])
            .send()
            .await?
            .json()
            .await?;
        if let Some(token) = answer["refresh_token"].as_str() {
            return Ok(token.to_string());
        }
        match answer["error"].as_str() {
            Some("authorization_pending" | "slow_down") => continue,
            _ => bail!("the token endpoint answered {answer}"),
        }
    }
    bail!("no tokens after 30 polls")
}

/// `openssl speed` for RSA-2048 on one CPU, for `RAW_SECONDS`: signatures per second.
async fn openssl_rsa2048_signs_per_second(cpu: usize) -> anyhow::Result<f64> {
    let seconds = RAW_SECONDS.to_string();
    let output = tokio::process::Command::new("taskset")
        .args(["-c", &cpu.to_string(), "openssl", "speed", "-mr", "-seconds", &seconds, "rsa2048"])
        .output()
        .await
        .context("running openssl speed")?;
    let text = String::from_utf8_lossy(&output.stdout);
    signs_per_second(&text).with_context(|| format!("reading openssl speed's report:\n{text}"))
}

/// From `openssl speed -mr`: the `+F2:index:bits:signs per second:verifies per second` line.
fn signs_per_second(report: &str) -> Option<f64> {
    let line = report.lines().find(|line| line.starts_with("+F2:"))?;
    let rate: f64 = line.split(':').nth(3)?.parse().ok()?;
    (rate > 0.0).then_some(rate)
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "NOT met"
    }
}

fn print_report(
    args: &Args,
    database: &str,
    peer_version: &str,
    measured: &Measured,
    (ours_rss, peer_rss): (Option<u64>, Option<u64>),
) {
    let mib = |kib: Option<u64>| kib.map_or("unknown".to_string(), |k| format!("{:.1} MiB", k as f64 / 1024.0));
    println!("mobileid-bench report: OpenID provider, ours against oidc-provider {peer_version} (Node.js), one run");
    println!(
        "  load         : wrk -t1 -c{} on CPU {LOAD_CPU}; each server alone on CPU {SERVER_CPU}; {} s measured after {} s warm-up; {} rounds, medians",
        args.concurrency, args.duration, args.warm_up, args.runs
    );
    println!("  ours         : HTTPS on the browser port, {database}; the peer: plain HTTP, objects in memory");
    println!("  {:<10} {:>12} {:>12} {:>8}   target", "endpoint", "ours req/s", "peer req/s", "ratio");
    for (endpoint, rates) in &measured.rates {
        let (ours, peer) = (median(&rates.ours), median(&rates.peer));
        let ratio = ours / peer;
        println!(
            "  {:<10} {ours:>12.0} {peer:>12.0} {ratio:>7.2}x   >= {PEER_RATIO_TARGET}x {}",
            endpoint.name(),
            verdict(ratio >= PEER_RATIO_TARGET)
        );
    }
    let token = median(&measured.token.iter().map(|r| r.requests_per_second).collect::<Vec<_>>());
    let raw_sign = median(&measured.token.iter().map(TokenRound::raw_sign).collect::<Vec<_>>());
    let ratio = median(&measured.token.iter().map(TokenRound::ratio).collect::<Vec<_>>());
    println!("  token endpoint (refresh_token grant with rotation, client_secret_basic, RS256 ID token):");
    println!(
        "    ours {token:.0} req/s; raw RSA-2048 signing on CPU {SERVER_CPU} (openssl speed, before and after each round) {raw_sign:.0}/s"
    );
    println!(
        "    ratio (median of the rounds' ratios) {ratio:.2}, target >= {SIGN_RATIO_TARGET} {}",
        verdict(ratio >= SIGN_RATIO_TARGET)
    );
    println!("  per round    :");
    for (endpoint, rates) in &measured.rates {
        println!("    {:<10} ours {}  peer {}", endpoint.name(), list(&rates.ours), list(&rates.peer));
    }
    for (index, round) in measured.token.iter().enumerate() {
        let cpu = round.server_cpu_us.map_or("unknown".to_string(), |us| format!("{us:.0} µs"));
        println!(
            "    token {}    ours {:.0}, raw {:.0} before and {:.0} after, ratio {:.2}; server CPU per request {cpu}, one raw signature {:.0} µs",
            index + 1,
            round.requests_per_second,
            round.raw_before,
            round.raw_after,
            round.ratio(),
            1e6 / round.raw_sign()
        );
    }
    println!("  peak RSS     : ours {}, peer {}", mib(ours_rss), mib(peer_rss));
    if measured.failures.is_empty() {
        println!("  failures     : none");
    } else {
        println!("  failures     :");
        for failure in &measured.failures {
            println!("    {failure}");
        }
    }
}

fn list(rates: &[f64]) -> String {
    rates.iter().map(|r| format!("{r:.0}")).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_openssl_speed() {
        let report = "+DTP:2048:private:rsa:2\n+R1:7488:2048:1.99\n+DTP:2048:public:rsa:2\n+R2:122628:2048:1.99\n+F2:2:2048:3762.814070:61622.110553\n";
        assert_eq!(signs_per_second(report), Some(3762.814070));
        assert!(signs_per_second("+F2:0:2048:0:0\n").is_none());
        assert!(signs_per_second("nothing\n").is_none());
    }

    #[test]
    fn medians() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
    }
}
