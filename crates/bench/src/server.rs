//! The server under test: the release `mobileid` binary in a throw-away data directory, on
//! SQLite or on a fresh PostgreSQL schema, listening on an ephemeral loopback port. It is
//! killed when the benchmark ends, also when it ends with an error.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// What the server prints once it accepts connections, followed by the address.
const LISTENING: &str = "Mobile ID platform listening on ";
/// The browser port's line, printed right after it.
const BROWSER_LISTENING: &str = "Browser port listening on ";
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// Where the server keeps its rows.
pub enum Database {
    Sqlite,
    /// A schema made for this run in the database at `base_url`, dropped at the end.
    Postgres {
        base_url: String,
        schema: String,
    },
}

impl Database {
    /// SQLite unless a `postgres://` URL is given; then a fresh schema in that database.
    pub fn choose(database_url: Option<&str>) -> anyhow::Result<Database> {
        let Some(url) = database_url else { return Ok(Database::Sqlite) };
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            bail!("--database-url must be a postgres:// URL (SQLite is the default)");
        }
        let schema = format!("bench_{}", hex::encode(rand::random::<[u8; 6]>()));
        psql(url, &format!("CREATE SCHEMA {schema}")).context("creating the benchmark's schema")?;
        Ok(Database::Postgres { base_url: url.to_string(), schema })
    }

    pub fn label(&self) -> String {
        match self {
            Database::Sqlite => "SQLite".to_string(),
            Database::Postgres { schema, .. } => format!("PostgreSQL (schema {schema})"),
        }
    }

    fn url(&self, data_dir: &Path) -> String {
        match self {
            Database::Sqlite => format!("sqlite://{}?mode=rwc", data_dir.join("mobileid.db").display()),
            Database::Postgres { base_url, schema } => {
                let joiner = if base_url.contains('?') { '&' } else { '?' };
                format!("{base_url}{joiner}options=-c%20search_path%3D{schema}")
            }
        }
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        if let Database::Postgres { base_url, schema } = self {
            if let Err(e) = psql(base_url, &format!("DROP SCHEMA IF EXISTS {schema} CASCADE")) {
                eprintln!("warning: {e}");
            }
        }
    }
}

fn psql(url: &str, sql: &str) -> anyhow::Result<()> {
    let output = std::process::Command::new("psql")
        .args(["-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql])
        .output()
        .context("running psql (is it installed?)")?;
    if !output.status.success() {
        bail!("psql {sql:?}: {}", String::from_utf8_lossy(&output.stderr).trim());
    }
    Ok(())
}

/// The benchmark builds nothing: it needs the binary built already.
pub fn check_binary(binary: &Path) -> anyhow::Result<()> {
    if !binary.is_file() {
        bail!(
            "the server binary {} does not exist: run `cargo build --release` first, or point --server-bin at it",
            binary.display()
        );
    }
    Ok(())
}

pub struct Server {
    binary: PathBuf,
    data_dir: tempfile::TempDir,
    database: Database,
    database_url: String,
    log: String,
    child: Option<Child>,
    /// `https://localhost:PORT`, the name in the server's certificate.
    pub base: String,
    /// The browser port, the same way: the OpenID provider's issuer.
    pub browser_base: String,
    /// When the process was started.
    pub spawned_at: std::time::Instant,
    /// From the start until it printed that it listens.
    pub listening_after: Duration,
}

impl Server {
    /// Starts the server; with `cpu`, it runs on that one CPU only (`taskset`).
    pub async fn start(binary: &Path, database: Database, log: &str, cpu: Option<usize>) -> anyhow::Result<Server> {
        check_binary(binary)?;
        let data_dir = tempfile::Builder::new().prefix("mobileid-bench-").tempdir()?;
        let database_url = database.url(data_dir.path());
        let mut server = Server {
            binary: binary.to_path_buf(),
            data_dir,
            database,
            database_url,
            log: log.to_string(),
            child: None,
            base: String::new(),
            browser_base: String::new(),
            spawned_at: std::time::Instant::now(),
            listening_after: Duration::ZERO,
        };
        // From here on, Drop cleans up whatever was started.
        server.launch(cpu).await?;
        Ok(server)
    }

    /// Stops the server and starts it again on the same data: a start without the first
    /// start's set-up (database, CA, keys), as after an upgrade or a crash.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill().await?;
        }
        self.launch(None).await
    }

    /// Runs `serve` and waits until both ports listen.
    async fn launch(&mut self, cpu: Option<usize>) -> anyhow::Result<()> {
        let server = self;
        let log_file = std::fs::OpenOptions::new().create(true).append(true).open(server.log_path())?;
        let mut child = server
            .operator()
            .command_on(cpu)
            .arg("serve")
            .env("MOBILEID_LISTEN", "127.0.0.1:0")
            .env("MOBILEID_BROWSER_LISTEN", "127.0.0.1:0")
            .stdout(Stdio::piped())
            .stderr(log_file)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", server.binary.display()))?;
        server.spawned_at = std::time::Instant::now();
        let stdout = child.stdout.take().context("the server's stdout")?;
        server.child = Some(child);

        let mut lines = BufReader::new(stdout).lines();
        let (mss, browser) = tokio::time::timeout(START_TIMEOUT, async {
            let mut mss = None;
            while let Some(line) = lines.next_line().await? {
                if let Some(address) = line.strip_prefix(LISTENING) {
                    mss = Some(address.trim().to_string());
                } else if let (Some(mss), Some(browser)) = (&mss, line.strip_prefix(BROWSER_LISTENING)) {
                    return Ok((mss.clone(), browser.trim().to_string()));
                }
            }
            bail!("the server exited before listening; its log:\n{}", server.log_tail(20))
        })
        .await
        .context("the server did not start within 2 minutes")??;
        server.listening_after = server.spawned_at.elapsed();
        // Keep reading, so the server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        server.base = localhost(&mss)?;
        server.browser_base = localhost(&browser)?;
        Ok(())
    }

    /// The operator CLI on this server's data directory and database.
    pub fn operator(&self) -> Operator {
        Operator {
            binary: self.binary.clone(),
            data_dir: self.data_dir.path().to_path_buf(),
            database_url: self.database_url.clone(),
            log: self.log.clone(),
        }
    }

    pub fn data_dir(&self) -> &Path {
        self.data_dir.path()
    }

    pub fn database_label(&self) -> String {
        self.database.label()
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref()?.id()
    }

    /// The server's peak resident set size in KiB (VmHWM), while it still runs.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        peak_rss_kib(self.pid()?)
    }

    /// The server's resident set size now, in KiB (VmRSS).
    pub fn rss_kib(&self) -> Option<u64> {
        status_kib(self.pid()?, "VmRSS:")
    }

    fn log_path(&self) -> PathBuf {
        self.data_dir.path().join("server.log")
    }

    /// The server's log lines (stderr, at the `--log` level).
    pub fn log_lines(&self) -> Vec<String> {
        let text = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        text.lines().map(str::to_string).collect()
    }

    fn log_tail(&self, count: usize) -> String {
        let lines = self.log_lines();
        lines[lines.len().saturating_sub(count)..].join("\n")
    }

    /// Kills the server and waits for it; dropping it then drops the PostgreSQL schema.
    pub async fn stop(mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }
}

impl Drop for Server {
    /// The error path, where `stop` was not reached. The fields drop after this: the
    /// schema once the server is gone.
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.start_kill();
            for _ in 0..50 {
                if !matches!(child.try_wait(), Ok(None)) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// A running process's peak resident set size in KiB (VmHWM).
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "VmHWM:")
}

/// A size in KiB from a process's `status` file.
fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// `https://localhost:PORT` for a listening address.
fn localhost(address: &str) -> anyhow::Result<String> {
    let port = address.rsplit(':').next().context("no port in the listening address")?;
    Ok(format!("https://localhost:{port}"))
}

/// The `mobileid` binary with the environment that points it at the server's data.
#[derive(Clone)]
pub struct Operator {
    binary: PathBuf,
    data_dir: PathBuf,
    database_url: String,
    log: String,
}

impl Operator {
    fn command(&self) -> Command {
        self.command_on(None)
    }

    /// The command, on one CPU only if `cpu` is given.
    fn command_on(&self, cpu: Option<usize>) -> Command {
        let mut command = match cpu {
            None => Command::new(&self.binary),
            Some(cpu) => {
                let mut taskset = Command::new("taskset");
                taskset.arg("-c").arg(cpu.to_string()).arg(&self.binary);
                taskset
            }
        };
        command
            .env("MOBILEID_DATA_DIR", &self.data_dir)
            .env("MOBILEID_DATABASE_URL", &self.database_url)
            .env("MOBILEID_LOG", &self.log)
            // Plain log lines, without colour codes, for the summary.
            .env("NO_COLOR", "1");
        command
    }

    /// `mobileid user import`: enrols the users in one go; their activation codes, in the
    /// order given.
    pub async fn import_users(&self, msisdns: &[String]) -> anyhow::Result<Vec<(String, String)>> {
        let list = self.data_dir.join("import.txt");
        std::fs::write(&list, msisdns.join("\n"))?;
        let output = self.command().args(["user", "import", "--file"]).arg(&list).output().await?;
        if !output.status.success() {
            bail!("mobileid user import: {}", String::from_utf8_lossy(&output.stderr));
        }
        let stdout = String::from_utf8(output.stdout)?;
        let codes: Vec<(String, String)> = stdout
            .lines()
            .filter_map(|line| line.split_once(' '))
            .map(|(msisdn, code)| (msisdn.to_string(), code.to_string()))
            .collect();
        if codes.len() != msisdns.len() {
            bail!("mobileid user import printed {} codes for {} users", codes.len(), msisdns.len());
        }
        Ok(codes)
    }

    /// `mobileid oidc-client add` with `args` after the client id: returns the client's
    /// secret.
    pub async fn add_oidc_client(&self, client_id: &str, args: &[&str]) -> anyhow::Result<String> {
        let output = self.command().args(["oidc-client", "add", "--client-id", client_id]).args(args).output().await?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            bail!("mobileid oidc-client add {client_id}: {stdout}{}", String::from_utf8_lossy(&output.stderr));
        }
        let secret = stdout.split_once("(shown only now): ").map(|(_, secret)| secret.trim());
        secret.filter(|s| !s.is_empty()).map(str::to_string).with_context(|| format!("no client secret in {stdout:?}"))
    }
}
