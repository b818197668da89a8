//! What a request costs the server before it is authenticated (the hardening issue,
//! finding 1). A client certificate registered for no AP gets its 104 before anything of
//! the body is parsed; a registered one gets the worst bodies we can construct refused
//! with 101 by the linear pre-pass, on the blocking pool. Both are measured in the
//! server's own CPU time, from /proc: before the fix the 79 KB namespace body alone cost
//! about 11 s of CPU, a full 250 KB one about 5 minutes.

mod support;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use support::*;

/// Per request, in a debug build on a loaded test machine; a release build needs far less.
const CPU_PER_REQUEST: Duration = Duration::from_millis(100);
const ROUNDS: u32 = 5;

/// The attack of the finding, filled up to the body limit: thousands of namespace
/// declarations on the Envelope, then 2,000 children each declaring one more.
fn namespace_flood() -> String {
    let declarations: String = (0..5_000).map(|i| format!(" xmlns:p{i}=\"urn:p{i}\"")).collect();
    let children: String = (0..2_000).map(|i| format!("<c xmlns:q{i}=\"urn:q{i}\"/>")).collect();
    format!("<soapenv:Envelope xmlns:soapenv=\"{ENV_NS}\"{declarations}><soapenv:Body>{children}</soapenv:Body></soapenv:Envelope>")
}

/// One element with 25,000 attributes: the tree builder's duplicate check is quadratic.
fn attribute_flood() -> String {
    let attributes: String = (0..25_000).map(|i| format!(" a{i}=\"\"")).collect();
    format!(
        "<soapenv:Envelope xmlns:soapenv=\"{ENV_NS}\"><soapenv:Body><x{attributes}/></soapenv:Body></soapenv:Envelope>"
    )
}

fn deep_nesting() -> String {
    format!("<soapenv:Envelope xmlns:soapenv=\"{ENV_NS}\">{}", "<a>".repeat(60_000))
}

fn many_nodes() -> String {
    format!(
        "<soapenv:Envelope xmlns:soapenv=\"{ENV_NS}\"><soapenv:Body>{}</soapenv:Body></soapenv:Envelope>",
        "<a/>".repeat(60_000)
    )
}

fn json_nesting() -> String {
    format!("{{\"MSS_SignatureReq\":{}", "[".repeat(200_000))
}

fn json_keys() -> String {
    let keys: Vec<String> = (0..15_000).map(|i| format!("\"k{i}\":{i}")).collect();
    format!("{{\"MSS_SignatureReq\":{{{}}}}}", keys.join(","))
}

/// utime + stime of the process, from /proc/<pid>/stat (clock ticks of 10 ms).
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let fields: Vec<&str> = stat.rsplit_once(')').expect("comm").1.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    Duration::from_millis(ticks * 10)
}

/// A self-signed client certificate that no AP registered.
fn stranger(server: &TestServer) -> reqwest::Client {
    let dir = server.data_dir.path().join("stranger");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let (cert, key): (PathBuf, PathBuf) = (dir.join("client.pem"), dir.join("client.key"));
    let output = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1"])
        .args(["-subj", "/CN=stranger", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    server.client_with_identity(&cert, &key)
}

struct Case {
    name: &'static str,
    path: &'static str,
    body: String,
    /// What a registered AP gets: 101, or 104 where the body is valid but names no AP.
    ap_fault: u16,
}

fn cases() -> Vec<Case> {
    let soap = "/soap/services/MSS_SignaturePort";
    vec![
        Case { name: "namespace flood", path: soap, body: namespace_flood(), ap_fault: 101 },
        Case { name: "attribute flood", path: soap, body: attribute_flood(), ap_fault: 101 },
        Case { name: "deep nesting", path: soap, body: deep_nesting(), ap_fault: 101 },
        Case { name: "many nodes", path: soap, body: many_nodes(), ap_fault: 101 },
        Case { name: "JSON nesting", path: "/rest/service", body: json_nesting(), ap_fault: 101 },
        Case { name: "JSON keys", path: "/rest/service", body: json_keys(), ap_fault: 104 },
    ]
}

/// Sends the case `ROUNDS` times; the fault code each time, and the server CPU per request.
async fn cost(server: &TestServer, client: &reqwest::Client, case: &Case) -> (Vec<u16>, Duration) {
    let url = format!("{}{}", server.base, case.path);
    let before = cpu_time(server.pid());
    let mut codes = Vec::new();
    for _ in 0..ROUNDS {
        let (status, _, body) =
            post_raw(client, &url, &[("Content-Type", "application/soap+xml;charset=utf-8")], case.body.clone()).await;
        assert_eq!(status, 500, "{}: {body}", case.name);
        codes.push(fault_number(&body));
    }
    (codes, (cpu_time(server.pid()) - before) / ROUNDS)
}

/// The fault code of a SOAP (`mss:_104`) or JSON (`"Value":"_104"`) fault.
fn fault_number(body: &str) -> u16 {
    let at = body.find("_1").or_else(|| body.find("_9")).unwrap_or_else(|| panic!("no fault code in {body}"));
    body[at + 1..at + 4].parse().unwrap_or_else(|_| panic!("no fault code in {body}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worst_bodies_cost_little_cpu_before_and_after_the_certificate_check() {
    let server = TestServer::start(Backend::Sqlite).await;
    let stranger = stranger(&server);
    for case in cases() {
        assert!(case.body.len() <= 256 * 1024, "{}: {} bytes is over the body limit", case.name, case.body.len());
        let (codes, stranger_cpu) = cost(&server, &stranger, &case).await;
        assert!(codes.iter().all(|c| *c == 104), "{}: a stranger gets 104: {codes:?}", case.name);
        let (codes, ap_cpu) = cost(&server, &server.ap, &case).await;
        assert!(
            codes.iter().all(|c| *c == case.ap_fault),
            "{}: a registered AP gets {}: {codes:?}",
            case.name,
            case.ap_fault
        );
        println!(
            "{:<16} {:>7} bytes: server CPU per request {:>4} ms from a stranger, {:>4} ms from a registered AP",
            case.name,
            case.body.len(),
            stranger_cpu.as_millis(),
            ap_cpu.as_millis()
        );
        assert!(stranger_cpu <= CPU_PER_REQUEST, "{}: {stranger_cpu:?} per stranger's request", case.name);
        assert!(ap_cpu <= CPU_PER_REQUEST, "{}: {ap_cpu:?} per AP request", case.name);
    }
    // And the server still serves a real request at once.
    let (status, body) =
        post_json(&server.ap, &format!("{}/rest/service", server.base), &profile_request(ROBOT_EC, None)).await;
    assert_eq!(status, 200, "{body}");
}
