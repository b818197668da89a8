//! The data directory: everything `mobileid serve` needs, made on first start and reused
//! after. It holds the master key (unless given in the configuration), the server's TLS
//! certificate and sealed key, our root CA certificate for clients to trust (`ca.pem`),
//! the issuing CA and root for clients that check a chain (`ca-chain.pem`), and the demo
//! AP's client certificate and key for trying the API with curl.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use mobileid_core::SignatureProfile;
use mobileid_crypto::{pem_decode_all, pem_encode, self_signed_client_certificate, MasterKey};
use mobileid_engine::admin::default_profiles;
use mobileid_engine::{Ap, Engine, Permission};

use crate::config::Config;

pub const DEMO_AP_ID: &str = "mid://demo.mobileid.local";
pub const DEMO_DTBD_PREFIX: &str = "Demo: ";

pub struct DataDir {
    pub path: PathBuf,
}

impl DataDir {
    pub fn open(path: &Path) -> anyhow::Result<DataDir> {
        fs::create_dir_all(path).with_context(|| format!("creating data directory {}", path.display()))?;
        restrict(path, 0o700)?;
        Ok(DataDir { path: path.to_path_buf() })
    }

    pub fn root_ca_pem(&self) -> PathBuf {
        self.path.join("ca.pem")
    }

    /// The issuing CA then the root, for clients that check a user certificate's chain.
    pub fn ca_chain_pem(&self) -> PathBuf {
        self.path.join("ca-chain.pem")
    }

    pub fn demo_ap_cert(&self) -> PathBuf {
        self.path.join("demo-ap").join("client.pem")
    }

    pub fn demo_ap_key(&self) -> PathBuf {
        self.path.join("demo-ap").join("client.key")
    }

    /// From the configuration if set there, else `master.key`, created on first use.
    pub fn master_key(&self, config: &Config) -> anyhow::Result<MasterKey> {
        if !config.master_key.is_empty() {
            return parse_master_key(config.master_key.expose()).context("master_key / MOBILEID_MASTER_KEY");
        }
        let file = self.path.join("master.key");
        if file.exists() {
            let text = fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
            return parse_master_key(text.trim()).with_context(|| format!("{}", file.display()));
        }
        let key = MasterKey::generate();
        write_private(&file, hex::encode(key.as_bytes()).as_bytes())?;
        Ok(key)
    }

    /// The server's TLS certificate chain and key; made (signed by our root) when missing.
    pub fn tls_identity(
        &self,
        engine: &Engine,
        master_key: &MasterKey,
        config: &Config,
    ) -> anyhow::Result<(Vec<Vec<u8>>, Vec<u8>)> {
        let cert_file = self.path.join("tls").join("server.pem");
        let key_file = self.path.join("tls").join("server.key.sealed");
        if cert_file.exists() && key_file.exists() {
            let chain = pem_decode_all(&fs::read_to_string(&cert_file)?)?.into_iter().map(|(_, der)| der).collect();
            let key = master_key
                .open(&fs::read(&key_file)?, b"mobileid tls key")
                .context("the TLS key cannot be opened with this master key")?;
            return Ok((chain, key));
        }
        let names = tls_names(config);
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let (cert, key) =
            engine.certificate_authority().issue_tls_server_certificate(&refs, Some(&engine.root_links()))?;
        let chain = vec![cert, engine.root_certificate().to_vec()];
        fs::create_dir_all(self.path.join("tls"))?;
        let pem: String = chain.iter().map(|der| pem_encode("CERTIFICATE", der)).collect();
        fs::write(&cert_file, pem)?;
        write_private(&key_file, &master_key.seal(key.pkcs8_der(), b"mobileid tls key"))?;
        Ok((chain, key.pkcs8_der().to_vec()))
    }

    /// Writes `ca.pem` (the root) and `ca-chain.pem` (issuing CA, then root) at every
    /// start, so they follow the CA in the database.
    pub fn write_ca_files(&self, engine: &Engine) -> anyhow::Result<()> {
        let ca = engine.certificate_authority();
        fs::write(self.root_ca_pem(), pem_encode("CERTIFICATE", &ca.root.cert_der))?;
        let chain = [&ca.issuing.cert_der, &ca.root.cert_der].map(|der| pem_encode("CERTIFICATE", der)).concat();
        fs::write(self.ca_chain_pem(), chain)?;
        Ok(())
    }

    /// Registers the demo AP with a fresh client certificate, written here for curl.
    pub async fn seed_demo_ap(&self, engine: &Engine) -> anyhow::Result<()> {
        let (cert, key) = self_signed_client_certificate("Mobile ID demo AP")?;
        let ap = Ap {
            ap_id: DEMO_AP_ID.to_string(),
            name: "Demo AP".to_string(),
            dtbd_prefix: DEMO_DTBD_PREFIX.to_string(),
            allowed_profiles: default_profiles(),
            auth_profile1_maps_to: SignatureProfile::AnyLoA4,
            permissions: Permission::ALL.to_vec(),
        };
        engine.add_ap(&ap, &cert).await?;
        fs::create_dir_all(self.path.join("demo-ap"))?;
        fs::write(self.demo_ap_cert(), pem_encode("CERTIFICATE", &cert))?;
        write_private(&self.demo_ap_key(), pem_encode("PRIVATE KEY", key.pkcs8_der()).as_bytes())?;
        Ok(())
    }
}

fn tls_names(config: &Config) -> Vec<String> {
    let mut names: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
    if let Ok(url) = url_host(&config.public_url) {
        names.push(url);
    }
    names.extend(config.tls_hostnames.iter().cloned());
    names.sort();
    names.dedup();
    names
}

fn url_host(url: &str) -> anyhow::Result<String> {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let host_port = rest.split('/').next().unwrap_or("");
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        host_port.split(':').next().unwrap_or("")
    };
    if host.is_empty() {
        bail!("no host in {url}");
    }
    Ok(host.to_string())
}

fn parse_master_key(text: &str) -> anyhow::Result<MasterKey> {
    let bytes = hex::decode(text).context("the master key must be 64 hex digits")?;
    let bytes: [u8; 32] = bytes.try_into().map_err(|_| anyhow::anyhow!("the master key must be 64 hex digits"))?;
    Ok(MasterKey::from_bytes(bytes))
}

fn write_private(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    fs::write(path, contents).with_context(|| format!("writing {}", path.display()))?;
    restrict(path, 0o600)
}

#[cfg(unix)]
fn restrict(path: &Path, mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).with_context(|| format!("chmod {}", path.display()))
}

#[cfg(not(unix))]
fn restrict(_path: &Path, _mode: u32) -> anyhow::Result<()> {
    Ok(())
}

/// Reads a PEM certificate file (the first certificate in it).
pub fn read_certificate(path: &Path) -> anyhow::Result<Vec<u8>> {
    let text = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    pem_decode_all(&text)?
        .into_iter()
        .find(|(label, _)| label == "CERTIFICATE")
        .map(|(_, der)| der)
        .with_context(|| format!("no CERTIFICATE in {}", path.display()))
}

/// What a data directory remembers of its database (the file `database`): the kind, the
/// URL without its password, and the SHA-256 of the CA root in it. A command started on
/// this directory with another database (a PostgreSQL node's directory without
/// `MOBILEID_DATABASE_URL` falls back to a new SQLite database) would otherwise make a
/// new CA and overwrite `ca.pem`; it is refused before anything is created or written.
struct DatabaseRecord {
    kind: String,
    url: String,
    ca_root_sha256: String,
}

impl DatabaseRecord {
    fn parse(text: &str) -> Option<DatabaseRecord> {
        let field = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.trim_start().strip_prefix('=').map(|v| v.trim().to_string()))
        };
        Some(DatabaseRecord { kind: field("kind")?, url: field("url")?, ca_root_sha256: field("ca_root_sha256")? })
    }

    fn describe(&self) -> String {
        format!("the {} database {} (CA root SHA-256 {})", self.kind, self.url, self.ca_root_sha256)
    }
}

/// `sqlite` or `postgres`, from the URL's scheme.
fn database_kind(url: &str) -> &'static str {
    if url.starts_with("sqlite:") {
        "sqlite"
    } else {
        "postgres"
    }
}

/// The file of a `sqlite://` URL.
fn sqlite_file(url: &str) -> Option<PathBuf> {
    let path = url.strip_prefix("sqlite://")?.split('?').next()?;
    (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
}

impl DataDir {
    fn database_record_file(&self) -> PathBuf {
        self.path.join("database")
    }

    /// The database this directory belongs to, if it knows: from its `database` file, or
    /// for a directory made before that file existed, the CA root in its `ca.pem`.
    fn remembered_database(&self) -> anyhow::Result<Option<DatabaseRecord>> {
        let file = self.database_record_file();
        if file.exists() {
            let text = fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
            let record = DatabaseRecord::parse(&text)
                .with_context(|| format!("{} lacks kind, url or ca_root_sha256", file.display()))?;
            return Ok(Some(record));
        }
        if self.root_ca_pem().exists() {
            let pem = fs::read_to_string(self.root_ca_pem())?;
            let blocks = pem_decode_all(&pem).with_context(|| format!("{}", self.root_ca_pem().display()))?;
            if let Some((_, der)) = blocks.into_iter().next() {
                return Ok(Some(DatabaseRecord {
                    kind: "unrecorded".into(),
                    url: "(not recorded)".into(),
                    ca_root_sha256: mobileid_crypto::sha256_fingerprint_hex(&der),
                }));
            }
        }
        Ok(None)
    }

    /// Before connecting: refuses a database of another kind than the remembered one, and
    /// a SQLite file that does not exist yet when the directory already belongs to a
    /// database (connecting would create it).
    pub fn check_database_before_connecting(&self, config: &Config) -> anyhow::Result<()> {
        let Some(record) = self.remembered_database()? else { return Ok(()) };
        let url = config.database_url.expose();
        let kind = database_kind(url);
        let missing_file = kind == "sqlite" && sqlite_file(url).is_some_and(|f| !f.exists());
        if (record.kind != "unrecorded" && record.kind != kind) || missing_file {
            bail!(self.mismatch(
                &record,
                &format!(
                    "the {kind} database {}{}",
                    config.database_url,
                    if missing_file { ", which does not exist" } else { "" }
                )
            ));
        }
        Ok(())
    }

    /// After connecting, before the engine may create a CA: the database's CA root must be
    /// the remembered one.
    pub async fn check_database_ca(&self, config: &Config, store: &mobileid_store::Store) -> anyhow::Result<()> {
        let Some(record) = self.remembered_database()? else { return Ok(()) };
        let root = store.find_authority("root").await.context("reading the CA root")?;
        let found = root.map(|r| mobileid_crypto::sha256_fingerprint_hex(&r.cert_der));
        if found.as_deref() != Some(record.ca_root_sha256.as_str()) {
            let kind = database_kind(config.database_url.expose());
            let theirs = match found {
                Some(sha) => format!("the {kind} database {} (CA root SHA-256 {sha})", config.database_url),
                None => format!("the {kind} database {}, which has no CA", config.database_url),
            };
            bail!(self.mismatch(&record, &theirs));
        }
        Ok(())
    }

    fn mismatch(&self, record: &DatabaseRecord, configured: &str) -> String {
        format!(
            "the data directory {} belongs to {}, but the configured database is {configured}. Set \
             MOBILEID_DATABASE_URL (or database_url) to the directory's database, or use another data \
             directory. Nothing was created or changed.",
            self.path.display(),
            record.describe()
        )
    }

    /// Writes the `database` file on the first start on this directory (and upgrades a
    /// directory that only had `ca.pem`).
    pub fn remember_database(&self, config: &Config, engine: &Engine) -> anyhow::Result<()> {
        let file = self.database_record_file();
        if file.exists() {
            return Ok(());
        }
        let text = format!(
            "# The database this data directory belongs to, written by mobileid at its first start.\n\
             # mobileid refuses to run on this directory with another database.\n\
             kind = {}\nurl = {}\nca_root_sha256 = {}\n",
            database_kind(config.database_url.expose()),
            config.database_url,
            mobileid_crypto::sha256_fingerprint_hex(&engine.certificate_authority().root.cert_der)
        );
        fs::write(&file, text).with_context(|| format!("writing {}", file.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_is_taken_from_the_public_url() {
        assert_eq!(url_host("https://mid.example.ch:8443/x").unwrap(), "mid.example.ch");
        assert_eq!(url_host("https://[::1]:8443").unwrap(), "::1");
        assert!(url_host("https://").is_err());
    }
}
