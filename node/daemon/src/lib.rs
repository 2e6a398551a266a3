//! # sessiond
//!
//! The Pars Session daemon. This crate wires the protocol crates together: it owns the data
//! directory, its configuration and lock, the encrypted client store, the network node and the
//! JSON-RPC server. This library part holds what the `sessiond` binary is made of, so that each
//! piece is tested on its own:
//!
//! - [`config`]: flags, environment, the TOML file in the data directory and defaults, merged in
//!   that order of precedence;
//! - [`lock`]: one daemon per data directory;
//! - [`engine`]: the client's identity, sessions, messages and outbox over the encrypted store;
//! - [`app`]: the one owner of the engine, on its own thread: typed operations in, typed
//!   events out; everything below is a client of it;
//! - [`net`]: the one seam to the network (the onion-routed client), with a classified error;
//! - [`ops`]: what the RPC handlers and `triggerAction` share (sessions, the error mapping);
//! - [`group_ops`]: the group methods of the RPC (arguments, sessions with new members, views);
//! - [`transfers`]: file uploads and downloads, chunk by chunk, resumable, with progress;
//! - [`file_ops`]: the file methods of the RPC (arguments, the view of a transfer);
//! - [`rpc`]: the JSON-RPC API;
//! - [`trigger`]: `triggerAction`, contract actions signed and sent to a bridge;
//! - [`status`]: status views shared by `getStatus` and the service node's status file;
//! - [`logging`]: `tracing` output with identifiers redacted unless asked for;
//! - [`workers`]: delivery, the inbox scheduler and its driver, bundle publication;
//! - [`run`]: the process itself (user mode and service-node mode, startup and shutdown).
//!
//! The files import each other in one direction only: `run` → `rpc` and `workers`; `rpc` →
//! `trigger` → `ops` → `app` → `engine`; `rpc` → `group_ops` → `ops`; `rpc` → `file_ops` → `transfers` → `app`; `workers` → `app`; `net` uses no other module.
//!
//! It is not a protocol implementation: handshakes, ratchets, swarms and onion packets live in
//! `pars-session`, `pars-net` and `pars-onion`.

pub mod app;
pub mod config;
pub mod engine;
pub mod file_ops;
pub mod group_ops;
pub mod lock;
pub mod logging;
pub mod net;
pub mod ops;
pub mod rpc;
pub mod run;
pub mod status;
pub mod transfers;
pub mod trigger;
pub mod workers;
