//! Groups end to end with real processes on one loopback network of 8 service nodes: Alice
//! creates a group with Bob and Carol (through `parsctl group`), all three talk, Alice's daemon
//! is killed with SIGKILL in the middle of removing Carol and finishes the change after its
//! restart, Carol's daemon decrypts nothing sent afterwards, Bob, offline during two changes,
//! catches up, and, made an admin with `parsctl group admin`, renames the group.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{DELIVERY_TIMEOUT, ServiceNet, User, wait_for};
use pars_rpc::SessionApiClient;
use pars_rpc::types::{GroupInfo, GroupState, MessageInfo};

async fn identity(u: &User) -> String {
    u.client().create_identity().await.unwrap().session_id
}

async fn group_of(u: &User, g: &str) -> Option<GroupInfo> {
    u.client()
        .get_groups()
        .await
        .ok()?
        .into_iter()
        .find(|x| x.group_id == g)
}

async fn texts(u: &User, g: &str) -> Vec<MessageInfo> {
    u.client()
        .get_messages(Some(g.to_string()), None, None)
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.content_type == "text")
        .collect()
}

/// Waits until `u` has every text of `want` in group `g`.
async fn await_texts(u: &User, g: &str, want: &[&str]) {
    wait_for(
        DELIVERY_TIMEOUT,
        &format!("{} to read {want:?}", u.name),
        || async {
            let got = texts(u, g).await;
            want.iter()
                .all(|t| got.iter().any(|m| m.content == *t))
                .then_some(())
        },
    )
    .await;
}

/// Waits for an invitation to `g` and accepts it with `parsctl group join`.
async fn join(u: &User, g: &str) {
    wait_for(
        DELIVERY_TIMEOUT,
        &format!("{}'s invitation", u.name),
        || async {
            let invites = u.client().get_group_invites().await.ok()?;
            invites.iter().any(|i| i.group_id == g).then_some(())
        },
    )
    .await;
    let out = u.parsctl(&["group", "join", "--invite", g, "--json"]);
    assert!(
        out.status.success(),
        "{} could not join: {}",
        u.name,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Waits until `u` sees group `g` with exactly `members` (sorted) at one epoch or later.
async fn await_members(u: &User, g: &str, members: &[&String], epoch: u64) -> GroupInfo {
    let mut want: Vec<String> = members.iter().map(|s| s.to_string()).collect();
    want.sort();
    wait_for(
        DELIVERY_TIMEOUT,
        &format!("{} to see members {want:?}", u.name),
        || async {
            let info = group_of(u, g).await?;
            let mut m = info.members.clone();
            m.sort();
            (m == want && info.epoch >= epoch).then_some(info)
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_users_talk_a_removed_member_reads_nothing_and_crashes_lose_nothing() {
    let net = ServiceNet::start(8);
    let mut alice = User::new(&net, "alice");
    let mut bob = User::new(&net, "bob");
    let mut carol = User::new(&net, "carol");
    alice.start().await;
    bob.start().await;
    carol.start().await;
    let a = identity(&alice).await;
    let b = identity(&bob).await;
    let c = identity(&carol).await;
    // Their bundles reach the network a moment after the identities exist.
    for peer in [&b, &c] {
        wait_for(DELIVERY_TIMEOUT, "a bundle in the network", || async {
            alice.client().create_session(peer.clone()).await.ok()
        })
        .await;
    }

    // 1. Alice creates the group with parsctl; Bob and Carol accept their invitations.
    let out = alice.parsctl(&[
        "group",
        "create",
        "--name",
        "friends",
        "--members",
        &b,
        &c,
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let created: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let g = created["groupId"].as_str().unwrap().to_string();
    assert_eq!(created["invited"].as_array().unwrap().len(), 2);
    join(&bob, &g).await;
    join(&carol, &g).await;
    let all = [&a, &b, &c];
    let info = await_members(&alice, &g, &all, 2).await;
    await_members(&bob, &g, &all, info.epoch).await;
    await_members(&carol, &g, &all, info.epoch).await;
    assert!(info.admin && info.admins == vec![a.clone()]);

    // 2. All three send and receive.
    for (u, t) in [
        (&alice, "hi from alice"),
        (&bob, "hi from bob"),
        (&carol, "hi from carol"),
    ] {
        let out = u.parsctl(&["group", "send", "--group", &g, "--message", t]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let three = ["hi from alice", "hi from bob", "hi from carol"];
    for u in [&alice, &bob, &carol] {
        await_texts(u, &g, &three).await;
        let got = texts(u, &g).await;
        assert_eq!(got.len(), 3, "{}: each message once: {got:#?}", u.name);
    }
    // A group message carries its group and sender, in getMessages of all conversations too.
    let everything = bob.client().get_messages(None, None, None).await.unwrap();
    let m = everything
        .iter()
        .find(|m| m.content == "hi from carol")
        .unwrap();
    assert_eq!(m.group.as_deref(), Some(g.as_str()));
    assert_eq!(m.peer, c);

    // 3. Alice removes Carol and is killed at once (the commit is queued, maybe stored, not
    // applied): after her restart the change completes, once.
    alice
        .client()
        .remove_group_members(g.clone(), vec![c.clone()])
        .await
        .unwrap();
    alice.kill9();
    alice.start().await;
    let ab = [&a, &b];
    let info = await_members(&alice, &g, &ab, 3).await;
    await_members(&bob, &g, &ab, info.epoch).await;
    wait_for(
        DELIVERY_TIMEOUT,
        "Carol to learn she was removed",
        || async { (group_of(&carol, &g).await?.state == GroupState::Removed).then_some(()) },
    )
    .await;

    // 4. Sent after the removal: Bob reads it, Carol's daemon has nothing of it.
    alice
        .client()
        .send_group_message(g.clone(), "after carol".into())
        .await
        .unwrap();
    await_texts(&bob, &g, &["after carol"]).await;
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let carols = texts(&carol, &g).await;
    assert!(
        carols.iter().all(|m| m.content != "after carol"),
        "{carols:#?}"
    );
    let out = carol.parsctl(&["group", "messages", "--group", &g]);
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        !shown.contains("after carol") && shown.contains("removed you"),
        "{shown}"
    );
    assert!(!carol.log_text().contains("after carol"));

    // 5. Bob offline during two changes (Carol added again, then removed again): he catches
    // up on restart, reading with each older token what was stored before the next.
    let st = bob.stop();
    assert!(st.success());
    let dave = {
        // Carol was removed: she comes back as a new member under the same identity only
        // through a new invitation, which re-joining a group one left does not support yet;
        // a fourth user stands in.
        let mut dave = User::new(&net, "dave");
        dave.start().await;
        let d = identity(&dave).await;
        wait_for(DELIVERY_TIMEOUT, "Dave's bundle", || async {
            alice.client().create_session(d.clone()).await.ok()
        })
        .await;
        alice
            .client()
            .add_group_members(g.clone(), vec![d.clone()])
            .await
            .unwrap();
        join(&dave, &g).await;
        let abd = [&a, &b, &d];
        let info = await_members(&alice, &g, &abd, 4).await;
        await_members(&dave, &g, &abd, info.epoch).await;
        wait_for(DELIVERY_TIMEOUT, "Alice's change to settle", || async {
            alice
                .client()
                .remove_group_members(g.clone(), vec![d.clone()])
                .await
                .ok()
        })
        .await;
        await_members(&alice, &g, &ab, info.epoch + 1).await;
        (dave, d)
    };
    alice
        .client()
        .send_group_message(g.clone(), "while bob was away".into())
        .await
        .unwrap();
    bob.start().await;
    let final_alice = group_of(&alice, &g).await.unwrap();
    await_members(&bob, &g, &ab, final_alice.epoch).await;
    await_texts(&bob, &g, &["while bob was away"]).await;
    let bobs = texts(&bob, &g).await;
    for t in three
        .iter()
        .chain(["after carol", "while bob was away"].iter())
    {
        assert_eq!(
            bobs.iter().filter(|m| m.content == *t).count(),
            1,
            "'{t}' once at Bob's: {bobs:#?}"
        );
    }

    // 6. Alice makes Bob an admin with `parsctl group admin`; Bob, now holding the role (and
    // the owner key), renames the group, and Alice's daemon shows the new name.
    let out = alice.parsctl(&["group", "admin", "--group", &g, "--members", &b, "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let admins: Vec<&str> = shown["admins"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(
        admins.contains(&b.as_str()) && admins.contains(&a.as_str()),
        "{shown}"
    );
    wait_for(DELIVERY_TIMEOUT, "Bob to learn he is an admin", || async {
        group_of(&bob, &g).await?.admin.then_some(())
    })
    .await;
    let out = bob.parsctl(&["group", "rename", "--group", &g, "--name", "old friends"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_for(DELIVERY_TIMEOUT, "Alice to see Bob's new name", || async {
        (group_of(&alice, &g).await?.name == "old friends").then_some(())
    })
    .await;
    drop(dave);
}
