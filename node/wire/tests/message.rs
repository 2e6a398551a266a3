#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Session message formats: round trips, fixed vectors, and every decoder total over random and
//! mutated input (the stable-toolchain counterpart of the fuzz targets in `node/wire/fuzz/`).

use pars_crypto::bundle::{IdentityBundle, PREKEY_LIFETIME_SECS, PrekeySecret};
use pars_crypto::hybrid_kem::HybridSecretKey;
use pars_crypto::identity::{IdentityKeys, MasterSeed};
use pars_crypto::mlkem::MlKemKeyPair;
use pars_crypto::{labels, sha3_256};
use pars_wire::message::*;
use pars_wire::{MessageId, WireError};
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

fn kem_step() -> KemStep {
    let kp = MlKemKeyPair::from_seed(&[7; 64]);
    let (ciphertext, _) = kp.public.encapsulate_derand(&[9; 32]);
    KemStep {
        public_key: kp.public,
        ciphertext,
    }
}

fn header(kem: Option<KemStep>) -> MessageHeader {
    MessageHeader {
        message_id: MessageId([0x11; 16]),
        timestamp: 1_795_651_200,
        sequence: 0x0102_0304_0506_0708,
        ratchet_key: pars_crypto::classic::X25519PublicKey([0x22; 32]),
        kem,
        counter: 5,
        previous_chain_length: 3,
        content_type: ContentType::Text,
        flags: Flags::REQUEST_READ_RECEIPT,
    }
}

fn handshake(rng: &mut ChaCha20Rng) -> (HandshakeHeader, HandshakePayload) {
    let keys = IdentityKeys::from_seed(&MasterSeed::from_bytes([3; 32]));
    let prekey = PrekeySecret::generate(4, 1_795_651_200, PREKEY_LIFETIME_SECS, rng);
    let bundle = IdentityBundle::create(&keys, &prekey.public, 1_795_651_200, rng).unwrap();
    let target = HybridSecretKey::generate(rng).public_key();
    let (identity_ciphertext, _) = target.encapsulate(labels::HANDSHAKE, rng).unwrap();
    let (prekey_ciphertext, _) = target.encapsulate(labels::HANDSHAKE, rng).unwrap();
    let hs = HandshakeHeader {
        prekey_id: 4,
        identity_ciphertext,
        prekey_ciphertext,
        payload: vec![0x5a; HANDSHAKE_PAYLOAD_CT_LEN],
    };
    let signature = keys
        .signing_key()
        .sign(labels::SIG_HANDSHAKE, b"transcript", rng)
        .unwrap();
    let payload = HandshakePayload {
        initiator: keys.session_id(),
        bundle,
        ratchet_key: pars_crypto::classic::X25519PublicKey([0x33; 32]),
        ratchet_kem: MlKemKeyPair::from_seed(&[8; 64]).public,
        timestamp: 1_795_651_200,
        signature,
    };
    (hs, payload)
}

#[test]
fn header_fixed_vectors() {
    let h = header(None);
    let enc = h.encode();
    assert_eq!(enc.len(), HEADER_LEN_INITIAL);
    assert_eq!(
        hex::encode(&enc),
        "11111111111111111111111111111111\
         000000006b077680\
         0102030405060708\
         2222222222222222222222222222222222222222222222222222222222222222\
         00000005\
         00000003\
         01\
         00000002\
         00"
    );
    assert_eq!(MessageHeader::decode(&enc).unwrap(), h);
    let h = header(Some(kem_step()));
    let enc = h.encode();
    assert_eq!(enc.len(), HEADER_LEN_NORMAL);
    assert_eq!(enc[HEADER_LEN_INITIAL - 1], 1);
    assert_eq!(
        hex::encode(sha3_256(&[&enc])),
        "a83cd6c158ee9b60e4115a904721227e7e0900d740dcbb0e64e09470a337e791"
    );
    assert_eq!(MessageHeader::decode(&enc).unwrap(), h);
}

#[test]
fn message_and_body_fixed_vectors() {
    let m = SessionMessage {
        handshake: None,
        header: vec![0xaa; ENCRYPTED_HEADER_LEN_NORMAL],
        body: vec![0xbb; 256 + 16],
    };
    let enc = m.encode();
    assert_eq!(enc.len(), 2 + ENCRYPTED_HEADER_LEN_NORMAL + 4 + 272);
    assert_eq!(hex::encode(&enc[..4]), "0101aaaa");
    assert_eq!(
        hex::encode(&enc[2 + ENCRYPTED_HEADER_LEN_NORMAL..][..6]),
        "00000110bbbb"
    );
    assert_eq!(SessionMessage::decode(&enc).unwrap(), m);
    assert_eq!(m.body_ad(), enc[..2 + ENCRYPTED_HEADER_LEN_NORMAL]);
    assert_eq!(m.header_ad(), [1, 1]);

    let b = MessageBody {
        signature: None,
        content: b"hi".to_vec(),
    };
    assert_eq!(hex::encode(b.encode()), "006869");
    assert_eq!(MessageBody::decode(&b.encode()).unwrap(), b);
}

#[test]
fn initial_messages_and_handshake_payloads_round_trip() {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let (hs, payload) = handshake(&mut rng);
    let enc = hs.encode();
    assert_eq!(enc.len(), HANDSHAKE_HEADER_LEN);
    assert_eq!(HandshakeHeader::decode(&enc).unwrap(), hs);
    assert_ne!(hs.id(), [0; 32]);
    let p = payload.encode();
    assert_eq!(p.len(), HANDSHAKE_PAYLOAD_LEN);
    assert_eq!(HandshakePayload::decode(&p).unwrap(), payload);
    let m = SessionMessage {
        handshake: Some(hs.clone()),
        header: vec![1; ENCRYPTED_HEADER_LEN_INITIAL],
        body: vec![2; 512 + 16],
    };
    let enc = m.encode();
    assert_eq!(m.kind(), MessageKind::Initial);
    assert_eq!(
        enc.len(),
        2 + HANDSHAKE_HEADER_LEN + ENCRYPTED_HEADER_LEN_INITIAL + 4 + 528
    );
    assert_eq!(SessionMessage::decode(&enc).unwrap(), m);
    assert_eq!(m.header_ad().len(), 2 + HANDSHAKE_HEADER_LEN);

    // Signed bodies, both kinds.
    let sig = IdentityKeys::from_seed(&MasterSeed::from_bytes([4; 32]))
        .signing_key()
        .sign(labels::SIG_GROUP_ADMIN, b"op", &mut rng)
        .unwrap();
    for signature in [
        MessageSignature::Hybrid(sig.clone()),
        MessageSignature::MlDsa(sig.mldsa.clone()),
    ] {
        let b = MessageBody {
            signature: Some(signature),
            content: b"op".to_vec(),
        };
        assert_eq!(MessageBody::decode(&b.encode()).unwrap(), b);
    }
}

#[test]
fn the_sendable_content_limits_are_the_largest_that_fit_one_onion_store() {
    use pars_crypto::padding;
    use pars_wire::swarm::MAX_ONION_INBOX_PAYLOAD;
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let (hs, _) = handshake(&mut rng);
    assert_eq!(MAX_SENDABLE_CONTENT_LEN, 16_382);
    assert_eq!(MAX_SENDABLE_CONTENT_LEN_INITIAL, 4_094);
    for (kind, max) in [
        (MessageKind::Normal, MAX_SENDABLE_CONTENT_LEN),
        (MessageKind::Initial, MAX_SENDABLE_CONTENT_LEN_INITIAL),
    ] {
        let message = |content_len: usize| {
            let body = MessageBody {
                signature: None,
                content: vec![7; content_len],
            };
            let bucket = padding::bucket_for(body.encode().len()).unwrap();
            let (handshake, header_len) = match kind {
                MessageKind::Normal => (None, ENCRYPTED_HEADER_LEN_NORMAL),
                MessageKind::Initial => (Some(hs.clone()), ENCRYPTED_HEADER_LEN_INITIAL),
            };
            SessionMessage {
                handshake,
                header: vec![1; header_len],
                body: vec![2; bucket + 16],
            }
            .encode()
            .len()
        };
        assert!(message(max) <= MAX_ONION_INBOX_PAYLOAD, "{kind:?}");
        assert!(message(max + 1) > MAX_ONION_INBOX_PAYLOAD, "{kind:?}");
        assert_eq!(message(max), SessionMessage::overhead(kind) + max + 2);
    }
    // Without a size limit the padding's own maximum applies.
    assert_eq!(
        SessionMessage::max_content_len(MessageKind::Normal, usize::MAX),
        padding::MAX_PADDED_LEN - 2
    );
    assert_eq!(SessionMessage::max_content_len(MessageKind::Normal, 100), 0);
}

#[test]
fn decoders_reject_with_typed_errors() {
    let h = header(None).encode();
    // Unknown content type, flag, KEM presence; a fine timestamp; trailing bytes.
    let mut t = h.clone();
    t[72] = 0;
    assert!(matches!(
        MessageHeader::decode(&t),
        Err(WireError::UnknownVariant {
            what: "content type",
            ..
        })
    ));
    let mut t = h.clone();
    t[76] = 0x80;
    assert!(matches!(
        MessageHeader::decode(&t),
        Err(WireError::UnknownVariant {
            what: "header flags",
            ..
        })
    ));
    let mut t = h.clone();
    t[77] = 2;
    assert!(matches!(
        MessageHeader::decode(&t),
        Err(WireError::UnknownVariant { .. })
    ));
    let mut t = h.clone();
    t[23] = 1;
    assert!(matches!(
        MessageHeader::decode(&t),
        Err(WireError::Invalid {
            what: "header timestamp",
            ..
        })
    ));
    let mut t = h.clone();
    t.push(0);
    assert!(matches!(
        MessageHeader::decode(&t),
        Err(WireError::TrailingBytes { .. })
    ));
    // Message: version, kind, body length not a bucket.
    let m = SessionMessage {
        handshake: None,
        header: vec![0; ENCRYPTED_HEADER_LEN_NORMAL],
        body: vec![0; 272],
    }
    .encode();
    let mut t = m.clone();
    t[0] = 2;
    assert_eq!(
        SessionMessage::decode(&t),
        Err(WireError::UnsupportedVersion {
            what: "session message",
            version: 2
        })
    );
    let mut t = m.clone();
    t[1] = 3;
    assert!(matches!(
        SessionMessage::decode(&t),
        Err(WireError::UnknownVariant { .. })
    ));
    let bad = SessionMessage {
        handshake: None,
        header: vec![0; ENCRYPTED_HEADER_LEN_NORMAL],
        body: vec![0; 300],
    }
    .encode();
    assert!(matches!(
        SessionMessage::decode(&bad),
        Err(WireError::Invalid {
            what: "message body",
            ..
        })
    ));
    let mut huge = m[..2 + ENCRYPTED_HEADER_LEN_NORMAL].to_vec();
    huge.extend_from_slice(&u32::MAX.to_be_bytes());
    assert!(matches!(
        SessionMessage::decode(&huge),
        Err(WireError::TooLong { .. })
    ));
    assert!(matches!(
        MessageBody::decode(&[3]),
        Err(WireError::UnknownVariant { .. })
    ));
    assert!(matches!(
        MessageBody::decode(&[]),
        Err(WireError::Truncated { .. })
    ));
}

/// Every decoder, over random bytes and over mutations of valid encodings: never panics, and
/// whatever it accepts re-encodes to exactly the input.
#[test]
fn decoders_are_total_and_canonical() {
    let mut rng = ChaCha20Rng::seed_from_u64(77);
    let (hs, payload) = handshake(&mut rng);
    let valid: Vec<(&str, Vec<u8>)> = vec![
        ("header", header(None).encode()),
        ("header", header(Some(kem_step())).encode()),
        (
            "message",
            SessionMessage {
                handshake: None,
                header: vec![0; ENCRYPTED_HEADER_LEN_NORMAL],
                body: vec![0; 272],
            }
            .encode(),
        ),
        (
            "message",
            SessionMessage {
                handshake: Some(hs.clone()),
                header: vec![0; ENCRYPTED_HEADER_LEN_INITIAL],
                body: vec![0; 272],
            }
            .encode(),
        ),
        ("handshake", hs.encode()),
        ("payload", payload.encode()),
        (
            "body",
            MessageBody {
                signature: None,
                content: vec![1, 2, 3],
            }
            .encode(),
        ),
    ];
    let check = |kind: &str, input: &[u8]| match kind {
        "header" => {
            if let Ok(v) = MessageHeader::decode(input) {
                assert_eq!(v.encode(), input);
            }
        }
        "message" => {
            if let Ok(v) = SessionMessage::decode(input) {
                assert_eq!(v.encode(), input);
            }
        }
        "handshake" => {
            if let Ok(v) = HandshakeHeader::decode(input) {
                assert_eq!(v.encode(), input);
            }
        }
        "payload" => {
            if let Ok(v) = HandshakePayload::decode(input) {
                assert_eq!(v.encode(), input);
            }
        }
        _ => {
            if let Ok(v) = MessageBody::decode(input) {
                assert_eq!(v.encode(), input);
            }
        }
    };
    for (kind, v) in &valid {
        check(kind, v);
        for _ in 0..600 {
            let mut t = v.clone();
            match rng.next_u32() % 4 {
                0 => {
                    let i = rng.next_u32() as usize % t.len();
                    t[i] ^= 1 << (rng.next_u32() % 8);
                }
                1 => t.truncate(rng.next_u32() as usize % t.len()),
                2 => t.extend_from_slice(&[rng.next_u32() as u8; 3]),
                _ => {
                    let i = rng.next_u32() as usize % t.len();
                    t[i] = rng.next_u32() as u8;
                }
            }
            check(kind, &t);
        }
        for _ in 0..400 {
            let mut t = vec![0u8; rng.next_u32() as usize % 400];
            rng.fill_bytes(&mut t);
            // Keep the format's leading bytes plausible so decoding gets past them.
            if !t.is_empty() && *kind == "message" {
                t[0] = 1;
            }
            check(kind, &t);
        }
    }
}
