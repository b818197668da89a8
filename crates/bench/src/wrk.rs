//! wrk, the load generator of the peer's own benchmark: one thread on one CPU, a fixed
//! number of keep-alive connections, and a Lua script for what is not a plain GET. Its
//! report is read for requests per second, latency percentiles and failures.

use std::path::Path;

use anyhow::{bail, Context};
use tokio::process::Command;

/// The scripts, written next to the run's other files when needed.
pub const FORM_SCRIPT: &str = include_str!("../wrk/form.lua");
pub const REFRESH_SCRIPT: &str = include_str!("../wrk/refresh.lua");

/// One wrk run's load: a URL, and for a POST the script, its argument and the headers.
pub struct Load<'a> {
    pub url: &'a str,
    pub script: Option<(&'a Path, &'a str)>,
    pub headers: &'a [String],
}

/// What wrk reported.
pub struct Report {
    pub requests_per_second: f64,
    /// Answers that were not 2xx or 3xx.
    pub non_2xx: u64,
    /// Connect, read, write and timeout errors, as wrk prints them, if any.
    pub socket_errors: Option<String>,
    /// Median and 99th percentile, in milliseconds.
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

impl Report {
    /// Rate and latencies, for a progress line.
    pub fn summary(&self) -> String {
        let ms = |value: Option<f64>| value.map_or("?".to_string(), |v| format!("{v:.2}"));
        format!("{:>9.0} req/s  p50 {} ms  p99 {} ms", self.requests_per_second, ms(self.p50_ms), ms(self.p99_ms))
    }

    /// A one-line account of what went wrong, if anything did.
    pub fn failures(&self) -> Option<String> {
        match (self.non_2xx, &self.socket_errors) {
            (0, None) => None,
            (0, Some(socket)) => Some(format!("socket errors: {socket}")),
            (n, None) => Some(format!("{n} non-2xx answers")),
            (n, Some(socket)) => Some(format!("{n} non-2xx answers, socket errors: {socket}")),
        }
    }
}

/// Fails early, with the fix, when wrk is not installed.
pub async fn check_installed() -> anyhow::Result<()> {
    match Command::new("wrk").arg("--version").output().await {
        Ok(_) => Ok(()),
        Err(e) => bail!("wrk is needed ({e}): apt-get install wrk, or run scripts/bench-oidc"),
    }
}

/// Runs wrk on `cpu` with one thread and `connections` connections for `seconds`.
pub async fn run(load: &Load<'_>, connections: usize, seconds: u64, cpu: usize) -> anyhow::Result<Report> {
    let mut command = Command::new("taskset");
    command
        .args(["-c", &cpu.to_string(), "wrk", "-t1", "--latency"])
        .arg(format!("-c{connections}"))
        .arg(format!("-d{seconds}s"));
    for header in load.headers {
        command.arg("-H").arg(header);
    }
    if let Some((script, _)) = load.script {
        command.arg("-s").arg(script);
    }
    command.arg(load.url);
    if let Some((_, argument)) = load.script {
        command.arg("--").arg(argument);
    }
    let output = command.output().await.context("running wrk")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!("wrk {}: {stdout}{}", load.url, String::from_utf8_lossy(&output.stderr));
    }
    parse(&stdout).with_context(|| format!("reading wrk's report:\n{stdout}"))
}

fn parse(report: &str) -> anyhow::Result<Report> {
    let field = |prefix: &str| report.lines().map(str::trim).find_map(|line| line.strip_prefix(prefix)).map(str::trim);
    let requests_per_second =
        field("Requests/sec:").context("no Requests/sec line")?.parse().context("Requests/sec is not a number")?;
    let non_2xx = match field("Non-2xx or 3xx responses:") {
        Some(count) => count.parse().context("the non-2xx count is not a number")?,
        None => 0,
    };
    Ok(Report {
        requests_per_second,
        non_2xx,
        socket_errors: field("Socket errors:").map(str::to_string),
        p50_ms: field("50%").and_then(milliseconds),
        p99_ms: field("99%").and_then(milliseconds),
    })
}

/// wrk's durations: `812.00us`, `1.25ms`, `2.01s`, `1.00m`.
fn milliseconds(text: &str) -> Option<f64> {
    let unit_at = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = text.split_at(unit_at);
    let number: f64 = number.parse().ok()?;
    let scale = match unit {
        "us" => 0.001,
        "ms" => 1.0,
        "s" => 1000.0,
        "m" => 60_000.0,
        _ => return None,
    };
    Some(number * scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPORT: &str = "Running 2s test @ https://localhost:8444/oidc/jwks
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.53ms  310.00us   9.94ms   90.12%
    Req/Sec    21.01k     1.02k   22.40k    85.00%
  Latency Distribution
     50%  812.00us
     75%    1.60ms
     90%    1.81ms
     99%    2.50s
  41822 requests in 2.00s, 33.02MB read
  Socket errors: connect 0, read 3, write 0, timeout 0
  Non-2xx or 3xx responses: 7
Requests/sec:  20906.35
Transfer/sec:     16.51MB
";

    #[test]
    fn reads_the_report() {
        let report = parse(REPORT).unwrap();
        assert_eq!(report.requests_per_second, 20906.35);
        assert_eq!(report.non_2xx, 7);
        assert_eq!(report.socket_errors.as_deref(), Some("connect 0, read 3, write 0, timeout 0"));
        assert_eq!(report.p50_ms, Some(0.812));
        assert_eq!(report.p99_ms, Some(2500.0));
        assert!(report.failures().unwrap().starts_with("7 non-2xx answers, socket errors"));
    }

    #[test]
    fn a_clean_report_has_no_failures() {
        let clean = REPORT
            .replace("  Socket errors: connect 0, read 3, write 0, timeout 0\n", "")
            .replace("  Non-2xx or 3xx responses: 7\n", "");
        let report = parse(&clean).unwrap();
        assert_eq!(report.non_2xx, 0);
        assert!(report.failures().is_none());
    }

    #[test]
    fn a_report_without_a_rate_is_an_error() {
        assert!(parse("Running 2s test\n").is_err());
    }
}
