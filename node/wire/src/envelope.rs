//! What a user daemon stores in a recipient's inbox: either one encoded
//! [`SessionMessage`](crate::SessionMessage) (its first byte is the message version, 1) or a
//! **batch** of several, so that a burst to one recipient costs one swarm store instead of one
//! per message.
//!
//! Batch layout: `tag 0xB7 (1) ‖ version 1 (1) ‖ count (1, 1..=255) ‖ count × (len u32 ‖ item)`.
//! Items are opaque here (the receiver decodes each as a session message), non-empty, at most
//! [`MAX_ITEM_LEN`] bytes, in the order the sender queued them; no trailing bytes.

use crate::{Reader, WireError, Writer};

/// First byte of a batch; never the first byte of a session message (its version, 1).
pub const BATCH_TAG: u8 = 0xB7;
/// Version of the batch format.
pub const BATCH_VERSION: u8 = 1;
/// Most items in one batch.
pub const MAX_BATCH_ITEMS: usize = 255;
/// Largest item (the swarm's largest payload).
pub const MAX_ITEM_LEN: usize = crate::swarm::MAX_PAYLOAD_LEN;
/// Bytes of a batch before its items.
pub const BATCH_HEADER_LEN: usize = 3;
/// Bytes each item adds besides itself (its length prefix).
pub const ITEM_OVERHEAD: usize = 4;

/// A stored inbox item, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InboxItem<'a> {
    /// One session message, as it was stored (the old, unbatched form).
    Single(&'a [u8]),
    /// Several session messages in queue order.
    Batch(Vec<&'a [u8]>),
}

impl<'a> InboxItem<'a> {
    /// Decodes a stored item. Anything not starting with [`BATCH_TAG`] is a single message
    /// (checked later by its own decoder); a batch must be well formed.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, WireError> {
        if bytes.first() != Some(&BATCH_TAG) {
            return Ok(Self::Single(bytes));
        }
        let mut r = Reader::new(bytes);
        r.u8("message batch tag")?;
        match r.u8("message batch version")? {
            BATCH_VERSION => {}
            version => {
                return Err(WireError::UnsupportedVersion {
                    what: "message batch",
                    version,
                });
            }
        }
        let count = usize::from(r.u8("message batch count")?);
        if count == 0 {
            return Err(WireError::Invalid {
                what: "message batch",
                reason: "no items",
            });
        }
        let mut items = Vec::with_capacity(count);
        for _ in 0..count {
            let item = r.var32(MAX_ITEM_LEN, "message batch item")?;
            if item.is_empty() {
                return Err(WireError::Invalid {
                    what: "message batch item",
                    reason: "empty",
                });
            }
            items.push(item);
        }
        r.finish("message batch")?;
        Ok(Self::Batch(items))
    }

    /// The messages in order (one for a single message).
    pub fn messages(&self) -> Vec<&'a [u8]> {
        match self {
            Self::Single(m) => vec![*m],
            Self::Batch(v) => v.clone(),
        }
    }
}

/// The encoded length of a batch of items of these lengths.
pub fn batch_len(item_lens: impl IntoIterator<Item = usize>) -> usize {
    item_lens
        .into_iter()
        .fold(BATCH_HEADER_LEN, |acc, l| acc + ITEM_OVERHEAD + l)
}

/// Encodes `items` as a batch. Fails when there are none, more than [`MAX_BATCH_ITEMS`], or
/// an item is empty or longer than [`MAX_ITEM_LEN`].
pub fn encode_batch<T: AsRef<[u8]>>(items: &[T]) -> Result<Vec<u8>, WireError> {
    if items.is_empty() || items.len() > MAX_BATCH_ITEMS {
        return Err(WireError::TooLong {
            what: "message batch count",
            len: items.len(),
            max: MAX_BATCH_ITEMS,
        });
    }
    let mut w = Writer::with_capacity(batch_len(items.iter().map(|i| i.as_ref().len())));
    w.u8(BATCH_TAG)
        .u8(BATCH_VERSION)
        .u8(u8::try_from(items.len()).unwrap_or(u8::MAX));
    for i in items {
        let i = i.as_ref();
        if i.is_empty() {
            return Err(WireError::Invalid {
                what: "message batch item",
                reason: "empty",
            });
        }
        if i.len() > MAX_ITEM_LEN {
            return Err(WireError::TooLong {
                what: "message batch item",
                len: i.len(),
                max: MAX_ITEM_LEN,
            });
        }
        w.var32(i);
    }
    Ok(w.into_vec())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn layout() {
        let b = encode_batch(&[vec![1u8, 2], vec![1u8]]).unwrap();
        assert_eq!(b, [0xB7, 1, 2, 0, 0, 0, 2, 1, 2, 0, 0, 0, 1, 1]);
        assert_eq!(b.len(), batch_len([2, 1]));
        assert_eq!(
            InboxItem::decode(&b).unwrap(),
            InboxItem::Batch(vec![&[1u8, 2][..], &[1u8][..]])
        );
    }

    #[test]
    fn single_and_bad_batches() {
        assert_eq!(
            InboxItem::decode(&[1, 2, 3]).unwrap(),
            InboxItem::Single(&[1, 2, 3])
        );
        assert_eq!(InboxItem::decode(&[]).unwrap().messages(), vec![&[][..]]);
        assert!(InboxItem::decode(&[0xB7]).is_err());
        assert!(InboxItem::decode(&[0xB7, 2, 1, 0, 0, 0, 1, 1]).is_err());
        assert!(InboxItem::decode(&[0xB7, 1, 0]).is_err());
        assert!(InboxItem::decode(&[0xB7, 1, 1, 0, 0, 0, 0]).is_err());
        assert!(InboxItem::decode(&[0xB7, 1, 1, 0, 0, 0, 1, 1, 9]).is_err());
        assert!(InboxItem::decode(&[0xB7, 1, 1, 0xFF, 0xFF, 0xFF, 0xFF]).is_err());
        assert!(encode_batch::<Vec<u8>>(&[]).is_err());
        assert!(encode_batch(&[Vec::<u8>::new()]).is_err());
        assert!(encode_batch(&vec![vec![1u8]; 256]).is_err());
    }

    proptest! {
        #[test]
        fn roundtrip(items in proptest::collection::vec(
            proptest::collection::vec(any::<u8>(), 1..64), 1..20)) {
            let b = encode_batch(&items).unwrap();
            prop_assert_eq!(b.len(), batch_len(items.iter().map(Vec::len)));
            let d = InboxItem::decode(&b).unwrap();
            let got: Vec<Vec<u8>> = d.messages().into_iter().map(<[u8]>::to_vec).collect();
            prop_assert_eq!(got, items);
        }

        #[test]
        fn decoder_is_total(data in proptest::collection::vec(any::<u8>(), 0..128)) {
            let _ = InboxItem::decode(&data);
            let mut tagged = vec![BATCH_TAG];
            tagged.extend(data);
            let _ = InboxItem::decode(&tagged);
        }
    }
}
