//! Passwords (argon2id), bearer tokens (random, stored only as SHA-256 hashes) and the
//! caller of a request.

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier, phc::PasswordHash};
use sha2::{Digest, Sha256};

/// Who is calling. Built from a valid token; never from anything the client asserts.
#[derive(Clone, Debug)]
pub struct Caller {
    pub id: i64,
    pub name: String,
    pub role: Role,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Admin,
    User,
}

impl Role {
    pub fn parse(s: &str) -> Role {
        // Anything but 'admin' gets the least privilege: the CHECK constraint keeps the
        // column to these two values anyway.
        if s == "admin" {
            Role::Admin
        } else {
            Role::User
        }
    }
}

impl Caller {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

pub fn hash_password(password: &str) -> Result<String, String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| format!("password hashing failed: {e}"))
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A new bearer token: 256 random bits, `igor_` + hex.
pub fn new_token() -> Result<String, String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| format!("no randomness: {e}"))?;
    Ok(format!("igor_{}", hex::encode(bytes)))
}

pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A random password for the first admin when none is given: 20 characters from an
/// unambiguous alphabet (about 110 bits).
pub fn generate_password() -> Result<String, String> {
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzACDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut out = String::with_capacity(20);
    while out.len() < 20 {
        let mut b = [0u8; 32];
        getrandom::fill(&mut b).map_err(|e| format!("no randomness: {e}"))?;
        // Rejection sampling keeps the distribution uniform.
        for x in b {
            let limit = 256 - (256 % ALPHABET.len());
            if (x as usize) < limit && out.len() < 20 {
                out.push(ALPHABET[x as usize % ALPHABET.len()] as char);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_roundtrip() {
        let h = hash_password("s3cret").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("s3cret", &h));
        assert!(!verify_password("s3cret!", &h));
        assert!(!verify_password("s3cret", "not a hash"));
    }

    #[test]
    fn tokens_and_generated_passwords() {
        let a = new_token().unwrap();
        assert!(a.starts_with("igor_") && a.len() == 5 + 64);
        assert_ne!(a, new_token().unwrap());
        assert_eq!(token_hash(&a).len(), 64);
        let p = generate_password().unwrap();
        assert_eq!(p.len(), 20);
        assert_ne!(p, generate_password().unwrap());
    }
}
