//! End-to-end tests of Pars Session with real processes: `sessiond` service nodes and user
//! daemons on loopback, driven through the JSON-RPC API and `parsctl`. The tests are in
//! `tests/tests/`; they run the `sessiond` and `parsctl` binaries of the same build, which
//! `cargo test --workspace` builds before running any test (a lone `cargo test -p pars-e2e`
//! needs `cargo build -p sessiond -p parsctl` first).
