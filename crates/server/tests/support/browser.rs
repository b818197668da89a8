//! A browser script (`crates/http/tests/browser/*.mjs`, headless Chromium driven by
//! playwright-core) run as a child process that the test talks to in lines: it says what
//! it saw, the test tells it what to do next.

use std::io::{BufRead, BufReader, Lines, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

pub const BROWSER_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../http/tests/browser");

/// Where the scripts put their screenshots: `target/screenshots`.
pub fn screenshots() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot directory");
    dir
}

pub struct BrowserScript {
    child: Child,
    to_browser: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
}

impl BrowserScript {
    /// Starts `script` with `env` (and `SCREENSHOTS`); its errors go to the test's output.
    pub fn start(script: &str, env: &[(&str, &str)]) -> BrowserScript {
        assert!(
            Path::new(BROWSER_DIR).join("node_modules/playwright-core").is_dir()
                && Path::new("/usr/bin/chromium").exists(),
            "playwright-core and Chromium are needed: run scripts/test (it installs both)"
        );
        let mut child = Command::new("node")
            .arg(Path::new(BROWSER_DIR).join(script))
            .current_dir(BROWSER_DIR)
            .envs(env.iter().copied())
            .env("SCREENSHOTS", screenshots())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node");
        let to_browser = child.stdin.take().expect("stdin");
        let lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        BrowserScript { child, to_browser, lines }
    }

    /// The script's next line, which must start with `prefix`; the rest of it.
    pub fn expect(&mut self, prefix: &str) -> String {
        let line =
            self.lines.next().and_then(Result::ok).unwrap_or_else(|| panic!("the browser ended before {prefix:?}"));
        eprintln!("browser: {}", line.chars().take(300).collect::<String>());
        line.strip_prefix(prefix).unwrap_or_else(|| panic!("expected {prefix:?}, got {line:?}")).trim().to_string()
    }

    pub fn tell(&mut self, command: &str) {
        writeln!(self.to_browser, "{command}").expect("to the browser");
    }

    /// Waits for the script to end; whether it succeeded.
    pub fn finished(&mut self) -> bool {
        self.child.wait().expect("node").success()
    }
}
