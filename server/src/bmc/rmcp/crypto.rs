//! The cryptography of cipher suite 3 (IPMI 2.0 §13.28 to §13.33): RAKP-HMAC-SHA1 for the
//! handshake, HMAC-SHA1-96 for integrity, AES-CBC-128 for confidentiality. Pure functions
//! over bytes; the randomness (IVs, nonces) comes from the caller.

use aes::cipher::block_padding::NoPadding;
use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use hmac::{Hmac, Mac};
use sha1::Sha1;

type HmacSha1 = Hmac<Sha1>;

/// Bytes of the HMAC-SHA1-96 AuthCode in the session trailer, and of the RAKP 4 integrity
/// check value.
pub const AUTH_CODE_LEN: usize = 12;
pub const AES_BLOCK: usize = 16;

/// HMAC-SHA1 of the concatenation of `parts` under `key`.
pub fn hmac_sha1(key: &[u8], parts: &[&[u8]]) -> [u8; 20] {
    let mut mac = new_mac(key);
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// Checks `tag` against the leading bytes of HMAC-SHA1(key, parts), in constant time.
pub fn hmac_sha1_verify(key: &[u8], parts: &[&[u8]], tag: &[u8]) -> bool {
    let mut mac = new_mac(key);
    for part in parts {
        mac.update(part);
    }
    !tag.is_empty() && mac.verify_truncated_left(tag).is_ok()
}

fn new_mac(key: &[u8]) -> HmacSha1 {
    // HMAC takes keys of every length (longer ones are hashed first), so this cannot fail.
    #[allow(clippy::expect_used)]
    HmacSha1::new_from_slice(key).expect("hmac accepts any key length")
}

/// The keys of an established session (§13.31, §13.32). Never printed.
#[derive(Clone)]
pub struct SessionKeys {
    /// K1: the integrity key of HMAC-SHA1-96.
    pub k1: [u8; 20],
    /// The first 16 bytes of K2: the AES-CBC-128 key.
    pub aes: [u8; 16],
}

impl std::fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionKeys(<redacted>)")
    }
}

impl SessionKeys {
    /// K1 = HMAC(SIK, 20 × 0x01), K2 = HMAC(SIK, 20 × 0x02).
    pub fn from_sik(sik: &[u8; 20]) -> SessionKeys {
        let k1 = hmac_sha1(sik, &[&[0x01; 20]]);
        let k2 = hmac_sha1(sik, &[&[0x02; 20]]);
        let mut aes = [0u8; 16];
        aes.copy_from_slice(&k2[..16]);
        SessionKeys { k1, aes }
    }
}

/// Encrypts `payload` as an AES-CBC-128 confidentiality block (§13.29): the IV, then
/// payload + pad bytes 1, 2, 3... + pad length, encrypted, a whole number of blocks.
pub fn encrypt(key: &[u8; 16], iv: &[u8; 16], payload: &[u8]) -> Vec<u8> {
    let pad = (AES_BLOCK - (payload.len() + 1) % AES_BLOCK) % AES_BLOCK;
    let mut out = Vec::with_capacity(AES_BLOCK + payload.len() + pad + 1);
    out.extend_from_slice(iv);
    out.extend_from_slice(payload);
    out.extend((1..=pad).map(|n| n as u8));
    out.push(pad as u8);
    let body = &mut out[AES_BLOCK..];
    let len = body.len();
    // The length is a multiple of the block size by construction, which is all NoPadding
    // asks; the error is unreachable.
    let _ = cbc::Encryptor::<aes::Aes128>::new(key.into(), iv.into())
        .encrypt_padded_mut::<NoPadding>(body, len);
    out
}

/// Decrypts a confidentiality block (IV + ciphertext) and checks its pad, which the spec
/// fixes as 1, 2, 3... so a wrong key shows. `None` when it does not decrypt cleanly.
pub fn decrypt(key: &[u8; 16], block: &[u8]) -> Option<Vec<u8>> {
    if block.len() < 2 * AES_BLOCK || !block.len().is_multiple_of(AES_BLOCK) {
        return None;
    }
    let (iv, cipher) = block.split_at(AES_BLOCK);
    let mut iv_arr = [0u8; 16];
    iv_arr.copy_from_slice(iv);
    let mut body = cipher.to_vec();
    cbc::Decryptor::<aes::Aes128>::new(key.into(), (&iv_arr).into())
        .decrypt_padded_mut::<NoPadding>(&mut body)
        .ok()?;
    let (&pad, rest) = body.split_last()?;
    let pad = usize::from(pad);
    if pad >= AES_BLOCK || pad > rest.len() {
        return None;
    }
    let (payload, pad_bytes) = rest.split_at(rest.len() - pad);
    if pad_bytes.iter().zip(1u8..).any(|(b, n)| *b != n) {
        return None;
    }
    Some(payload.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        ::hex::decode(s.replace(' ', "")).unwrap()
    }

    #[test]
    fn hmac_sha1_rfc2202_vectors() {
        // RFC 2202, test cases 1 and 2.
        assert_eq!(
            hmac_sha1(&[0x0b; 20], &[b"Hi There"]).to_vec(),
            hex("b617318655057264e28bc0b6fb378c8ef146be00")
        );
        assert_eq!(
            hmac_sha1(b"Jefe", &[b"what do ya want ", b"for nothing?"]).to_vec(),
            hex("effcdf6ae5eb2fa2d27416d5f184df9c259a7c79")
        );
        let tag = hex("effcdf6ae5eb2fa2d27416d5");
        assert!(hmac_sha1_verify(
            b"Jefe",
            &[b"what do ya want for nothing?"],
            &tag
        ));
        assert!(!hmac_sha1_verify(
            b"Jeff",
            &[b"what do ya want for nothing?"],
            &tag
        ));
        assert!(!hmac_sha1_verify(b"Jefe", &[b"x"], &[]));
    }

    #[test]
    fn aes_cbc_128_nist_vector() {
        // NIST SP 800-38A F.2.1, first block, with the IPMI pad around it: the ciphertext of
        // the first block is the published one.
        let key: [u8; 16] = hex("2b7e151628aed2a6abf7158809cf4f3c").try_into().unwrap();
        let iv: [u8; 16] = hex("000102030405060708090a0b0c0d0e0f").try_into().unwrap();
        let plain = hex("6bc1bee22e409f96e93d7e117393172a");
        let sealed = encrypt(&key, &iv, &plain);
        assert_eq!(&sealed[..16], &iv);
        assert_eq!(
            sealed[16..32].to_vec(),
            hex("7649abac8119b246cee98e9b12e9197d")
        );
        // 16 bytes of payload need a 15-byte pad plus its length: two blocks.
        assert_eq!(sealed.len(), 16 + 32);
        assert_eq!(decrypt(&key, &sealed).unwrap(), plain);
    }

    #[test]
    fn pads_round_trip_for_every_length() {
        let key = [7u8; 16];
        let iv = [9u8; 16];
        for len in 0..40 {
            let plain: Vec<u8> = (0..len as u8).collect();
            let sealed = encrypt(&key, &iv, &plain);
            assert_eq!((sealed.len() - 16) % 16, 0);
            assert_eq!(decrypt(&key, &sealed).unwrap(), plain, "length {len}");
        }
        assert_eq!(decrypt(&key, &[0u8; 16]), None, "an IV alone");
        assert_eq!(decrypt(&key, &[0u8; 40]), None, "not whole blocks");
    }

    #[test]
    fn keys_from_sik() {
        // K1 and K2 are HMACs of constant blocks under the SIK (§13.32).
        let sik = [0x11u8; 20];
        let keys = SessionKeys::from_sik(&sik);
        assert_eq!(keys.k1, hmac_sha1(&sik, &[&[1u8; 20]]));
        assert_eq!(keys.aes[..], hmac_sha1(&sik, &[&[2u8; 20]])[..16]);
        assert_eq!(format!("{keys:?}"), "SessionKeys(<redacted>)");
    }
}
