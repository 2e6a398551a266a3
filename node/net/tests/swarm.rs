#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Twelve real nodes on loopback (TCP, Noise, Yamux), a redb per node in a temp dir, one static
//! service-node set: placement, replication, retrieval, failures, redirects, auth, TTL, DHT
//! records, membership changes.

mod common;

use common::{by_peer, eventually, start_nodes};
use pars_crypto::SessionId;
use pars_crypto::bundle::{IdentityBundle, PrekeySecret};
use pars_crypto::identity::IdentityKeys;
use pars_crypto::mldsa::MlDsaSigningKey;
use pars_net::{NetError, unix_ms};
use pars_wire::swarm::{
    ErrorCode, Mailbox, SwarmRequest, SwarmResponse, content_hash, sign_request,
};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

const TCP: &str = "/ip4/127.0.0.1/tcp/0";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twelve_nodes_store_retrieve_redirect_auth_and_survive_two_kills() {
    let (set, nodes) = start_nodes(12, TCP, |_, _| {}).await;
    set.replace(nodes.iter().map(|n| n.entry.clone()).collect());
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let owner = MlDsaSigningKey::generate(&mut rng);
    let sid = SessionId::from_mldsa_public_key(&owner.public_key());
    let mb = Mailbox::Inbox(sid);

    let swarm = nodes[0].handle.swarm_of(&mb);
    assert_eq!(swarm.len(), 5);
    // A client node outside the swarm.
    let client = nodes
        .iter()
        .find(|n| !swarm.contains(&n.entry.peer_id))
        .unwrap();
    let outsider = nodes
        .iter()
        .rfind(|n| !swarm.contains(&n.entry.peer_id) && n.entry.peer_id != client.entry.peer_id)
        .unwrap();

    // Wrong swarm: a non-member answers with the right swarm.
    let store_req = SwarmRequest::Store {
        mailbox: mb,
        ttl_ms: 0,
        payload: b"hello".to_vec(),
    };
    match client
        .handle
        .request(outsider.entry.peer_id, &store_req)
        .await
        .unwrap()
    {
        SwarmResponse::WrongSwarm { swarm: s } => {
            let got: Vec<libp2p::PeerId> = s
                .iter()
                .map(|b| libp2p::PeerId::from_bytes(b).unwrap())
                .collect();
            assert_eq!(got, swarm);
        }
        other => panic!("expected WrongSwarm, got {other:?}"),
    }
    assert!(outsider.handle.mailbox_store().stats().unwrap().messages == 0);

    // A store lands on at least 3 (here all 5) members of the right swarm, and nowhere else.
    let receipt = client
        .handle
        .store_message(&mb, 0, b"hello".to_vec())
        .await
        .unwrap();
    assert!(receipt.copies >= 3, "copies {}", receipt.copies);
    assert_eq!(receipt.copies, 5);
    assert!(swarm.contains(&receipt.node));
    assert_eq!(receipt.hash, content_hash(b"hello"));
    let expected_expiry = unix_ms() + pars_wire::swarm::DEFAULT_TTL_MS;
    assert!(
        receipt.expires_at_ms <= expected_expiry
            && receipt.expires_at_ms + 60_000 > expected_expiry
    );
    for n in &nodes {
        let holds = n
            .handle
            .mailbox_store()
            .contains(&mb, &receipt.hash)
            .unwrap();
        assert_eq!(
            holds,
            swarm.contains(&n.entry.peer_id),
            "placement on {}",
            n.entry.operator
        );
    }

    // A swarm member storing into its own swarm serves itself first (libp2p never dials itself).
    let own = by_peer(&nodes, &swarm[0])
        .handle
        .store_message(&mb, 0, b"from a member".to_vec())
        .await
        .unwrap();
    assert_eq!(own.node, swarm[0]);
    assert_eq!(own.copies, 5);

    // Storing it again is deduplicated; retrieving returns it exactly once.
    let again = client
        .handle
        .store_message(&mb, 0, b"hello".to_vec())
        .await
        .unwrap();
    assert!(again.duplicate);
    let got = client
        .handle
        .retrieve_all(&mb, Some(&owner), &mut rng)
        .await
        .unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(
        got.iter().filter(|i| i.payload == b"hello").count(),
        1,
        "exactly once"
    );

    // Retrieval needs the owner: no auth, a stranger's key, and a replayed request all fail.
    let member = swarm[0];
    let mut r = SwarmRequest::Retrieve {
        mailbox: mb,
        after: 0,
        max_count: 10,
        max_bytes: 1 << 20,
        wait_ms: 0,
        auth: None,
    };
    let refused = |resp: SwarmResponse, want: ErrorCode| match resp {
        SwarmResponse::Error { code, .. } => assert_eq!(code, want),
        other => panic!("expected {want:?}, got {other:?}"),
    };
    refused(
        client.handle.request(member, &r).await.unwrap(),
        ErrorCode::Unauthorized,
    );
    let stranger = MlDsaSigningKey::generate(&mut rng);
    let mut forged = r.clone();
    let to_member = pars_net::set::node_id(&member);
    sign_request(
        &mut forged,
        &stranger,
        &to_member,
        unix_ms(),
        true,
        &mut rng,
    )
    .unwrap();
    refused(
        client.handle.request(member, &forged).await.unwrap(),
        ErrorCode::Unauthorized,
    );
    let mut stale = r.clone();
    sign_request(
        &mut stale,
        &owner,
        &to_member,
        unix_ms() - 600_000,
        true,
        &mut rng,
    )
    .unwrap();
    refused(
        client.handle.request(member, &stale).await.unwrap(),
        ErrorCode::Unauthorized,
    );
    sign_request(&mut r, &owner, &to_member, unix_ms(), true, &mut rng).unwrap();
    // Signed for one member, it is refused by the others (an exit cannot replay it there).
    refused(
        client.handle.request(swarm[1], &r).await.unwrap(),
        ErrorCode::Unauthorized,
    );
    assert!(matches!(
        client.handle.request(member, &r).await.unwrap(),
        SwarmResponse::Messages { .. }
    ));
    refused(
        client.handle.request(member, &r).await.unwrap(),
        ErrorCode::Replay,
    );

    // Size cap and TTL cap.
    match client
        .handle
        .store_message(&mb, 0, vec![0; pars_wire::swarm::MAX_PAYLOAD_LEN])
        .await
    {
        Ok(_) => {}
        Err(e) => panic!("a payload at the cap must be accepted: {e}"),
    }
    match client
        .handle
        .store_message(&mb, pars_wire::swarm::MAX_TTL_MS + 1, b"x".to_vec())
        .await
    {
        Err(NetError::Refused {
            code: ErrorCode::BadTtl,
            ..
        }) => {}
        other => panic!("expected BadTtl, got {other:?}"),
    }

    // Twenty more messages, then kill 2 of the 5 swarm members.
    for i in 0..20u32 {
        let r = client
            .handle
            .store_message(&mb, 0, format!("message {i}").into_bytes())
            .await
            .unwrap();
        assert_eq!(r.copies, 5);
    }
    by_peer(&nodes, &swarm[1]).handle.shutdown().await;
    by_peer(&nodes, &swarm[3]).handle.shutdown().await;
    let got = client
        .handle
        .retrieve_all(&mb, Some(&owner), &mut rng)
        .await
        .unwrap();
    assert_eq!(got.len(), 23);
    let mut hashes: Vec<_> = got.iter().map(|i| i.hash).collect();
    hashes.sort();
    hashes.dedup();
    assert_eq!(hashes.len(), 23, "each message exactly once");
    // Every surviving member has everything.
    for p in [swarm[0], swarm[2], swarm[4]] {
        assert_eq!(
            by_peer(&nodes, &p)
                .handle
                .mailbox_store()
                .all(&mb, unix_ms())
                .unwrap()
                .len(),
            23
        );
    }
    // Stores still succeed with 3 live members.
    let r = client
        .handle
        .store_message(&mb, 0, b"after the kills".to_vec())
        .await
        .unwrap();
    assert_eq!(r.copies, 3);

    // Delete by the owner reaches every live member.
    let mut del = SwarmRequest::Delete {
        mailbox: mb,
        hashes: vec![content_hash(b"hello")],
        forwarded: false,
        auth: None,
    };
    let to_first = pars_net::set::node_id(&swarm[0]);
    sign_request(&mut del, &owner, &to_first, unix_ms(), true, &mut rng).unwrap();
    assert_eq!(
        client.handle.request(swarm[0], &del).await.unwrap(),
        SwarmResponse::Done { count: 1 }
    );
    for p in [swarm[0], swarm[2], swarm[4]] {
        assert!(
            !by_peer(&nodes, &p)
                .handle
                .mailbox_store()
                .contains(&mb, &content_hash(b"hello"))
                .unwrap()
        );
    }

    // Node records: any live node finds another's signed record in the DHT, even the record of
    // a node that is down (other nodes hold copies).
    let alive: Vec<_> = nodes
        .iter()
        .filter(|n| n.entry.peer_id != swarm[1] && n.entry.peer_id != swarm[3])
        .collect();
    let dead = by_peer(&nodes, &swarm[1]);
    let rec = alive[0]
        .handle
        .lookup_record(dead.entry.peer_id)
        .await
        .unwrap();
    assert_eq!(rec.operator, dead.entry.operator);
    let target = alive[5];
    let rec = alive[2]
        .handle
        .lookup_record(target.entry.peer_id)
        .await
        .unwrap();
    assert_eq!(rec.operator, target.entry.operator);
    assert_eq!(rec.peer_id, target.entry.peer_id.to_bytes());
    assert!(!rec.addrs.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bundles_publish_fetch_and_authenticate_without_the_key() {
    let (set, nodes) = start_nodes(6, TCP, |_, _| {}).await;
    set.replace(nodes.iter().map(|n| n.entry.clone()).collect());
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let id = IdentityKeys::generate(&mut rng);
    let sid = id.session_id();
    let now = unix_ms() / 1000;
    let prekey = PrekeySecret::generate(1, now, 14 * 24 * 3600, &mut rng);
    let bundle = IdentityBundle::create(&id, &prekey.public, now, &mut rng).unwrap();
    let client = &nodes[0].handle;

    // A bundle that is not this Session ID's is refused.
    let other = IdentityKeys::generate(&mut rng);
    let wrong = IdentityBundle::create(&other, &prekey.public, now, &mut rng).unwrap();
    match client
        .store_message(&Mailbox::Bundle(sid), 0, wrong.to_bytes())
        .await
    {
        Err(NetError::Refused {
            code: ErrorCode::InvalidContent,
            ..
        }) => {}
        other => panic!("expected InvalidContent, got {other:?}"),
    }
    let r = client
        .store_message(&Mailbox::Bundle(sid), 0, bundle.to_bytes())
        .await
        .unwrap();
    assert!(r.copies >= 3);
    // Anyone fetches it by Session ID, without auth.
    let got = nodes[5]
        .handle
        .retrieve_all(&Mailbox::Bundle(sid), None, &mut rng)
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(IdentityBundle::from_bytes(&got[0].payload).unwrap(), bundle);

    // A newer bundle replaces it at every member; storing the old one again (a rollback, by
    // anyone who kept it) is refused, with a short TTL or not, and every member keeps the new
    // one until its signed prekey expires.
    let newer = IdentityBundle::create(&id, &prekey.public, now + 1, &mut rng).unwrap();
    client
        .store_message(&Mailbox::Bundle(sid), 0, newer.to_bytes())
        .await
        .unwrap();
    for ttl in [0, 60_000] {
        match client
            .store_message(&Mailbox::Bundle(sid), ttl, bundle.to_bytes())
            .await
        {
            Err(NetError::Refused {
                code: ErrorCode::InvalidContent,
                detail,
                ..
            }) => assert!(detail.contains("not newer"), "{detail}"),
            other => panic!("expected the rollback refused, got {other:?}"),
        }
    }
    for p in client.swarm_of(&Mailbox::Bundle(sid)) {
        let held = by_peer(&nodes, &p)
            .handle
            .mailbox_store()
            .get_since(&Mailbox::Bundle(sid), 0, 10, usize::MAX, unix_ms())
            .unwrap()
            .items;
        assert_eq!(held.len(), 1);
        assert_eq!(held[0].payload, newer.to_bytes());
        assert_eq!(held[0].expires_at_ms, prekey.public.expires_at * 1000);
    }

    // The inbox of the same Session ID lives on the same swarm, which now knows the key: a
    // retrieve signed without the 2,592-byte public key is accepted.
    let inbox = Mailbox::Inbox(sid);
    client
        .store_message(&inbox, 0, b"hi".to_vec())
        .await
        .unwrap();
    let member = client.swarm_of(&inbox)[0];
    let mut req = SwarmRequest::Retrieve {
        mailbox: inbox,
        after: 0,
        max_count: 10,
        max_bytes: 1 << 20,
        wait_ms: 0,
        auth: None,
    };
    sign_request(
        &mut req,
        &id.signing_key().mldsa,
        &pars_net::set::node_id(&member),
        unix_ms(),
        false,
        &mut rng,
    )
    .unwrap();
    match client.request(member, &req).await.unwrap() {
        SwarmResponse::Messages { items, more } => {
            assert_eq!(items.len(), 1);
            assert!(!more);
        }
        other => panic!("expected messages, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttl_expiry_removes_messages() {
    let (set, nodes) = start_nodes(5, TCP, |_, _| {}).await;
    set.replace(nodes.iter().map(|n| n.entry.clone()).collect());
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let owner = MlDsaSigningKey::generate(&mut rng);
    let mb = Mailbox::Inbox(SessionId::from_mldsa_public_key(&owner.public_key()));
    let client = &nodes[0].handle;
    client
        .store_message(&mb, 1_500, b"short".to_vec())
        .await
        .unwrap();
    client
        .store_message(&mb, 0, b"long".to_vec())
        .await
        .unwrap();
    assert_eq!(
        client
            .retrieve_all(&mb, Some(&owner), &mut rng)
            .await
            .unwrap()
            .len(),
        2
    );
    eventually(15, "expired message swept from every member", || async {
        nodes
            .iter()
            .all(|n| n.handle.mailbox_store().stats().unwrap().messages == 1)
    })
    .await;
    let left = client
        .retrieve_all(&mb, Some(&owner), &mut rng)
        .await
        .unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].payload, b"long");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joining_node_receives_its_share_and_leaving_node_hands_off() {
    let (set, nodes) = start_nodes(12, TCP, |_, _| {}).await;
    let all: Vec<_> = nodes.iter().map(|n| n.entry.clone()).collect();
    set.replace(all[..11].to_vec());
    let joiner = &nodes[11];
    let client = &nodes[0].handle;
    let mailboxes: Vec<Mailbox> = (0..40u8)
        .map(|i| Mailbox::Inbox(SessionId::from_digest(pars_crypto::sha3_256(&[&[i]]))))
        .collect();
    for (i, mb) in mailboxes.iter().enumerate() {
        for j in 0..2 {
            client
                .store_message(mb, 0, format!("m{i}-{j}").into_bytes())
                .await
                .unwrap();
        }
    }
    assert_eq!(joiner.handle.mailbox_store().stats().unwrap().messages, 0);

    // Join: the new member receives every mailbox whose swarm it is now in; members that left
    // a swarm hand off and drop it.
    set.replace(all.clone());
    let share: Vec<&Mailbox> = mailboxes
        .iter()
        .filter(|m| client.swarm_of(m).contains(&joiner.entry.peer_id))
        .collect();
    assert!(!share.is_empty(), "the joiner owns part of the space");
    eventually(
        30,
        "joiner holds its share and others dropped theirs",
        || async {
            let now = unix_ms();
            let joined = share
                .iter()
                .all(|m| joiner.handle.mailbox_store().all(m, now).unwrap().len() == 2);
            let placed = mailboxes.iter().all(|m| {
                let swarm = client.swarm_of(m);
                nodes.iter().all(|n| {
                    let held = n.handle.mailbox_store().all(m, now).unwrap().len();
                    if swarm.contains(&n.entry.peer_id) {
                        held == 2
                    } else {
                        held == 0
                    }
                })
            });
            joined && placed
        },
    )
    .await;
    let joiner_msgs = joiner.handle.mailbox_store().stats().unwrap().messages;
    assert_eq!(joiner_msgs as usize, share.len() * 2);

    // Leave: node 3 leaves the set; it hands everything to the new owners, then drops it.
    let leaver = &nodes[3];
    let held_before = leaver.handle.mailbox_store().stats().unwrap().messages;
    assert!(held_before > 0);
    let remaining: Vec<_> = all
        .iter()
        .filter(|n| n.peer_id != leaver.entry.peer_id)
        .cloned()
        .collect();
    set.replace(remaining);
    // The hand-off counter is bumped when the delete's commit returns to the rebalance task,
    // a moment after the store shows it: wait for both.
    eventually(30, "leaver handed off and dropped everything", || async {
        leaver.handle.mailbox_store().stats().unwrap().messages == 0
            && leaver.handle.stats().handed_off >= held_before
    })
    .await;
    let now = unix_ms();
    for m in &mailboxes {
        let swarm = client.swarm_of(m);
        assert!(!swarm.contains(&leaver.entry.peer_id));
        let holders = swarm
            .iter()
            .filter(|p| {
                by_peer(&nodes, p)
                    .handle
                    .mailbox_store()
                    .all(m, now)
                    .unwrap()
                    .len()
                    == 2
            })
            .count();
        assert!(
            holders >= 3,
            "mailbox held by only {holders} members after the leave"
        );
    }
}
