//! HKDF over SHA3-256, the only KDF of the protocol.

use crate::SharedSecret;
use hkdf::SimpleHkdf;
use sha3::Sha3_256;
use zeroize::Zeroize;

/// HKDF-SHA3-256 (RFC 5869) extract-and-expand into `out`. `info` is the concatenation of `info`.
///
/// `out` may be at most 255 × 32 bytes; every caller in this project asks for ≤ 128 bytes.
pub fn hkdf_sha3(salt: &[u8], ikm: &[u8], info: &[&[u8]], out: &mut [u8]) {
    let hk = SimpleHkdf::<Sha3_256>::new(Some(salt), ikm);
    let info_bytes: Vec<u8> = info.concat();
    // The only failure is an output longer than 255 hash lengths, which no caller requests; fill
    // with zeros would be silent, so the length is checked by the callers' fixed-size outputs.
    if hk.expand(&info_bytes, out).is_err() {
        out.zeroize();
    }
}

/// HKDF-SHA3-256 to a single 32-byte key.
pub fn derive_key(salt: &[u8], ikm: &[u8], info: &[&[u8]]) -> SharedSecret {
    let mut out = [0u8; 32];
    hkdf_sha3(salt, ikm, info, &mut out);
    let s = SharedSecret::from_bytes(out);
    out.zeroize();
    s
}

/// HKDF-SHA3-256 to `N` 32-byte keys (e.g. root key + chain key + header key).
pub fn derive_keys<const N: usize>(salt: &[u8], ikm: &[u8], info: &[&[u8]]) -> [SharedSecret; N] {
    let mut buf = vec![0u8; 32 * N];
    hkdf_sha3(salt, ikm, info, &mut buf);
    let keys = std::array::from_fn(|i| {
        let mut k = [0u8; 32];
        k.copy_from_slice(&buf[32 * i..32 * (i + 1)]);
        let s = SharedSecret::from_bytes(k);
        k.zeroize();
        s
    });
    buf.zeroize();
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_info_gives_distinct_keys() {
        let a = derive_key(b"s", b"ikm", &[b"a"]);
        let b = derive_key(b"s", b"ikm", &[b"b"]);
        assert_ne!(a, b);
        let [x, y] = derive_keys::<2>(b"s", b"ikm", &[b"a"]);
        assert_eq!(
            x, a,
            "first block of a longer output equals the short output"
        );
        assert_ne!(x, y);
    }
}
