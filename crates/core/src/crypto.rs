//! Secrets: PII encryption (AES-256-GCM), API keys and keyed contact hashes.
//!
//! PII is encrypted with a random 96-bit nonce per lead and the lead id as
//! associated data, so a ciphertext copied onto another lead's row fails to
//! decrypt. Every ciphertext records the id of the key that made it; the
//! keyring holds the current key plus retired ones for reading, which is
//! how keys rotate.

use std::collections::HashMap;
use std::fmt;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Encrypted PII as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedPii {
    /// Id of the key that sealed it.
    pub key_id: String,
    /// 12-byte nonce.
    pub nonce: Vec<u8>,
    /// Ciphertext with the GCM tag appended.
    pub ciphertext: Vec<u8>,
}

impl fmt::Debug for SealedPii {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedPii").field("key_id", &self.key_id).field("len", &self.ciphertext.len()).finish()
    }
}

/// Why a keyring could not be built or a ciphertext not opened.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    /// The key specification is malformed.
    #[error("privacy key: {0}")]
    BadKeySpec(&'static str),
    /// A ciphertext names a key the ring does not hold.
    #[error("unknown key id `{0}`")]
    UnknownKey(String),
    /// Authentication failed (wrong key, wrong lead, tampering).
    #[error("ciphertext failed authentication")]
    Tampered,
}

/// The PII keyring: one current key for sealing, any number for opening.
#[derive(Clone)]
pub struct PiiCipher {
    current: String,
    keys: HashMap<String, Aes256Gcm>,
    /// Key for contact hashes, derived from the current key so duplicate
    /// detection is keyed (no dictionary attacks on stored hashes).
    hash_key: [u8; 32],
}

impl fmt::Debug for PiiCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PiiCipher")
            .field("current", &self.current)
            .field("keys", &self.keys.len())
            .field("secret", &"[redacted]")
            .finish()
    }
}

impl PiiCipher {
    /// Parses `kid:base64key[,kid:base64key…]` (the first is current), or a
    /// bare base64 key (key id `k1`). Keys are 32 bytes, standard base64.
    pub fn from_spec(spec: &str) -> Result<Self, CryptoError> {
        let mut current = None;
        let mut keys = HashMap::new();
        let mut hash_key = [0u8; 32];
        for (i, part) in spec.split(',').map(str::trim).filter(|p| !p.is_empty()).enumerate() {
            let (kid, b64) = match part.split_once(':') {
                Some((k, v)) => (k.trim().to_owned(), v.trim()),
                None => ("k1".to_owned(), part),
            };
            if kid.is_empty() || kid.len() > 32 {
                return Err(CryptoError::BadKeySpec("key ids are 1–32 characters"));
            }
            let raw = STANDARD.decode(b64).map_err(|_| CryptoError::BadKeySpec("keys must be standard base64"))?;
            let arr: [u8; 32] = raw.try_into().map_err(|_| CryptoError::BadKeySpec("keys must be 32 bytes"))?;
            if i == 0 {
                let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&arr)
                    .map_err(|_| CryptoError::BadKeySpec("keys must be 32 bytes"))?;
                mac.update(b"leadex contact hash key");
                hash_key.copy_from_slice(&mac.finalize().into_bytes());
                current = Some(kid.clone());
            }
            keys.insert(kid, Aes256Gcm::new(&arr.into()));
        }
        let current = current.ok_or(CryptoError::BadKeySpec("no key given"))?;
        Ok(Self { current, keys, hash_key })
    }

    /// A fresh random key spec (`k1:<base64>`), for first-run demos.
    pub fn generate_spec() -> String {
        let mut k = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut k);
        format!("k1:{}", STANDARD.encode(k))
    }

    /// Id of the key new ciphertexts use.
    pub fn current_key_id(&self) -> &str {
        &self.current
    }

    /// Seals `plaintext` bound to `lead_id`.
    pub fn seal(&self, lead_id: &uuid::Uuid, plaintext: &[u8]) -> SealedPii {
        let mut nonce = [0u8; 12];
        rand::thread_rng().fill_bytes(&mut nonce);
        let cipher = &self.keys[&self.current];
        let ciphertext = cipher
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: plaintext, aad: lead_id.as_bytes() })
            // AES-GCM encryption only fails for inputs over 64 GiB; PII is
            // bounded by the 1 MiB request limit.
            .unwrap_or_default();
        SealedPii { key_id: self.current.clone(), nonce: nonce.to_vec(), ciphertext }
    }

    /// Opens a sealed value bound to `lead_id`.
    pub fn open(&self, lead_id: &uuid::Uuid, sealed: &SealedPii) -> Result<Vec<u8>, CryptoError> {
        let cipher = self.keys.get(&sealed.key_id).ok_or_else(|| CryptoError::UnknownKey(sealed.key_id.clone()))?;
        if sealed.nonce.len() != 12 {
            return Err(CryptoError::Tampered);
        }
        cipher
            .decrypt(Nonce::from_slice(&sealed.nonce), Payload { msg: &sealed.ciphertext, aad: lead_id.as_bytes() })
            .map_err(|_| CryptoError::Tampered)
    }

    /// Keyed hash of a normalised contact point (`kind` is `phone`/`email`).
    pub fn contact_hash(&self, kind: &str, normalised: &str) -> [u8; 32] {
        let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(&self.hash_key) else {
            // HMAC accepts keys of any length; this branch cannot run.
            return [0u8; 32];
        };
        mac.update(kind.as_bytes());
        mac.update(b":");
        mac.update(normalised.as_bytes());
        mac.finalize().into_bytes().into()
    }
}

/// A freshly generated API key: the secret is shown once, only the hash is
/// stored.
#[derive(Clone)]
pub struct GeneratedKey {
    /// `lx_` + 43 base64url characters (32 random bytes).
    pub secret: String,
    /// SHA-256 of the secret.
    pub hash: [u8; 32],
    /// The first 11 characters, for listing keys without revealing them.
    pub prefix: String,
}

impl fmt::Debug for GeneratedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeneratedKey").field("prefix", &self.prefix).finish()
    }
}

/// Generates a new API key.
pub fn generate_api_key() -> GeneratedKey {
    let mut raw = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut raw);
    let secret = format!("lx_{}", URL_SAFE_NO_PAD.encode(raw));
    GeneratedKey { hash: hash_api_key(&secret), prefix: secret.chars().take(11).collect(), secret }
}

/// SHA-256 of a presented key. Keys carry 256 bits of entropy, so a fast
/// unsalted hash is safe and allows an indexed lookup.
pub fn hash_api_key(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// SHA-256 hex of arbitrary bytes (request fingerprints).
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring() -> PiiCipher {
        PiiCipher::from_spec(&PiiCipher::generate_spec()).expect("generated spec parses")
    }

    #[test]
    fn seal_open_round_trip_bound_to_lead() {
        let c = ring();
        let lead = uuid::Uuid::now_v7();
        let s = c.seal(&lead, b"{\"email\":\"a@b.co\"}");
        assert_eq!(c.open(&lead, &s).as_deref(), Ok(&b"{\"email\":\"a@b.co\"}"[..]));
        let other = uuid::Uuid::now_v7();
        assert_eq!(c.open(&other, &s), Err(CryptoError::Tampered));
        let mut t = s.clone();
        t.ciphertext[0] ^= 1;
        assert_eq!(c.open(&lead, &t), Err(CryptoError::Tampered));
        assert_ne!(c.seal(&lead, b"x").nonce, c.seal(&lead, b"x").nonce);
    }

    #[test]
    fn rotation_reads_old_keys() {
        let old_spec = PiiCipher::generate_spec().replacen("k1", "old", 1);
        let old = PiiCipher::from_spec(&old_spec).expect("parses");
        let lead = uuid::Uuid::now_v7();
        let sealed = old.seal(&lead, b"secret");
        let new_spec = format!("{},{}", PiiCipher::generate_spec().replacen("k1", "new", 1), old_spec);
        let rotated = PiiCipher::from_spec(&new_spec).expect("parses");
        assert_eq!(rotated.current_key_id(), "new");
        assert_eq!(rotated.open(&lead, &sealed).as_deref(), Ok(&b"secret"[..]));
        assert_eq!(rotated.seal(&lead, b"x").key_id, "new");
    }

    #[test]
    fn bad_specs_are_refused() {
        assert!(PiiCipher::from_spec("").is_err());
        assert!(PiiCipher::from_spec("k1:not base64!").is_err());
        assert!(PiiCipher::from_spec("k1:AAAA").is_err());
    }

    #[test]
    fn api_keys_hash_and_prefix() {
        let k = generate_api_key();
        assert!(k.secret.starts_with("lx_"));
        assert_eq!(k.secret.len(), 46);
        assert_eq!(k.hash, hash_api_key(&k.secret));
        assert!(k.secret.starts_with(&k.prefix));
        assert_ne!(generate_api_key().secret, k.secret);
    }
}
