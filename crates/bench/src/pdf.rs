//! Scenario `pdf`: the signing step of document signing on a large PDF, in this process,
//! as the server runs it (`engine::signing`): reading the document as signing will,
//! writing the revision with the signer's field and hashing it (`prepare`), then, when
//! the phone's signature is back, writing the revision again, checking the CMS against
//! it and embedding it. The phone's part (an ECDSA signature) is timed apart. It also
//! draws one page as the signers' pages do. Medians of `--runs`; peak memory from the
//! kernel's high-water mark, reset before each step.

use std::time::{Duration, Instant};

use anyhow::Context;
use mobileid_crypto::{
    assemble_signed_data, pdf_signed_attributes, verify_detached_signed_data, CertificateAuthority, CertificateUse,
    DocumentCommitment, KeyAlgorithm, PrivateKey,
};
use mobileid_pdf::{append_dss, inspect, page_png, prepare, sample, SignatureField, Stamp, ValidationData};
use sha2::{Digest, Sha256};

/// The document measured: 300 A4 pages of about 34 KB of drawing each, 10 MB in all.
const PAGES: u32 = 300;
const BYTES_PER_PAGE: usize = 34_000;

pub fn bench(runs: usize) -> anyhow::Result<()> {
    let document = sample::document("Benchmark contract", PAGES, BYTES_PER_PAGE, true);
    let ca = CertificateAuthority::create("Bench", None)?;
    let key = PrivateKey::generate(KeyAlgorithm::EcP256)?;
    let cert = ca.issue_user_certificate_with(
        &key.csr_der("bench")?,
        "MIDCHEBENCH00001",
        &[],
        CertificateUse::Signing,
        30,
        None,
    )?;
    let commitment = DocumentCommitment {
        name: "contract.pdf".into(),
        length: document.len() as u64,
        sha256: Sha256::digest(&document).into(),
    };
    let stamp = Stamp {
        page: PAGES,
        x: 40.0,
        y: 36.0,
        width: 250.0,
        height: 54.0,
        lines: vec!["Signed by Anna Müller".into(), "2026-11-28 10:00:00 UTC".into(), "Ref ENV-BNCH-0001".into()],
    };
    let field = SignatureField {
        signer_name: "Anna Müller",
        signing_time: chrono::Utc::now(),
        reason: Some("Signed with Mobile ID"),
        stamp: Some(&stamp),
        capacity: 16 * 1024,
    };
    println!(
        "document      : {:.1} MB, {} pages (mobileid_pdf::sample, xref streams), {runs} runs",
        document.len() as f64 / 1e6,
        inspect(&document)?.pages.len()
    );
    let baseline = rss_kib().unwrap_or(0);
    let (mut read, mut prepared, mut phone, mut embedded, mut drawn) = (vec![], vec![], vec![], vec![], vec![]);
    let (mut peak_prepare, mut peak_embed) = (0, 0);
    for _ in 0..runs {
        let start = Instant::now();
        inspect(&document)?;
        read.push(start.elapsed());

        reset_peak();
        let start = Instant::now();
        let revision = prepare(&document, &field)?;
        let digest = revision.digest();
        prepared.push(start.elapsed());
        peak_prepare = peak_prepare.max(peak_kib().unwrap_or(0));
        drop(revision);

        let start = Instant::now();
        let attributes = pdf_signed_attributes(&digest, &[7; 8], &cert, &commitment)?;
        let signature = key.sign(&attributes)?;
        phone.push(start.elapsed());

        reset_peak();
        let start = Instant::now();
        let cms = assemble_signed_data(None, &attributes, &signature, &cert, &ca.chain(), KeyAlgorithm::EcP256)?;
        let revision = prepare(&document, &field)?;
        verify_detached_signed_data(&cms, &revision.digest())?;
        let signed = revision.embed(&cms)?;
        // The DSS that follows each signature (B-LT): certificates and revocation data of
        // the size the server adds (the root's CRL stands in for the OCSP answer too).
        let crl = mobileid_crypto::revocation_list(&ca.root, &[], 1, chrono::Utc::now())?;
        let validation = ValidationData {
            certificates: vec![cert.clone(), ca.issuing.cert_der.clone(), ca.root.cert_der.clone()],
            ocsp_responses: vec![crl.clone()],
            crls: vec![crl],
        };
        let signed = append_dss(&signed, &validation)?;
        embedded.push(start.elapsed());
        peak_embed = peak_embed.max(peak_kib().unwrap_or(0));
        anyhow::ensure!(inspect(&signed)?.signatures == 1, "the signed document has no signature");

        let start = Instant::now();
        page_png(document.clone(), 149, 1200).context("drawing page 150")?;
        drawn.push(start.elapsed());
    }
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!("read (inspect) : median {:7.1} ms", ms(median(&mut read)));
    println!(
        "prepare        : median {:7.1} ms   (revision written and hashed, before the phone)",
        ms(median(&mut prepared))
    );
    println!("phone          : median {:7.1} ms   (attributes and the ECDSA signature)", ms(median(&mut phone)));
    println!(
        "embed          : median {:7.1} ms   (CMS, revision written again, checked, embedded, DSS added)",
        ms(median(&mut embedded))
    );
    println!(
        "server, total  : median {:7.1} ms   of CPU per signature (prepare + embed)",
        ms(median(&mut prepared)) + ms(median(&mut embedded))
    );
    println!("draw page 150  : median {:7.1} ms   (1200 px wide PNG)", ms(median(&mut drawn)));
    let mib = |kib: u64| kib as f64 / 1024.0;
    println!(
        "memory         : peak RSS {:.0} MiB while preparing, {:.0} MiB while embedding (process baseline {:.0} MiB, \
         document in memory)",
        mib(peak_prepare),
        mib(peak_embed),
        mib(baseline)
    );
    Ok(())
}

fn median(values: &mut [Duration]) -> Duration {
    values.sort();
    values[values.len() / 2]
}

fn rss_kib() -> Option<u64> {
    status_kib("VmRSS:")
}

fn peak_kib() -> Option<u64> {
    status_kib("VmHWM:")
}

fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status.lines().find(|l| l.starts_with(field))?.split_whitespace().nth(1)?.parse().ok()
}

/// Resets the high-water mark to the current RSS (Linux: `5` to `clear_refs`).
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}
