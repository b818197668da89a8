//! Checks our certificates and CMS signatures with the `openssl` command line, the tool
//! Swisscom's own sample scripts use to verify Mobile ID signatures.

use std::path::Path;
use std::process::{Command, Output};

use mobileid_crypto::{
    assemble_signed_data, pem_encode, signed_attributes, CertificateAuthority, KeyAlgorithm, PrivateKey,
};

const SERIAL: &str = "MIDCHEO16P1O6E92";
const TEXT: &str = "Login bei Bäckerei Müller? Code: 4711 – «Grüezi» ✓";

fn openssl(dir: &Path, args: &[&str]) -> Output {
    Command::new("openssl").current_dir(dir).args(args).output().expect("the openssl command is installed")
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::write(dir.join(name), bytes).expect("write into the temp dir");
}

fn sign_and_verify_with_openssl(algorithm: KeyAlgorithm) {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = CertificateAuthority::create("Mobile ID Test", None).expect("ca");
    let key = PrivateKey::generate(algorithm).expect("key");
    let csr = key.csr_der("phone").expect("csr");
    let cert = ca.issue_user_certificate(&csr, SERIAL, 1095, None).expect("cert");

    let attrs = signed_attributes(TEXT.as_bytes(), &rand::random());
    let signature = key.sign(&attrs).expect("sign");
    let cms = assemble_signed_data(Some(TEXT.as_bytes()), &attrs, &signature, &cert, &ca.chain(), algorithm)
        .expect("assemble");

    write(dir.path(), "sig.der", &cms);
    write(dir.path(), "root.pem", pem_encode("CERTIFICATE", &ca.root.cert_der).as_bytes());
    write(dir.path(), "user.pem", pem_encode("CERTIFICATE", &cert).as_bytes());

    let out = openssl(
        dir.path(),
        &[
            "cms",
            "-verify",
            "-inform",
            "DER",
            "-in",
            "sig.der",
            "-CAfile",
            "root.pem",
            "-purpose",
            "sslclient",
            "-out",
            "content.bin",
        ],
    );
    assert!(
        out.status.success(),
        "openssl cms -verify failed for {algorithm:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let content = std::fs::read(dir.path().join("content.bin")).expect("content written");
    assert_eq!(content, TEXT.as_bytes());

    let out = openssl(dir.path(), &["x509", "-in", "user.pem", "-noout", "-subject", "-nameopt", "RFC2253"]);
    assert!(out.status.success());
    let subject = String::from_utf8_lossy(&out.stdout);
    assert_eq!(subject.trim(), format!("subject=CN={SERIAL}:PN,serialNumber={SERIAL}"));
    // What Swisscom's client libraries do to find the serial number.
    let upper = subject.to_uppercase();
    let found = upper.split("SERIALNUMBER=").nth(1).map(|rest| rest.chars().take(16).collect::<String>());
    assert_eq!(found.as_deref(), Some(SERIAL));
    assert_eq!(upper.matches("SERIALNUMBER=").count(), 1);

    // openssl's own reading of the extensions.
    let out = openssl(dir.path(), &["x509", "-in", "user.pem", "-noout", "-text"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("X509v3 Key Usage: critical\n                Digital Signature\n"), "{text}");
    assert!(text.contains("TLS Web Client Authentication"), "{text}");
}

#[test]
fn openssl_verifies_an_ec_signature() {
    sign_and_verify_with_openssl(KeyAlgorithm::EcP256);
}

#[test]
fn openssl_verifies_an_rsa_signature() {
    sign_and_verify_with_openssl(KeyAlgorithm::Rsa2048);
}

#[test]
fn openssl_rejects_tampered_content() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = CertificateAuthority::create("Mobile ID Test", None).expect("ca");
    let key = PrivateKey::generate(KeyAlgorithm::EcP256).expect("key");
    let cert = ca.issue_user_certificate(&key.csr_der("phone").expect("csr"), SERIAL, 30, None).expect("cert");
    let attrs = signed_attributes(b"pay 100", &[7; 8]);
    let signature = key.sign(&attrs).expect("sign");
    let cms = assemble_signed_data(Some(b"pay 900"), &attrs, &signature, &cert, &ca.chain(), KeyAlgorithm::EcP256)
        .expect("assemble");
    write(dir.path(), "sig.der", &cms);
    write(dir.path(), "root.pem", pem_encode("CERTIFICATE", &ca.root.cert_der).as_bytes());
    let out = openssl(
        dir.path(),
        &["cms", "-verify", "-inform", "DER", "-in", "sig.der", "-CAfile", "root.pem", "-out", "content.bin"],
    );
    assert!(!out.status.success());
}

#[test]
fn openssl_accepts_the_tls_server_certificate_chain() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = CertificateAuthority::create("Mobile ID Test", None).expect("ca");
    let (cert, _key) = ca.issue_tls_server_certificate(&["localhost", "127.0.0.1"], None).expect("tls cert");
    write(dir.path(), "root.pem", pem_encode("CERTIFICATE", &ca.root.cert_der).as_bytes());
    write(dir.path(), "server.pem", pem_encode("CERTIFICATE", &cert).as_bytes());
    let out = openssl(
        dir.path(),
        &["verify", "-CAfile", "root.pem", "-purpose", "sslserver", "-verify_ip", "127.0.0.1", "server.pem"],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}
