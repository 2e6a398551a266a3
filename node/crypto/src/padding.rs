//! Padding to size buckets, so that ciphertext lengths reveal only a coarse size class.
//!
//! Format: `data ‖ 0x80 ‖ 0x00*` (ISO/IEC 7816-4), padded to the smallest bucket that holds
//! `len(data) + 1`. Buckets are 256 B, then every power of two up to 64 KiB, then multiples of
//! 64 KiB up to [`MAX_PADDED_LEN`].

use crate::CryptoError;

/// The smallest bucket.
pub const MIN_BUCKET: usize = 256;
/// Above this, buckets grow linearly by this step rather than doubling.
pub const LINEAR_STEP: usize = 64 * 1024;
/// The largest padded size (1 MiB); larger content is chunked by the layers above.
pub const MAX_PADDED_LEN: usize = 1024 * 1024;
/// The largest plaintext that can be padded.
pub const MAX_PLAINTEXT_LEN: usize = MAX_PADDED_LEN - 1;

/// The bucket a plaintext of `len` bytes pads to, or `None` if it is too large.
pub fn bucket_for(len: usize) -> Option<usize> {
    let need = len.checked_add(1)?;
    if need > MAX_PADDED_LEN {
        return None;
    }
    if need <= MIN_BUCKET {
        return Some(MIN_BUCKET);
    }
    if need <= LINEAR_STEP {
        return Some(need.next_power_of_two());
    }
    Some(need.div_ceil(LINEAR_STEP) * LINEAR_STEP)
}

/// Pads `data` to its bucket.
pub fn pad(data: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let bucket = bucket_for(data.len()).ok_or(CryptoError::TooLarge {
        got: data.len(),
        max: MAX_PLAINTEXT_LEN,
    })?;
    let mut out = Vec::with_capacity(bucket);
    out.extend_from_slice(data);
    out.push(0x80);
    out.resize(bucket, 0);
    Ok(out)
}

/// Removes padding. Rejects anything that is not `data ‖ 0x80 ‖ 0x00*` of a bucket length.
pub fn unpad(padded: &[u8]) -> Result<&[u8], CryptoError> {
    let marker = padded
        .iter()
        .rposition(|&b| b != 0)
        .ok_or(CryptoError::BadPadding)?;
    if padded[marker] != 0x80 || bucket_for(marker) != Some(padded.len()) {
        return Err(CryptoError::BadPadding);
    }
    Ok(&padded[..marker])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn buckets() {
        assert_eq!(bucket_for(0), Some(256));
        assert_eq!(bucket_for(255), Some(256));
        assert_eq!(bucket_for(256), Some(512));
        assert_eq!(bucket_for(1000), Some(1024));
        assert_eq!(bucket_for(65535), Some(65536));
        assert_eq!(bucket_for(65536), Some(131072));
        assert_eq!(bucket_for(MAX_PLAINTEXT_LEN), Some(MAX_PADDED_LEN));
        assert_eq!(bucket_for(MAX_PADDED_LEN), None);
        assert!(pad(&vec![0u8; MAX_PADDED_LEN]).is_err());
    }

    #[test]
    fn rejects_bad_padding() {
        assert!(unpad(&[]).is_err());
        assert!(unpad(&[0u8; 256]).is_err());
        let mut p = pad(b"abc").unwrap();
        p[3] = 0x81;
        assert!(unpad(&p).is_err());
        let p = pad(b"abc").unwrap();
        assert!(unpad(&p[..255]).is_err(), "not a bucket length");
    }

    proptest! {
        #[test]
        fn pad_unpad_round_trip(data in proptest::collection::vec(any::<u8>(), 0..5000)) {
            let p = pad(&data).unwrap();
            prop_assert_eq!(Some(p.len()), bucket_for(data.len()));
            prop_assert_eq!(unpad(&p).unwrap(), &data[..]);
        }

        #[test]
        fn unpad_never_panics(data in proptest::collection::vec(any::<u8>(), 0..3000)) {
            let _ = unpad(&data);
        }
    }
}
