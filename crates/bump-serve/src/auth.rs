/*!
Who may do what: devices by bearer token, reviewers by password and
session cookie.

Device tokens and session cookies are 256-bit random values; only their
SHA-256 is stored, so a copy of the database grants nothing. Passwords are
hashed with Argon2id (PHC strings). Failed sign-ins are limited per user
name (five per five minutes) to slow guessing.
*/

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use sha2::{Digest, Sha256};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "sb_session";

/// A fresh random token, 64 hex characters.
///
/// # Errors
///
/// When the operating system has no randomness to give.
pub fn new_token() -> Result<String, getrandom::Error> {
    let mut b = [0u8; 32];
    getrandom::getrandom(&mut b)?;
    Ok(hex::encode(b))
}

/// SHA-256 of a token, hex: what is stored.
#[must_use]
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// SHA-256 of bytes, hex.
#[must_use]
pub fn digest(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Prefix of the digests taken over a batch's content
/// ([`bump_core::TripBatch::content_bytes`]). Digests stored before them,
/// of the batch's canonical JSON, have none.
pub const BATCH_DIGEST_PREFIX: &str = "c1:";

/// The digest of a batch itself, whatever JSON it came as: what tells a
/// retry from a different batch under the same trip and sequence number.
#[must_use]
pub fn batch_digest(batch: &bump_core::TripBatch) -> String {
    format!("{BATCH_DIGEST_PREFIX}{}", digest(&batch.content_bytes()))
}

/// Whether `stored`, the digest a batch was stored with, is `batch`'s
/// (whose digest is `d`): equal, or a digest from before content digests
/// that matches the batch's canonical JSON.
#[must_use]
pub fn same_batch(stored: &str, d: &str, batch: &bump_core::TripBatch) -> bool {
    stored == d
        || (!stored.starts_with(BATCH_DIGEST_PREFIX)
            && serde_json::to_vec(batch).is_ok_and(|canonical| stored == digest(&canonical)))
}

/// Hashes a password (Argon2id, random salt).
///
/// # Errors
///
/// When hashing fails (no randomness).
pub fn hash_password(password: &str) -> Result<String, String> {
    let mut salt = [0u8; 16];
    getrandom::getrandom(&mut salt).map_err(|e| e.to_string())?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Whether a password matches a stored hash.
#[must_use]
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// Failed sign-ins per user name.
#[derive(Debug, Default)]
pub struct LoginLimiter {
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

impl LoginLimiter {
    const MAX: u32 = 5;
    const WINDOW: Duration = Duration::from_secs(300);

    /// Whether a sign-in for `user` may be tried now.
    #[must_use]
    pub fn allowed(&self, user: &str) -> bool {
        let Ok(m) = self.failures.lock() else { return false };
        m.get(user)
            .is_none_or(|(n, since)| *n < Self::MAX || since.elapsed() > Self::WINDOW)
    }

    /// Records the outcome of a sign-in.
    pub fn record(&self, user: &str, ok: bool) {
        let Ok(mut m) = self.failures.lock() else { return };
        if ok {
            m.remove(user);
            return;
        }
        let e = m.entry(user.to_owned()).or_insert((0, Instant::now()));
        if e.1.elapsed() > Self::WINDOW {
            *e = (0, Instant::now());
        }
        e.0 += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_themselves() {
        let h = hash_password("correct horse").expect("hash");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("Correct horse", &h));
        assert!(!verify_password("x", "not a hash"));
    }

    #[test]
    fn tokens_are_random_and_hashed() {
        let a = new_token().expect("token");
        let b = new_token().expect("token");
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert_eq!(token_hash(&a), token_hash(&a));
        assert_ne!(token_hash(&a), a);
    }

    #[test]
    fn sign_ins_are_limited_per_user() {
        let l = LoginLimiter::default();
        for _ in 0..5 {
            assert!(l.allowed("ana"));
            l.record("ana", false);
        }
        assert!(!l.allowed("ana"));
        assert!(l.allowed("ben"));
    }
}
