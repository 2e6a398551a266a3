//! The JSON-RPC API over a real jsonrpsee server with cookie auth, driven by the generated
//! client (the same one parsctl and the bridge use).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use jsonrpsee::core::client::{Error as ClientError, Subscription};
use jsonrpsee::http_client::{HttpClient, HttpClientBuilder};
use jsonrpsee::server::Server;
use jsonrpsee::ws_client::WsClientBuilder;
use pars_rpc::types::{Direction, MessageInfo, SessionState};
use pars_rpc::{ErrorCode, SessionApiClient, SessionApiServer, auth};
use pars_store::client::{ClientStore, KdfParams, Unlock};
use pars_wire::message::ContentType;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use sessiond::engine::Engine;
use sessiond::rpc::{Api, Daemon, NodeFacts, now};
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
    let daemon = Daemon::new(
        Engine::open(store).unwrap(),
        rng.clone(),
        None,
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
        .with_engine(|e, _| e.bundle().unwrap().clone())
        .await;

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
        bob.daemon.ingest(b).await.unwrap();
        bob.daemon.ingest(b).await.unwrap(); // a duplicate is not announced twice
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
