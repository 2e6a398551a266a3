//! The JSON-RPC API over a real jsonrpsee server with cookie auth, driven by the generated
//! client (the same one parsctl and the bridge use).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use jsonrpsee::core::client::{Error as ClientError, Subscription};
use jsonrpsee::http_client::{HttpClient, HttpClientBuilder};
use jsonrpsee::server::Server;
use jsonrpsee::ws_client::WsClientBuilder;
use pars_rpc::types::{DeliveryState, Direction, MessageInfo, SessionState};
use pars_rpc::{ErrorCode, SessionApiClient, SessionApiServer, auth};
use pars_store::client::{ClientStore, KdfParams, Unlock};
use pars_wire::message::ContentType;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use sessiond::app::{Core, now};
use sessiond::engine::{Engine, Received};
use sessiond::net::NetSlot;
use sessiond::rpc::{Api, Daemon, NodeFacts};
use std::sync::Arc;

struct Running {
    _dir: tempfile::TempDir,
    daemon: Arc<Daemon>,
    addr: std::net::SocketAddr,
    token: String,
    _handle: jsonrpsee::server::ServerHandle,
}

async fn daemon(seed: u64) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let store = ClientStore::create(
        &dir.path().join("client.redb"),
        Unlock::Passphrase(b"pw"),
        KdfParams::insecure_for_tests(),
        &mut rng,
    )
    .unwrap();
    let core = Core::start(
        // The packet limit of the production daemon (run.rs).
        Engine::open(store)
            .unwrap()
            .with_max_blob(pars_net::client::MAX_ONION_STORE_PAYLOAD),
        rng.clone(),
    )
    .unwrap();
    let core = Arc::new(core);
    // A small file size limit, for the file tests.
    let settings = sessiond::transfers::TransferSettings {
        max_file_size: 1 << 20,
        ..Default::default()
    };
    let transfers = sessiond::transfers::Transfers::new(core.clone(), NetSlot::offline(), settings);
    let daemon = Daemon::new(
        core,
        NetSlot::offline(),
        transfers,
        NodeFacts {
            network: "local".into(),
            ..Default::default()
        },
    );
    let token = auth::write_cookie(dir.path(), &mut rng).unwrap();
    let server = Server::builder()
        .set_http_middleware(tower::ServiceBuilder::new().layer(auth::CookieAuthLayer::new(&token)))
        .build("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr().unwrap();
    let handle = server.start(Api(daemon.clone()).into_rpc());
    Running {
        _dir: dir,
        daemon,
        addr,
        token,
        _handle: handle,
    }
}

fn client(r: &Running) -> HttpClient {
    HttpClientBuilder::default()
        .set_headers(auth::auth_headers(&r.token))
        .build(format!("http://{}", r.addr))
        .unwrap()
}

fn code(e: ClientError) -> i32 {
    match e {
        ClientError::Call(o) => o.code(),
        other => panic!("expected a call error, got {other}"),
    }
}

#[tokio::test]
async fn identity_methods_and_error_codes() {
    let r = daemon(1).await;
    let c = client(&r);
    assert_eq!(
        code(c.get_identity().await.unwrap_err()),
        ErrorCode::NoIdentity.code()
    );
    let id = c.create_identity().await.unwrap();
    assert_eq!(id.session_id.len(), 66);
    assert_eq!(id.link, format!("pars://session/{}", id.session_id));
    assert_eq!(id.public_keys.mldsa87.len(), 2 * 2592);
    assert_eq!(
        code(c.create_identity().await.unwrap_err()),
        ErrorCode::IdentityExists.code()
    );
    assert_eq!(c.get_identity().await.unwrap(), id);
    let phrase = c.export_mnemonic().await.unwrap().mnemonic;
    assert_eq!(phrase.split(' ').count(), 24);
    assert_eq!(
        c.restore_identity(phrase.clone()).await.unwrap(),
        id,
        "same identity: no-op"
    );

    let other = daemon(2).await;
    let oc = client(&other);
    assert_eq!(
        oc.restore_identity(phrase).await.unwrap(),
        id,
        "restored elsewhere: same ID"
    );
    assert_eq!(
        code(
            oc.restore_identity("abandon ".repeat(24))
                .await
                .unwrap_err()
        ),
        ErrorCode::InvalidInput.code()
    );

    // Bad inputs.
    assert_eq!(
        code(c.create_session("05xyz".into()).await.unwrap_err()),
        ErrorCode::InvalidInput.code()
    );
    let unknown = format!("05{}", "ab".repeat(32));
    assert_eq!(
        code(c.create_session(unknown.clone()).await.unwrap_err()),
        ErrorCode::Network.code(),
        "offline, bundle not cached"
    );
    assert_eq!(
        code(
            c.send_message(unknown.clone(), "hi".into())
                .await
                .unwrap_err()
        ),
        ErrorCode::UnknownSession.code()
    );
    assert_eq!(
        code(
            c.send_message(unknown.clone(), String::new())
                .await
                .unwrap_err()
        ),
        ErrorCode::InvalidInput.code()
    );
    assert_eq!(
        code(
            c.send_message("nonsense".into(), "hi".into())
                .await
                .unwrap_err()
        ),
        ErrorCode::InvalidInput.code()
    );
    assert_eq!(
        code(c.mark_read(unknown, "00".into()).await.unwrap_err()),
        ErrorCode::InvalidInput.code()
    );
    assert!(c.get_sessions().await.unwrap().is_empty());
    let st = c.get_status().await.unwrap();
    assert_eq!(st.session_id.as_deref(), Some(id.session_id.as_str()));
    assert_eq!(st.network, "local");
    assert_eq!(st.outbox_pending, 0);
}

#[tokio::test]
async fn incoming_messages_reach_subscribers_and_the_message_list() {
    let bob = daemon(3).await;
    let bc = client(&bob);
    let bob_id = bc.create_identity().await.unwrap().session_id;
    let bob_sid: pars_crypto::SessionId = bob_id.parse().unwrap();
    let bob_bundle = bob
        .daemon
        .core()
        .with_engine(|e, _| e.bundle().unwrap().clone())
        .await
        .unwrap();

    // Alice: a second engine, outside any daemon, produces the blobs Bob's mailbox would hold.
    let adir = tempfile::tempdir().unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(4);
    let astore = ClientStore::create(
        &adir.path().join("a.redb"),
        Unlock::Passphrase(b"pw"),
        KdfParams::insecure_for_tests(),
        &mut rng,
    )
    .unwrap();
    let mut alice = Engine::open(astore).unwrap();
    let alice_id = alice.create_identity(now(), &mut rng).unwrap();
    alice
        .open_session(&bob_sid, &bob_bundle, now(), &mut rng)
        .unwrap();
    alice
        .send(&bob_sid, b"hello bob", ContentType::Text, now(), &mut rng)
        .unwrap();
    let blobs: Vec<Vec<u8>> = alice
        .outbox_due(now())
        .unwrap()
        .into_iter()
        .map(|o| o.blob)
        .collect();

    let ws = WsClientBuilder::default()
        .set_headers(auth::auth_headers(&bob.token))
        .build(format!("ws://{}", bob.addr))
        .await
        .unwrap();
    let mut sub: Subscription<MessageInfo> = ws.subscribe_messages().await.unwrap();
    for b in &blobs {
        bob.daemon.core().ingest(b).await.unwrap();
        bob.daemon.core().ingest(b).await.unwrap(); // a duplicate is not announced twice
    }
    let m = tokio::time::timeout(std::time::Duration::from_secs(10), sub.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(m.content, "hello bob");
    assert_eq!(m.peer, alice_id.to_string());
    assert_eq!(m.direction, Direction::Incoming);
    let sessions = bc.get_sessions().await.unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].state, SessionState::Established);
    assert_eq!(sessions[0].unread, 1);
    let msgs = bc
        .get_messages(Some(sessions[0].id.clone()), None, None)
        .await
        .unwrap();
    assert_eq!(msgs.len(), 1);
    // Reply by peer Session ID and by conversation ID; mark read by message ID.
    bc.send_message(alice_id.to_string(), "hi alice".into())
        .await
        .unwrap();
    bc.send_message(sessions[0].id.clone(), "again".into())
        .await
        .unwrap();
    bc.mark_read(alice_id.to_string(), msgs[0].id.clone())
        .await
        .unwrap();
    assert_eq!(bc.get_sessions().await.unwrap()[0].unread, 0);
    // Two texts and one read receipt are in the outbox.
    assert_eq!(bc.get_status().await.unwrap().outbox_pending, 3);
    let all = bc.get_messages(None, None, None).await.unwrap();
    assert_eq!(all.len(), 3);
    bc.close_session(alice_id.to_string()).await.unwrap();
    assert_eq!(
        bc.get_sessions().await.unwrap()[0].state,
        SessionState::Closed
    );
    assert_eq!(
        code(
            bc.send_message(alice_id.to_string(), "x".into())
                .await
                .unwrap_err()
        ),
        ErrorCode::SessionClosed.code()
    );
}

/// A second engine with a fresh identity, outside any daemon.
fn outside_engine(
    dir: &tempfile::TempDir,
    seed: u64,
) -> (Engine, ChaCha20Rng, pars_crypto::SessionId) {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let store = ClientStore::create(
        &dir.path().join("o.redb"),
        Unlock::Passphrase(b"pw"),
        KdfParams::insecure_for_tests(),
        &mut rng,
    )
    .unwrap();
    let mut e = Engine::open(store).unwrap();
    let id = e.create_identity(now(), &mut rng).unwrap();
    (e, rng, id)
}

#[tokio::test]
async fn binary_content_in_content_hex_and_send_content() {
    let bob = daemon(5).await;
    let bc = client(&bob);
    let bob_id = bc.create_identity().await.unwrap().session_id;
    let bob_sid: pars_crypto::SessionId = bob_id.parse().unwrap();
    let bob_bundle = bob
        .daemon
        .core()
        .with_engine(|e, _| e.bundle().unwrap().clone())
        .await
        .unwrap();
    let adir = tempfile::tempdir().unwrap();
    let (mut alice, mut rng, alice_id) = outside_engine(&adir, 6);
    alice
        .open_session(&bob_sid, &bob_bundle, now(), &mut rng)
        .unwrap();
    // Not UTF-8: `content` is lossy, `contentHex` exact.
    let action: Vec<u8> = vec![0x00, 0xff, 0xfe, 0x80, 0x41, 0xc3, 0x28];
    alice
        .send(
            &bob_sid,
            &action,
            ContentType::ContractAction,
            now(),
            &mut rng,
        )
        .unwrap();
    let blobs: Vec<Vec<u8>> = alice
        .outbox_due(now())
        .unwrap()
        .into_iter()
        .map(|o| o.blob)
        .collect();

    let ws = WsClientBuilder::default()
        .set_headers(auth::auth_headers(&bob.token))
        .build(format!("ws://{}", bob.addr))
        .await
        .unwrap();
    let mut sub: Subscription<MessageInfo> = ws.subscribe_messages().await.unwrap();
    for b in &blobs {
        bob.daemon.core().ingest(b).await.unwrap();
    }
    let m = tokio::time::timeout(std::time::Duration::from_secs(10), sub.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(m.content_type, "contractAction");
    assert_eq!(m.content_hex, hex::encode(&action));
    assert_ne!(m.content.as_bytes(), action.as_slice());
    let listed = bc.get_messages(None, None, None).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].content_hex, hex::encode(&action));
    assert_eq!(listed[0].direction, Direction::Incoming);

    // A binary receipt back, by peer Session ID, with a 0x prefix.
    let receipt: Vec<u8> = vec![0x07, 0x00, 0x9a, 0xff, 0x10];
    let sent = bc
        .send_content(
            alice_id.to_string(),
            "contractReceipt".into(),
            format!("0x{}", hex::encode(&receipt)),
        )
        .await
        .unwrap();
    assert_eq!(sent.delivery, DeliveryState::Queued);
    let all = bc.get_messages(None, None, None).await.unwrap();
    let out = all.iter().find(|m| m.id == sent.id).unwrap();
    assert_eq!(out.direction, Direction::Outgoing);
    assert_eq!(out.content_type, "contractReceipt");
    assert_eq!(out.content_hex, hex::encode(&receipt));
    // Text through sendContent, by conversation ID.
    let session = bc.get_sessions().await.unwrap()[0].id.clone();
    let text = bc
        .send_content(session.clone(), "text".into(), hex::encode("héllo"))
        .await
        .unwrap();
    let all = bc.get_messages(None, None, None).await.unwrap();
    let t = all.iter().find(|m| m.id == text.id).unwrap();
    assert_eq!(
        (t.content.as_str(), t.content_type.as_str()),
        ("héllo", "text")
    );
    assert_eq!(bc.get_status().await.unwrap().outbox_pending, 2);

    // The queued blobs are real messages Alice opens with the right type and bytes.
    let out_blobs: Vec<Vec<u8>> = bob
        .daemon
        .core()
        .with_engine(|e, _| e.outbox_due(u64::MAX).unwrap())
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.blob)
        .collect();
    let mut got = Vec::new();
    for b in &out_blobs {
        if let Received::Message(m) = alice.receive(b, now(), &mut rng).unwrap() {
            got.push((m.content_type, m.content));
        }
    }
    assert!(got.contains(&(ContentType::ContractReceipt as u8, receipt.clone())));
    assert!(got.contains(&(ContentType::Text as u8, "héllo".as_bytes().to_vec())));

    // Bad input: InvalidInput, nothing queued.
    let bad = |ct: &str, hx: String| {
        let bc = bc.clone();
        let session = session.clone();
        let ct = ct.to_owned();
        async move {
            match bc.send_content(session, ct, hx).await.unwrap_err() {
                ClientError::Call(o) => (o.code(), o.message().to_owned()),
                other => panic!("expected a call error, got {other}"),
            }
        }
    };
    let (c, msg) = bad("groupControl", "00".into()).await;
    assert_eq!(c, ErrorCode::InvalidInput.code());
    assert!(msg.contains("unknown content type 'groupControl'"), "{msg}");
    assert!(msg.contains("contractReceipt"), "{msg}");
    // A file offer must be a file manifest.
    let (c, msg) = bad("file", "00".into()).await;
    assert_eq!(c, ErrorCode::InvalidInput.code());
    assert!(msg.contains("must be a file manifest"), "{msg}");
    let (c, msg) = bad("readReceipt", "00".into()).await;
    assert_eq!(c, ErrorCode::InvalidInput.code(), "{msg}");
    for hx in ["zz", "abc", "0x0g"] {
        let (c, msg) = bad("contractAction", hx.into()).await;
        assert_eq!(c, ErrorCode::InvalidInput.code());
        assert!(msg.contains("not valid hex"), "{hx}: {msg}");
    }
    let (c, msg) = bad("contractAction", String::new()).await;
    assert_eq!(c, ErrorCode::InvalidInput.code());
    assert!(msg.contains("empty"), "{msg}");
    let (c, msg) = bad("text", "ff00".into()).await;
    assert_eq!(c, ErrorCode::InvalidInput.code());
    assert!(msg.contains("UTF-8"), "{msg}");
    // Too large: the same limit as sendMessage.
    let huge = vec![0xa5u8; pars_net::client::MAX_ONION_STORE_PAYLOAD];
    let (c, msg) = bad("contractAction", hex::encode(&huge)).await;
    assert_eq!(c, ErrorCode::InvalidInput.code());
    assert!(
        msg.contains("too large") || msg.contains("exceeds"),
        "{msg}"
    );
    let as_text = "a".repeat(pars_net::client::MAX_ONION_STORE_PAYLOAD);
    assert_eq!(
        code(bc.send_message(session.clone(), as_text).await.unwrap_err()),
        ErrorCode::InvalidInput.code(),
        "sendMessage refuses the same size"
    );
    // A 1000-byte action fits.
    let ok = vec![0x5au8; 1000];
    bc.send_content(session.clone(), "contractAction".into(), hex::encode(&ok))
        .await
        .unwrap();
    assert_eq!(bc.get_status().await.unwrap().outbox_pending, 3);
}

#[tokio::test]
async fn file_methods_refuse_bad_input_clearly() {
    let r = daemon(7).await;
    let c = client(&r);
    c.create_identity().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let peer = format!("05{}", "ab".repeat(32));
    let msg = |e: ClientError| match e {
        ClientError::Call(o) => (o.code(), o.message().to_string()),
        other => panic!("expected a call error, got {other}"),
    };
    let bad = ErrorCode::InvalidInput.code();
    // A relative path, a missing file, an empty file, a folder.
    let (code, m) = msg(c.send_file(peer.clone(), "a.txt".into()).await.unwrap_err());
    assert!(code == bad && m.contains("absolute"), "{m}");
    let missing = dir.path().join("missing.bin").display().to_string();
    let (_, m) = msg(c.send_file(peer.clone(), missing).await.unwrap_err());
    assert!(m.contains("missing.bin"), "{m}");
    let empty = dir.path().join("empty.bin");
    std::fs::write(&empty, b"").unwrap();
    let (code, m) = msg(c
        .send_file(peer.clone(), empty.display().to_string())
        .await
        .unwrap_err());
    assert!(code == bad && m.contains("empty"), "{m}");
    let (code, m) = msg(c
        .send_file(peer.clone(), dir.path().display().to_string())
        .await
        .unwrap_err());
    assert!(code == bad && m.contains("not a regular file"), "{m}");
    // Over the size limit (this daemon's is 1 MiB): refused before anything is read.
    let big = dir.path().join("big.bin");
    std::fs::write(&big, vec![1u8; (1 << 20) + 1]).unwrap();
    let (code, m) = msg(c
        .send_file(peer.clone(), big.display().to_string())
        .await
        .unwrap_err());
    assert!(code == bad && m.contains("at most 1048576 bytes"), "{m}");
    // A file no message offered; malformed IDs.
    let out = dir.path().join("out.bin").display().to_string();
    let (code, m) = msg(c
        .receive_file("ab".repeat(32), out.clone())
        .await
        .unwrap_err());
    assert!(
        code == ErrorCode::RecipientNotFound.code() && m.contains("no message offered"),
        "{m}"
    );
    let (code, _) = msg(c.receive_file("xyz".into(), out).await.unwrap_err());
    assert_eq!(code, bad);
    let (code, _) = msg(c.cancel_transfer("00".repeat(16)).await.unwrap_err());
    assert_eq!(code, ErrorCode::RecipientNotFound.code());
    // A small file to a peer without a session: the session is named.
    let small = dir.path().join("small.bin");
    std::fs::write(&small, b"hello").unwrap();
    let (_, m) = msg(c
        .send_file(peer, small.display().to_string())
        .await
        .unwrap_err());
    assert!(m.contains("no session"), "{m}");
    assert!(c.get_transfers().await.unwrap().is_empty());
}
