#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! A seeded conversation simulator: parties exchange thousands of messages over links that
//! reorder (within a window), drop and duplicate. Each party routes incoming messages with the
//! daemon's code, [`pars_session::route`] over a [`SessionStore`] of its sessions in memory:
//! initial messages by handshake ID (or [`Session::accept`] for a new one), normal messages by
//! trial decryption, simultaneous initiations resolved by the tie-break. Every plaintext whose last carrier was not dropped must be
//! received exactly once, with its content; every delivered carrier must decrypt unless it is a
//! duplicate or belongs to an abandoned handshake.

mod common;

use common::{T0, User, rng};
use pars_crypto::SessionId;
use pars_crypto::bundle::PrekeySecret;
use pars_session::{ReplayCache, Role, Routed, Session, SessionError, SessionStore, route};
use pars_wire::message::{ContentType, SessionMessage};
use rand_chacha::ChaCha20Rng;
use rand_core::Rng;
use std::collections::{HashMap, HashSet, VecDeque};

/// Messages are delivered from among the first `WINDOW` in flight on a link.
const WINDOW: usize = 12;
const DROP_PERCENT: u32 = 5;
const DUPLICATE_PERCENT: u32 = 3;

struct Carrier {
    bytes: Vec<u8>,
    uid: u64,
    handshake: [u8; 32],
    carrier: u64,
}

struct Party {
    user: User,
    sessions: Vec<Session>,
    /// Plaintexts sent on our still-unconfirmed initiations, by peer index.
    unconfirmed: HashMap<usize, Vec<u64>>,
}

enum Outcome {
    Message(Vec<u8>),
    /// A losing simultaneous initiation was dropped; the winner tells the loser it exists.
    Superseded,
    /// We lost a tie-break: re-send what we sent on our abandoned initiation.
    Abandoned(Vec<u8>, [u8; 32]),
    /// Already decrypted.
    Duplicate,
}

/// The simulator's session store: the party's sessions in memory, most recent last.
impl SessionStore for Party {
    type Error = SessionError;

    fn accepted_handshake(&self, id: &[u8; 32]) -> Result<Option<SessionId>, SessionError> {
        Ok(self
            .sessions
            .iter()
            .find(|s| s.handshake_id() == id && s.role() == Role::Responder)
            .map(|s| *s.peer()))
    }

    fn open_session(&self, peer: &SessionId) -> Result<Option<Session>, SessionError> {
        Ok(self.sessions.iter().find(|s| s.peer() == peer).cloned())
    }

    fn open_peers(&self) -> Result<Vec<SessionId>, SessionError> {
        Ok(self.sessions.iter().map(|s| *s.peer()).collect())
    }

    fn prekeys(&self) -> Result<Vec<PrekeySecret>, SessionError> {
        Ok(self.user.prekeys.clone())
    }

    fn replay_cache(&self) -> Result<ReplayCache, SessionError> {
        Ok(self.user.replay.clone())
    }
}

impl Party {
    fn session_with(&mut self, peer: &SessionId) -> Option<&mut Session> {
        self.sessions.iter_mut().find(|s| s.peer() == peer)
    }

    /// Keeps `s` as the session with its peer (replacing the one held).
    fn keep(&mut self, s: Session) {
        self.sessions.retain(|x| x.peer() != s.peer());
        self.sessions.push(s);
    }

    /// Receives the way the daemon does: [`route`], then commit what it says.
    fn receive(&mut self, bytes: &[u8], now: u64) -> Result<Outcome, SessionError> {
        let msg = SessionMessage::decode(bytes)?;
        Ok(match route(&*self, &self.user.keys, &msg, now)? {
            Routed::Existing { session, decrypted } => {
                let pos = self
                    .sessions
                    .iter()
                    .position(|x| x.peer() == session.peer())
                    .unwrap();
                self.sessions[pos] = session;
                Outcome::Message(decrypted.content)
            }
            Routed::Accepted {
                session,
                decrypted,
                replay,
                abandoned,
            } => {
                self.user.replay = replay;
                self.keep(session);
                match abandoned {
                    Some(old) => {
                        assert!(
                            !old.is_confirmed(),
                            "a confirmed session is never abandoned"
                        );
                        Outcome::Abandoned(decrypted.content, *old.handshake_id())
                    }
                    None => Outcome::Message(decrypted.content),
                }
            }
            Routed::Superseded { replay, .. } => {
                self.user.replay = replay;
                Outcome::Superseded
            }
            Routed::Duplicate => Outcome::Duplicate,
        })
    }
}

struct Sim {
    r: ChaCha20Rng,
    now: u64,
    parties: Vec<Party>,
    ids: Vec<SessionId>,
    links: HashMap<(usize, usize), VecDeque<Carrier>>,
    plaintexts: HashMap<u64, Vec<u8>>,
    /// Whether the latest carrier of a plaintext was put on the wire.
    live: HashMap<u64, bool>,
    received: HashMap<u64, u32>,
    deliveries: HashMap<u64, u32>,
    losing: HashSet<[u8; 32]>,
    next_uid: u64,
    next_carrier: u64,
    drops_enabled: bool,
    stats: HashMap<&'static str, u64>,
}

impl Sim {
    fn new(n: usize, seed: u64) -> Self {
        let mut r = rng(seed);
        let parties: Vec<Party> = (0..n)
            .map(|i| Party {
                user: User::new(1 + i as u8, T0, &mut r),
                sessions: Vec::new(),
                unconfirmed: HashMap::new(),
            })
            .collect();
        let ids = parties.iter().map(|p| p.user.id).collect();
        Self {
            r,
            now: T0,
            parties,
            ids,
            links: HashMap::new(),
            plaintexts: HashMap::new(),
            live: HashMap::new(),
            received: HashMap::new(),
            deliveries: HashMap::new(),
            losing: HashSet::new(),
            next_uid: 0,
            next_carrier: 0,
            drops_enabled: true,
            stats: HashMap::new(),
        }
    }

    fn percent(&mut self, p: u32) -> bool {
        self.r.next_u32() % 100 < p
    }

    fn stat(&mut self, k: &'static str) {
        *self.stats.entry(k).or_default() += 1;
    }

    /// Sends plaintext `uid` (new if `None`) from `from` to `to`.
    fn send(&mut self, from: usize, to: usize, uid: Option<u64>, ct: ContentType) {
        let uid = uid.unwrap_or_else(|| {
            let u = self.next_uid;
            self.next_uid += 1;
            let extra = (self.r.next_u32() % 600) as usize;
            let mut text = format!("{from}->{to} #{u} ").into_bytes();
            text.extend((0..extra).map(|i| (i % 251) as u8));
            self.plaintexts.insert(u, text);
            u
        });
        let peer = self.ids[to];
        let now = self.now;
        if self.parties[from].session_with(&peer).is_none() {
            let s = {
                let (me, them) = (&self.parties[from].user, &self.parties[to].user);
                Session::initiate(
                    &me.keys,
                    &me.bundle,
                    &them.id,
                    &them.bundle,
                    now,
                    &mut self.r,
                )
                .unwrap()
            };
            self.parties[from].sessions.push(s);
            self.stat("initiations");
        }
        let text = self.plaintexts[&uid].clone();
        let party = &mut self.parties[from];
        let s = party
            .sessions
            .iter_mut()
            .find(|s| s.peer() == &peer)
            .unwrap();
        let msg = s.encrypt(&text, ct, now, &mut self.r).unwrap();
        let handshake = *s.handshake_id();
        if s.role() == Role::Initiator && !s.is_confirmed() {
            party.unconfirmed.entry(to).or_default().push(uid);
        }
        let bytes = msg.encode();
        let dropped = self.drops_enabled && self.percent(DROP_PERCENT);
        self.live.insert(uid, !dropped);
        if dropped {
            self.stat("dropped");
            return;
        }
        let copies = if self.percent(DUPLICATE_PERCENT) {
            2
        } else {
            1
        };
        let carrier = self.next_carrier;
        self.next_carrier += 1;
        let link = self.links.entry((from, to)).or_default();
        for _ in 0..copies {
            link.push_back(Carrier {
                bytes: bytes.clone(),
                uid,
                handshake,
                carrier,
            });
        }
    }

    /// Delivers one message on `from → to`, chosen among the first `WINDOW`.
    fn deliver(&mut self, from: usize, to: usize) {
        let Some(link) = self.links.get_mut(&(from, to)) else {
            return;
        };
        if link.is_empty() {
            return;
        }
        let idx = (self.r.next_u32() as usize) % link.len().min(WINDOW);
        let c = link.remove(idx).unwrap();
        let n = {
            let d = self.deliveries.entry(c.carrier).or_default();
            *d += 1;
            *d
        };
        let now = self.now;
        match self.parties[to].receive(&c.bytes, now) {
            Ok(Outcome::Message(content)) => self.got(&c, content, from, to),
            Ok(Outcome::Abandoned(content, old)) => {
                self.stat("abandoned");
                self.losing.insert(old);
                let queued = self.parties[to]
                    .unconfirmed
                    .remove(&from)
                    .unwrap_or_default();
                self.got(&c, content, from, to);
                for uid in queued {
                    self.stat("re-sent");
                    self.send(to, from, Some(uid), ContentType::Text);
                }
            }
            Ok(Outcome::Duplicate) => {
                assert!(
                    n > 1,
                    "carrier {} of #{} taken for a duplicate",
                    c.carrier,
                    c.uid
                );
                self.stat("duplicates rejected");
            }
            Ok(Outcome::Superseded) => {
                self.stat("superseded");
                assert!(n == 1 || c.uid == u64::MAX, "a duplicate was accepted");
                self.losing.insert(c.handshake);
                // Tell the loser our session exists (it carries our handshake).
                self.send(to, from, None, ContentType::DeliveryReceipt);
            }
            Err(e) => {
                let duplicate = n > 1
                    && matches!(
                        e,
                        SessionError::Duplicate { .. }
                            | SessionError::ReplayedHandshake
                            // The chain's keys, header key included, are all used and gone.
                            | SessionError::NotForThisSession
                    );
                let abandoned = self.losing.contains(&c.handshake)
                    && matches!(e, SessionError::ReplayedHandshake);
                assert!(
                    duplicate || abandoned,
                    "carrier {} of #{} ({from}->{to}), delivery {n}: unexpected {e}",
                    c.carrier,
                    c.uid
                );
                self.stat(if duplicate {
                    "duplicates rejected"
                } else {
                    "abandoned rejected"
                });
            }
        }
    }

    fn got(&mut self, c: &Carrier, content: Vec<u8>, from: usize, to: usize) {
        assert_eq!(content, self.plaintexts[&c.uid], "#{} content", c.uid);
        let count = self.received.entry(c.uid).or_default();
        *count += 1;
        assert_eq!(*count, 1, "#{} ({from}->{to}) received twice", c.uid);
        self.stat("delivered");
        // A reply confirms the receiver's initiation: nothing is left to re-send on it.
        let peer = self.ids[from];
        if self.parties[to]
            .session_with(&peer)
            .is_some_and(|s| s.is_confirmed())
        {
            self.parties[to].unconfirmed.remove(&from);
        }
    }

    fn persist_all(&mut self) {
        for p in &mut self.parties {
            for s in &mut p.sessions {
                *s = Session::from_bytes(s.to_bytes().as_slice()).unwrap();
            }
            p.user.replay = ReplayCache::from_bytes(&p.user.replay.to_bytes()).unwrap();
        }
    }

    fn pending(&self) -> Vec<(usize, usize)> {
        let mut v: Vec<_> = self
            .links
            .iter()
            .filter(|(_, q)| !q.is_empty())
            .map(|(k, _)| *k)
            .collect();
        v.sort();
        v
    }

    fn flush(&mut self) {
        self.drops_enabled = false;
        loop {
            let p = self.pending();
            if p.is_empty() {
                break;
            }
            let (f, t) = p[(self.r.next_u32() as usize) % p.len()];
            self.deliver(f, t);
        }
    }

    fn check(&self) {
        for (uid, live) in &self.live {
            let got = self.received.get(uid).copied().unwrap_or(0);
            if *live {
                assert_eq!(got, 1, "#{uid} was on the wire but not received");
            } else {
                assert!(got <= 1);
            }
        }
        // Every pair converged on one session, the same on both sides.
        let n = self.parties.len();
        for i in 0..n {
            for j in 0..n {
                if i == j {
                    continue;
                }
                let a = self.parties[i]
                    .sessions
                    .iter()
                    .filter(|s| s.peer() == &self.ids[j]);
                let b = self.parties[j]
                    .sessions
                    .iter()
                    .filter(|s| s.peer() == &self.ids[i]);
                let (a, b): (Vec<_>, Vec<_>) = (a.collect(), b.collect());
                assert_eq!(a.len(), 1, "{i} holds {} sessions with {j}", a.len());
                assert_eq!(b.len(), 1);
                assert_eq!(
                    a[0].handshake_id(),
                    b[0].handshake_id(),
                    "{i}<->{j} diverged"
                );
            }
        }
    }
}

/// Runs `messages` messages among `parties`. With `simultaneous`, everyone opens a session to
/// everyone at once, so every pair initiates simultaneously; without, party 0 initiates and
/// the others only speak once they hold a session.
fn run(parties: usize, messages: u64, seed: u64, offline_steps: u64, simultaneous: bool) -> Sim {
    let mut sim = Sim::new(parties, seed);
    let n = parties;
    for i in 0..n {
        for j in 0..n {
            if i != j && (simultaneous || i == 0) {
                sim.send(i, j, None, ContentType::Text);
            }
        }
    }
    let mut speaker = 0usize;
    let mut step = 0u64;
    while sim.next_uid < messages {
        step += 1;
        sim.now += 7;
        let roll = sim.r.next_u32() % 100;
        if roll < 45 {
            // Change of speaker a quarter of the time.
            if sim.percent(25) {
                speaker = (speaker + 1 + (sim.r.next_u32() as usize) % (n - 1)) % n;
            }
            let to = (speaker + 1 + (sim.r.next_u32() as usize) % (n - 1)) % n;
            let peer = sim.ids[to];
            if simultaneous || sim.parties[speaker].session_with(&peer).is_some() {
                sim.send(speaker, to, None, ContentType::Text);
            }
        } else if step > offline_steps {
            let p = sim.pending();
            if !p.is_empty() {
                let (f, t) = p[(sim.r.next_u32() as usize) % p.len()];
                sim.deliver(f, t);
            }
        }
        if step.is_multiple_of(1000) {
            sim.persist_all();
        }
    }
    sim.flush();
    sim.check();
    sim
}

#[test]
fn two_parties_ten_thousand_messages() {
    // Bob is offline for the first 200 steps: Alice's first messages all carry the handshake.
    let sim = run(2, 10_000, 2026, 200, false);
    let s = &sim.stats;
    eprintln!("{s:?}");
    assert!(s["delivered"] > 9_000);
    assert!(s["dropped"] > 100);
    assert!(s["duplicates rejected"] > 100);
    assert_eq!(s["initiations"], 1);
    assert!(!s.contains_key("abandoned"));
}

#[test]
fn two_parties_initiating_simultaneously() {
    let sim = run(2, 3_000, 99, 40, true);
    let s = &sim.stats;
    eprintln!("{s:?}");
    assert_eq!(s["initiations"], 2);
    assert_eq!(
        s["abandoned"], 1,
        "one side of the simultaneous initiation gave way"
    );
    assert!(s["superseded"] >= 1);
}

#[test]
fn three_parties_with_simultaneous_initiation_ten_thousand_messages() {
    let sim = run(3, 10_000, 7, 40, true);
    let s = &sim.stats;
    eprintln!("{s:?}");
    assert_eq!(
        s["abandoned"], 3,
        "each of the three pairs resolved its tie once"
    );
    assert!(s["delivered"] > 9_000);
}
