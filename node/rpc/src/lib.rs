//! # pars-rpc
//!
//! The JSON-RPC 2.0 API of `sessiond`, defined once (ARCHITECTURE §4.9): the request and response
//! types ([`types`]), the method trait from which jsonrpsee generates both the server trait
//! (`SessionApiServer`, implemented by the daemon) and the client extension trait
//! (`SessionApiClient`, used by `parsctl`, the bridge and tests), the stable error codes
//! ([`error`], derived from `pars_error::ErrorKind`) and the cookie-token authentication shared
//! by server and clients ([`auth`]).
//!
//! Method names are the specification's `DaemonInterface` in camelCase. Transport: HTTP and
//! WebSocket on `127.0.0.1` (default port [`DEFAULT_RPC_PORT`]); every request must carry
//! `Authorization: Bearer <token>`, the token being the content of the cookie file in the data
//! directory. It is not a daemon: nothing here touches identities, sessions or the network.

pub mod api;
pub mod auth;
pub mod error;
pub mod types;

pub use api::{SessionApiClient, SessionApiServer};
pub use error::{ErrorCode, RpcError};
pub use pars_error::{ErrorKind, HasKind};

/// The default RPC port on 127.0.0.1.
pub const DEFAULT_RPC_PORT: u16 = 9470;
