//! The group mailbox's access records and tokens, against the swarm core.

use super::*;
use pars_wire::GroupId;
use pars_wire::swarm::{AccessToken, GroupAccess};

struct Group {
    owner: MlDsaSigningKey,
    id: GroupId,
}

fn group(w: &mut World) -> Group {
    let owner = MlDsaSigningKey::generate(&mut w.rng);
    let id = GroupAccess::group_of(&owner.public_key());
    Group { owner, id }
}

fn record(w: &mut World, g: &Group, generation: u64, token: &AccessToken) -> Vec<u8> {
    GroupAccess::sign(&g.owner, generation, token, NOW, &mut w.rng)
        .unwrap()
        .encode()
}

fn token(b: u8) -> AccessToken {
    AccessToken([b; 32])
}

async fn group_store(w: &World, g: &Group, t: &AccessToken, payload: &[u8]) -> SwarmResponse {
    let req = SwarmRequest::GroupStore {
        group: g.id,
        token: t.clone(),
        ttl_ms: 0,
        payload: payload.to_vec(),
    };
    match w.handle(req).await.step {
        Step::Replicate { to, pending, .. } => w.service.stored(pending, to.len()),
        Step::Respond(r) => r,
        other => panic!("{other:?}"),
    }
}

fn group_retrieve(g: &Group, t: &AccessToken, wait_ms: u32) -> SwarmRequest {
    SwarmRequest::GroupRetrieve {
        group: g.id,
        token: t.clone(),
        after: 0,
        max_count: 100,
        max_bytes: 1 << 20,
        wait_ms,
    }
}

fn detail(r: &SwarmResponse) -> String {
    match r {
        SwarmResponse::Error { detail, .. } => detail.clone(),
        other => panic!("expected an error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_group_mailbox_takes_the_current_members_token_and_an_old_one_reads_up_to_the_change() {
    let mut w = world();
    let g = group(&mut w);
    let (t1, t2) = (token(1), token(2));
    // No plain store, and no member store before the owner has set a token.
    let plain = w.store(Mailbox::Group(g.id), b"spam").await;
    assert_eq!(code(&plain), ErrorCode::Forbidden);
    let early = group_store(&w, &g, &t1, b"m0").await;
    assert_eq!(code(&early), ErrorCode::Unauthorized);
    assert!(detail(&early).contains("no access record"), "{early:?}");
    // Generation 1: t1 stores and reads; a stranger's token does neither.
    let rec1 = record(&mut w, &g, 1, &t1);
    assert!(matches!(
        w.store(Mailbox::GroupAccess(g.id), &rec1).await,
        SwarmResponse::Stored { .. }
    ));
    assert!(matches!(
        group_store(&w, &g, &t1, b"m1").await,
        SwarmResponse::Stored { .. }
    ));
    let stranger = group_store(&w, &g, &token(9), b"x").await;
    assert_eq!(code(&stranger), ErrorCode::Unauthorized);
    assert_eq!(
        code(&respond(w.handle(group_retrieve(&g, &token(9), 0)).await)),
        ErrorCode::Unauthorized
    );
    // The membership changes: generation 2, token t2. t1 may no longer store ...
    let rec2 = record(&mut w, &g, 2, &t2);
    assert!(matches!(
        w.store(Mailbox::GroupAccess(g.id), &rec2).await,
        SwarmResponse::Stored { .. }
    ));
    let old = group_store(&w, &g, &t1, b"late").await;
    assert_eq!(code(&old), ErrorCode::Unauthorized);
    assert!(detail(&old).contains("generation 1"), "{old:?}");
    assert!(matches!(
        group_store(&w, &g, &t2, b"m2").await,
        SwarmResponse::Stored { .. }
    ));
    // ... and reads only what was stored before the change; t2 reads everything.
    let r1 = respond(w.handle(group_retrieve(&g, &t1, 0)).await);
    assert_eq!(payloads(&r1), vec![b"m1".to_vec()]);
    let r2 = respond(w.handle(group_retrieve(&g, &t2, 0)).await);
    assert_eq!(payloads(&r2), vec![b"m1".to_vec(), b"m2".to_vec()]);
    // Only the current token waits for new messages; an old one is answered at once.
    let mut waiting = group_retrieve(&g, &t1, 5_000);
    if let SwarmRequest::GroupRetrieve { after, .. } = &mut waiting {
        *after = u64::MAX - 1;
    }
    assert!(matches!(w.handle(waiting).await.step, Step::Respond(_)));
    let mut waiting = group_retrieve(&g, &t2, 5_000);
    if let SwarmRequest::GroupRetrieve { after, .. } = &mut waiting {
        *after = u64::MAX - 1;
    }
    assert!(matches!(w.handle(waiting).await.step, Step::Hold { .. }));
    // Nobody reads the records or the mailbox without a token or the owner's signature.
    for mb in [Mailbox::GroupAccess(g.id), Mailbox::Group(g.id)] {
        let plain = SwarmRequest::Retrieve {
            mailbox: mb,
            after: 0,
            max_count: 10,
            max_bytes: 1 << 20,
            wait_ms: 0,
            auth: None,
        };
        assert_eq!(
            code(&respond(w.handle(plain).await)),
            ErrorCode::Unauthorized
        );
    }
}

#[tokio::test]
async fn access_records_must_be_the_owners_own_and_newer_and_copies_are_checked_too() {
    let mut w = world();
    let g = group(&mut w);
    let other = group(&mut w);
    let t = token(1);
    let refused = |r: &SwarmResponse| code(r) == ErrorCode::InvalidContent;
    // Another owner's record, relabelled as this group's.
    let mut forged = GroupAccess::sign(&other.owner, 5, &t, NOW, &mut w.rng).unwrap();
    forged.group = g.id;
    assert!(refused(
        &w.store(Mailbox::GroupAccess(g.id), &forged.encode()).await
    ));
    // Another group's genuine record, in this group's mailbox.
    let elsewhere = record(&mut w, &other, 5, &t);
    assert!(refused(
        &w.store(Mailbox::GroupAccess(g.id), &elsewhere).await
    ));
    // Garbage, and a tampered generation.
    assert!(refused(&w.store(Mailbox::GroupAccess(g.id), b"junk").await));
    let mut tampered = record(&mut w, &g, 3, &t);
    tampered[40] ^= 1;
    assert!(refused(
        &w.store(Mailbox::GroupAccess(g.id), &tampered).await
    ));
    // A genuine record, then a replay of an older generation.
    let rec2 = record(&mut w, &g, 2, &t);
    let rec1 = record(&mut w, &g, 1, &token(0));
    assert!(matches!(
        w.store(Mailbox::GroupAccess(g.id), &rec2).await,
        SwarmResponse::Stored { .. }
    ));
    let stale = w.store(Mailbox::GroupAccess(g.id), &rec1).await;
    assert!(
        refused(&stale) && detail(&stale).contains("not newer"),
        "{stale:?}"
    );
    // Copies from other members: the forged one is dropped, the older genuine one kept (a
    // hand-off brings the history in any order).
    let item = |payload: Vec<u8>| ReplicaItem {
        mailbox: Mailbox::GroupAccess(g.id),
        expires_at_ms: NOW + 1000,
        payload,
    };
    let out = w
        .handle_from(
            NOW,
            w.others[0],
            SwarmRequest::Replicate {
                items: vec![item(forged.encode()), item(rec1.clone())],
            },
        )
        .await;
    assert_eq!(out.replicas_accepted, 1);
    assert_eq!(w.store.all(&Mailbox::GroupAccess(g.id), NOW).len(), 2);
    // The current token is still generation 2's.
    assert!(matches!(
        group_store(&w, &g, &t, b"m").await,
        SwarmResponse::Stored { .. }
    ));
    assert_eq!(
        code(&group_store(&w, &g, &token(0), b"m").await),
        ErrorCode::Unauthorized
    );
    // The owner renews the current record (same generation, same token) before it
    // expires; the same generation with another token is refused.
    let renewal = record(&mut w, &g, 2, &t);
    assert!(matches!(
        w.store(Mailbox::GroupAccess(g.id), &renewal).await,
        SwarmResponse::Stored { .. }
    ));
    let swapped = record(&mut w, &g, 2, &token(7));
    let out = w.store(Mailbox::GroupAccess(g.id), &swapped).await;
    assert!(
        refused(&out) && detail(&out).contains("only the current one may be renewed"),
        "{out:?}"
    );
    assert!(matches!(
        group_store(&w, &g, &t, b"m2").await,
        SwarmResponse::Stored { .. }
    ));
}
