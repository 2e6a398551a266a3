//! `sessiond`: the Pars Session daemon. See the crate documentation and `docs/user-guide.md`.
//!
//! Exit codes: 0 after a clean shutdown, 1 when the daemon cannot start or fails, 2 for a
//! usage or configuration error.

use clap::Parser;
use sessiond::config::{Config, Flags};
use sessiond::{logging, run};
use std::process::ExitCode;

fn main() -> ExitCode {
    let flags = Flags::parse();
    let print_peer_id = flags.print_peer_id;
    let cfg = match Config::load(flags) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("sessiond: {e}");
            return ExitCode::from(2);
        }
    };
    logging::init(&cfg.log, cfg.log_identifiers);
    if print_peer_id {
        return match run::peer_id(&cfg) {
            Ok(p) => {
                println!("{p}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("sessiond: {e}");
                ExitCode::from(1)
            }
        };
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sessiond: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(run::run(cfg, run::shutdown_signal())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "sessiond stopped");
            eprintln!("sessiond: {e}");
            ExitCode::from(1)
        }
    }
}
