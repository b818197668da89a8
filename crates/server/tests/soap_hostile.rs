//! Hostile XML on the SOAP endpoint: entity tricks, huge, deep, wide, mis-encoded and
//! foreign bodies. Each is refused quickly with a SOAP fault 101 (HTTP 500) that says what
//! was wrong, nothing reaches the user's phone, and the server stays healthy and serves
//! the next valid request.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use mobileid_phone::Phone;
use roxmltree::Document;
use support::*;

/// "Quickly": a refusal must not take longer than this, even on a loaded test machine.
const QUICK: Duration = Duration::from_secs(3);

/// The start of a style A signature request for `msisdn`, up to the DTBD's text.
fn signature_head(msisdn: &str, prolog: &str) -> String {
    format!(
        r#"{prolog}<soapenv:Envelope xmlns:soapenv="{ENV_NS}" xmlns:mss="{MSS_NS}"><soapenv:Body><MSS_Signature><mss:MSS_SignatureReq MajorVersion="1" MinorVersion="1" MessagingMode="synch" TimeOut="80"><mss:AP_Info AP_ID="{DEMO_AP}" AP_PWD="" AP_TransID="{}" Instant="{}"/><mss:MSSP_Info><mss:MSSP_ID><mss:URI>http://mid.swisscom.ch/</mss:URI></mss:MSSP_ID></mss:MSSP_Info><mss:MobileUser><mss:MSISDN>{msisdn}</mss:MSISDN></mss:MobileUser><mss:DataToBeSigned MimeType="text/plain" Encoding="UTF-8">"#,
        fresh_trans_id(),
        now_instant()
    )
}

const SIGNATURE_TAIL: &str =
    "</mss:DataToBeSigned></mss:MSS_SignatureReq></MSS_Signature></soapenv:Body></soapenv:Envelope>";

/// A complete signature request whose DTBD text is `text` (already XML).
fn signature_with(msisdn: &str, prolog: &str, text: &str) -> String {
    format!("{}{text}{SIGNATURE_TAIL}", signature_head(msisdn, prolog))
}

/// A SOAP 1.2 envelope whose Body holds `content`.
fn envelope_with(content: &str) -> String {
    format!(r#"<soapenv:Envelope xmlns:soapenv="{ENV_NS}"><soapenv:Body>{content}</soapenv:Body></soapenv:Envelope>"#)
}

struct Answer {
    status: u16,
    content_type: String,
    body: String,
}

async fn post_soap(server: &TestServer, body: impl Into<reqwest::Body>) -> Answer {
    let url = format!("{}/soap/services/MSS_SignaturePort", server.base);
    let (status, content_type, body) = post_raw(
        &server.ap,
        &url,
        &[("Content-Type", "text/xml;charset=UTF-8"), ("SOAPAction", "#MSS_Signature")],
        body,
    )
    .await;
    Answer { status, content_type, body }
}

/// A SOAP 1.2 fault 101 (HTTP 500) whose Detail mentions one of `keywords`.
fn assert_wrong_param(case: &str, answer: &Answer, keywords: &[&str]) {
    assert_eq!(answer.status, 500, "{case}: {}", answer.body);
    assert_eq!(answer.content_type, SOAP_RESPONSE_TYPE, "{case}");
    assert!(answer.body.contains("<soapenv:Value>mss:_101</soapenv:Value>"), "{case}: {}", answer.body);
    let doc = Document::parse(&answer.body).unwrap_or_else(|e| panic!("{case}: not XML ({e}): {}", answer.body));
    let reason = doc.descendants().find(|n| n.has_tag_name((ENV_NS, "Text"))).and_then(|n| n.text());
    assert_eq!(reason, Some("WRONG_PARAM"), "{case}");
    let detail: String = doc
        .descendants()
        .find(|n| n.has_tag_name((ENV_NS, "Detail")))
        .map(|d| d.descendants().filter(|n| n.is_text()).filter_map(|n| n.text()).collect())
        .unwrap_or_default();
    let lower = detail.to_lowercase();
    assert!(
        keywords.iter().any(|k| lower.contains(&k.to_lowercase())),
        "{case}: the Detail {detail:?} should say what is wrong (one of {keywords:?})"
    );
}

/// The server answers /health, and a valid SOAP signature for the phone's user goes
/// through: the phone gets exactly that request and the AP gets the signature.
async fn assert_healthy(server: &TestServer, phone: &mut Phone, msisdn: &str) {
    let health = server.ap.get(format!("{}/health", server.base)).send().await.expect("GET /health");
    assert_eq!(health.status().as_u16(), 200);
    let text = "Demo: Still working after the attack?";
    let body = signature_with(msisdn, "", text);
    let url = format!("{}/soap/services/MSS_SignaturePort", server.base);
    let ap = server.ap.clone();
    let pending = tokio::spawn(async move { post_raw(&ap, &url, &[("Content-Type", "text/xml")], body).await });
    let shown = approve_next(phone).await;
    assert_eq!(shown.data, text, "the first request the phone sees is the valid one");
    let (status, content_type, answer) = pending.await.unwrap();
    assert_eq!((status, content_type.as_str()), (200, SOAP_RESPONSE_TYPE), "{answer}");
    assert!(answer.contains(r#"<mss:StatusCode Value="500"/>"#), "{answer}");
}

async fn assert_inbox_empty(phone: &Phone, case: &str) {
    let inbox = phone.inbox(Duration::ZERO).await.expect("inbox");
    assert!(inbox.requests.is_empty() && inbox.receipts.is_empty(), "{case} reached the phone: {inbox:?}");
}

on_both_databases! {
    /// Entity declarations (internal, external, billion laughs), 10,000 levels of nesting,
    /// 65,000 siblings, Latin-1 bytes, JSON, plain text and an unknown operation: each a
    /// quick fault 101 that leaves the user's phone alone.
    async fn hostile_xml_is_refused_quickly_without_effect(server) {
        let msisdn = "+41791000501";
        let mut phone = server.phone(msisdn).await;
        let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
        let passwd_first_line = passwd.lines().next().unwrap_or("root:x:0:0:").to_string();

        let laughs = {
            let mut dtd = String::from(r#"<!DOCTYPE soapenv:Envelope [<!ENTITY lol0 "lol">"#);
            for i in 1..=9 {
                let previous = format!("&lol{};", i - 1);
                dtd.push_str(&format!(r#"<!ENTITY lol{i} "{}">"#, previous.repeat(10)));
            }
            dtd.push_str("]>");
            dtd
        };
        let deep = 10_000;
        // 65,000 empty elements: the most that fit in 260,000 bytes, under the default
        // 256 KiB body limit (100,000 would need 400 KB).
        let siblings = 65_000;
        let cases: Vec<(&str, Vec<u8>, &[&str])> = vec![
            (
                "DOCTYPE with an internal entity",
                signature_with(msisdn, r#"<!DOCTYPE soapenv:Envelope [<!ENTITY greeting "Demo: Hello from an entity">]>"#, "&greeting;").into_bytes(),
                &["DOCTYPE"],
            ),
            (
                "external entity (XXE)",
                signature_with(msisdn, r#"<!DOCTYPE soapenv:Envelope [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>"#, "Demo: &xxe;").into_bytes(),
                &["DOCTYPE"],
            ),
            ("billion laughs", signature_with(msisdn, &laughs, "Demo: &lol9;").into_bytes(), &["DOCTYPE"]),
            (
                "10,000 levels of nesting",
                envelope_with(&format!("{}{}", "<a>".repeat(deep), "</a>".repeat(deep))).into_bytes(),
                &["deep", "nest", "too many"],
            ),
            (
                "40 levels of nesting in a signature request",
                signature_with(msisdn, "", &format!("Demo: {}{}", "<b>".repeat(40), "</b>".repeat(40))).into_bytes(),
                &["deep", "nest"],
            ),
            (
                "65,000 sibling elements",
                envelope_with(&format!("<MSS_Signature>{}</MSS_Signature>", "<a/>".repeat(siblings))).into_bytes(),
                &["too many", "nodes"],
            ),
            (
                "not UTF-8 (Latin-1 bytes)",
                {
                    let mut body = signature_head(msisdn, r#"<?xml version="1.0" encoding="ISO-8859-1"?>"#).into_bytes();
                    body.extend_from_slice(b"Demo: Gr\xfcezi, caf\xe9?");
                    body.extend_from_slice(SIGNATURE_TAIL.as_bytes());
                    body
                },
                &["UTF-8"],
            ),
            (
                "JSON on the SOAP endpoint",
                serde_json::to_vec(&signature_request(msisdn, "Demo: JSON?", "synch")).unwrap(),
                &["XML", "SOAP"],
            ),
            ("not XML at all", b"Hello, is this the Mobile ID service?".to_vec(), &["XML", "SOAP"]),
            ("an empty body", Vec::new(), &["XML", "SOAP"]),
            (
                "an unknown operation",
                envelope_with(&format!(
                    r#"<MSS_Launch><mss:MSS_LaunchReq xmlns:mss="{MSS_NS}" MajorVersion="1" MinorVersion="1"><mss:MobileUser><mss:MSISDN>{msisdn}</mss:MSISDN></mss:MobileUser></mss:MSS_LaunchReq></MSS_Launch>"#
                ))
                .into_bytes(),
                &["operation"],
            ),
        ];
        assert!(cases[5].1.len() < 256 * 1024, "the sibling case must stay under the body limit");

        for (case, body, keywords) in cases {
            let started = Instant::now();
            let answer = post_soap(server, body).await;
            let elapsed = started.elapsed();
            assert!(elapsed < QUICK, "{case}: took {elapsed:?}");
            assert_wrong_param(case, &answer, keywords);
            assert!(!answer.body.contains(&passwd_first_line), "{case}: the answer leaks /etc/passwd");
            assert!(!answer.body.contains("lollollol"), "{case}: entities were expanded");
            assert_inbox_empty(&phone, case).await;
        }
        assert_healthy(server, &mut phone, msisdn).await;
    }
}

/// The resident memory of a process, in bytes.
fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// A 100 MB request body, streamed in 1 MiB chunks (the test holds one at a time): the
/// server refuses it (fault 101, or the connection is cut), its memory stays bounded, and
/// it serves the next request. Only on SQLite: the body never reaches the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100_mb_body_is_refused_with_bounded_memory() {
    const CHUNK: usize = 1 << 20;
    const CHUNKS: usize = 100;
    let server = TestServer::start(Backend::Sqlite).await;
    let msisdn = "+41791000502";
    let mut phone = server.phone(msisdn).await;

    let pid = server.pid();
    let baseline = rss_bytes(pid);
    assert!(baseline > 0, "cannot read /proc/{pid}/status");
    let watching = Arc::new(AtomicBool::new(true));
    let watcher = {
        let watching = watching.clone();
        tokio::spawn(async move {
            let mut peak = 0;
            while watching.load(Ordering::Relaxed) {
                peak = peak.max(rss_bytes(pid));
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            peak
        })
    };

    let head = Bytes::from(signature_head(msisdn, "").into_bytes());
    let chunks = std::iter::once(head).chain((0..CHUNKS).map(|_| Bytes::from(vec![b'A'; CHUNK])));
    let stream = futures_util::stream::iter(chunks.map(Ok::<_, std::io::Error>));
    let url = format!("{}/soap/services/MSS_SignaturePort", server.base);
    let started = Instant::now();
    let result = server
        .ap
        .post(&url)
        .header("Content-Type", "text/xml;charset=UTF-8")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await;
    let answer = match result {
        Ok(response) => {
            let status = response.status().as_u16();
            let content_type =
                response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
            response.text().await.ok().map(|body| Answer { status, content_type, body })
        }
        Err(_) => None,
    };
    let elapsed = started.elapsed();
    watching.store(false, Ordering::Relaxed);
    let peak = watcher.await.unwrap();
    eprintln!(
        "100 MB body: answered after {elapsed:?} ({}); server RSS {} MiB before, peak {} MiB",
        if answer.is_some() { "fault" } else { "connection error" },
        baseline >> 20,
        peak >> 20
    );

    if let Some(answer) = &answer {
        assert_wrong_param("100 MB body", answer, &["larger than the limit"]);
    }
    assert!(elapsed < Duration::from_secs(30), "the 100 MB body held the server for {elapsed:?}");
    assert!(
        peak.saturating_sub(baseline) < 64 << 20,
        "the server's memory grew by {} MiB while it refused a 100 MB body",
        peak.saturating_sub(baseline) >> 20
    );
    assert_inbox_empty(&phone, "the 100 MB body").await;
    assert_healthy(&server, &mut phone, msisdn).await;
}
