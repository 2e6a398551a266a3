#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The double ratchet: ordering, bounds, tampering, forward secrecy, post-compromise security,
//! persistence.

mod common;

use common::{T0, User, established, rng, send};
use pars_session::{
    ErrorKind, HasKind, MAX_JUMP, MAX_SKIPPED_KEY_AGE_SECS, MAX_SKIPPED_KEYS, Session, SessionError,
};
use pars_wire::message::{ContentType, MessageKind, SessionMessage};

fn state(s: &Session) -> Vec<u8> {
    s.to_bytes().as_slice().to_vec()
}

#[test]
fn out_of_order_within_and_across_chains() {
    let (mut r, mut a, mut b) = established(10);
    // Alice: chain of 5; Bob reads 4, 0, 2.
    let a1: Vec<_> = (0..5).map(|i| send(&mut a, &[i], T0, &mut r)).collect();
    for i in [4usize, 0, 2] {
        assert_eq!(b.decrypt(&a1[i], T0).unwrap().content, [i as u8]);
    }
    assert_eq!(b.skipped_keys(), 2);
    // Bob answers (new chain), Alice answers (new chain) before Bob saw the rest of a1.
    let b1 = send(&mut b, b"b", T0, &mut r);
    a.decrypt(&b1, T0).unwrap();
    let a2: Vec<_> = (0..3)
        .map(|i| send(&mut a, &[10 + i], T0, &mut r))
        .collect();
    // a2 arrives first: its header says a1 had 5 messages; 1 and 3 stay readable.
    assert_eq!(b.decrypt(&a2[2], T0).unwrap().content, [12]);
    assert_eq!(b.decrypt(&a1[3], T0).unwrap().content, [3]);
    assert_eq!(b.decrypt(&a2[0], T0).unwrap().content, [10]);
    assert_eq!(b.decrypt(&a1[1], T0).unwrap().content, [1]);
    assert_eq!(b.decrypt(&a2[1], T0).unwrap().content, [11]);
    assert_eq!(b.skipped_keys(), 0, "every key deleted after use");
    // Messages of the current chain are duplicates; the old chain's keys, header key
    // included, are gone altogether.
    for m in &a2 {
        let e = b.decrypt(m, T0).unwrap_err();
        assert!(matches!(e, SessionError::Duplicate { .. }), "{e}");
        assert_eq!(e.kind(), ErrorKind::Replay);
    }
    for m in &a1 {
        assert_eq!(
            b.decrypt(m, T0).unwrap_err(),
            SessionError::NotForThisSession
        );
    }
}

#[test]
fn sequence_numbers_order_messages_across_chains() {
    let (mut r, mut a, mut b) = established(19);
    let mut seen = Vec::new();
    for round in 0..4 {
        for _ in 0..=round {
            let m = send(&mut a, b"a", T0, &mut r);
            seen.push(b.decrypt(&m, T0).unwrap().header.sequence);
        }
        let m = send(&mut b, b"b", T0, &mut r);
        a.decrypt(&m, T0).unwrap();
    }
    // Alice's first message ("hello") was sequence 0.
    assert_eq!(seen, (1..=10).collect::<Vec<u64>>());
    assert_eq!(a.sent_count(), 11);
}

#[test]
fn skipped_key_bounds_are_enforced_with_clear_errors() {
    let (mut r, mut a, mut b) = established(11);
    let msgs: Vec<_> = (0..MAX_JUMP as usize + 2)
        .map(|_| a.encrypt(b"", ContentType::Text, T0, &mut r).unwrap())
        .collect();
    // One past the maximum jump.
    let e = b.decrypt(&msgs[MAX_JUMP as usize + 1], T0).unwrap_err();
    assert_eq!(
        e,
        SessionError::TooFarAhead {
            jump: u64::from(MAX_JUMP) + 1,
            max: u64::from(MAX_JUMP)
        }
    );
    assert_eq!(e.kind(), ErrorKind::PeerMalformed);
    assert_eq!(b.skipped_keys(), 0, "a rejected jump stores nothing");
    // Exactly the maximum jump works; only the newest 2,000 skipped keys are kept.
    b.decrypt(&msgs[MAX_JUMP as usize], T0).unwrap();
    assert_eq!(b.skipped_keys(), MAX_SKIPPED_KEYS);
    let oldest_kept = MAX_JUMP as usize - MAX_SKIPPED_KEYS;
    assert_eq!(
        b.decrypt(&msgs[oldest_kept - 1], T0).unwrap_err(),
        SessionError::Duplicate {
            counter: oldest_kept as u32 - 1
        }
    );
    b.decrypt(&msgs[oldest_kept], T0).unwrap();
    b.decrypt(&msgs[MAX_JUMP as usize - 1], T0).unwrap();
    assert_eq!(b.skipped_keys(), MAX_SKIPPED_KEYS - 2);
}

/// Flips every bit of `msg` in turn; each must fail to decode or decrypt, leaving `s` unchanged.
fn every_flip_fails(s: &mut Session, msg: &SessionMessage, stride: usize) {
    let bytes = msg.encode();
    let before = state(s);
    let mut i = 0;
    while i < bytes.len() * 8 {
        let mut t = bytes.clone();
        t[i / 8] ^= 1 << (i % 8);
        if let Ok(m) = SessionMessage::decode(&t) {
            assert!(s.decrypt(&m, T0).is_err(), "bit {i} flipped still decrypts");
        }
        i += if i < 8 * 64 || i + 8 * 64 > bytes.len() * 8 {
            1
        } else {
            stride
        };
    }
    assert_eq!(state(s), before, "state changed by a failed decryption");
    assert_eq!(
        s.decrypt(msg, T0).unwrap().content,
        b"tamper with me",
        "the untampered message still decrypts"
    );
}

#[test]
fn any_flipped_bit_fails_and_leaves_state_unchanged() {
    let (mut r, mut a, mut b) = established(12);
    // A message that starts a chain, and one within it.
    let first = send(&mut a, b"tamper with me", T0, &mut r);
    let second = send(&mut a, b"tamper with me", T0, &mut r);
    assert_eq!(first.kind(), MessageKind::Normal);
    every_flip_fails(&mut b, &first, 1);
    every_flip_fails(&mut b, &second, 1);
}

#[test]
fn any_flipped_bit_in_an_initial_message_fails() {
    let mut r = rng(13);
    let alice = User::new(1, T0, &mut r);
    let mut bob = User::new(2, T0, &mut r);
    let mut a = alice.initiate(&bob, T0, &mut r);
    let m0 = send(&mut a, b"first", T0, &mut r);
    let m1 = send(&mut a, b"tamper with me", T0, &mut r);
    // Against the responder's session (every bit of the ~20 KB message)...
    let (mut b, _) = bob.accept(&m0, T0).unwrap();
    every_flip_fails(&mut b, &m1, 1);
    // ...and against a fresh responder: the handshake itself fails, nothing is recorded.
    let mut carol_view = User::new(2, T0, &mut rng(13));
    carol_view.prekeys = bob.prekeys.clone();
    let bytes = m1.encode();
    for i in (0..bytes.len() * 8).step_by(397) {
        let mut t = bytes.clone();
        t[i / 8] ^= 1 << (i % 8);
        if let Ok(m) = SessionMessage::decode(&t) {
            assert!(carol_view.accept(&m, T0).is_err(), "bit {i}");
        }
    }
    assert!(carol_view.replay.is_empty());
    assert_eq!(
        carol_view.accept(&m1, T0).unwrap().1.content,
        b"tamper with me"
    );
}

#[test]
fn forward_secrecy_todays_state_does_not_open_yesterdays_messages() {
    let (mut r, mut a, mut b) = established(14);
    let mut yesterday = Vec::new();
    for round in 0..3u8 {
        let m = send(&mut a, &[round], T0, &mut r);
        b.decrypt(&m, T0).unwrap();
        yesterday.push(m);
        let m = send(&mut b, &[100 + round], T0, &mut r);
        a.decrypt(&m, T0).unwrap();
        yesterday.push(m);
    }
    // One message of Bob's current chain is captured but not yet delivered.
    let undelivered = send(&mut a, b"pending", T0 + 86_400, &mut r);
    let later = send(&mut a, b"later", T0 + 86_400, &mut r);
    b.decrypt(&later, T0 + 86_400).unwrap();
    // The attacker copies both parties' state today.
    let mut stolen_b = Session::from_bytes(state(&b).as_slice()).unwrap();
    let mut stolen_a = Session::from_bytes(state(&a).as_slice()).unwrap();
    for m in &yesterday {
        assert!(stolen_b.decrypt(m, T0).is_err());
        assert!(stolen_a.decrypt(m, T0).is_err());
    }
    // Not vacuous: the copy is a working state (the one skipped key it holds opens its message).
    assert_eq!(
        stolen_b.decrypt(&undelivered, T0).unwrap().content,
        b"pending"
    );
}

#[test]
fn post_compromise_security_after_one_round_trip() {
    let (mut r, mut a, mut b) = established(15);
    // The attacker copies Bob's state and reads everything from now on.
    let mut attacker = b.clone();
    let m1 = send(&mut a, b"still readable", T0, &mut r);
    assert_eq!(b.decrypt(&m1, T0).unwrap().content, b"still readable");
    assert_eq!(
        attacker.decrypt(&m1, T0).unwrap().content,
        b"still readable"
    );
    // Bob's reply draws fresh X25519 and ML-KEM keys the attacker does not have.
    let m2 = send(&mut b, b"healed", T0, &mut r);
    assert_eq!(a.decrypt(&m2, T0).unwrap().content, b"healed");
    let m3 = send(&mut a, b"healed too", T0, &mut r);
    assert_eq!(b.decrypt(&m3, T0).unwrap().content, b"healed too");
    // Alice's next chain answers Bob's fresh keys: the attacker's copy cannot follow.
    let e = attacker.decrypt(&m3, T0).unwrap_err();
    assert_eq!(e, SessionError::BodyDecryption, "{e}");
    // Nor can a copy of Alice's side made before Bob's reply read Bob's next chain.
    let m4 = send(&mut b, b"and again", T0, &mut r);
    let mut attacker_a = a.clone();
    attacker_a.decrypt(&m4, T0).unwrap();
    a.decrypt(&m4, T0).unwrap();
    let m5 = send(&mut a, b"x", T0, &mut r);
    b.decrypt(&m5, T0).unwrap();
    let m6 = send(&mut b, b"y", T0, &mut r);
    assert!(attacker_a.decrypt(&m6, T0).is_err());
    assert_eq!(a.decrypt(&m6, T0).unwrap().content, b"y");
}

#[test]
fn persistence_round_trip_mid_conversation() {
    let (mut r, mut a, mut b) = established(16);
    let pending: Vec<_> = (0..4).map(|i| send(&mut a, &[i], T0, &mut r)).collect();
    b.decrypt(&pending[3], T0).unwrap();
    // Store and reload both sides with skipped keys and a pending send step.
    let sa = state(&a);
    let sb = state(&b);
    let mut a = Session::from_bytes(&sa).unwrap();
    let mut b = Session::from_bytes(&sb).unwrap();
    assert_eq!(state(&a), sa, "canonical encoding");
    assert_eq!(state(&b), sb);
    assert_eq!(b.skipped_keys(), 3);
    for i in [1usize, 0, 2] {
        assert_eq!(b.decrypt(&pending[i], T0).unwrap().content, [i as u8]);
    }
    let reply = send(&mut b, b"after reload", T0, &mut r);
    assert_eq!(a.decrypt(&reply, T0).unwrap().content, b"after reload");
    // Corrupt or foreign state is rejected, never misread.
    assert!(matches!(
        Session::from_bytes(&[]),
        Err(SessionError::CorruptState { .. })
    ));
    let mut v9 = sa.clone();
    v9[0] = 9;
    assert_eq!(
        Session::from_bytes(&v9).unwrap_err(),
        SessionError::UnsupportedStateVersion {
            what: "session state",
            version: 9
        }
    );
    for n in [1, 10, 100, sa.len() - 1] {
        assert!(Session::from_bytes(&sa[..n]).is_err(), "truncated to {n}");
    }
    let mut longer = sa.clone();
    longer.push(0);
    assert!(Session::from_bytes(&longer).is_err());
}

#[test]
fn unconfirmed_initiator_state_round_trips() {
    let mut r = rng(17);
    let alice = User::new(1, T0, &mut r);
    let mut bob = User::new(2, T0, &mut r);
    let mut a = alice.initiate(&bob, T0, &mut r);
    let m0 = send(&mut a, b"0", T0, &mut r);
    let mut a = Session::from_bytes(state(&a).as_slice()).unwrap();
    let m1 = send(&mut a, b"1", T0, &mut r);
    assert_eq!(m1.handshake, m0.handshake);
    let (mut b, _) = bob.accept(&m1, T0).unwrap();
    assert_eq!(b.decrypt(&m0, T0).unwrap().content, b"0");
}

#[test]
fn signatures_travel_inside_the_body_and_too_large_is_rejected() {
    use pars_session::SendOptions;
    use pars_wire::message::{Flags, MessageBody, MessageSignature};
    let (mut r, mut a, mut b) = established(18);
    let mut ck = rng(99);
    let signer = pars_crypto::identity::IdentityKeys::generate(&mut ck);
    let sig = signer
        .signing_key()
        .sign(pars_crypto::labels::SIG_GROUP_ADMIN, b"add carol", &mut ck)
        .unwrap();
    let opts = SendOptions {
        flags: Flags::REQUEST_READ_RECEIPT,
        signature: Some(MessageSignature::Hybrid(sig.clone())),
    };
    let m = a
        .encrypt_with(b"add carol", ContentType::GroupControl, &opts, T0, &mut r)
        .unwrap();
    let d = b.decrypt(&m, T0).unwrap();
    assert_eq!(d.signature, Some(MessageSignature::Hybrid(sig.clone())));
    assert_eq!(d.header.content_type, ContentType::GroupControl);
    assert!(d.header.flags.contains(Flags::REQUEST_READ_RECEIPT));
    signer
        .public_keys()
        .verifying_key()
        .verify(pars_crypto::labels::SIG_GROUP_ADMIN, &d.content, &sig)
        .unwrap();
    let big = vec![0u8; MessageBody::MAX_CONTENT_LEN + 1];
    let before = state(&a);
    assert!(matches!(
        a.encrypt(&big, ContentType::File, T0, &mut r),
        Err(SessionError::TooLarge { .. })
    ));
    assert_eq!(state(&a), before);
}

#[test]
fn skipped_keys_expire_after_thirty_days() {
    let (mut r, mut a, mut b) = established(20);
    let msgs: Vec<_> = (0..4).map(|i| send(&mut a, &[i], T0, &mut r)).collect();
    b.decrypt(&msgs[3], T0).unwrap();
    assert_eq!(b.skipped_keys(), 3);
    let limit = T0 + MAX_SKIPPED_KEY_AGE_SECS;
    assert_eq!(b.decrypt(&msgs[0], limit).unwrap().content, [0]);
    // A failed decryption expires nothing (state unchanged)...
    let before = state(&b);
    let mut c = b.clone();
    let _ = c.decrypt(&msgs[0], limit + 1);
    assert_eq!(state(&b), before);
    // ...a day later both remaining keys are gone, and so is the message.
    let m = send(&mut a, b"new", limit + 1, &mut r);
    b.decrypt(&m, limit + 1).unwrap();
    assert_eq!(b.skipped_keys(), 0);
    assert_eq!(
        b.decrypt(&msgs[1], limit + 1).unwrap_err(),
        SessionError::Duplicate { counter: 1 }
    );
}
