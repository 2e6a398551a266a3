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
