//! Package authenticity: an ed25519 signature over the manifest, and which signers hubup
//! accepts.
//!
//! The manifest pins every file of the package (size and blake3), so a signature over the
//! manifest's exact bytes covers the whole package: [`super::Package::open`] verifies the
//! signature before it trusts the manifest, then every file against the manifest. Without a
//! signature, anyone who can write the packages folder could craft a consistent package that
//! installs any DLL into the Hub sites.
//!
//! # Format
//!
//! A signed package holds one more zip entry, `signature.json` (at most
//! [`MAX_SIGNATURE_BYTES`]), after `manifest.json`:
//!
//! ```json
//! {"format": 1, "algorithm": "ed25519", "key": "<64 hex>", "signature": "<128 hex>",
//!  "signer": "Example Publisher"}
//! ```
//!
//! `signature` is ed25519 (RFC 8032, verified strictly) over [`SIGNED_CONTEXT`] followed by
//! the bytes of the `manifest.json` entry. The context keeps a signature made for anything
//! else from passing as a package signature. `signer` is the publisher's own name for
//! itself: shown, never trusted; trust is in the key alone ([`PackageTrust`], the config's
//! `[packages]`). A package without the entry is unsigned: it stays readable (`hubup package
//! verify` says "unsigned"), and an upgrade refuses it unless the config says
//! `allow_unsigned = true`.
//!
//! # Keys
//!
//! A signing key file (`hubup package keygen`) is text: comment lines (`#`) and one line of
//! 64 hex characters, the ed25519 secret seed. Public keys are written as 64 hex characters.

use std::fmt;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use ed25519_dalek::Signer as _;
use serde::{Deserialize, Serialize};

use super::error::PackageError;

/// Name of the signature entry in the zip.
pub const SIGNATURE_ENTRY: &str = "signature.json";
/// Upper bound on the signature entry's size.
pub const MAX_SIGNATURE_BYTES: u64 = 4096;
/// Format of the signature entry written by this build.
pub const SIGNATURE_FORMAT: u32 = 1;
/// What is signed before the manifest's bytes.
pub const SIGNED_CONTEXT: &[u8] = b"hubup package manifest v1\0";

/// An ed25519 public key; 64 hex characters as text.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublicKey(pub [u8; 32]);

impl PublicKey {
    /// The first 16 hex characters, for messages next to the full key.
    pub fn short(&self) -> String {
        self.to_string()[..16].to_string()
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({self})")
    }
}

/// Text that is not a public key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not an ed25519 public key: expected 64 hex characters")]
pub struct BadKey {
    pub text: String,
}

fn hex_bytes<const N: usize>(text: &str) -> Option<[u8; N]> {
    let text = text.trim();
    if text.len() != 2 * N || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; N];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl FromStr for PublicKey {
    type Err = BadKey;

    fn from_str(text: &str) -> Result<PublicKey, BadKey> {
        let bytes = hex_bytes::<32>(text).ok_or_else(|| BadKey {
            text: text.to_string(),
        })?;
        // Refuse what is not a point on the curve now, rather than at every verification.
        ed25519_dalek::VerifyingKey::from_bytes(&bytes).map_err(|_| BadKey {
            text: text.to_string(),
        })?;
        Ok(PublicKey(bytes))
    }
}

impl Serialize for PublicKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for PublicKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<PublicKey, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A publisher's secret signing key. Never printed.
pub struct SigningKey {
    inner: ed25519_dalek::SigningKey,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey(public {})", self.public())
    }
}

/// A signing key file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("cannot read signing key {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error(
        "{path} is not a hubup signing key: expected one line of 64 hex characters (made by \
         `hubup package keygen`)"
    )]
    Invalid { path: PathBuf },
    #[error("cannot write signing key {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
}

impl SigningKey {
    /// A new key from the operating system's random source.
    pub fn generate() -> io::Result<SigningKey> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(io::Error::other)?;
        Ok(SigningKey::from_seed(seed))
    }

    /// The key whose secret seed is `seed` (fixtures derive theirs from a fixed text).
    pub fn from_seed(seed: [u8; 32]) -> SigningKey {
        SigningKey {
            inner: ed25519_dalek::SigningKey::from_bytes(&seed),
        }
    }

    pub fn public(&self) -> PublicKey {
        PublicKey(self.inner.verifying_key().to_bytes())
    }

    /// Reads a key file (see the module doc).
    pub fn read(path: &Path) -> Result<SigningKey, KeyFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| KeyFileError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut lines = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'));
        match (lines.next().and_then(hex_bytes::<32>), lines.next()) {
            (Some(seed), None) => Ok(SigningKey::from_seed(seed)),
            _ => Err(KeyFileError::Invalid {
                path: path.to_path_buf(),
            }),
        }
    }

    /// Writes the key to a new file at `path` (refusing to overwrite one), readable by its
    /// owner only. On failure the file may exist partly written; it is not a valid key then.
    pub fn write_new(&self, path: &Path) -> Result<(), KeyFileError> {
        let failed = |source| KeyFileError::Write {
            path: path.to_path_buf(),
            source,
        };
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(path).map_err(failed)?;
        let text = format!(
            "# hubup package signing key (ed25519 secret). Keep it secret: whoever has it can \
             sign packages.\n# public key: {}\n{}\n",
            self.public(),
            hex(self.inner.as_bytes())
        );
        file.write_all(text.as_bytes()).map_err(failed)?;
        file.sync_all().map_err(failed)?;
        crate::access::make_private_file(path).map_err(failed)
    }

    /// The `signature.json` bytes that sign `manifest` (the manifest entry's exact bytes).
    pub fn sign_manifest(&self, manifest: &[u8], signer: Option<&str>) -> Vec<u8> {
        let signature = self.inner.sign(&signed_message(manifest));
        let file = SignatureFile {
            format: SIGNATURE_FORMAT,
            algorithm: "ed25519".into(),
            key: self.public(),
            signature: hex(&signature.to_bytes()),
            signer: signer.map(str::to_string),
        };
        serde_json::to_vec_pretty(&file).expect("a signature file serializes")
    }
}

fn signed_message(manifest: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(SIGNED_CONTEXT.len() + manifest.len());
    message.extend_from_slice(SIGNED_CONTEXT);
    message.extend_from_slice(manifest);
    message
}

/// The `signature.json` entry.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignatureFile {
    format: u32,
    algorithm: String,
    key: PublicKey,
    signature: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    signer: Option<String>,
}

/// Who signed a package: the key the signature verified with, and the name the signature
/// gives (the publisher's own word, shown but not trusted).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signer {
    pub key: PublicKey,
    pub name: Option<String>,
}

impl fmt::Display for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(name) => write!(f, "key {} ({:?})", self.key, name),
            None => write!(f, "key {}", self.key),
        }
    }
}

/// Checks the `signature.json` bytes against the manifest's bytes.
pub(crate) fn verify(
    signature: &[u8],
    manifest: &[u8],
    package: &Path,
) -> Result<Signer, PackageError> {
    let bad = |detail: String| PackageError::BadSignature {
        package: package.to_path_buf(),
        detail,
    };
    let file: SignatureFile = serde_json::from_slice(signature)
        .map_err(|e| bad(format!("{SIGNATURE_ENTRY} is not valid: {e}")))?;
    if file.format != SIGNATURE_FORMAT || file.algorithm != "ed25519" {
        return Err(bad(format!(
            "{SIGNATURE_ENTRY} is format {} / {}, this hubup reads format {SIGNATURE_FORMAT} / ed25519",
            file.format, file.algorithm
        )));
    }
    let bytes = hex_bytes::<64>(&file.signature)
        .ok_or_else(|| bad("the signature is not 128 hex characters".into()))?;
    let key = ed25519_dalek::VerifyingKey::from_bytes(&file.key.0)
        .map_err(|_| bad(format!("key {} is not a valid ed25519 key", file.key)))?;
    key.verify_strict(
        &signed_message(manifest),
        &ed25519_dalek::Signature::from_bytes(&bytes),
    )
    .map_err(|_| {
        bad(format!(
            "the signature by key {} does not match the manifest (changed after signing, or \
             signed with another key)",
            file.key
        ))
    })?;
    Ok(Signer {
        key: file.key,
        name: file.signer,
    })
}

/// The name the fixture packages' signatures give.
pub const FIXTURE_SIGNER: &str = "hubup fixture publisher (a public test key)";

/// The key that signs the fixture packages. Its secret is derived from a fixed text, so
/// anyone can sign with it: only a sandbox's config (the demo's) may trust it, and `hubup
/// check` warns when a config does. It is defined here, with the other keys, so that the
/// fixture generator (which signs with it) and the executor (which warns about it) share it
/// without either using the other.
pub fn fixture_signing_key() -> SigningKey {
    SigningKey::from_seed(*blake3::hash(b"hubup fixture publisher signing key, v1").as_bytes())
}

/// Which packages hubup accepts: the config's `[packages]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PackageTrust {
    /// Public keys of the publishers whose packages hubup installs.
    #[serde(default)]
    pub trusted_keys: Vec<PublicKey>,
    /// Accept unsigned packages (each use is reported). Off by default; for packages made
    /// before signing existed, by an administrator who verified them by other means.
    #[serde(default)]
    pub allow_unsigned: bool,
}

/// Why a package is accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Acceptance {
    /// Signed by a trusted key.
    Trusted(Signer),
    /// Unsigned, and the config allows unsigned packages.
    UnsignedAllowed,
}

impl PackageTrust {
    /// Accepts a package signed by a trusted key (or an unsigned one, if allowed); refuses
    /// others, naming the keys it expected. Changes nothing.
    pub fn accept(
        &self,
        package: &Path,
        signer: Option<&Signer>,
    ) -> Result<Acceptance, PackageError> {
        match signer {
            Some(signer) if self.trusted_keys.contains(&signer.key) => {
                Ok(Acceptance::Trusted(signer.clone()))
            }
            Some(signer) => Err(PackageError::UntrustedSigner {
                package: package.to_path_buf(),
                signer: signer.to_string(),
                expected: self.expected(),
            }),
            None if self.allow_unsigned => Ok(Acceptance::UnsignedAllowed),
            None => Err(PackageError::Unsigned {
                package: package.to_path_buf(),
                expected: self.expected(),
            }),
        }
    }

    fn expected(&self) -> String {
        if self.trusted_keys.is_empty() {
            "none is configured: add the publisher's public key to [packages] trusted_keys"
                .to_string()
        } else {
            let keys: Vec<String> = self.trusted_keys.iter().map(|k| k.to_string()).collect();
            format!("one of {}", keys.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> SigningKey {
        SigningKey::from_seed([n; 32])
    }

    #[test]
    fn a_signature_verifies_over_the_exact_manifest_only() {
        let manifest = br#"{"format":1}"#;
        let signature = key(1).sign_manifest(manifest, Some("Test Publisher"));
        let signer = verify(&signature, manifest, Path::new("p.bin")).unwrap();
        assert_eq!(signer.key, key(1).public());
        assert_eq!(signer.name.as_deref(), Some("Test Publisher"));
        let err = verify(&signature, br#"{"format":2}"#, Path::new("p.bin")).unwrap_err();
        assert!(err.to_string().contains("does not match"), "{err}");
    }

    #[test]
    fn a_swapped_key_or_garbled_entry_is_refused() {
        let manifest = b"m";
        let signature = key(1).sign_manifest(manifest, None);
        let text = String::from_utf8(signature).unwrap();
        let swapped = text.replace(&key(1).public().to_string(), &key(2).public().to_string());
        assert!(verify(swapped.as_bytes(), manifest, Path::new("p")).is_err());
        for garbage in [&b"{}"[..], b"not json", b""] {
            assert!(verify(garbage, manifest, Path::new("p")).is_err());
        }
    }

    #[test]
    fn trust_names_the_expected_keys() {
        let trust = PackageTrust {
            trusted_keys: vec![key(1).public()],
            allow_unsigned: false,
        };
        let mine = Signer {
            key: key(1).public(),
            name: None,
        };
        let theirs = Signer {
            key: key(2).public(),
            name: Some("Mallory".into()),
        };
        assert!(matches!(
            trust.accept(Path::new("p"), Some(&mine)),
            Ok(Acceptance::Trusted(_))
        ));
        let err = trust
            .accept(Path::new("p"), Some(&theirs))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&key(2).public().to_string())
                && err.contains(&key(1).public().to_string()),
            "{err}"
        );
        let err = trust.accept(Path::new("p"), None).unwrap_err().to_string();
        assert!(err.contains("not signed") && err.contains(&key(1).public().to_string()));
        let lenient = PackageTrust {
            allow_unsigned: true,
            ..trust
        };
        assert_eq!(
            lenient.accept(Path::new("p"), None).unwrap(),
            Acceptance::UnsignedAllowed
        );
    }

    #[test]
    fn key_files_round_trip_and_bad_keys_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("publisher.key");
        let original = key(7);
        original.write_new(&path).unwrap();
        assert!(original.write_new(&path).is_err(), "never overwrites a key");
        let read = SigningKey::read(&path).unwrap();
        assert_eq!(read.public(), original.public());
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(&original.public().to_string()));
        std::fs::write(&path, "12ab\n").unwrap();
        assert!(matches!(
            SigningKey::read(&path),
            Err(KeyFileError::Invalid { .. })
        ));
        assert!("zz".parse::<PublicKey>().is_err());
        assert_eq!(
            original.public().to_string().parse::<PublicKey>().unwrap(),
            original.public()
        );
    }
}
