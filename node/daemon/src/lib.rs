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
//! - [`rpc`]: the JSON-RPC API over the engine, with a [`rpc::Courier`] for what needs the network;
//! - [`logging`]: `tracing` output with identifiers redacted unless asked for;
//! - [`transport`]: the one seam to the network (the onion-routed client);
//! - [`trigger`]: `triggerAction`, contract actions signed and sent to a bridge;
//! - [`workers`]: delivery, inbox polling, bundle publication and the RPC courier;
//! - [`run`]: the process itself (user mode and service-node mode, startup and shutdown).
//!
//! It is not a protocol implementation: handshakes, ratchets, swarms and onion packets live in
//! `pars-session`, `pars-net` and `pars-onion`.

pub mod config;
pub mod engine;
pub mod lock;
pub mod logging;
pub mod rpc;
pub mod run;
pub mod transport;
pub mod trigger;
pub mod workers;
