#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Handshake: offline responder, every rejection with its precise error, tie-break.

mod common;

use common::{T0, User, rng, send};
use pars_crypto::bundle::{PREKEY_LIFETIME_SECS, PrekeySecret};
use pars_session::{
    ErrorKind, HasKind, IncomingInitiation, ReplayCache, Role, Session, SessionError,
    resolve_incoming_initiation, simultaneous_initiation_winner,
};
use pars_wire::message::{MessageKind, SessionMessage};

#[test]
fn initiator_sends_while_responder_is_offline_and_responder_starts_from_any_message() {
    let mut r = rng(1);
    let alice = User::new(1, T0, &mut r);
    let mut bob = User::new(2, T0, &mut r);
    let mut a = alice.initiate(&bob, T0, &mut r);
    assert_eq!(a.role(), Role::Initiator);
    assert!(!a.is_confirmed());
    let msgs: Vec<SessionMessage> = (0..4)
        .map(|i| send(&mut a, format!("m{i}").as_bytes(), T0 + i, &mut r))
        .collect();
    for m in &msgs {
        assert_eq!(m.kind(), MessageKind::Initial);
        assert_eq!(m.handshake.as_ref().unwrap().id(), *a.handshake_id());
    }
    // Bob comes online later and the first message he sees is the third.
    let later = T0 + 3 * 86_400;
    let (mut b, first) = bob.accept(&msgs[2], later).unwrap();
    assert_eq!(first.content, b"m2");
    assert_eq!(first.header.sequence, 2);
    assert_eq!(b.peer(), &alice.id);
    assert_eq!(b.local(), &bob.id);
    assert_eq!(b.role(), Role::Responder);
    assert_eq!(b.handshake_id(), a.handshake_id());
    // The rest belong to the same session, in any order; accept would call them replays.
    assert_eq!(
        bob.accept(&msgs[0], later).unwrap_err(),
        SessionError::ReplayedHandshake
    );
    for i in [3usize, 0, 1] {
        assert_eq!(
            b.decrypt(&msgs[i], later).unwrap().content,
            format!("m{i}").as_bytes()
        );
    }
    assert_eq!(
        b.decrypt(&msgs[1], later).unwrap_err(),
        SessionError::Duplicate { counter: 1 }
    );
    // Bob's reply starts the first ratchet step; Alice's next messages are normal.
    let reply = send(&mut b, b"hi alice", later, &mut r);
    assert_eq!(reply.kind(), MessageKind::Normal);
    assert_eq!(a.decrypt(&reply, later).unwrap().content, b"hi alice");
    assert!(a.is_confirmed());
    let m = send(&mut a, b"now normal", later, &mut r);
    assert_eq!(m.kind(), MessageKind::Normal);
    assert_eq!(b.decrypt(&m, later).unwrap().content, b"now normal");
}

#[test]
fn initiator_rejects_a_bundle_for_another_id_and_a_stale_prekey() {
    let mut r = rng(2);
    let alice = User::new(1, T0, &mut r);
    let bob = User::new(2, T0, &mut r);
    let carol = User::new(3, T0, &mut r);
    let e = Session::initiate(
        &alice.keys,
        &alice.bundle,
        &carol.id,
        &bob.bundle,
        T0,
        &mut r,
    )
    .unwrap_err();
    assert_eq!(
        e,
        SessionError::BundleMismatch {
            expected: carol.id.to_string()
        }
    );
    assert_eq!(e.kind(), ErrorKind::Verification);
    let e = Session::initiate(
        &alice.keys,
        &alice.bundle,
        &bob.id,
        &bob.bundle,
        T0 + PREKEY_LIFETIME_SECS,
        &mut r,
    )
    .unwrap_err();
    assert_eq!(e, SessionError::StalePrekey { id: 20 });
    assert_eq!(
        Session::initiate(
            &alice.keys,
            &alice.bundle,
            &alice.id,
            &alice.bundle,
            T0,
            &mut r
        )
        .unwrap_err(),
        SessionError::SelfSession
    );
    assert_eq!(
        Session::initiate(&alice.keys, &bob.bundle, &bob.id, &bob.bundle, T0, &mut r).unwrap_err(),
        SessionError::LocalBundleMismatch
    );
}

#[test]
fn responder_rejects_stale_prekeys_replays_strangers_and_future_requests() {
    let mut r = rng(3);
    let alice = User::new(1, T0, &mut r);
    let mut bob = User::new(2, T0, &mut r);
    let mut a = alice.initiate(&bob, T0, &mut r);
    let m = send(&mut a, b"x", T0, &mut r);

    // The prekey expired before Bob came online.
    let e = bob.accept(&m, T0 + PREKEY_LIFETIME_SECS).unwrap_err();
    assert_eq!(e, SessionError::StalePrekey { id: 20 });
    assert_eq!(e.kind(), ErrorKind::Expired);
    // Bob rotated and deleted the prekey.
    let saved = std::mem::replace(
        &mut bob.prekeys,
        vec![PrekeySecret::generate(21, T0, PREKEY_LIFETIME_SECS, &mut r)],
    );
    assert_eq!(
        bob.accept(&m, T0).unwrap_err(),
        SessionError::StalePrekey { id: 20 }
    );
    bob.prekeys = saved;
    assert!(bob.replay.is_empty(), "failures record nothing");

    // Someone else with a prekey of the same ID cannot open it.
    let mut carol = User::new(3, T0, &mut r);
    carol.prekeys = vec![PrekeySecret::generate(20, T0, PREKEY_LIFETIME_SECS, &mut r)];
    assert_eq!(
        carol.accept(&m, T0).unwrap_err(),
        SessionError::HandshakeDecryption
    );

    // Accepted once, then a replay — also after the cache went through storage.
    let (_b, _) = bob.accept(&m, T0).unwrap();
    assert_eq!(
        bob.accept(&m, T0).unwrap_err(),
        SessionError::ReplayedHandshake
    );
    let mut stored = ReplayCache::from_bytes(&bob.replay.to_bytes()).unwrap();
    let e = Session::accept(&bob.keys, &bob.prekeys, &mut stored, &m, T0).unwrap_err();
    assert_eq!(e, SessionError::ReplayedHandshake);
    assert_eq!(e.kind(), ErrorKind::Replay);
    // The entry lives as long as the prekey.
    stored.prune(T0 + PREKEY_LIFETIME_SECS - 1);
    assert_eq!(stored.len(), 1);
    stored.prune(T0 + PREKEY_LIFETIME_SECS);
    assert!(stored.is_empty());

    // A request dated two hours ahead of the responder's clock.
    let mut a2 = alice.initiate(&bob, T0 + 7200, &mut r);
    let m2 = send(&mut a2, b"y", T0 + 7200, &mut r);
    assert!(matches!(
        bob.accept(&m2, T0).unwrap_err(),
        SessionError::HandshakeFromTheFuture { .. }
    ));
    // A normal message is not a request.
    let mut b = bob.accept(&m2, T0 + 7200).unwrap().0;
    let reply = send(&mut b, b"z", T0 + 7200, &mut r);
    assert_eq!(
        bob.accept(&reply, T0).unwrap_err(),
        SessionError::NotInitial
    );
    // Initial messages of another handshake are not this session's.
    assert_eq!(b.decrypt(&m, T0).unwrap_err(), SessionError::WrongHandshake);
    assert_eq!(
        a.decrypt(&m2, T0).unwrap_err(),
        SessionError::WrongHandshake
    );
}

#[test]
fn simultaneous_initiation_converges_on_the_smaller_ids_session() {
    let mut r = rng(4);
    let mut alice = User::new(1, T0, &mut r);
    let mut bob = User::new(2, T0, &mut r);
    let a_out = alice.initiate(&bob, T0, &mut r);
    let b_out = bob.initiate(&alice, T0, &mut r);
    let winner = simultaneous_initiation_winner(&alice.id, &bob.id);
    assert_eq!(winner, simultaneous_initiation_winner(&bob.id, &alice.id));
    let (mut a_out, mut b_out) = (a_out, b_out);
    let ma = send(&mut a_out, b"from alice", T0, &mut r);
    let mb = send(&mut b_out, b"from bob", T0, &mut r);
    let (a_in, _) = alice.accept(&mb, T0).unwrap();
    let (b_in, _) = bob.accept(&ma, T0).unwrap();
    let at_alice = resolve_incoming_initiation(Some(&a_out));
    let at_bob = resolve_incoming_initiation(Some(&b_out));
    // Exactly one side keeps its own, and both keep the same handshake.
    let (alice_session, bob_session) = if winner == alice.id {
        assert_eq!(at_alice, IncomingInitiation::Superseded);
        assert_eq!(at_bob, IncomingInitiation::AcceptAndAbandonOurs);
        (a_out, b_in)
    } else {
        assert_eq!(at_alice, IncomingInitiation::AcceptAndAbandonOurs);
        assert_eq!(at_bob, IncomingInitiation::Superseded);
        (a_in, b_out)
    };
    assert_eq!(alice_session.handshake_id(), bob_session.handshake_id());
    assert_eq!(
        resolve_incoming_initiation(None),
        IncomingInitiation::Accept
    );
}
