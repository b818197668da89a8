//! Signed documents checked by independent tools: pyHanko validates every signature
//! (with our root as the only trust anchor), qpdf checks the file's structure, and
//! poppler's pdfsig lists the signatures. The tools come from `scripts/test`.

use std::path::{Path, PathBuf};
use std::process::Command;

use mobileid_crypto::{
    assemble_signed_data, pdf_signed_attributes, CertificateAuthority, CertificateUse, DocumentCommitment,
    KeyAlgorithm, PrivateKey,
};
use mobileid_pdf::{inspect, prepare, sample, PdfError, SignatureField, Stamp};
use sha2::{Digest, Sha256};

struct Signer {
    ca: CertificateAuthority,
    key: PrivateKey,
    cert: Vec<u8>,
}

fn signer(ca: CertificateAuthority) -> Signer {
    let key = PrivateKey::generate(KeyAlgorithm::EcP256).unwrap();
    let csr = key.csr_der("phone").unwrap();
    let cert =
        ca.issue_user_certificate_with(&csr, "MIDCHE0123456789", &[], CertificateUse::Signing, 30, None).unwrap();
    Signer { ca, key, cert }
}

/// Signs `pdf` as the phone and the engine would: the attributes over the revision's
/// digest, signed by the key, assembled detached, embedded.
fn sign(pdf: &[u8], signer: &Signer, name: &str, stamp: Option<&Stamp>) -> Vec<u8> {
    let field = SignatureField {
        signer_name: name,
        signing_time: chrono::Utc::now(),
        reason: Some("Approved with Mobile ID"),
        stamp,
        capacity: 16 * 1024,
    };
    let revision = prepare(pdf, &field).unwrap();
    let document = DocumentCommitment {
        name: "contract.pdf".into(),
        length: pdf.len() as u64,
        sha256: Sha256::digest(pdf).into(),
    };
    let attrs = pdf_signed_attributes(&revision.digest(), &[1; 8], &signer.cert, &document).unwrap();
    let signature = signer.key.sign(&attrs).unwrap();
    let cms =
        assemble_signed_data(None, &attrs, &signature, &signer.cert, &signer.ca.chain(), KeyAlgorithm::EcP256).unwrap();
    revision.embed(&cms).unwrap()
}

fn stamp(page: u32, row: u32, name: &str) -> Stamp {
    Stamp {
        page,
        x: 56.0,
        y: 56.0 + 70.0 * row as f32,
        width: 220.0,
        height: 56.0,
        lines: vec![format!("Signed by {name}"), "2026-11-27 10:00 UTC".into(), "Ref ENV-7Q2K".into()],
    }
}

fn tool(name: &str) -> PathBuf {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/python-test-env/bin").join(name);
    if venv.exists() {
        return venv;
    }
    PathBuf::from(name)
}

fn run(command: &mut Command) -> String {
    let output = command.output().unwrap_or_else(|e| panic!("{command:?} did not start ({e}); run scripts/test"));
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "{command:?} failed:\n{text}");
    text
}

/// Every independent check on one signed file, which must hold `signatures` signatures.
fn validate(pdf: &[u8], root_der: &[u8], signatures: usize) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("signed.pdf");
    std::fs::write(&file, pdf).unwrap();
    let root = dir.path().join("root.pem");
    std::fs::write(&root, mobileid_crypto::pem_encode("CERTIFICATE", root_der)).unwrap();

    let report = run(Command::new(tool("pyhanko"))
        .args(["sign", "validate", "--pretty-print", "--no-revocation-check", "--trust"])
        .arg(&root)
        .arg(&file));
    assert_eq!(report.matches("The signature is judged VALID").count(), signatures, "{report}");
    assert!(!report.contains("INVALID"), "{report}");

    run(Command::new("qpdf").arg("--check").arg(&file));
    let listed = run(Command::new("pdfsig").arg(&file));
    assert_eq!(listed.matches("Signature #").count(), signatures, "{listed}");
    assert_eq!(listed.matches("Signature Validation: Signature is Valid.").count(), signatures, "{listed}");
}

#[test]
fn one_signer_with_a_visible_stamp() {
    for xref_streams in [false, true] {
        let s = signer(CertificateAuthority::create("Test", None).unwrap());
        let pdf = sample::document("Contract", 3, 2_000, xref_streams);
        let signed = sign(&pdf, &s, "Anna Müller", Some(&stamp(3, 0, "Anna Müller")));
        assert!(signed.starts_with(&pdf), "an incremental update leaves the original bytes alone");
        validate(&signed, &s.ca.root.cert_der, 1);
        assert_eq!(inspect(&signed).unwrap().signatures, 1);
    }
}

#[test]
fn successive_signers_each_stay_valid() {
    let ca = CertificateAuthority::create("Test", None).unwrap();
    let first = signer(ca);
    let pdf = sample::document("Offer", 2, 1_000, true);
    let once = sign(&pdf, &first, "Anna Müller", Some(&stamp(2, 0, "Anna Müller")));
    // The second signer holds a certificate of the same CA.
    let second_key = PrivateKey::generate(KeyAlgorithm::EcP256).unwrap();
    let second_cert = first
        .ca
        .issue_user_certificate_with(
            &second_key.csr_der("p").unwrap(),
            "MIDCHE9876543210",
            &[],
            CertificateUse::Signing,
            30,
            None,
        )
        .unwrap();
    let second = Signer { ca: first.ca, key: second_key, cert: second_cert };
    let twice = sign(&once, &second, "Luca Rossi", Some(&stamp(2, 1, "Luca Rossi")));
    let thrice = sign(&twice, &second, "Luca Rossi", None);
    validate(&thrice, &second.ca.root.cert_der, 3);
}

#[test]
fn a_document_signed_elsewhere_keeps_its_signature() {
    let dir = tempfile::tempdir().unwrap();
    // A signature by someone else's key and CA, made by pyHanko itself.
    let other_ca = CertificateAuthority::create("Elsewhere", None).unwrap();
    let other = signer(other_ca);
    let key = dir.path().join("key.pem");
    std::fs::write(&key, mobileid_crypto::pem_encode("PRIVATE KEY", other.key.pkcs8_der())).unwrap();
    let cert = dir.path().join("cert.pem");
    std::fs::write(&cert, mobileid_crypto::pem_encode("CERTIFICATE", &other.cert)).unwrap();
    let chain = dir.path().join("chain.pem");
    std::fs::write(&chain, mobileid_crypto::pem_encode("CERTIFICATE", &other.ca.issuing.cert_der)).unwrap();
    let unsigned = dir.path().join("in.pdf");
    std::fs::write(&unsigned, sample::document("Lease", 2, 1_000, false)).unwrap();
    let elsewhere = dir.path().join("elsewhere.pdf");
    run(Command::new(tool("pyhanko"))
        .args(["sign", "addsig", "--field", "1/56,700,256,760/Landlord", "pemder", "--no-pass", "--key"])
        .arg(&key)
        .arg("--cert")
        .arg(&cert)
        .arg("--chain")
        .arg(&chain)
        .arg(&unsigned)
        .arg(&elsewhere));
    let pdf = std::fs::read(&elsewhere).unwrap();
    assert_eq!(inspect(&pdf).unwrap().signatures, 1);

    let ours = signer(CertificateAuthority::create("Test", None).unwrap());
    let signed = sign(&pdf, &ours, "Anna Müller", Some(&stamp(2, 0, "Anna Müller")));
    // Each signature is valid under its own root.
    let both = dir.path().join("both.pdf");
    std::fs::write(&both, &signed).unwrap();
    let root_ours = dir.path().join("ours.pem");
    std::fs::write(&root_ours, mobileid_crypto::pem_encode("CERTIFICATE", &ours.ca.root.cert_der)).unwrap();
    let root_other = dir.path().join("other.pem");
    std::fs::write(&root_other, mobileid_crypto::pem_encode("CERTIFICATE", &other.ca.root.cert_der)).unwrap();
    let report = run(Command::new(tool("pyhanko"))
        .args(["sign", "validate", "--pretty-print", "--no-revocation-check", "--trust"])
        .arg(&root_ours)
        .arg("--trust")
        .arg(&root_other)
        .arg(&both));
    assert_eq!(report.matches("The signature is judged VALID").count(), 2, "{report}");
    run(Command::new("qpdf").arg("--check").arg(&both));
    assert_eq!(run(Command::new("pdfsig").arg(&both)).matches("Signature is Valid.").count(), 2);
}

#[test]
fn documents_that_cannot_be_signed_say_why() {
    let field = SignatureField {
        signer_name: "A",
        signing_time: chrono::Utc::now(),
        reason: None,
        stamp: None,
        capacity: 1024,
    };
    assert!(matches!(prepare(b"hello, not a pdf", &field), Err(PdfError::Malformed(_))));
    let pdf = sample::document("Short", 1, 100, false);
    assert!(matches!(prepare(&pdf[..pdf.len() / 2], &field), Err(PdfError::Malformed(_))));
    let far = stamp(5, 0, "A");
    assert!(matches!(
        prepare(&pdf, &SignatureField { stamp: Some(&far), ..field.clone() }),
        Err(PdfError::NoSuchPage { page: 5, pages: 1 })
    ));
    let revision = prepare(&pdf, &field).unwrap();
    assert!(matches!(revision.embed(&[1; 1025]), Err(PdfError::SignatureTooLarge { needed: 1025, capacity: 1024 })));

    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("plain.pdf");
    std::fs::write(&plain, &pdf).unwrap();
    let encrypted = dir.path().join("encrypted.pdf");
    run(Command::new("qpdf").args(["--encrypt", "user", "owner", "256", "--"]).arg(&plain).arg(&encrypted));
    assert!(matches!(prepare(&std::fs::read(&encrypted).unwrap(), &field), Err(PdfError::Encrypted)));
}
