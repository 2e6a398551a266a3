//! Cookie-token authentication (as bitcoind does): the daemon writes a random token to a file
//! readable only by its user; every request must carry it as `Authorization: Bearer <token>`.
//! Whoever can read the data directory can use the API; nobody else on the machine can.

use http::{HeaderMap, HeaderValue, Request, Response, StatusCode, header};
use jsonrpsee::server::HttpBody;
use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// The cookie file's name inside the data directory.
pub const COOKIE_FILE: &str = "rpc.cookie";
/// The file in the data directory holding the RPC address the daemon listens on.
pub const ADDR_FILE: &str = "rpc.addr";

/// Path of the cookie file in `datadir`.
pub fn cookie_path(datadir: &Path) -> PathBuf {
    datadir.join(COOKIE_FILE)
}

/// Writes a fresh random token to the cookie file (mode 0600) and returns it.
pub fn write_cookie(datadir: &Path, rng: &mut impl rand_core::CryptoRng) -> io::Result<String> {
    let token = hex::encode(pars_crypto::random_array::<32>(rng));
    let path = cookie_path(datadir);
    let tmp = path.with_extension("tmp");
    {
        use std::io::Write;
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(&tmp)?;
        f.write_all(token.as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, &path)?;
    Ok(token)
}

/// Reads the cookie token from `datadir`.
pub fn read_cookie(datadir: &Path) -> io::Result<String> {
    let path = cookie_path(datadir);
    let t = std::fs::read_to_string(&path)?;
    let t = t.trim().to_string();
    if t.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} is empty", path.display()),
        ));
    }
    Ok(t)
}

/// Headers a client sends: `Authorization: Bearer <token>`.
pub fn auth_headers(token: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&format!("Bearer {token}")) {
        h.insert(header::AUTHORIZATION, v);
    }
    h
}

/// Whether `headers` carry `token`, compared in constant time.
pub fn is_authorized(headers: &HeaderMap, token: &str) -> bool {
    use subtle_eq::ct_eq;
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|given| ct_eq(given.trim().as_bytes(), token.as_bytes()))
}

mod subtle_eq {
    /// Constant-time equality of two byte strings (length is not secret).
    pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

/// A tower layer for the jsonrpsee server that refuses (HTTP 401, JSON-RPC error
/// `Unauthorized`) every HTTP request and WebSocket upgrade without the cookie token.
#[derive(Clone)]
pub struct CookieAuthLayer {
    token: Arc<str>,
}

impl CookieAuthLayer {
    /// A layer accepting `token`.
    pub fn new(token: &str) -> Self {
        Self {
            token: Arc::from(token),
        }
    }
}

impl<S> tower::Layer<S> for CookieAuthLayer {
    type Service = CookieAuth<S>;
    fn layer(&self, inner: S) -> Self::Service {
        CookieAuth {
            inner,
            token: self.token.clone(),
        }
    }
}

/// The service produced by [`CookieAuthLayer`].
#[derive(Clone)]
pub struct CookieAuth<S> {
    inner: S,
    token: Arc<str>,
}

impl<S, B> tower::Service<Request<B>> for CookieAuth<S>
where
    S: tower::Service<Request<B>, Response = Response<HttpBody>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = Response<HttpBody>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        if is_authorized(req.headers(), &self.token) {
            Box::pin(self.inner.call(req))
        } else {
            Box::pin(async { Ok(unauthorized()) })
        }
    }
}

fn unauthorized() -> Response<HttpBody> {
    let body = format!(
        r#"{{"jsonrpc":"2.0","error":{{"code":{},"message":"missing or wrong RPC cookie: read the token from {COOKIE_FILE} in the daemon's data directory and send it as 'Authorization: Bearer <token>'"}},"id":null}}"#,
        crate::ErrorCode::Unauthorized.code()
    );
    let mut resp = Response::new(HttpBody::from(body));
    *resp.status_mut() = StatusCode::UNAUTHORIZED;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_check() {
        let h = auth_headers("abc");
        assert!(is_authorized(&h, "abc"));
        assert!(!is_authorized(&h, "abd"));
        assert!(!is_authorized(&HeaderMap::new(), "abc"));
        assert!(!is_authorized(&auth_headers("ab"), "abc"));
    }
}
