//! The cookie layer in front of a real jsonrpsee server: HTTP and WebSocket clients with the
//! right token get through, without it or with a wrong one they are refused.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use jsonrpsee::core::client::ClientT;
use jsonrpsee::http_client::HttpClientBuilder;
use jsonrpsee::rpc_params;
use jsonrpsee::server::{RpcModule, Server};
use jsonrpsee::ws_client::WsClientBuilder;
use pars_rpc::auth::{self, CookieAuthLayer};

async fn start(token: &str) -> (std::net::SocketAddr, jsonrpsee::server::ServerHandle) {
    let server = Server::builder()
        .set_http_middleware(tower::ServiceBuilder::new().layer(CookieAuthLayer::new(token)))
        .build("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr().unwrap();
    let mut module = RpcModule::new(());
    module.register_method("ping", |_, _, _| "pong").unwrap();
    (addr, server.start(module))
}

#[tokio::test]
async fn http_and_ws_require_the_cookie() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = <rand_chacha::ChaCha20Rng as rand_core::SeedableRng>::seed_from_u64(42);
    let token = auth::write_cookie(dir.path(), &mut rng).unwrap();
    assert_eq!(auth::read_cookie(dir.path()).unwrap(), token);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(auth::cookie_path(dir.path()))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o777,
            0o600,
            "cookie must be readable only by its owner"
        );
    }
    let (addr, handle) = start(&token).await;

    let ok = HttpClientBuilder::default()
        .set_headers(auth::auth_headers(&token))
        .build(format!("http://{addr}"))
        .unwrap();
    let r: String = ok.request("ping", rpc_params![]).await.unwrap();
    assert_eq!(r, "pong");

    for headers in [http::HeaderMap::new(), auth::auth_headers("wrong")] {
        let bad = HttpClientBuilder::default()
            .set_headers(headers)
            .build(format!("http://{addr}"))
            .unwrap();
        let err = bad
            .request::<String, _>("ping", rpc_params![])
            .await
            .unwrap_err();
        assert!(err.to_string().contains("401"), "{err}");
    }

    let ws = WsClientBuilder::default()
        .set_headers(auth::auth_headers(&token))
        .build(format!("ws://{addr}"))
        .await
        .unwrap();
    let r: String = ws.request("ping", rpc_params![]).await.unwrap();
    assert_eq!(r, "pong");
    assert!(
        WsClientBuilder::default()
            .build(format!("ws://{addr}"))
            .await
            .is_err(),
        "a WebSocket upgrade without the cookie is refused"
    );
    handle.stop().unwrap();
}
