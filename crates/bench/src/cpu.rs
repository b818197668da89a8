//! CPU time from /proc: how the machine's cores were shared between the server and the
//! benchmark (its AP workers and phones) while the load was measured. Both run on the same
//! host, so a server that gets little CPU is not necessarily a slow server.

use std::time::Duration;

use crate::tally::Window;

/// Linux reports process times in USER_HZ ticks, 100 a second on every architecture it
/// runs on.
const TICKS_PER_SECOND: f64 = 100.0;

/// CPU seconds used while the window was open.
pub struct CpuShare {
    pub server: f64,
    pub bench: f64,
    pub cores: usize,
}

/// Samples at the window's start and end; None if /proc could not be read.
pub async fn during(window: Window, server_pid: u32) -> Option<CpuShare> {
    let server = format!("/proc/{server_pid}/stat");
    let bench = "/proc/self/stat";
    tokio::time::sleep_until(window.from.into()).await;
    let (server_before, bench_before) = (cpu_seconds(&server)?, cpu_seconds(bench)?);
    tokio::time::sleep_until(window.until.into()).await;
    let (server_after, bench_after) = (cpu_seconds(&server)?, cpu_seconds(bench)?);
    let cores = std::thread::available_parallelism().map(usize::from).unwrap_or(1);
    Some(CpuShare { server: server_after - server_before, bench: bench_after - bench_before, cores })
}

/// User plus system time of the process `pid` so far, in seconds.
pub fn process_seconds(pid: u32) -> Option<f64> {
    cpu_seconds(&format!("/proc/{pid}/stat"))
}

/// User plus system time of a process, from its `stat` file.
fn cpu_seconds(stat_path: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(stat_path).ok()?;
    // The command name may hold spaces and parentheses; the fields follow its last ')'.
    // After it come state (field 3) … utime (field 14) and stime (field 15).
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some((user + system) as f64 / TICKS_PER_SECOND)
}

/// The host's 1-minute load average, to tell a quiet machine from a busy one.
pub fn load_average() -> Option<String> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    text.split_whitespace().next().map(str::to_string)
}

/// Share of all cores, in percent, of `seconds` of CPU over `wall`.
pub fn percent_of_cores(seconds: f64, wall: Duration, cores: usize) -> f64 {
    100.0 * seconds / (wall.as_secs_f64() * cores as f64)
}

/// CPU seconds PostgreSQL's processes (every process named `postgres` on the host) used
/// while the window was open; None for a run without PostgreSQL or without /proc.
/// Backends that end inside the window take their time with them: the server's pool keeps
/// its connections, so that is little.
pub async fn postgres_during(window: Window, postgres: bool) -> Option<f64> {
    if !postgres {
        return None;
    }
    tokio::time::sleep_until(window.from.into()).await;
    let before = postgres_seconds()?;
    tokio::time::sleep_until(window.until.into()).await;
    let after = postgres_seconds()?;
    // A backend's time counted before and gone after would make the difference negative.
    Some(after.iter().map(|(pid, s)| s - before.get(pid).copied().unwrap_or(0.0)).filter(|d| *d > 0.0).sum())
}

fn postgres_seconds() -> Option<std::collections::HashMap<u32, f64>> {
    let mut seconds = std::collections::HashMap::new();
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|name| name.parse::<u32>().ok()) else { continue };
        let path = format!("/proc/{pid}/stat");
        let Ok(stat) = std::fs::read_to_string(&path) else { continue };
        if stat.split_once(" (").is_some_and(|(_, rest)| rest.starts_with("postgres)")) {
            if let Some(cpu) = cpu_seconds(&path) {
                seconds.insert(pid, cpu);
            }
        }
    }
    Some(seconds)
}
