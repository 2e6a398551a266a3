#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Round trips, fixed sizes, authorisation and totality of the swarm protocol and node records.

use pars_crypto::mldsa::MlDsaSigningKey;
use pars_crypto::{SessionId, sha3_256};
use pars_wire::node_record::NodeRecord;
use pars_wire::swarm::*;
use pars_wire::{FileId, GroupId, NodeId, WireError};
use proptest::prelude::*;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

fn sid(b: u8) -> SessionId {
    SessionId::from_digest([b; 32])
}

fn all_requests() -> Vec<SwarmRequest> {
    vec![
        SwarmRequest::Store {
            mailbox: Mailbox::Inbox(sid(1)),
            ttl_ms: 1000,
            payload: vec![7; 100],
        },
        SwarmRequest::Retrieve {
            mailbox: Mailbox::Group(GroupId([2; 32])),
            after: 9,
            max_count: 10,
            max_bytes: 1 << 20,
            wait_ms: 0,
            auth: None,
        },
        SwarmRequest::Retrieve {
            mailbox: Mailbox::Inbox(sid(6)),
            after: 3,
            max_count: 64,
            max_bytes: 24 * 1024,
            wait_ms: MAX_WAIT_MS,
            auth: None,
        },
        SwarmRequest::Delete {
            mailbox: Mailbox::Bundle(sid(3)),
            hashes: vec![[1; 32], [2; 32]],
            forwarded: true,
            auth: None,
        },
        SwarmRequest::Expire {
            mailbox: Mailbox::File(FileId([4; 32])),
            hashes: vec![[3; 32]],
            expires_at_ms: 77,
            forwarded: false,
            auth: None,
        },
        SwarmRequest::Replicate {
            items: vec![ReplicaItem {
                mailbox: Mailbox::Inbox(sid(5)),
                expires_at_ms: 5,
                payload: b"x".to_vec(),
            }],
        },
        SwarmRequest::GetRecord,
        SwarmRequest::GroupStore {
            group: GroupId([7; 32]),
            token: AccessToken([8; 32]),
            ttl_ms: 60_000,
            payload: vec![9; 50],
        },
        SwarmRequest::GroupRetrieve {
            group: GroupId([7; 32]),
            token: AccessToken([8; 32]),
            after: 12,
            max_count: 100,
            max_bytes: 1 << 20,
            wait_ms: MAX_WAIT_MS,
        },
        SwarmRequest::Delete {
            mailbox: Mailbox::GroupAccess(GroupId([7; 32])),
            hashes: vec![[5; 32]],
            forwarded: false,
            auth: None,
        },
    ]
}

fn all_responses() -> Vec<SwarmResponse> {
    vec![
        SwarmResponse::Stored {
            hash: [9; 32],
            copies: 5,
            expires_at_ms: 3,
            duplicate: true,
        },
        SwarmResponse::Messages {
            items: vec![MailboxItem {
                seq: 1,
                hash: [8; 32],
                expires_at_ms: 2,
                payload: vec![1, 2, 3],
            }],
            more: true,
        },
        SwarmResponse::Done { count: 4 },
        SwarmResponse::WrongSwarm {
            swarm: vec![vec![1; 38], vec![2; 38]],
        },
        SwarmResponse::Record {
            record: vec![1, 2, 3],
        },
        SwarmResponse::error(ErrorCode::RateLimited, 250, "slow down"),
        SwarmResponse::error(ErrorCode::Busy, 1000, "too many waiting retrieves"),
    ]
}

#[test]
fn requests_and_responses_round_trip() {
    for r in all_requests() {
        assert_eq!(SwarmRequest::decode(&r.encode()).unwrap(), r);
    }
    for r in all_responses() {
        assert_eq!(SwarmResponse::decode(&r.encode()).unwrap(), r);
    }
}

#[test]
fn fixed_vectors_and_sizes() {
    // Store to an inbox: version, tag, namespace, 33-byte Session ID, ttl, len, payload.
    let r = SwarmRequest::Store {
        mailbox: Mailbox::Inbox(sid(0xaa)),
        ttl_ms: 0x0102,
        payload: vec![0xee; 2],
    };
    let mut want = vec![1u8, 1, 1, 5];
    want.extend([0xaa; 32]);
    want.extend([0, 0, 0, 0, 0, 0, 1, 2, 0, 0, 0, 2, 0xee, 0xee]);
    assert_eq!(r.encode(), want);
    assert_eq!(r.encode().len(), 2 + 34 + 8 + 4 + 2);
    assert_eq!(r.encode().len(), STORE_INBOX_OVERHEAD + 2);
    assert_eq!(MAX_ONION_INBOX_PAYLOAD, 25_437);
    assert_eq!(
        SwarmResponse::Done { count: 258 }.encode(),
        vec![1, 3, 0, 0, 1, 2]
    );
    assert_eq!(OWNER_AUTH_LEN_WITH_KEY, 7244);
    assert_eq!(OWNER_AUTH_LEN_WITHOUT_KEY, 4652);
}

#[test]
fn waiting_retrieve_has_its_own_tag_and_bounds() {
    let plain = SwarmRequest::Retrieve {
        mailbox: Mailbox::File(FileId([4; 32])),
        after: 1,
        max_count: 2,
        max_bytes: 3,
        wait_ms: 0,
        auth: None,
    };
    let mut waiting = plain.clone();
    if let SwarmRequest::Retrieve { wait_ms, .. } = &mut waiting {
        *wait_ms = 0x0102;
    }
    let (p, w) = (plain.encode(), waiting.encode());
    assert_eq!(&p[..2], &[1, 2]);
    assert_eq!(&w[..2], &[1, 7]);
    // The same fields, then the 4-byte wait before the auth flag.
    assert_eq!(w.len(), p.len() + 4);
    assert_eq!(&w[2..p.len() - 1], &p[2..p.len() - 1]);
    assert_eq!(&w[p.len() - 1..p.len() + 3], &[0, 0, 1, 2]);
    assert_eq!(*w.last().unwrap(), 0);
    assert_eq!(SwarmRequest::decode(&w).unwrap(), waiting);
    assert_eq!(waiting.tag(), 7);
    // A zero wait under the waiting tag, and a wait above the maximum, are refused.
    let mut zero = w.clone();
    zero[p.len() - 1..p.len() + 3].copy_from_slice(&[0, 0, 0, 0]);
    assert!(matches!(
        SwarmRequest::decode(&zero),
        Err(WireError::Invalid { what: "wait", .. })
    ));
    let mut long = w.clone();
    long[p.len() - 1..p.len() + 3].copy_from_slice(&(MAX_WAIT_MS + 1).to_be_bytes());
    assert!(matches!(
        SwarmRequest::decode(&long),
        Err(WireError::TooLong { what: "wait", .. })
    ));
    // Truncated anywhere: an error.
    for n in 0..w.len() {
        assert!(SwarmRequest::decode(&w[..n]).is_err());
    }
    // The signature covers the wait (the tag and the field).
    let key = MlDsaSigningKey::generate(&mut ChaCha20Rng::seed_from_u64(5));
    let mut rng = ChaCha20Rng::seed_from_u64(6);
    let t = NodeId([9; 32]);
    sign_request(&mut waiting, &key, &t, 1000, true, &mut rng).unwrap();
    let auth = waiting.auth().unwrap().clone();
    assert!(auth.verify(&key.public_key(), &waiting, &t).is_ok());
    let mut shorter = waiting.clone();
    if let SwarmRequest::Retrieve { wait_ms, .. } = &mut shorter {
        *wait_ms = 1;
    }
    assert!(auth.verify(&key.public_key(), &shorter, &t).is_err());
    let mut immediate = waiting.clone();
    if let SwarmRequest::Retrieve { wait_ms, .. } = &mut immediate {
        *wait_ms = 0;
    }
    assert!(auth.verify(&key.public_key(), &immediate, &t).is_err());
    assert_eq!(ErrorCode::from_u16(13), ErrorCode::Busy);
    assert_eq!(ErrorCode::Busy.to_u16(), 13);
}

#[test]
fn owner_auth_signs_and_binds_the_request() {
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let key = MlDsaSigningKey::generate(&mut rng);
    let owner = SessionId::from_mldsa_public_key(&key.public_key());
    let mut req = SwarmRequest::Retrieve {
        mailbox: Mailbox::Inbox(owner),
        after: 0,
        max_count: 5,
        max_bytes: 1000,
        wait_ms: 0,
        auth: None,
    };
    let member = NodeId([3; 32]);
    sign_request(&mut req, &key, &member, 1_000, true, &mut rng).unwrap();
    let bytes = req.encode();
    assert_eq!(
        bytes.len(),
        2 + 34 + 8 + 2 + 4 + 1 + OWNER_AUTH_LEN_WITH_KEY
    );
    let decoded = SwarmRequest::decode(&bytes).unwrap();
    let auth = decoded.auth().unwrap();
    let pk = auth.public_key.clone().unwrap();
    assert_eq!(sha3_256(&[pk.as_bytes()]), owner.digest());
    auth.verify(&pk, &decoded, &member).unwrap();
    // Signed for one member, it verifies at no other: an exit cannot replay it elsewhere.
    assert!(auth.verify(&pk, &decoded, &NodeId([4; 32])).is_err());
    assert_eq!(
        auth_message(&decoded, auth.timestamp_ms, &auth.nonce, &member).len(),
        AUTH_MESSAGE_LEN
    );

    // Any change to the signed fields breaks the signature.
    let mut tampered = decoded.clone();
    if let SwarmRequest::Retrieve { after, .. } = &mut tampered {
        *after = 1;
    }
    assert!(auth.verify(&pk, &tampered, &member).is_err());
    let mut other_time = auth.clone();
    other_time.timestamp_ms += 1;
    assert!(other_time.verify(&pk, &decoded, &member).is_err());

    // The forwarded flag is not signed: a member may forward a delete.
    let mut del = SwarmRequest::Delete {
        mailbox: Mailbox::Inbox(owner),
        hashes: vec![[1; 32]],
        forwarded: false,
        auth: None,
    };
    sign_request(&mut del, &key, &member, 5, false, &mut rng).unwrap();
    let a = del.auth().unwrap().clone();
    assert!(a.public_key.is_none());
    if let SwarmRequest::Delete { forwarded, .. } = &mut del {
        *forwarded = true;
    }
    a.verify(&key.public_key(), &del, &member).unwrap();
}

#[test]
fn decoders_reject_bad_input() {
    assert!(matches!(
        SwarmRequest::decode(&[2, 1]),
        Err(WireError::UnsupportedVersion { .. })
    ));
    assert!(matches!(
        SwarmRequest::decode(&[1, 99]),
        Err(WireError::UnknownVariant { .. })
    ));
    assert!(matches!(
        SwarmRequest::decode(&[1, 1, 9]),
        Err(WireError::UnknownVariant { .. })
    ));
    // A Session ID with the wrong prefix.
    let mut bad = vec![1u8, 1, 1, 6];
    bad.extend([0; 32 + 8 + 4]);
    assert!(matches!(
        SwarmRequest::decode(&bad),
        Err(WireError::Invalid { .. })
    ));
    // Payload over the cap.
    let mut big = vec![1u8, 1, 1, 5];
    big.extend([0; 32 + 8]);
    big.extend(((MAX_PAYLOAD_LEN + 1) as u32).to_be_bytes());
    assert!(matches!(
        SwarmRequest::decode(&big),
        Err(WireError::TooLong { .. })
    ));
    // Trailing bytes.
    let mut t = SwarmRequest::GetRecord.encode();
    t.push(0);
    assert!(matches!(
        SwarmRequest::decode(&t),
        Err(WireError::TrailingBytes { .. })
    ));
    // Every truncation of every valid frame is an error.
    for r in all_requests() {
        let b = r.encode();
        for n in 0..b.len() {
            assert!(SwarmRequest::decode(&b[..n]).is_err());
        }
    }
    for r in all_responses() {
        let b = r.encode();
        for n in 0..b.len() {
            assert!(SwarmResponse::decode(&b[..n]).is_err());
        }
    }
}

#[test]
fn mailbox_locations_and_rules() {
    let s = sid(3);
    assert_eq!(Mailbox::Inbox(s).location(), Mailbox::Bundle(s).location());
    assert_eq!(Mailbox::Inbox(s).location(), s.digest());
    assert!(Mailbox::Inbox(s).open_store());
    assert!(!Mailbox::Bundle(s).open_store());
    assert!(Mailbox::Inbox(s).owner_retrieves());
    assert!(!Mailbox::File(FileId([1; 32])).owner_retrieves());
    assert_eq!(Mailbox::File(FileId([1; 32])).owner_digest(), None);
    // A group's records share its mailbox's swarm; neither takes a plain store from anyone.
    let g = GroupId([4; 32]);
    assert_eq!(
        Mailbox::Group(g).location(),
        Mailbox::GroupAccess(g).location()
    );
    assert!(!Mailbox::Group(g).open_store() && !Mailbox::GroupAccess(g).open_store());
    assert!(Mailbox::Group(g).owner_retrieves() && Mailbox::GroupAccess(g).owner_retrieves());
    assert_eq!(Mailbox::GroupAccess(g).owner_digest(), Some(g.0));
    for m in [
        Mailbox::Inbox(s),
        Mailbox::Group(GroupId([1; 32])),
        Mailbox::Bundle(s),
        Mailbox::File(FileId([2; 32])),
        Mailbox::GroupAccess(GroupId([1; 32])),
    ] {
        assert_eq!(m.to_bytes().len(), m.encoded_len());
        assert_eq!(Mailbox::from_bytes(&m.to_bytes()).unwrap(), m);
    }
}

#[test]
fn node_record_round_trip_and_limits() {
    let rec = NodeRecord {
        peer_id: vec![0, 36, 8, 1],
        public_key: vec![8, 1, 18, 32],
        addrs: vec![vec![4, 127, 0, 0, 1]],
        onion_keys: vec![5; 1600],
        operator: "alice".into(),
        software: "pars-net/0.1.0".into(),
        issued_at_ms: 42,
        signature: vec![9; 64],
    };
    let b = rec.encode().unwrap();
    assert_eq!(NodeRecord::decode(&b).unwrap(), rec);
    assert!(
        rec.signed_bytes()
            .starts_with(pars_crypto::labels::SIG_NODE_RECORD)
    );
    for n in 0..b.len() {
        assert!(NodeRecord::decode(&b[..n]).is_err());
    }
    let mut too_many = rec.clone();
    too_many.addrs = vec![vec![1]; 17];
    assert!(too_many.encode().is_err());
}

proptest! {
    #[test]
    fn decoders_are_total(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = SwarmRequest::decode(&data);
        let _ = SwarmResponse::decode(&data);
        let _ = NodeRecord::decode(&data);
        let _ = Mailbox::from_bytes(&data);
        let _ = GroupAccess::decode(&data);
        let _ = peek_access(&data);
    }

    #[test]
    fn store_round_trips(payload in proptest::collection::vec(any::<u8>(), 0..2000), ttl in any::<u64>()) {
        let r = SwarmRequest::Store { mailbox: Mailbox::Inbox(sid(1)), ttl_ms: ttl, payload };
        prop_assert_eq!(SwarmRequest::decode(&r.encode()).unwrap(), r);
    }
}

/// The fuzz targets' seeds are valid encodings, and the fuzz property (accepted input re-encodes
/// to itself) holds for them.
#[test]
fn fuzz_seeds_decode_and_round_trip() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
    let mut checked = 0;
    for target in [
        "swarm_request",
        "swarm_response",
        "node_record",
        "group_access",
    ] {
        for entry in std::fs::read_dir(dir.join(target)).unwrap() {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            match target {
                "swarm_request" => {
                    assert_eq!(SwarmRequest::decode(&bytes).unwrap().encode(), bytes)
                }
                "swarm_response" => {
                    assert_eq!(SwarmResponse::decode(&bytes).unwrap().encode(), bytes)
                }
                "group_access" => {
                    let rec = GroupAccess::decode(&bytes).unwrap();
                    rec.verify().unwrap();
                    assert_eq!(rec.encode(), bytes)
                }
                _ => assert_eq!(NodeRecord::decode(&bytes).unwrap().encode().unwrap(), bytes),
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 17);
}

#[test]
fn group_access_records_sign_have_a_fixed_size_and_refuse_forgery() {
    let mut rng = ChaCha20Rng::seed_from_u64(16);
    let owner = MlDsaSigningKey::generate(&mut rng);
    let token = AccessToken([3; ACCESS_TOKEN_LEN]);
    let rec = GroupAccess::sign(&owner, 7, &token, 1_790_000_000_000, &mut rng).unwrap();
    assert_eq!(
        rec.group,
        GroupId(sha3_256(&[owner.public_key().as_bytes()]))
    );
    assert_eq!(
        rec.token_hash,
        sha3_256(&[pars_crypto::labels::GROUP_ACCESS, &[3; 32]])
    );
    let bytes = rec.encode();
    assert_eq!(bytes.len(), GROUP_ACCESS_LEN);
    assert_eq!(GROUP_ACCESS_LEN, 7300);
    let back = GroupAccess::decode(&bytes).unwrap();
    assert_eq!(back, rec);
    back.verify().unwrap();
    assert!(back.admits(&token) && !back.admits(&AccessToken([4; 32])));
    assert_eq!(peek_access(&bytes), Some((7, rec.token_hash)));
    // The token never shows in a debug print.
    assert_eq!(format!("{token:?}"), "AccessToken(..)");
    // Every signed byte is bound: a flip anywhere in the first 81 bytes (but the version,
    // which the decoder refuses) fails the check.
    for i in 1..GROUP_ACCESS_SIGNED_LEN {
        let mut b = bytes.clone();
        b[i] ^= 0x40;
        let r = GroupAccess::decode(&b).unwrap();
        assert!(r.verify().is_err(), "byte {i} not bound");
    }
    // Another key cannot speak for the group, even with a valid signature of its own.
    let other = MlDsaSigningKey::generate(&mut rng);
    let mut forged = GroupAccess::sign(&other, 8, &token, 1, &mut rng).unwrap();
    forged.group = rec.group;
    assert!(forged.verify().is_err());
    // Truncations, a trailing byte and an unknown version are refused; peek wants the size.
    for n in 0..bytes.len() {
        assert!(GroupAccess::decode(&bytes[..n]).is_err());
        assert!(peek_access(&bytes[..n]).is_none());
    }
    let mut long = bytes.clone();
    long.push(0);
    assert!(GroupAccess::decode(&long).is_err());
    let mut v2 = bytes.clone();
    v2[0] = 2;
    assert!(GroupAccess::decode(&v2).is_err() && peek_access(&v2).is_none());
}

#[test]
fn member_requests_encode_the_token_and_bound_the_wait() {
    let r = SwarmRequest::GroupStore {
        group: GroupId([1; 32]),
        token: AccessToken([2; 32]),
        ttl_ms: 5,
        payload: vec![3; 4],
    };
    // version, tag 8, group (32), token (32), ttl (8), length (4), payload.
    let b = r.encode();
    assert_eq!(b.len(), 1 + 1 + 32 + 32 + 8 + 4 + 4);
    assert_eq!(&b[..2], &[SWARM_VERSION, 8]);
    assert_eq!(r.group_mailbox(), Some(Mailbox::Group(GroupId([1; 32]))));
    assert_eq!(r.mailbox(), None);
    let q = SwarmRequest::GroupRetrieve {
        group: GroupId([1; 32]),
        token: AccessToken([2; 32]),
        after: 0,
        max_count: 1,
        max_bytes: 1,
        wait_ms: 1,
    };
    let mut b = q.encode();
    assert_eq!(b.len(), 1 + 1 + 32 + 32 + 8 + 2 + 4 + 4);
    let n = b.len();
    b[n - 4..].copy_from_slice(&(MAX_WAIT_MS + 1).to_be_bytes());
    assert!(SwarmRequest::decode(&b).is_err());
}
