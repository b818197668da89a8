//! Checks our OCSP answers and CRLs with the `openssl` command line: requests made by
//! `openssl ocsp`, answers and CRLs read and verified by it.

use std::path::Path;
use std::process::{Command, Output};

use chrono::Utc;
use mobileid_crypto::{
    pem_encode, revocation_list, CertificateAuthority, CertificateInfo, CertificateLinks, CertificateStatus,
    KeyAlgorithm, OcspResponder, PrivateKey, Revocation, RevocationReason,
};

fn openssl(dir: &Path, args: &[&str]) -> Output {
    Command::new("openssl").current_dir(dir).args(args).output().expect("the openssl command is installed")
}

fn write_pem(dir: &Path, name: &str, der: &[u8]) {
    std::fs::write(dir.join(name), pem_encode("CERTIFICATE", der)).expect("write into the temp dir");
}

fn links(ocsp: bool) -> CertificateLinks {
    CertificateLinks {
        ca_issuers: "https://mid.example/pki/issuing-ca.cer".into(),
        ocsp: ocsp.then(|| "https://mid.example/pki/ocsp".into()),
        crl: "https://mid.example/pki/issuing-ca.crl".into(),
    }
}

fn user_certificate(ca: &CertificateAuthority) -> Vec<u8> {
    let key = PrivateKey::generate(KeyAlgorithm::EcP256).expect("key");
    ca.issue_user_certificate(&key.csr_der("phone").expect("csr"), "MIDCHE0000000001", 30, Some(&links(true)))
        .expect("issued")
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[test]
fn openssl_reads_the_links_and_agrees_with_our_ocsp_answers_and_crl() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path();
    let root_links = CertificateLinks {
        ca_issuers: "https://mid.example/pki/root-ca.cer".into(),
        ocsp: None,
        crl: "https://mid.example/pki/root-ca.crl".into(),
    };
    let ca = CertificateAuthority::create("Mobile ID Test", Some(&root_links)).expect("ca");
    let good = user_certificate(&ca);
    let revoked = user_certificate(&ca);
    let foreign_ca = CertificateAuthority::create("Somebody Else", None).expect("ca");
    let foreign = user_certificate(&foreign_ca);
    write_pem(path, "good.pem", &good);
    write_pem(path, "revoked.pem", &revoked);
    write_pem(path, "foreign.pem", &foreign);
    write_pem(path, "issuing.pem", &ca.issuing.cert_der);
    write_pem(path, "foreign-issuing.pem", &foreign_ca.issuing.cert_der);
    let chain =
        format!("{}{}", pem_encode("CERTIFICATE", &ca.issuing.cert_der), pem_encode("CERTIFICATE", &ca.root.cert_der));
    std::fs::write(path.join("chain.pem"), chain).expect("write");

    // The certificates name where to check them.
    let shown = text(&openssl(path, &["x509", "-in", "good.pem", "-noout", "-text"]));
    assert!(shown.contains("OCSP - URI:https://mid.example/pki/ocsp"), "{shown}");
    assert!(shown.contains("CA Issuers - URI:https://mid.example/pki/issuing-ca.cer"), "{shown}");
    assert!(shown.contains("URI:https://mid.example/pki/issuing-ca.crl"), "{shown}");
    let shown = text(&openssl(path, &["x509", "-in", "issuing.pem", "-noout", "-text"]));
    assert!(shown.contains("URI:https://mid.example/pki/root-ca.crl"), "{shown}");
    assert!(!shown.contains("OCSP - URI"), "{shown}");

    // OCSP: a request from openssl (with a nonce), our signed answer, openssl's verdict.
    let responder =
        OcspResponder::new(ca.issue_ocsp_responder("Mobile ID Test", 30).expect("responder"), &ca.issuing.cert_der)
            .expect("responder");
    let out = openssl(
        path,
        &["ocsp", "-issuer", "issuing.pem", "-cert", "good.pem", "-cert", "revoked.pem", "-reqout", "req.der"],
    );
    assert!(out.status.success(), "{}", text(&out));
    let query = responder.read_request(&std::fs::read(path.join("req.der")).expect("req")).expect("readable");
    let serial = |der: &[u8]| CertificateInfo::parse(der).expect("info").serial_hex;
    assert_eq!(query.serials, vec![Some(serial(&good)), Some(serial(&revoked))]);
    let revoked_at = Utc::now() - chrono::Duration::minutes(5);
    let statuses = [
        CertificateStatus::Good,
        CertificateStatus::Revoked { at: revoked_at, reason: Some(RevocationReason::Superseded) },
    ];
    let answer = responder.respond(&query, &statuses, Utc::now()).expect("answer");
    std::fs::write(path.join("resp.der"), answer).expect("write");
    // The nonce and the signature, against the request as sent.
    let out = openssl(path, &["ocsp", "-reqin", "req.der", "-respin", "resp.der", "-CAfile", "chain.pem"]);
    let verdict = text(&out);
    assert!(out.status.success(), "{verdict}");
    assert!(verdict.contains("Response verify OK"), "{verdict}");
    assert!(!verdict.contains("rror"), "{verdict}");
    // The statuses (naming certificates makes openssl build a new request, with a nonce
    // of its own, so this run leaves the nonce out).
    let out = openssl(
        path,
        &[
            "ocsp",
            "-issuer",
            "issuing.pem",
            "-cert",
            "good.pem",
            "-cert",
            "revoked.pem",
            "-respin",
            "resp.der",
            "-CAfile",
            "chain.pem",
            "-no_nonce",
        ],
    );
    let verdict = text(&out);
    assert!(out.status.success(), "{verdict}");
    assert!(verdict.contains("Response verify OK"), "{verdict}");
    assert!(verdict.contains("good.pem: good"), "{verdict}");
    assert!(verdict.contains("revoked.pem: revoked"), "{verdict}");
    assert!(verdict.contains("Reason: superseded"), "{verdict}");
    assert!(!verdict.contains("WARNING"), "times in range: {verdict}");

    // Another CA's certificate: this responder knows nothing of it.
    let out = openssl(path, &["ocsp", "-issuer", "foreign-issuing.pem", "-cert", "foreign.pem", "-reqout", "f.der"]);
    assert!(out.status.success(), "{}", text(&out));
    let query = responder.read_request(&std::fs::read(path.join("f.der")).expect("req")).expect("readable");
    assert_eq!(query.serials, vec![None]);
    let answer = responder.respond(&query, &[CertificateStatus::Unknown], Utc::now()).expect("answer");
    std::fs::write(path.join("f-resp.der"), answer).expect("write");
    let out = openssl(
        path,
        &[
            "ocsp",
            "-issuer",
            "foreign-issuing.pem",
            "-cert",
            "foreign.pem",
            "-respin",
            "f-resp.der",
            "-noverify",
            "-no_nonce",
        ],
    );
    assert!(text(&out).contains("foreign.pem: unknown"), "{}", text(&out));

    // The CRL: openssl refuses the revoked certificate and accepts the good one.
    let crl = revocation_list(
        &ca.issuing,
        &[Revocation { serial_hex: serial(&revoked), at: revoked_at, reason: Some(RevocationReason::Superseded) }],
        1,
        Utc::now(),
    )
    .expect("crl");
    std::fs::write(path.join("crl.pem"), pem_encode("X509 CRL", &crl)).expect("write");
    let check =
        |name: &str| openssl(path, &["verify", "-crl_check", "-CAfile", "chain.pem", "-CRLfile", "crl.pem", name]);
    let out = check("good.pem");
    assert!(out.status.success(), "{}", text(&out));
    let out = check("revoked.pem");
    assert!(!out.status.success());
    assert!(text(&out).contains("certificate revoked"), "{}", text(&out));
}
