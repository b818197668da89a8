//! Writes the `cms_der` seeds: real DER and PEM as the platform makes them (CMS attached
//! and detached, EC and RSA; a device CSR and key; user, CA and client certificates).
//! Ignored in normal runs because the keys are random, so every run writes new files:
//! `cargo test -p mobileid-fuzz --test seed_corpus -- --ignored`, then minimise with
//! `cargo fuzz cmin`.

use std::path::Path;

use mobileid_crypto::{
    assemble_signed_data, pem_encode, self_signed_client_certificate, signed_attributes, signed_attributes_for_digest,
    CertificateAuthority, KeyAlgorithm, PrivateKey,
};
use mobileid_fuzz::DETACHED_DOCUMENT;
use sha2::{Digest, Sha256};

#[test]
#[ignore = "writes new seed files into fuzz/corpus/cms_der"]
fn write_cms_der_seeds() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/cms_der");
    std::fs::create_dir_all(&dir).expect("corpus folder");
    let write = |name: &str, bytes: &[u8]| std::fs::write(dir.join(name), bytes).expect("seed");

    let ca = CertificateAuthority::create("Fuzz", None).expect("CA");
    for (name, algorithm) in [("ec", KeyAlgorithm::EcP256), ("rsa", KeyAlgorithm::Rsa2048)] {
        let key = PrivateKey::generate(algorithm).expect("key");
        let csr = key.csr_der("phone").expect("CSR");
        let cert = ca.issue_user_certificate(&csr, "MIDCHE0123456789", 30, None).expect("certificate");
        let content = "Bank ACME: Zahlung über CHF 1'250.– bestätigen?".as_bytes();
        let attrs = signed_attributes(content, &[1, 2, 3, 4, 5, 6, 7, 8]);
        let signature = key.sign(&attrs).expect("signature");
        let attached = assemble_signed_data(Some(content), &attrs, &signature, &cert, &ca.chain(), algorithm)
            .expect("attached CMS");
        write(&format!("cms-attached-{name}.der"), &attached);
        write(&format!("csr-{name}.der"), &csr);
        write(&format!("user-cert-{name}.der"), &cert);
        write(&format!("spki-{name}.der"), &key.public_key_spki_der());
        if algorithm == KeyAlgorithm::EcP256 {
            let digest: [u8; 32] = Sha256::digest(DETACHED_DOCUMENT).into();
            let attrs = signed_attributes_for_digest(&digest, &[8, 7, 6, 5, 4, 3, 2, 1]);
            let signature = key.sign(&attrs).expect("signature");
            let detached =
                assemble_signed_data(None, &attrs, &signature, &cert, &ca.chain(), algorithm).expect("detached CMS");
            write("cms-detached-ec.der", &detached);
            write("cms-attached-ec.pem", pem_encode("CMS", &attached).as_bytes());
        }
    }
    write("root-ca.der", &ca.root.cert_der);
    let bundle =
        format!("{}{}", pem_encode("CERTIFICATE", &ca.issuing.cert_der), pem_encode("CERTIFICATE", &ca.root.cert_der));
    write("ca-bundle.pem", bundle.as_bytes());
    let (client, _) = self_signed_client_certificate("AP client").expect("client certificate");
    write("ap-client-cert.der", &client);
}
