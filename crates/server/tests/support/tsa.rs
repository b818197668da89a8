//! A local RFC 3161 time-stamp authority for tests: OpenSSL's `ts -reply` behind a
//! loopback HTTP endpoint, with a self-made authority certificate (extended key usage
//! timeStamping, critical). Independent of our code, as a real authority is.

use std::path::PathBuf;
use std::process::Command;

pub struct Tsa {
    pub url: String,
    /// The authority's certificate (PEM), for validators to trust.
    pub certificate: PathBuf,
    _dir: tempfile::TempDir,
}

impl Tsa {
    pub async fn start() -> Tsa {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().to_path_buf();
        let made = Command::new("openssl")
            .current_dir(&path)
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                "tsa.key",
                "-out",
                "tsa.pem",
                "-subj",
                "/CN=Test Time-Stamp Authority",
                "-days",
                "30",
                "-addext",
                "extendedKeyUsage=critical,timeStamping",
                "-addext",
                "keyUsage=critical,digitalSignature",
            ])
            .output()
            .expect("openssl");
        assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
        std::fs::write(path.join("serial"), "01\n").expect("serial");
        let config = format!(
            "[ tsa ]\ndefault_tsa = tsa_config1\n[ tsa_config1 ]\ndir = {}\nserial = $dir/serial\n\
             crypto_device = builtin\nsigner_cert = $dir/tsa.pem\ncerts = $dir/tsa.pem\nsigner_key = $dir/tsa.key\n\
             signer_digest = sha256\ndefault_policy = 1.3.6.1.4.1.55555.1\ndigests = sha256\naccuracy = secs:1\n\
             ordering = no\ntsa_name = no\ness_cert_id_chain = no\ness_cert_id_alg = sha256\n",
            path.display()
        );
        std::fs::write(path.join("tsa.cnf"), config).expect("config");
        let work = path.clone();
        let app = axum::Router::new().route(
            "/tsa",
            axum::routing::post(move |body: axum::body::Bytes| {
                let work = work.clone();
                async move {
                    let query = work.join(format!("q{}.tsq", rand::random::<u64>()));
                    let reply = query.with_extension("tsr");
                    std::fs::write(&query, &body).expect("query");
                    let out = Command::new("openssl")
                        .arg("ts")
                        .arg("-reply")
                        .arg("-config")
                        .arg(work.join("tsa.cnf"))
                        .arg("-queryfile")
                        .arg(&query)
                        .arg("-out")
                        .arg(&reply)
                        .output()
                        .expect("openssl ts");
                    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
                    let answer = std::fs::read(&reply).expect("reply");
                    ([("content-type", "application/timestamp-reply")], answer)
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/tsa", listener.local_addr().expect("address"));
        tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
        Tsa { url, certificate: path.join("tsa.pem"), _dir: dir }
    }
}
