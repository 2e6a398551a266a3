//! Onion formats: sizes, round trips, signatures, a fixed vector, and every decoder run over
//! thousands of seeded random and mutated inputs (the stable-toolchain twin of the fuzz target).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use pars_crypto::classic::Ed25519SigningKey;
use pars_crypto::hybrid_kem768::Hybrid768SecretKey;
use pars_crypto::hybrid_sig::HybridSigningKey;
use pars_crypto::mldsa::MlDsaSigningKey;
use pars_crypto::{random_array, sha3_256};
use pars_wire::onion::{
    ANNOUNCEMENT_SIGNED_LEN, BODY_LEN, BULK_MAX_DATA_LEN, BULK_MAX_DATA_LEN_WITH_REPLY,
    BULK_PACKET_LEN, Body, FINAL_LEN, HEADER_LEN, KEM_CT_LEN, MAX_DATA_LEN,
    MAX_DATA_LEN_WITH_REPLY, OnionKeyList, PACKET_LEN, PAYLOAD_LEN, PacketClass, REPLY_BLOCK_LEN,
    ReplyBlock, RoutingInfo, SLOT_LEN,
};
use pars_wire::{NodeId, OnionKeyAnnouncement, OnionPacket, Reader, WireError, Writer};
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

fn reply_block(rng: &mut ChaCha20Rng) -> ReplyBlock {
    let mut header = Box::new([0u8; HEADER_LEN]);
    rng.fill_bytes(&mut header[..]);
    header[0] = 1;
    ReplyBlock {
        first_hop: NodeId(random_array(rng)),
        header,
        payload_mac_key: random_array(rng),
        reply_seed: random_array(rng),
    }
}

#[test]
fn packet_parsing_is_exact() {
    let p = OnionPacket::new_zeroed(PacketClass::Standard);
    assert_eq!(p.as_bytes().len(), PACKET_LEN);
    assert_eq!(p.class(), PacketClass::Standard);
    assert_eq!(OnionPacket::from_bytes(p.as_bytes()).unwrap(), p);
    assert!(matches!(
        OnionPacket::from_bytes(&p.as_bytes()[..PACKET_LEN - 1]),
        Err(WireError::Truncated { .. })
    ));
    let mut long = p.to_vec();
    long.push(0);
    assert!(matches!(
        OnionPacket::from_bytes(&long),
        Err(WireError::TrailingBytes { .. })
    ));
    let mut v2 = p.to_vec();
    v2[0] = 2;
    assert!(matches!(
        OnionPacket::from_bytes(&v2),
        Err(WireError::UnsupportedVersion { version: 2, .. })
    ));
    assert!(OnionPacket::from_bytes(&[]).is_err());
    // A bulk packet parses at exactly its length, and nothing between the classes does.
    let b = OnionPacket::new_zeroed(PacketClass::Bulk);
    assert_eq!(b.as_bytes().len(), BULK_PACKET_LEN);
    assert_eq!(
        OnionPacket::from_bytes(b.as_bytes()).unwrap().class(),
        PacketClass::Bulk
    );
    for len in [BULK_PACKET_LEN - 1, BULK_PACKET_LEN + 1, 2 * PACKET_LEN] {
        let mut v = b.to_vec();
        v.resize(len, 0);
        assert!(OnionPacket::from_bytes(&v).is_err(), "{len}");
    }
    let mut bq = b.clone();
    assert_eq!(
        bq.fields_mut().payload.len(),
        PacketClass::Bulk.payload_len()
    );
    assert_eq!(bq.header().len(), HEADER_LEN);
    // Field views tile the packet exactly.
    let mut q = OnionPacket::new_zeroed(PacketClass::Standard);
    let f = q.fields_mut();
    let lens = [
        f.key_id.len(),
        f.kem_ct.len(),
        f.header_mac.len(),
        f.payload_mac.len(),
        f.routing.len(),
        f.payload.len(),
    ];
    f.key_id.copy_from_slice(&7u32.to_be_bytes());
    assert_eq!(1 + lens.iter().sum::<usize>(), PACKET_LEN);
    assert_eq!(lens[1], KEM_CT_LEN);
    assert_eq!(lens[5], PAYLOAD_LEN);
    assert_eq!(q.key_id(), 7);
    assert_eq!(q.header().len(), HEADER_LEN);
}

#[test]
fn routing_info_round_trips_and_rejects() {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let mut ct = Box::new([0u8; KEM_CT_LEN]);
    rng.fill_bytes(&mut ct[..]);
    let fwd = RoutingInfo::Forward {
        next_hop: NodeId(random_array(&mut rng)),
        next_key_id: 0xdead_beef,
        next_header_mac: random_array(&mut rng),
        next_payload_mac_key: random_array(&mut rng),
        next_kem_ct: ct,
    };
    let enc = fwd.encode();
    assert_eq!(enc.len(), SLOT_LEN);
    assert_eq!(RoutingInfo::decode(&enc[..]).unwrap(), fwd);
    assert!(RoutingInfo::decode(&enc[..SLOT_LEN - 1]).is_err());
    let del = RoutingInfo::Deliver.encode();
    assert_eq!(
        RoutingInfo::decode(&del[..FINAL_LEN]).unwrap(),
        RoutingInfo::Deliver
    );
    let mut bad = del.clone();
    bad[FINAL_LEN - 1] = 1;
    assert!(RoutingInfo::decode(&bad[..]).is_err(), "reserved bytes");
    // Bytes after a deliver slot are filler and do not matter.
    let mut filler = del.clone();
    filler[FINAL_LEN] = 0xff;
    assert_eq!(
        RoutingInfo::decode(&filler[..]).unwrap(),
        RoutingInfo::Deliver
    );
    for cmd in [0u8, 3, 0xff] {
        let mut b = del.clone();
        b[0] = cmd;
        assert!(matches!(
            RoutingInfo::decode(&b[..]),
            Err(WireError::UnknownVariant { .. })
        ));
    }
}

#[test]
fn body_round_trips_at_its_limits() {
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    for (reply, is_loop, len) in [
        (None, false, 0),
        (None, false, MAX_DATA_LEN),
        (Some(reply_block(&mut rng)), false, MAX_DATA_LEN_WITH_REPLY),
        (Some(reply_block(&mut rng)), true, 0),
    ] {
        let body = Body {
            is_loop,
            reply,
            data: vec![0xa5; len],
        };
        let enc = body.encode().unwrap();
        assert_eq!(body.class(), Some(PacketClass::Standard));
        assert_eq!(enc.len(), BODY_LEN);
        assert_eq!(Body::decode(&enc).unwrap(), body);
        // Non-zero padding, unknown flags and wrong lengths are refused.
        let mut t = enc.clone();
        if body.data.len() + 5 < BODY_LEN && body.reply.is_none() {
            t[BODY_LEN - 1] = 1;
            assert!(Body::decode(&t).is_err());
        }
        let mut t = enc.clone();
        t[0] |= 0x80;
        assert!(Body::decode(&t).is_err());
        assert!(Body::decode(&enc[1..]).is_err());
    }
    // Past a standard body's capacity the body is bulk, up to a bulk body's capacity.
    for (reply, len) in [
        (None, MAX_DATA_LEN + 1),
        (None, BULK_MAX_DATA_LEN),
        (Some(reply_block(&mut rng)), MAX_DATA_LEN_WITH_REPLY + 1),
        (Some(reply_block(&mut rng)), BULK_MAX_DATA_LEN_WITH_REPLY),
    ] {
        let body = Body {
            is_loop: false,
            reply,
            data: vec![0x5a; len],
        };
        assert_eq!(body.class(), Some(PacketClass::Bulk));
        let enc = body.encode().unwrap();
        assert_eq!(enc.len(), PacketClass::Bulk.body_len());
        assert_eq!(Body::decode(&enc).unwrap(), body);
    }
    // A bulk body whose data a standard one would hold is refused: the class is canonical.
    let small = Body {
        is_loop: false,
        reply: None,
        data: b"small".to_vec(),
    };
    let mut padded = small.encode().unwrap();
    padded.resize(PacketClass::Bulk.body_len(), 0);
    assert!(matches!(
        Body::decode(&padded),
        Err(WireError::Invalid { .. })
    ));
    let too_big = Body {
        is_loop: false,
        reply: Some(reply_block(&mut rng)),
        data: vec![0; BULK_MAX_DATA_LEN_WITH_REPLY + 1],
    };
    assert_eq!(too_big.class(), None);
    assert!(matches!(too_big.encode(), Err(WireError::TooLong { .. })));
    let mut w = Writer::new();
    reply_block(&mut rng).write(&mut w);
    assert_eq!(w.len(), REPLY_BLOCK_LEN);
}

fn announcement_ed(rng: &mut ChaCha20Rng, sk: &Ed25519SigningKey) -> OnionKeyAnnouncement {
    let onion = Hybrid768SecretKey::generate(rng);
    OnionKeyAnnouncement::sign_ed25519(
        NodeId([3; 32]),
        42,
        1_790_000_000,
        1_790_172_800,
        onion.public_key().clone(),
        sk,
    )
    .unwrap()
}

#[test]
fn announcements_sign_verify_and_reject_tampering() {
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let sk = Ed25519SigningKey::from_bytes([9; 32]);
    let a = announcement_ed(&mut rng, &sk);
    a.verify_ed25519(&sk.public_key()).unwrap();
    let bytes = a.to_bytes();
    assert_eq!(bytes.len(), ANNOUNCEMENT_SIGNED_LEN + 1 + 64);
    assert_eq!(OnionKeyAnnouncement::from_bytes(&bytes).unwrap(), a);
    assert!(a.is_valid_at(1_790_000_000) && !a.is_valid_at(1_790_172_800));
    let other = Ed25519SigningKey::from_bytes([8; 32]);
    assert!(a.verify_ed25519(&other.public_key()).is_err());
    // Any change to a signed field breaks the signature.
    for i in [
        0usize,
        1,
        33,
        37,
        45,
        53,
        60,
        1000,
        ANNOUNCEMENT_SIGNED_LEN - 1,
    ] {
        let mut b = bytes.clone();
        b[i] ^= 1;
        if let Ok(t) = OnionKeyAnnouncement::from_bytes(&b) {
            assert!(t.verify_ed25519(&sk.public_key()).is_err(), "byte {i}");
        }
    }
    // Validity must be a non-empty interval.
    let mut bad = a.clone();
    bad.valid_until = bad.valid_from;
    assert!(bad.verify_ed25519(&sk.public_key()).is_err());

    let hybrid = HybridSigningKey {
        ed25519: Ed25519SigningKey::from_bytes([5; 32]),
        mldsa: MlDsaSigningKey::from_seed(&[6; 32]),
    };
    let h = OnionKeyAnnouncement::sign_hybrid(
        NodeId([4; 32]),
        1,
        10,
        20,
        a.public_key.clone(),
        &hybrid,
        &mut rng,
    )
    .unwrap();
    h.verify_hybrid(&hybrid.public_key()).unwrap();
    assert!(
        h.verify_ed25519(&hybrid.ed25519.public_key()).is_err(),
        "scheme mismatch"
    );
    assert!(
        a.verify_hybrid(&hybrid.public_key()).is_err(),
        "scheme mismatch"
    );
    let hb = h.to_bytes();
    assert_eq!(OnionKeyAnnouncement::from_bytes(&hb).unwrap(), h);
    let list = OnionKeyList(vec![a.clone(), h.clone()]);
    assert_eq!(OnionKeyList::from_bytes(&list.to_bytes()).unwrap(), list);
    assert!(OnionKeyList::from_bytes(&[0]).is_err());
    assert!(OnionKeyList::from_bytes(&OnionKeyList::default().to_bytes()).is_err());
    assert!(OnionKeyList::from_bytes(&[5]).is_err());
    // Two Ed25519-signed keys fit the node record's 8 KiB onion-keys field.
    let two = OnionKeyList(vec![a.clone(), a]);
    assert_eq!(two.to_bytes().len(), 2673);
    assert!(two.to_bytes().len() <= pars_wire::node_record::MAX_ONION_KEYS_LEN);
    assert_eq!(OnionKeyList(vec![h]).to_bytes().len(), 1 + 5963);
}

#[test]
fn announcement_fixed_vector() {
    // Deterministic inputs: the onion key from a seeded RNG, Ed25519 signatures are deterministic.
    let mut rng = ChaCha20Rng::seed_from_u64(2026);
    let sk = Ed25519SigningKey::from_bytes([1; 32]);
    let a = announcement_ed(&mut rng, &sk);
    assert_eq!(
        hex::encode(&a.to_bytes()[..53]),
        "010303030303030303030303030303030303030303030303030303030303030303\
         0000002a000000006ab13b80000000006ab3de80"
    );
    assert_eq!(
        hex::encode(sha3_256(&[&a.to_bytes()])),
        "3b87c70fc64ed6f5226f2bc0cc8e84c090af09be9de512b8dff552f5ff918dd1"
    );
}

/// Runs every onion decoder over `data`; none may panic.
fn decode_all(data: &[u8]) {
    let _ = OnionPacket::from_bytes(data);
    let _ = RoutingInfo::decode(data);
    let _ = Body::decode(data);
    let _ = ReplyBlock::read(&mut Reader::new(data));
    let _ = OnionKeyAnnouncement::from_bytes(data);
    let _ = OnionKeyList::from_bytes(data);
}

#[test]
fn decoders_are_total_over_seeded_random_inputs() {
    let mut rng = ChaCha20Rng::seed_from_u64(0x0010);
    let mut seeds: Vec<Vec<u8>> = Vec::new();
    let sk = Ed25519SigningKey::from_bytes([2; 32]);
    let a = announcement_ed(&mut rng, &sk);
    seeds.push(a.to_bytes());
    seeds.push(OnionKeyList(vec![a]).to_bytes());
    seeds.push(RoutingInfo::Deliver.encode().to_vec());
    let body = Body {
        is_loop: false,
        reply: Some(reply_block(&mut rng)),
        data: b"hello".to_vec(),
    };
    seeds.push(body.encode().unwrap());
    let mut w = Writer::new();
    reply_block(&mut rng).write(&mut w);
    seeds.push(w.into_vec());
    seeds.push(OnionPacket::new_zeroed(PacketClass::Standard).to_vec());
    seeds.push(OnionPacket::new_zeroed(PacketClass::Bulk).to_vec());
    for i in 0..4000u32 {
        // Pure noise of assorted lengths, including the exact format lengths.
        let lens = [
            0,
            1,
            16,
            FINAL_LEN,
            SLOT_LEN,
            1334,
            REPLY_BLOCK_LEN,
            BODY_LEN,
            PACKET_LEN,
            PacketClass::Bulk.body_len(),
            BULK_PACKET_LEN,
        ];
        let len = if i % 3 == 0 {
            lens[(i as usize / 3) % lens.len()]
        } else {
            (rng.next_u32() % 2048) as usize
        };
        let mut noise = vec![0u8; len];
        rng.fill_bytes(&mut noise);
        if let Some(b) = noise.first_mut() {
            *b = (i % 4) as u8; // often a plausible version / command / count byte
        }
        decode_all(&noise);
        // Mutations of valid encodings: flips, truncations, extensions.
        let seed = &seeds[i as usize % seeds.len()];
        let mut m = seed.clone();
        for _ in 0..1 + rng.next_u32() % 4 {
            let pos = rng.next_u32() as usize % m.len();
            m[pos] ^= 1 << (rng.next_u32() % 8);
        }
        match rng.next_u32() % 3 {
            0 => m.truncate(rng.next_u32() as usize % (m.len() + 1)),
            1 => m.extend_from_slice(&[0u8; 3]),
            _ => {}
        }
        decode_all(&m);
    }
}
