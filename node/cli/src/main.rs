//! `parsctl`: the command line over `sessiond`'s JSON-RPC API.
//!
//! It finds the daemon through its data directory (`--datadir`, default `~/.pars/session`): the
//! RPC address in `rpc.addr` and the cookie token in `rpc.cookie`. `--rpc` overrides the address.
//! Every command prints for humans by default and JSON with `--json`; a failure is then one JSON
//! error object on standard output (`{"error":{"kind":…,"code":…,"message":…,"hint":…}}`).
//!
//! Exit codes come from the error's kind (`pars_error::ErrorKind::exit_code`): 0 success,
//! 1 other error, 2 usage error, 3 daemon not reachable, 4 bad input (including errors the
//! daemon reports about input), 5 network failure, 6 refused (wrong or missing RPC cookie).
//! `parsctl node …` uses the same codes for the EVM chain: 3 RPC unreachable, 4 bad input or
//! configuration (also a wrong chain), 5 a transaction not confirmed in time, 6 refused by the
//! registry (stake too low, already registered, still unbonding, …). `parsctl trigger send`:
//! 5 when no receipt came in time (the action stays queued), 6 when the bridge refused the
//! action or it reverted on chain. `parsctl file send/receive` (following a transfer): 1 when it
//! was cancelled or failed for the local disk, 4 for the file itself, 5 for the network.

mod commands;
mod error;
mod file;
mod group;
mod node;
mod output;
mod time;
mod trigger;

use clap::Parser;
use pars_error::HasKind;
use std::process::ExitCode;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = commands::Cli::parse();
    let (json, doing) = (cli.json(), cli.doing());
    match commands::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // A result that says what failed was printed already: under --json it stays the one
            // JSON document on standard output.
            if !(json && matches!(e, error::CliError::Answered { .. })) {
                error::ErrorReport::new(&e, doing).print(json);
            }
            ExitCode::from(e.kind().exit_code())
        }
    }
}
