#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Stored state written by older versions keeps loading and working.

mod common;

use common::{T0, rng, send};
use pars_session::{STATE_VERSION, Session};
use pars_wire::Reader;
use pars_wire::message::SessionMessage;

const ALICE_V1: &[u8] = include_bytes!("fixtures/session_v1_alice.bin");
const BOB_V1: &[u8] = include_bytes!("fixtures/session_v1_bob.bin");
const IN_FLIGHT_V1: &[u8] = include_bytes!("fixtures/session_v1_in_flight.bin");

fn in_flight() -> Vec<SessionMessage> {
    let mut r = Reader::new(IN_FLIGHT_V1);
    let mut v = Vec::new();
    while r.remaining() > 0 {
        v.push(SessionMessage::decode(r.var32(1 << 20, "fixture").unwrap()).unwrap());
    }
    v
}

#[test]
fn version_1_state_loads_and_the_conversation_continues() {
    assert_eq!(ALICE_V1[0], 1);
    assert_eq!(BOB_V1[0], 1);
    let mut a = Session::from_bytes(ALICE_V1).unwrap();
    let mut b = Session::from_bytes(BOB_V1).unwrap();
    assert_eq!(b.skipped_keys(), 3);
    let msgs = in_flight();
    assert_eq!(msgs.len(), 4);
    let now = T0 + 3600;
    // Bob's skipped keys from the version-1 state open Alice's delayed messages.
    for i in [2usize, 0, 1] {
        let d = b.decrypt(&msgs[i], now).unwrap();
        assert_eq!(d.content, format!("pending {i}").as_bytes());
    }
    assert_eq!(
        a.decrypt(&msgs[3], now).unwrap().content,
        b"reply in flight"
    );
    // And the ratchet keeps turning.
    let mut r = rng(5);
    for i in 0..3u8 {
        let m = send(&mut a, &[i], now, &mut r);
        assert_eq!(b.decrypt(&m, now).unwrap().content, [i]);
        let m = send(&mut b, &[i], now, &mut r);
        assert_eq!(a.decrypt(&m, now).unwrap().content, [i]);
    }
    // Saving writes the current version, which loads again.
    let saved = a.to_bytes();
    assert_eq!(saved.as_slice()[0], STATE_VERSION);
    let mut a2 = Session::from_bytes(saved.as_slice()).unwrap();
    let m = send(&mut b, b"after upgrade", now, &mut r);
    assert_eq!(a2.decrypt(&m, now).unwrap().content, b"after upgrade");
}

#[test]
fn version_2_adds_skipped_key_ages_and_version_1_keys_start_their_clock_on_first_use() {
    use pars_session::{MAX_SKIPPED_KEY_AGE_SECS, SessionError};
    let msgs = in_flight();
    let mut b = Session::from_bytes(BOB_V1).unwrap();
    let t1 = T0 + 86_400;
    // First operation after loading: the version-1 keys' age starts now.
    assert_eq!(b.decrypt(&msgs[0], t1).unwrap().content, b"pending 0");
    // A version-2 round trip keeps the storage times.
    let saved = b.to_bytes();
    assert_eq!(saved.as_slice()[0], 2);
    let mut b = Session::from_bytes(saved.as_slice()).unwrap();
    assert_eq!(b.to_bytes(), saved);
    let at_bound = t1 + MAX_SKIPPED_KEY_AGE_SECS;
    assert_eq!(b.decrypt(&msgs[1], at_bound).unwrap().content, b"pending 1");
    assert_eq!(
        b.decrypt(&msgs[2], at_bound + 1).unwrap_err(),
        SessionError::Duplicate { counter: 2 },
        "past 30 days the key is discarded"
    );
}
