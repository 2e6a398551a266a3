//! The client engine end to end between two users, with real crypto and real encrypted redb
//! stores in temp dirs. The network is not involved here: blobs are handed from one engine's
//! outbox to the other's `receive`, in whatever order and multiplicity a test wants.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use pars_store::client::{ClientStore, KdfParams, Unlock};
use pars_wire::message::ContentType;
use pars_wire::records::Delivery;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use sessiond::engine::{Engine, EngineError, Received};
use std::path::{Path, PathBuf};

const T0: u64 = 1_795_651_200;

struct User {
    dir: tempfile::TempDir,
    engine: Engine,
}

impl User {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(store(&dir.path().join("client.redb"), true)).unwrap();
        Self { dir, engine }
    }
    fn path(&self) -> PathBuf {
        self.dir.path().join("client.redb")
    }
    fn restart(&mut self) {
        // Drop the engine (closing the database) before reopening it.
        let path = self.path();
        let tmp = Engine::open(store_tmp(self.dir.path())).unwrap();
        let old = std::mem::replace(&mut self.engine, tmp);
        drop(old);
        self.engine = Engine::open(store(&path, false)).unwrap();
    }
    fn drain(&mut self, now: u64, rng: &mut ChaCha20Rng) -> Vec<Vec<u8>> {
        let due = self.engine.outbox_due(now).unwrap();
        let mut blobs = Vec::new();
        for r in due {
            self.engine.mark_stored(&r.id, 3, rng).unwrap();
            blobs.push(r.blob);
        }
        blobs
    }
}

fn store(path: &Path, create: bool) -> ClientStore {
    let mut rng = ChaCha20Rng::seed_from_u64(path.as_os_str().len() as u64);
    if create {
        ClientStore::create(
            path,
            Unlock::Passphrase(b"pw"),
            KdfParams::insecure_for_tests(),
            &mut rng,
        )
        .unwrap()
    } else {
        ClientStore::open(path, Unlock::Passphrase(b"pw")).unwrap()
    }
}

fn store_tmp(dir: &Path) -> ClientStore {
    let p = dir.join(format!("scratch-{}.redb", std::process::id()));
    let _ = std::fs::remove_file(&p);
    store(&p, true)
}

fn texts(rs: &[Received]) -> Vec<String> {
    rs.iter()
        .filter_map(|r| match r {
            Received::Message(m) => Some(String::from_utf8(m.content.clone()).unwrap()),
            _ => None,
        })
        .collect()
}

fn pair(rng: &mut ChaCha20Rng) -> (User, User) {
    let mut a = User::new();
    let mut b = User::new();
    a.engine.create_identity(T0, rng).unwrap();
    b.engine.create_identity(T0, rng).unwrap();
    (a, b)
}

#[test]
fn conversation_receipts_duplicates_and_restart() {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let (mut alice, mut bob) = pair(&mut rng);
    let bob_id = bob.engine.keys().unwrap().session_id();
    let alice_id = alice.engine.keys().unwrap().session_id();
    let bob_bundle = bob.engine.bundle().unwrap().clone();
    let s = alice
        .engine
        .open_session(&bob_id, &bob_bundle, T0, &mut rng)
        .unwrap();
    assert!(!s.confirmed);
    for i in 0..3 {
        alice
            .engine
            .send(
                &bob_id,
                format!("hello {i}").as_bytes(),
                ContentType::Text,
                T0 + i,
                &mut rng,
            )
            .unwrap();
    }
    assert_eq!(alice.engine.outbox_len().unwrap(), 3);
    let blobs = alice.drain(T0 + 10, &mut rng);
    assert_eq!(alice.engine.outbox_len().unwrap(), 0);
    let sent = alice.engine.messages(Some(&bob_id), 0, 100).unwrap();
    assert!(sent.iter().all(|m| m.delivery == Delivery::Stored(3)));

    // Bob receives each twice: every message exactly once.
    let mut got = Vec::new();
    for b in blobs.iter().chain(blobs.iter()) {
        got.push(bob.engine.receive(b, T0 + 20, &mut rng).unwrap());
    }
    assert_eq!(texts(&got), vec!["hello 0", "hello 1", "hello 2"]);
    assert_eq!(
        got.iter()
            .filter(|r| matches!(r, Received::Ignored(_)))
            .count(),
        3
    );

    // Bob restarts, then replies and marks Alice's messages read.
    bob.restart();
    let inbox = bob.engine.messages(Some(&alice_id), 0, 100).unwrap();
    assert_eq!(inbox.len(), 3);
    assert_eq!(bob.engine.sessions().unwrap()[0].unread, 3);
    bob.engine
        .send(&alice_id, b"hi alice", ContentType::Text, T0 + 30, &mut rng)
        .unwrap();
    assert_eq!(
        bob.engine
            .mark_read(&alice_id, &inbox[2].id, T0 + 31, &mut rng)
            .unwrap(),
        3
    );
    assert_eq!(bob.engine.sessions().unwrap()[0].unread, 0);

    alice.restart();
    let replies: Vec<Received> = bob
        .drain(T0 + 40, &mut rng)
        .iter()
        .map(|b| alice.engine.receive(b, T0 + 41, &mut rng).unwrap())
        .collect();
    assert_eq!(texts(&replies), vec!["hi alice"]);
    assert!(matches!(&replies[1], Received::Receipt(ids) if ids.len() == 3));
    let sent = alice.engine.messages(Some(&bob_id), 0, 100).unwrap();
    assert!(
        sent.iter()
            .filter(|m| m.outgoing)
            .all(|m| m.read && m.delivery == Delivery::Read)
    );
    assert!(alice.engine.sessions().unwrap()[0].confirmed);
}

#[test]
fn offline_recipient_gets_twenty_messages_in_any_order_exactly_once() {
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let (mut alice, mut bob) = pair(&mut rng);
    let bob_id = bob.engine.keys().unwrap().session_id();
    let bundle = bob.engine.bundle().unwrap().clone();
    alice
        .engine
        .open_session(&bob_id, &bundle, T0, &mut rng)
        .unwrap();
    for i in 0..20u64 {
        alice
            .engine
            .send(
                &bob_id,
                format!("m{i:02}").as_bytes(),
                ContentType::Text,
                T0 + i,
                &mut rng,
            )
            .unwrap();
    }
    let mut blobs = alice.drain(T0 + 100, &mut rng);
    // Deterministic shuffle.
    for i in (1..blobs.len()).rev() {
        let j = (rand_core::Rng::next_u32(&mut rng) as usize) % (i + 1);
        blobs.swap(i, j);
    }
    let mut got: Vec<String> = Vec::new();
    for b in &blobs {
        got.extend(texts(&[bob.engine.receive(b, T0 + 200, &mut rng).unwrap()]));
    }
    got.sort();
    let want: Vec<String> = (0..20).map(|i| format!("m{i:02}")).collect();
    assert_eq!(got, want);
    // The message list is ordered by the sender's sequence within a receive time.
    let listed: Vec<u64> = bob
        .engine
        .messages(None, 0, 100)
        .unwrap()
        .iter()
        .map(|m| m.sequence)
        .collect();
    let mut sorted = listed.clone();
    sorted.sort();
    assert_eq!(listed, sorted);
}

#[test]
fn simultaneous_initiation_converges_and_loses_nothing() {
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let (mut a, mut b) = pair(&mut rng);
    let a_id = a.engine.keys().unwrap().session_id();
    let b_id = b.engine.keys().unwrap().session_id();
    let (ab, bb) = (
        a.engine.bundle().unwrap().clone(),
        b.engine.bundle().unwrap().clone(),
    );
    a.engine.open_session(&b_id, &bb, T0, &mut rng).unwrap();
    b.engine.open_session(&a_id, &ab, T0, &mut rng).unwrap();
    a.engine
        .send(&b_id, b"from a", ContentType::Text, T0 + 1, &mut rng)
        .unwrap();
    b.engine
        .send(&a_id, b"from b", ContentType::Text, T0 + 1, &mut rng)
        .unwrap();
    let from_a = a.drain(T0 + 2, &mut rng);
    let from_b = b.drain(T0 + 2, &mut rng);
    let mut at_b: Vec<Received> = from_a
        .iter()
        .map(|x| b.engine.receive(x, T0 + 3, &mut rng).unwrap())
        .collect();
    let mut at_a: Vec<Received> = from_b
        .iter()
        .map(|x| a.engine.receive(x, T0 + 3, &mut rng).unwrap())
        .collect();
    // The loser re-sent its message over the winner's session; deliver what is queued now.
    for _ in 0..3 {
        for x in a.drain(T0 + 4, &mut rng) {
            at_b.push(b.engine.receive(&x, T0 + 5, &mut rng).unwrap());
        }
        for x in b.drain(T0 + 4, &mut rng) {
            at_a.push(a.engine.receive(&x, T0 + 5, &mut rng).unwrap());
        }
    }
    assert_eq!(texts(&at_b), vec!["from a"]);
    assert_eq!(texts(&at_a), vec!["from b"]);
    // And the surviving session works both ways.
    a.engine
        .send(&b_id, b"after", ContentType::Text, T0 + 6, &mut rng)
        .unwrap();
    let x = a.drain(T0 + 7, &mut rng);
    assert_eq!(
        texts(&[b.engine.receive(&x[0], T0 + 8, &mut rng).unwrap()]),
        vec!["after"]
    );
    b.engine
        .send(&a_id, b"and back", ContentType::Text, T0 + 9, &mut rng)
        .unwrap();
    let x = b.drain(T0 + 10, &mut rng);
    assert_eq!(
        texts(&[a.engine.receive(&x[0], T0 + 11, &mut rng).unwrap()]),
        vec!["and back"]
    );
}

#[test]
fn simultaneous_initiation_where_the_winner_has_nothing_to_send() {
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let (a, b) = pair(&mut rng);
    let a_id = a.engine.keys().unwrap().session_id();
    let b_id = b.engine.keys().unwrap().session_id();
    // Make `w` the winner (smaller Session ID) and `l` the loser.
    let (mut w, mut l, w_id, l_id) = if a_id.as_bytes() < b_id.as_bytes() {
        (a, b, a_id, b_id)
    } else {
        (b, a, b_id, a_id)
    };
    let (wb, lb) = (
        w.engine.bundle().unwrap().clone(),
        l.engine.bundle().unwrap().clone(),
    );
    w.engine.open_session(&l_id, &lb, T0, &mut rng).unwrap();
    l.engine.open_session(&w_id, &wb, T0, &mut rng).unwrap();
    l.engine
        .send(
            &w_id,
            b"from the loser",
            ContentType::Text,
            T0 + 1,
            &mut rng,
        )
        .unwrap();
    let mut at_w = Vec::new();
    let mut at_l = Vec::new();
    for round in 0..4 {
        for x in l.drain(T0 + 2 + round, &mut rng) {
            at_w.push(w.engine.receive(&x, T0 + 3 + round, &mut rng).unwrap());
        }
        for x in w.drain(T0 + 2 + round, &mut rng) {
            at_l.push(l.engine.receive(&x, T0 + 3 + round, &mut rng).unwrap());
        }
    }
    assert_eq!(
        texts(&at_w),
        vec!["from the loser"],
        "re-sent over the winner's session"
    );
    assert!(
        texts(&at_l).is_empty(),
        "the nudge is not shown to the user"
    );
}

#[test]
fn identities_restore_and_refuse_replacement() {
    let mut rng = ChaCha20Rng::seed_from_u64(4);
    let mut a = User::new();
    assert!(matches!(a.engine.keys(), Err(EngineError::NoIdentity)));
    let id = a.engine.create_identity(T0, &mut rng).unwrap();
    assert!(matches!(
        a.engine.create_identity(T0, &mut rng),
        Err(EngineError::IdentityExists(_))
    ));
    let phrase = a.engine.keys().unwrap().master_seed().to_mnemonic();
    assert_eq!(
        a.engine.restore_identity(&phrase, T0, &mut rng).unwrap(),
        id,
        "same identity: no-op"
    );
    let mut other = User::new();
    other.engine.create_identity(T0, &mut rng).unwrap();
    assert!(matches!(
        other.engine.restore_identity(&phrase, T0, &mut rng),
        Err(EngineError::IdentityExists(_))
    ));
    let mut fresh = User::new();
    assert_eq!(
        fresh
            .engine
            .restore_identity(&phrase, T0, &mut rng)
            .unwrap(),
        id
    );
    fresh.restart();
    assert_eq!(fresh.engine.keys().unwrap().session_id(), id);
    // Prekey rotation after the period publishes a new bundle; before it, nothing changes.
    assert!(
        fresh
            .engine
            .rotate_prekey_if_due(T0 + 60, &mut rng)
            .unwrap()
            .is_none()
    );
    let b = fresh
        .engine
        .rotate_prekey_if_due(T0 + pars_crypto::bundle::PREKEY_ROTATION_SECS, &mut rng)
        .unwrap()
        .unwrap();
    assert_eq!(b.prekey.id, 2);
    b.verify(&id, T0 + pars_crypto::bundle::PREKEY_ROTATION_SECS)
        .unwrap();
}

#[test]
fn bad_blobs_are_errors_and_change_nothing() {
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let (mut alice, mut bob) = pair(&mut rng);
    let bob_id = bob.engine.keys().unwrap().session_id();
    let bundle = bob.engine.bundle().unwrap().clone();
    alice
        .engine
        .open_session(&bob_id, &bundle, T0, &mut rng)
        .unwrap();
    alice
        .engine
        .send(&bob_id, b"x", ContentType::Text, T0, &mut rng)
        .unwrap();
    let blob = alice.drain(T0, &mut rng).remove(0);
    for i in [0usize, 10, blob.len() / 2, blob.len() - 1] {
        let mut t = blob.clone();
        t[i] ^= 0x20;
        assert!(
            bob.engine.receive(&t, T0, &mut rng).is_err(),
            "flipped byte {i}"
        );
    }
    assert!(
        bob.engine
            .receive(&blob[..blob.len() - 1], T0, &mut rng)
            .is_err()
    );
    assert!(bob.engine.receive(b"garbage", T0, &mut rng).is_err());
    assert!(
        bob.engine.sessions().unwrap().is_empty(),
        "no session from bad input"
    );
    // The genuine message still works afterwards.
    assert_eq!(
        texts(&[bob.engine.receive(&blob, T0, &mut rng).unwrap()]),
        vec!["x"]
    );
    // Sending on an unknown or closed session is refused.
    let stranger = pars_crypto::SessionId::from_digest([9; 32]);
    assert!(matches!(
        bob.engine
            .send(&stranger, b"?", ContentType::Text, T0, &mut rng),
        Err(EngineError::UnknownSession(_))
    ));
    let alice_id = alice.engine.keys().unwrap().session_id();
    bob.engine.close_session(&alice_id, &mut rng).unwrap();
    assert!(matches!(
        bob.engine
            .send(&alice_id, b"?", ContentType::Text, T0, &mut rng),
        Err(EngineError::SessionClosed(_))
    ));
}

#[test]
fn outbox_backs_off_and_survives_restart() {
    let mut rng = ChaCha20Rng::seed_from_u64(6);
    let (mut alice, bob) = pair(&mut rng);
    let bob_id = bob.engine.keys().unwrap().session_id();
    let bundle = bob.engine.bundle().unwrap().clone();
    alice
        .engine
        .open_session(&bob_id, &bundle, T0, &mut rng)
        .unwrap();
    let m = alice
        .engine
        .send(&bob_id, b"later", ContentType::Text, T0, &mut rng)
        .unwrap();
    alice
        .engine
        .mark_attempt_failed(&m.id, T0, &mut rng)
        .unwrap();
    assert!(
        alice.engine.outbox_due(T0 + 1).unwrap().is_empty(),
        "backing off"
    );
    alice.restart();
    let due = alice.engine.outbox_due(T0 + 10).unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].attempts, 1);
    assert_eq!(due[0].id, m.id);
}

#[test]
fn unsendable_messages_never_enter_the_outbox_and_refused_ones_fail_for_good() {
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let (alice, bob) = pair(&mut rng);
    let bob_id = bob.engine.keys().unwrap().session_id();
    let bundle = bob.engine.bundle().unwrap().clone();
    // The onion client's limit for one stored payload.
    let mut alice = User {
        engine: alice
            .engine
            .with_max_blob(pars_net::client::MAX_ONION_STORE_PAYLOAD),
        dir: alice.dir,
    };
    alice
        .engine
        .open_session(&bob_id, &bundle, T0, &mut rng)
        .unwrap();
    let err = alice
        .engine
        .send(&bob_id, &[b'x'; 10_000], ContentType::Text, T0, &mut rng)
        .unwrap_err();
    assert!(matches!(err, EngineError::TooLarge { .. }), "{err}");
    assert!(err.to_string().contains("shorter"), "{err}");
    assert_eq!(alice.engine.outbox_len().unwrap(), 0);
    assert!(alice.engine.messages(None, 0, 10).unwrap().is_empty());

    // A short one still goes, on the same session.
    let m = alice
        .engine
        .send(&bob_id, b"short", ContentType::Text, T0, &mut rng)
        .unwrap();
    assert_eq!(alice.engine.outbox_len().unwrap(), 1);
    alice
        .engine
        .mark_failed(&m.id, "refused by the network: too large", &mut rng)
        .unwrap();
    assert_eq!(alice.engine.outbox_len().unwrap(), 0);
    let shown = alice.engine.messages(Some(&bob_id), 0, 10).unwrap();
    assert_eq!(shown.len(), 1);
    assert_eq!(shown[0].delivery, Delivery::Failed);
    assert!(shown[0].error.as_deref().unwrap().contains("refused"));
}
