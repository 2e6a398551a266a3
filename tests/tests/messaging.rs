//! Messaging end to end with real processes on one loopback network of 8 service nodes:
//! both directions knowing only Session IDs; a recipient offline while 20 messages are sent;
//! the sender killed with SIGKILL in the middle of sending.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{DELIVERY_TIMEOUT, ServiceNet, User, wait_for};
use pars_rpc::SessionApiClient;
use pars_rpc::types::{DeliveryState, MessageInfo};

async fn identity(u: &User) -> String {
    u.client().create_identity().await.unwrap().session_id
}

/// Creates a session, waiting until the recipient's bundle is in the network.
async fn open_session(from: &User, to: &str) {
    wait_for(DELIVERY_TIMEOUT, "the recipient's bundle", || async {
        from.client().create_session(to.to_string()).await.ok()
    })
    .await;
}

/// Waits until `u` has received every text in `texts` from `peer`.
async fn await_texts(u: &User, peer: &str, texts: &[String]) -> Vec<MessageInfo> {
    wait_for(
        DELIVERY_TIMEOUT,
        &format!("{} to receive {} messages", u.name, texts.len()),
        || async {
            let got = u.incoming(peer).await;
            texts
                .iter()
                .all(|t| got.iter().any(|m| &m.content == t))
                .then_some(got)
        },
    )
    .await
}

/// Each text exactly once, in the order given.
fn assert_once_in_order(got: &[MessageInfo], texts: &[String]) {
    let positions: Vec<usize> = texts
        .iter()
        .map(|t| {
            let hits: Vec<usize> = got
                .iter()
                .enumerate()
                .filter(|(_, m)| &m.content == t)
                .map(|(i, _)| i)
                .collect();
            assert_eq!(hits.len(), 1, "'{t}' received {} times", hits.len());
            hits[0]
        })
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "out of order: {positions:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exchange_offline_recipient_and_sender_crash() {
    let net = ServiceNet::start(8);
    let mut alice = User::new(&net, "alice");
    let mut bob = User::new(&net, "bob");
    alice.start().await;
    bob.start().await;
    let a = identity(&alice).await;
    let b = identity(&bob).await;

    // 1. Both ways, knowing only each other's Session ID.
    open_session(&alice, &b).await;
    let sent = alice
        .client()
        .send_message(b.clone(), "hello Bob".into())
        .await
        .unwrap();
    assert_eq!(sent.delivery, DeliveryState::Queued);
    let got = await_texts(&bob, &a, &["hello Bob".into()]).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].id, sent.id, "both ends agree on the message ID");
    bob.client()
        .send_message(a.clone(), "hello Alice".into())
        .await
        .unwrap();
    await_texts(&alice, &b, &["hello Alice".into()]).await;
    // Alice's message shows how many swarm members stored it.
    let mine = alice
        .client()
        .get_messages(Some(b.clone()), None, None)
        .await
        .unwrap();
    let first = mine.iter().find(|m| m.id == sent.id).unwrap();
    assert!(
        matches!(first.delivery, DeliveryState::Stored { copies } if copies >= 3)
            || first.delivery == DeliveryState::Read,
        "{:?}",
        first.delivery
    );

    // 2. A burst of 30 while both are online: in order, exactly once, and batched (fewer
    // swarm stores than messages; the delivery worker logs each store).
    let stores = |u: &User| {
        u.log_text()
            .matches("stored in the recipient's swarm")
            .count()
    };
    let before = stores(&alice);
    let burst: Vec<String> = (0..30).map(|i| format!("burst {i:02}")).collect();
    for t in &burst {
        alice
            .client()
            .send_message(b.clone(), t.clone())
            .await
            .unwrap();
    }
    alice.outbox_empty().await;
    await_texts(&bob, &a, &burst).await;
    let used = stores(&alice) - before;
    assert!(
        used < burst.len(),
        "{used} stores for {} messages: not batched",
        burst.len()
    );
    let got = bob.incoming(&a).await;
    assert_once_in_order(&got, &burst);
    assert_eq!(got.len(), 1 + 30, "hello + 30: {got:#?}");

    // 3. Bob offline (a clean shutdown) while Alice sends 20.
    let st = bob.stop();
    assert!(st.success(), "clean shutdown exits 0: {st}");
    assert!(
        !bob.dir.join("rpc.cookie").exists() && !bob.dir.join("rpc.addr").exists(),
        "shutdown removes the RPC files"
    );
    let offline: Vec<String> = (0..20).map(|i| format!("offline {i:02}")).collect();
    for t in &offline {
        alice
            .client()
            .send_message(b.clone(), t.clone())
            .await
            .unwrap();
    }
    alice.outbox_empty().await;
    bob.start().await;
    await_texts(&bob, &a, &offline).await;
    // A few more poll rounds: nothing arrives twice.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let got = bob.incoming(&a).await;
    assert_once_in_order(&got, &offline);
    assert_eq!(
        got.len(),
        1 + 30 + 20,
        "hello + 30 + 20, nothing else: {got:#?}"
    );

    // 4. Alice killed with SIGKILL while her outbox is being sent.
    let crash: Vec<String> = (0..20).map(|i| format!("crash {i:02}")).collect();
    for t in &crash[..10] {
        alice
            .client()
            .send_message(b.clone(), t.clone())
            .await
            .unwrap();
    }
    // Kill as soon as the delivery worker has stored one: the rest are queued or on their way.
    wait_for(
        DELIVERY_TIMEOUT,
        "Alice's first crash message stored",
        || async { (alice.client().get_status().await.ok()?.outbox_pending < 10).then_some(()) },
    )
    .await;
    alice.kill9();
    alice.start().await;
    let pending = alice.client().get_status().await.unwrap().outbox_pending;
    for t in &crash[10..] {
        alice
            .client()
            .send_message(b.clone(), t.clone())
            .await
            .unwrap();
    }
    alice.outbox_empty().await;
    await_texts(&bob, &a, &crash).await;
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let got = bob.incoming(&a).await;
    assert_once_in_order(&got, &crash);
    assert_eq!(
        got.len(),
        1 + 30 + 20 + 20,
        "no loss, no duplicate after the crash (outbox had {pending} pending at restart)"
    );
    let st = alice.stop();
    assert!(st.success(), "{st}: {}", alice.log_tail());
}
