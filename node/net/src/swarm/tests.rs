//! The swarm core, request by request, against the in-memory store twin: fast, deterministic
//! (a fixed `now`, seeded keys), no network and no disk.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use crate::set::{Membership, ServiceNode};
use libp2p::PeerId;
use pars_crypto::SessionId;
use pars_crypto::bundle::{IdentityBundle, PrekeySecret};
use pars_crypto::identity::IdentityKeys;
use pars_crypto::mldsa::MlDsaSigningKey;
use pars_wire::FileId;
use pars_wire::swarm::{
    DEFAULT_TTL_MS, ErrorCode, MAX_TTL_MS, Mailbox, ReplicaItem, SwarmRequest, SwarmResponse,
    content_hash, sign_request,
};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use std::time::Duration;

/// A fixed "now", Unix ms.
const NOW: u64 = 1_790_000_000_000;
const WINDOW: Duration = Duration::from_secs(300);
/// When the node under test started: an hour before `NOW`.
const STARTED: u64 = NOW - 3_600_000;

struct World {
    local: PeerId,
    others: Vec<PeerId>,
    members: Membership,
    service: SwarmService,
    store: MemoryMailboxStore,
    rng: ChaCha20Rng,
    owner: MlDsaSigningKey,
}

fn node(p: PeerId) -> ServiceNode {
    ServiceNode {
        peer_id: p,
        addrs: Vec::new(),
        operator: String::new(),
    }
}

/// Three members (every swarm holds all of them); this node is the first.
fn world() -> World {
    world_of(3)
}

/// `n` members; this node is the first.
fn world_of(n: usize) -> World {
    let mut rng = ChaCha20Rng::seed_from_u64(15);
    let peers: Vec<PeerId> = (0..n).map(|_| PeerId::random()).collect();
    let members = Membership {
        epoch: 1,
        nodes: peers.iter().copied().map(node).collect(),
    };
    let owner = MlDsaSigningKey::generate(&mut rng);
    World {
        local: peers[0],
        others: peers[1..].to_vec(),
        members,
        service: SwarmService::new(
            peers[0],
            ServiceConfig {
                max_payload: 1000,
                auth_window: WINDOW,
            },
            STARTED,
        ),
        store: MemoryMailboxStore::new(1 << 20),
        rng,
        owner,
    }
}

impl World {
    fn inbox(&self) -> Mailbox {
        Mailbox::Inbox(SessionId::from_mldsa_public_key(&self.owner.public_key()))
    }

    async fn handle_from(&self, now: u64, from: PeerId, req: SwarmRequest) -> Outcome {
        let member = self.members.contains(&from);
        self.service
            .handle(now, from, member, &self.members, &self.store, req)
            .await
    }

    async fn handle(&self, req: SwarmRequest) -> Outcome {
        self.handle_from(NOW, PeerId::random(), req).await
    }

    /// A store, with every other member acknowledging its replica.
    async fn store(&self, mailbox: Mailbox, payload: &[u8]) -> SwarmResponse {
        let req = SwarmRequest::Store {
            mailbox,
            ttl_ms: 0,
            payload: payload.to_vec(),
        };
        match self.handle(req).await.step {
            Step::Replicate { to, pending, .. } => self.service.stored(pending, to.len()),
            Step::Respond(r) => r,
            other => panic!("{other:?}"),
        }
    }

    /// `req` signed by the owner for this node.
    fn signed(&mut self, req: SwarmRequest, at: u64, with_key: bool) -> SwarmRequest {
        let me = self.local;
        self.signed_for(req, at, with_key, me)
    }

    /// `req` signed by the owner for the node `target`.
    fn signed_for(
        &mut self,
        mut req: SwarmRequest,
        at: u64,
        with_key: bool,
        target: PeerId,
    ) -> SwarmRequest {
        let t = crate::set::node_id(&target);
        sign_request(&mut req, &self.owner, &t, at, with_key, &mut self.rng).unwrap();
        req
    }

    fn retrieve(&self, after: u64, wait_ms: u32) -> SwarmRequest {
        SwarmRequest::Retrieve {
            mailbox: self.inbox(),
            after,
            max_count: 100,
            max_bytes: 1 << 20,
            wait_ms,
            auth: None,
        }
    }
}

fn respond(o: Outcome) -> SwarmResponse {
    match o.step {
        Step::Respond(r) => r,
        other => panic!("expected an answer, got {other:?}"),
    }
}

fn code(r: &SwarmResponse) -> ErrorCode {
    match r {
        SwarmResponse::Error { code, .. } => *code,
        other => panic!("expected an error, got {other:?}"),
    }
}

fn payloads(r: &SwarmResponse) -> Vec<Vec<u8>> {
    match r {
        SwarmResponse::Messages { items, .. } => items.iter().map(|i| i.payload.clone()).collect(),
        other => panic!("expected messages, got {other:?}"),
    }
}

#[tokio::test]
async fn store_writes_replicates_to_the_other_members_and_counts_copies() {
    let w = world();
    let mb = w.inbox();
    let out = w
        .handle(SwarmRequest::Store {
            mailbox: mb,
            ttl_ms: 0,
            payload: b"hello".to_vec(),
        })
        .await;
    assert_eq!(
        out.arrived,
        vec![mb],
        "a new message wakes the mailbox's holds"
    );
    let Step::Replicate {
        to,
        spare,
        item,
        pending,
    } = out.step
    else {
        panic!("expected replication");
    };
    assert_eq!((to.len(), spare.len()), (2, 0));
    assert!(to.iter().all(|p| w.others.contains(p)));
    assert_eq!(item.payload, b"hello");
    // A TTL of 0 means the default.
    assert_eq!(item.expires_at_ms, NOW + DEFAULT_TTL_MS);
    assert_eq!(w.store.all(&mb, NOW).len(), 1);
    // Three copies (this one and two acks) are enough; one is not.
    match w.service.stored(pending, 2) {
        SwarmResponse::Stored {
            hash,
            copies,
            duplicate,
            ..
        } => {
            assert_eq!(
                (hash, copies, duplicate),
                (content_hash(b"hello"), 3, false)
            );
        }
        other => panic!("{other:?}"),
    }
    let r = w.service.stored(pending, 0);
    assert_eq!(code(&r), ErrorCode::InsufficientCopies);
    // The same payload again is a duplicate and wakes nobody.
    let again = w
        .handle(SwarmRequest::Store {
            mailbox: mb,
            ttl_ms: 0,
            payload: b"hello".to_vec(),
        })
        .await;
    assert!(again.arrived.is_empty());
    let Step::Replicate { pending, .. } = again.step else {
        panic!()
    };
    assert!(matches!(
        w.service.stored(pending, 2),
        SwarmResponse::Stored {
            duplicate: true,
            ..
        }
    ));
    assert_eq!(w.store.len(), 1);
}

#[tokio::test]
async fn store_refuses_oversized_too_long_lived_and_full_and_redirects_outside_its_swarm() {
    let mut w = world();
    let mb = w.inbox();
    let big = w.store(mb, &[0u8; 1001]).await;
    assert_eq!(code(&big), ErrorCode::TooLarge);
    let r = respond(
        w.handle(SwarmRequest::Store {
            mailbox: mb,
            ttl_ms: MAX_TTL_MS + 1,
            payload: b"x".to_vec(),
        })
        .await,
    );
    assert_eq!(code(&r), ErrorCode::BadTtl);
    // A full store refuses (nothing is evicted).
    w.store = MemoryMailboxStore::new(200);
    assert!(matches!(
        w.store(mb, b"a").await,
        SwarmResponse::Stored { .. }
    ));
    assert_eq!(code(&w.store(mb, b"b").await), ErrorCode::Full);
    // A node outside the mailbox's swarm redirects to it.
    let outsider = World {
        service: SwarmService::new(
            PeerId::random(),
            ServiceConfig {
                max_payload: 1000,
                auth_window: WINDOW,
            },
            STARTED,
        ),
        ..world()
    };
    match outsider.store(mb, b"x").await {
        SwarmResponse::WrongSwarm { swarm } => assert_eq!(swarm.len(), 3),
        other => panic!("{other:?}"),
    }
    assert!(outsider.store.is_empty());
}

#[tokio::test]
async fn retrieve_needs_the_owner_signature_in_its_window_once() {
    let mut w = world();
    let mb = w.inbox();
    for p in [b"one".as_slice(), b"two"] {
        w.store(mb, p).await;
    }
    // Unsigned: refused.
    let r = respond(w.handle(w.retrieve(0, 0)).await);
    assert_eq!(code(&r), ErrorCode::Unauthorized);
    // Signed by the owner: both messages, in order.
    let req = w.signed(w.retrieve(0, 0), NOW, true);
    let r = respond(w.handle(req.clone()).await);
    assert_eq!(payloads(&r), vec![b"one".to_vec(), b"two".to_vec()]);
    // The same authorisation again is a replay.
    let r = respond(w.handle(req).await);
    assert_eq!(code(&r), ErrorCode::Replay);
    // Outside the clock window: refused.
    let stale = w.signed(w.retrieve(0, 0), NOW - 301_000, true);
    assert_eq!(
        code(&respond(w.handle(stale).await)),
        ErrorCode::Unauthorized
    );
    let ahead = w.signed(w.retrieve(0, 0), NOW + 301_000, true);
    assert_eq!(
        code(&respond(w.handle(ahead).await)),
        ErrorCode::Unauthorized
    );
    // Signed by someone else: refused.
    let stranger = MlDsaSigningKey::generate(&mut w.rng);
    let mut forged = w.retrieve(0, 0);
    let me = crate::set::node_id(&w.local);
    sign_request(&mut forged, &stranger, &me, NOW, true, &mut w.rng).unwrap();
    assert_eq!(
        code(&respond(w.handle(forged).await)),
        ErrorCode::Unauthorized
    );
    // Without the key and without a bundle here: refused.
    let keyless = w.signed(w.retrieve(0, 0), NOW, false);
    assert_eq!(
        code(&respond(w.handle(keyless).await)),
        ErrorCode::Unauthorized
    );
    // After the cursor, and after expiry.
    let after_one = w.signed(w.retrieve(1, 0), NOW, true);
    assert_eq!(
        payloads(&respond(w.handle(after_one).await)),
        vec![b"two".to_vec()]
    );
    let later = NOW + DEFAULT_TTL_MS;
    let expired = w.signed(w.retrieve(0, 0), later, true);
    assert!(payloads(&respond(w.handle_from(later, w.others[0], expired).await)).is_empty());
}

#[tokio::test]
async fn an_authorisation_is_good_only_at_its_member_and_only_if_signed_after_the_start() {
    let mut w = world();
    let mb = w.inbox();
    w.store(mb, b"one").await;
    // Signed for another member of the swarm (an exit replaying what it saw): refused here.
    let elsewhere = w.signed_for(w.retrieve(0, 0), NOW, true, w.others[0]);
    let r = respond(w.handle(elsewhere).await);
    assert_eq!(code(&r), ErrorCode::Unauthorized);
    // Signed before this node started: its replay cache may have lost it, so it is refused
    // however fresh it looks; one signed after the start passes.
    let restarted_at = NOW - 1000;
    w.service = SwarmService::new(
        w.local,
        ServiceConfig {
            max_payload: 1000,
            auth_window: WINDOW,
        },
        restarted_at,
    );
    let before = w.signed(w.retrieve(0, 0), restarted_at - 1, true);
    assert_eq!(code(&respond(w.handle(before).await)), ErrorCode::Replay);
    let after = w.signed(w.retrieve(0, 0), restarted_at, true);
    assert_eq!(
        payloads(&respond(w.handle(after).await)),
        vec![b"one".to_vec()]
    );
}

#[tokio::test]
async fn a_used_authorisation_is_forgotten_only_after_the_window() {
    let mut w = world();
    let req = w.signed(w.retrieve(0, 0), NOW, true);
    assert!(matches!(
        respond(w.handle(req.clone()).await),
        SwarmResponse::Messages { .. }
    ));
    // Still remembered just before the window's end…
    let edge = NOW + 299_999;
    let r = respond(w.handle_from(edge, PeerId::random(), req.clone()).await);
    assert_eq!(code(&r), ErrorCode::Replay);
    // …and past it the timestamp no longer passes the window anyway.
    let past = NOW + 300_001;
    let r = respond(w.handle_from(past, PeerId::random(), req).await);
    assert_eq!(code(&r), ErrorCode::Unauthorized);
}

#[tokio::test]
async fn bundles_verify_replace_and_authenticate_their_inbox_without_the_key() {
    let mut w = world();
    let id = IdentityKeys::generate(&mut w.rng);
    let sid = id.session_id();
    let secs = NOW / 1000;
    let prekey = PrekeySecret::generate(1, secs, 14 * 24 * 3600, &mut w.rng);
    let bundle = IdentityBundle::create(&id, &prekey.public, secs, &mut w.rng).unwrap();
    let other = IdentityKeys::generate(&mut w.rng);
    let wrong = IdentityBundle::create(&other, &prekey.public, secs, &mut w.rng).unwrap();
    let bmb = Mailbox::Bundle(sid);
    w.service = SwarmService::new(
        w.local,
        ServiceConfig {
            max_payload: 1 << 20,
            auth_window: WINDOW,
        },
        STARTED,
    );
    assert_eq!(
        code(&w.store(bmb, &wrong.to_bytes()).await),
        ErrorCode::InvalidContent
    );
    assert!(matches!(
        w.store(bmb, &bundle.to_bytes()).await,
        SwarmResponse::Stored { .. }
    ));
    // A newer bundle replaces the old one (single slot), kept as long as its signed prekey is
    // valid whatever TTL the storer asked for.
    let newer = IdentityBundle::create(&id, &prekey.public, secs + 1, &mut w.rng).unwrap();
    let short = SwarmRequest::Store {
        mailbox: bmb,
        ttl_ms: 60_000,
        payload: newer.to_bytes(),
    };
    let Step::Replicate { item, .. } = w.handle(short).await.step else {
        panic!("expected replication");
    };
    let signed_expiry = prekey.public.expires_at * 1000;
    assert_eq!(item.expires_at_ms, signed_expiry);
    let held = w.store.all(&bmb, NOW);
    assert_eq!((held.len(), held[0].expires_at_ms), (1, signed_expiry));
    // The old bundle again (a rollback): refused, the newer one stays. The newer one again (a
    // republish) is taken.
    let r = w.store(bmb, &bundle.to_bytes()).await;
    assert_eq!(code(&r), ErrorCode::InvalidContent, "{r:?}");
    assert!(matches!(
        w.store(bmb, &newer.to_bytes()).await,
        SwarmResponse::Stored { .. }
    ));
    // Copies from a member are held to the same rules: an older bundle, junk, or one kept past
    // its prekey are not held.
    let copy = |payload: Vec<u8>, expires_at_ms| SwarmRequest::Replicate {
        items: vec![ReplicaItem {
            mailbox: bmb,
            expires_at_ms,
            payload,
        }],
    };
    for bad in [
        copy(bundle.to_bytes(), signed_expiry),
        copy(vec![7; 100], signed_expiry),
        copy(newer.to_bytes(), signed_expiry + 1),
    ] {
        let r = respond(w.handle_from(NOW, w.others[0], bad).await);
        assert_eq!(r, SwarmResponse::Done { count: 0 });
    }
    assert_eq!(w.store.all(&bmb, NOW)[0].payload, newer.to_bytes());
    // Anyone fetches it without auth.
    let fetch = SwarmRequest::Retrieve {
        mailbox: bmb,
        after: 0,
        max_count: 10,
        max_bytes: 1 << 20,
        wait_ms: 0,
        auth: None,
    };
    assert_eq!(
        payloads(&respond(w.handle(fetch).await)),
        vec![newer.to_bytes()]
    );
    // The inbox of that Session ID: a retrieve signed without the key is accepted.
    let inbox = Mailbox::Inbox(sid);
    w.store(inbox, b"hi").await;
    let mut req = SwarmRequest::Retrieve {
        mailbox: inbox,
        after: 0,
        max_count: 10,
        max_bytes: 1 << 20,
        wait_ms: 0,
        auth: None,
    };
    let me = crate::set::node_id(&w.local);
    sign_request(
        &mut req,
        &id.signing_key().mldsa,
        &me,
        NOW,
        false,
        &mut w.rng,
    )
    .unwrap();
    assert_eq!(
        payloads(&respond(w.handle(req).await)),
        vec![b"hi".to_vec()]
    );
}

#[tokio::test]
async fn replication_only_from_members_and_only_what_this_node_should_hold() {
    let w = world();
    let mb = w.inbox();
    let item = |payload: &[u8], expires_at_ms| ReplicaItem {
        mailbox: mb,
        expires_at_ms,
        payload: payload.to_vec(),
    };
    let items = vec![
        item(b"ok", NOW + 1000),
        item(b"expired", NOW),
        item(b"too far", NOW + MAX_TTL_MS + 1),
        item(&[0u8; 1001], NOW + 1000),
    ];
    let r = respond(
        w.handle_from(
            NOW,
            PeerId::random(),
            SwarmRequest::Replicate {
                items: items.clone(),
            },
        )
        .await,
    );
    assert_eq!(code(&r), ErrorCode::NotMember);
    let out = w
        .handle_from(NOW, w.others[0], SwarmRequest::Replicate { items })
        .await;
    assert_eq!((out.replicas_accepted, out.arrived.clone()), (1, vec![mb]));
    assert_eq!(respond(out), SwarmResponse::Done { count: 1 });
    // A copy held already counts as held, not as accepted.
    let out = w
        .handle_from(
            NOW,
            w.others[1],
            SwarmRequest::Replicate {
                items: vec![item(b"ok", NOW + 1000)],
            },
        )
        .await;
    assert_eq!(out.replicas_accepted, 0);
    assert_eq!(respond(out), SwarmResponse::Done { count: 1 });
    assert_eq!(w.store.all(&mb, NOW).len(), 1);

    // A copied file chunk must be the one its address names, as a stored one must.
    let chunk = b"a sealed chunk".to_vec();
    let at = Mailbox::Chunk(pars_wire::ChunkId(content_hash(&chunk)));
    let items = [&b"other bytes"[..], &chunk[..]]
        .map(|p| ReplicaItem {
            mailbox: at,
            ..item(p, NOW + 1000)
        })
        .to_vec();
    let out = w.handle_from(NOW, w.others[0], SwarmRequest::Replicate { items });
    assert_eq!(respond(out.await), SwarmResponse::Done { count: 1 });
    let held = w.store.all(&at, NOW);
    assert_eq!((held.len(), &held[0].payload), (1, &chunk));
}

#[tokio::test]
async fn a_chunk_is_copied_to_its_closest_members_and_a_message_to_its_whole_swarm() {
    let w = world_of(8);
    // A message: every other member of its five-member swarm takes a copy.
    let mb = (0u32..)
        .map(|i| Mailbox::Inbox(SessionId::from_digest(content_hash(&i.to_be_bytes()))))
        .find(|m| w.members.swarm_of(m).contains(&w.local))
        .unwrap();
    let req = |mailbox, payload: &[u8]| SwarmRequest::Store {
        mailbox,
        ttl_ms: 0,
        payload: payload.to_vec(),
    };
    let Step::Replicate { to, spare, .. } = w.handle(req(mb, b"m")).await.step else {
        panic!("expected replication");
    };
    let others: Vec<PeerId> = w
        .members
        .swarm_of(&mb)
        .into_iter()
        .filter(|p| *p != w.local)
        .collect();
    assert_eq!((to, spare), (others, vec![]));
    // A chunk: this node and the two closest others hold it; its swarm's last member only
    // stands in for one of them. Whichever member takes the store, the closest are asked.
    for i in 0u32..256 {
        let chunk = i.to_be_bytes();
        let at = Mailbox::Chunk(pars_wire::ChunkId(content_hash(&chunk)));
        let swarm = w.members.swarm_of(&at);
        if !swarm.contains(&w.local) {
            continue;
        }
        let Step::Replicate { to, spare, .. } = w.handle(req(at, &chunk)).await.step else {
            panic!("expected replication");
        };
        let others: Vec<PeerId> = swarm.into_iter().filter(|p| *p != w.local).collect();
        assert_eq!((to.as_slice(), spare.as_slice()), others.split_at(2));
        // Taken by a holder, the copies go to the other two holders; taken by the fourth
        // member (a client with an older view), to the two closest: holders either way.
        let holders = w.members.holders_of(&at);
        assert_eq!(to.iter().filter(|p| holders.contains(p)).count(), 2);
    }
}

#[tokio::test]
async fn delete_and_expire_are_owner_signed_and_forwarded_once() {
    let mut w = world();
    let mb = w.inbox();
    w.store(mb, b"a").await;
    w.store(mb, b"b").await;
    let del = SwarmRequest::Delete {
        mailbox: mb,
        hashes: vec![content_hash(b"a"), content_hash(b"missing")],
        forwarded: false,
        auth: None,
    };
    assert_eq!(
        code(&respond(w.handle(del.clone()).await)),
        ErrorCode::Unauthorized
    );
    let signed = w.signed(del, NOW, true);
    match w.handle(signed).await.step {
        Step::Forward { to, request, then } => {
            assert_eq!(to.len(), 2);
            assert!(matches!(
                request,
                SwarmRequest::Delete {
                    forwarded: true,
                    ..
                }
            ));
            assert_eq!(then, SwarmResponse::Done { count: 1 });
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(w.store.all(&mb, NOW).len(), 1);
    // An expiry change, forwarded by another member: done here, not forwarded again.
    let exp = SwarmRequest::Expire {
        mailbox: mb,
        hashes: vec![content_hash(b"b")],
        expires_at_ms: NOW + 10,
        forwarded: true,
        auth: None,
    };
    // It is checked as signed for the member that forwarded it: signed for this one, or
    // forwarded by a stranger, it is refused.
    let for_me = w.signed(exp.clone(), NOW, true);
    let r = respond(w.handle_from(NOW, w.others[0], for_me).await);
    assert_eq!(code(&r), ErrorCode::Unauthorized);
    let for_other = w.signed_for(exp, NOW, true, w.others[0]);
    let r = respond(
        w.handle_from(NOW, PeerId::random(), for_other.clone())
            .await,
    );
    assert_eq!(code(&r), ErrorCode::Unauthorized);
    assert_eq!(
        respond(w.handle_from(NOW, w.others[0], for_other).await),
        SwarmResponse::Done { count: 1 }
    );
    assert!(w.store.all(&mb, NOW + 10).is_empty());
    // Too far in the future: refused.
    let far = SwarmRequest::Expire {
        mailbox: mb,
        hashes: vec![content_hash(b"b")],
        expires_at_ms: NOW + MAX_TTL_MS + 1,
        forwarded: false,
        auth: None,
    };
    let far = w.signed(far, NOW, true);
    assert_eq!(code(&respond(w.handle(far).await)), ErrorCode::BadTtl);
    // A namespace without an owner cannot be deleted from.
    let file = SwarmRequest::Delete {
        mailbox: Mailbox::File(FileId([7; 32])),
        hashes: vec![],
        forwarded: false,
        auth: None,
    };
    assert_eq!(code(&respond(w.handle(file).await)), ErrorCode::Forbidden);
}

#[tokio::test]
async fn long_poll_is_held_on_an_empty_mailbox_and_answered_at_once_otherwise() {
    let mut w = world();
    let mb = w.inbox();
    // Empty, no wait: an empty page at once.
    let now_req = w.signed(w.retrieve(0, 0), NOW, true);
    assert!(payloads(&respond(w.handle(now_req).await)).is_empty());
    // Empty, with a wait: hold it.
    let poll = w.signed(w.retrieve(0, 5000), NOW, true);
    let Step::Hold { query, wait_ms } = w.handle(poll).await.step else {
        panic!("expected a hold");
    };
    assert_eq!((query.mailbox, wait_ms), (mb, 5000));
    let mut holds: Holds<u8> = Holds::new(1, Duration::from_secs(8));
    let (id, _) = holds.hold(mb, Duration::ZERO, wait_ms, 1).unwrap();
    // The second look still finds nothing; a second long-poll is refused with Busy.
    assert!(w.service.look(&w.store, &query, NOW).is_none());
    assert!(holds.hold(mb, Duration::ZERO, 5000, 2).is_none());
    let busy = w.service.busy(holds.max());
    assert!(matches!(
        busy,
        SwarmResponse::Error {
            code: ErrorCode::Busy,
            value: BUSY_RETRY_MS,
            ..
        }
    ));
    // A store arrives: it names the mailbox, whose hold wakes; the page has the message.
    let out = w
        .handle(SwarmRequest::Store {
            mailbox: mb,
            ttl_ms: 0,
            payload: b"m".to_vec(),
        })
        .await;
    for m in &out.arrived {
        assert_eq!(holds.arrived(m), vec![1]);
    }
    holds.release(id);
    assert_eq!(
        payloads(&w.service.page(&w.store, &query, NOW)),
        vec![b"m".to_vec()]
    );
    // Not empty: a long-poll is answered at once.
    let poll = w.signed(w.retrieve(0, 5000), NOW, true);
    assert_eq!(
        payloads(&respond(w.handle(poll).await)),
        vec![b"m".to_vec()]
    );
    // A mailbox anyone may read (a file's, a bundle's) is never held: strangers cannot take
    // the slots. The wait is dropped and the empty page comes at once.
    for open in [
        Mailbox::File(FileId([4; 32])),
        Mailbox::Bundle(SessionId::from_digest([5; 32])),
    ] {
        let poll = SwarmRequest::Retrieve {
            mailbox: open,
            after: 0,
            max_count: 10,
            max_bytes: 1000,
            wait_ms: 5000,
            auth: None,
        };
        assert!(payloads(&respond(w.handle(poll).await)).is_empty());
    }
}

#[tokio::test]
async fn get_record_asks_the_driver_for_the_signed_record() {
    let w = world();
    assert_eq!(w.handle(SwarmRequest::GetRecord).await.step, Step::Record);
}

#[tokio::test]
async fn pages_are_cut_by_count_and_bytes_with_more() {
    let mut w = world();
    let mb = w.inbox();
    for i in 0..5u8 {
        w.store(mb, &[i; 100]).await;
    }
    let mut req = w.retrieve(0, 0);
    if let SwarmRequest::Retrieve {
        max_count,
        max_bytes,
        ..
    } = &mut req
    {
        *max_count = 10;
        *max_bytes = 250;
    }
    let req = w.signed(req, NOW, true);
    match respond(w.handle(req).await) {
        SwarmResponse::Messages { items, more } => {
            assert_eq!(items.len(), 2);
            assert!(more);
        }
        other => panic!("{other:?}"),
    }
}

mod group_access;
