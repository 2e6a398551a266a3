//! Command-line structure and connection to the daemon.

pub use crate::error::CliError;
use crate::error::Doing;
use crate::output;
use clap::{Args, Parser, Subcommand};
use jsonrpsee::core::client::{ClientT, Subscription, SubscriptionClientT};
use jsonrpsee::http_client::{HttpClient, HttpClientBuilder};
use jsonrpsee::ws_client::WsClientBuilder;
use pars_rpc::types::MessageInfo;
use pars_rpc::{SessionApiClient, auth};
use std::path::PathBuf;
use std::time::Duration;

/// The Pars Session command line.
#[derive(Debug, Parser)]
#[command(
    name = "parsctl",
    version,
    about = "Control a Pars Session daemon (sessiond)"
)]
pub struct Cli {
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    /// The daemon's data directory (finds its RPC address and cookie).
    #[arg(long, global = true, env = "PARS_DATADIR", value_name = "DIR")]
    datadir: Option<PathBuf>,
    /// The daemon's RPC address (overrides the one in the data directory), e.g. 127.0.0.1:9470.
    #[arg(long, global = true, env = "PARS_RPC", value_name = "ADDR")]
    rpc: Option<String>,
    #[command(subcommand)]
    command: Command,
}

impl Cli {
    /// Whether `--json` was given.
    pub fn json(&self) -> bool {
        self.json
    }

    /// What the command does, for the hint of its errors.
    pub fn doing(&self) -> Doing {
        match &self.command {
            Command::Session {
                command: SessionCommand::Send { .. },
            } => Doing::SendMessage,
            Command::Session {
                command: SessionCommand::Create { .. },
            } => Doing::CreateSession,
            Command::Trigger { .. } => Doing::Trigger,
            Command::Node { .. } => Doing::Node,
            _ => Doing::Other,
        }
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Identities, sessions and messages.
    Session {
        #[command(subcommand)]
        command: SessionCommand,
    },
    /// Groups: create, invite, remove, send, read.
    Group {
        #[command(subcommand)]
        command: crate::group::GroupCommand,
    },
    /// Files: send, receive, list and cancel transfers.
    File {
        #[command(subcommand)]
        command: crate::file::FileCommand,
    },
    /// The daemon's status.
    Status,
    /// Connected and known peers.
    Peers,
    /// Contract actions through a bridge (SessionTrigger).
    Trigger {
        #[command(subcommand)]
        command: TriggerCommand,
    },
    /// The local service node's stake and registration on chain (needs no running daemon).
    Node {
        #[command(flatten)]
        chain: crate::node::ChainArgs,
        #[command(subcommand)]
        command: crate::node::NodeCommand,
    },
}

#[derive(Debug, Subcommand)]
enum TriggerCommand {
    /// Sign a contract call with your identity's ML-DSA-87 key, send it to a bridge and wait for
    /// its receipt (transaction hash, block, status, or why it was refused).
    Send(Box<crate::trigger::SendArgs>),
}

#[derive(Debug, Subcommand)]
enum SessionCommand {
    /// The local identity.
    Identity {
        #[command(subcommand)]
        command: IdentityCommand,
    },
    /// Start a session with a Session ID (or pars://session/… link).
    Create {
        /// The recipient's Session ID.
        #[arg(long, value_name = "SESSION_ID")]
        recipient: String,
    },
    /// Send a text message.
    Send {
        /// The session: its ID or the peer's Session ID.
        #[arg(long, value_name = "ID")]
        session: String,
        /// The text to send.
        #[arg(long, value_name = "TEXT")]
        message: String,
    },
    /// List sessions.
    List,
    /// Show messages, of one session or of all.
    Messages {
        /// The session: its ID or the peer's Session ID (all sessions when omitted).
        #[arg(long, value_name = "ID")]
        session: Option<String>,
        /// Only messages since: Unix seconds, an age (90s, 15m, 2h, 7d) or a UTC date.
        #[arg(long, value_name = "TIME")]
        since: Option<String>,
        /// At most this many messages.
        #[arg(long, default_value_t = 1000)]
        limit: u32,
    },
    /// Mark a received message (and those before it) as read.
    Read {
        /// The session.
        #[arg(long, value_name = "ID")]
        session: String,
        /// The message ID.
        #[arg(long, value_name = "MESSAGE_ID")]
        message: String,
    },
    /// Close a session.
    Close {
        /// The session.
        #[arg(long, value_name = "ID")]
        session: String,
    },
    /// Print incoming messages as they arrive (until interrupted).
    Listen,
}

#[derive(Debug, Subcommand)]
enum IdentityCommand {
    /// Create a new identity.
    Create,
    /// Show the Session ID, link and public keys.
    Show(ShowArgs),
    /// Print the 24-word backup phrase. Anyone who sees it owns the identity.
    ExportMnemonic,
    /// Restore an identity from its 24-word phrase (read from a file or standard input, never
    /// from the command line, so it stays out of shell history).
    Restore {
        /// File holding the phrase (default: read standard input).
        #[arg(long, value_name = "FILE")]
        mnemonic_file: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
struct ShowArgs {
    /// Also draw the link as a QR code in the terminal.
    #[arg(long)]
    qr: bool,
}

struct Target {
    addr: String,
    token: String,
}

fn default_datadir() -> PathBuf {
    dirs::home_dir()
        .unwrap_or_else(|| PathBuf::from("."))
        .join(".pars")
        .join("session")
}

fn target(cli: &Cli) -> Result<Target, CliError> {
    let datadir = cli.datadir.clone().unwrap_or_else(default_datadir);
    let addr = match &cli.rpc {
        Some(a) => a
            .trim_start_matches("http://")
            .trim_start_matches("ws://")
            .to_string(),
        None => std::fs::read_to_string(datadir.join(auth::ADDR_FILE))
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| format!("127.0.0.1:{}", pars_rpc::DEFAULT_RPC_PORT)),
    };
    let token = auth::read_cookie(&datadir).map_err(|e| CliError::Unreachable {
        addr: addr.clone(),
        reason: format!(
            "no RPC cookie in {} ({e}); is sessiond running with this data directory?",
            datadir.display()
        ),
    })?;
    Ok(Target { addr, token })
}

fn http(t: &Target) -> Result<HttpClient, CliError> {
    HttpClientBuilder::default()
        .set_headers(auth::auth_headers(&t.token))
        .request_timeout(Duration::from_secs(120))
        .build(format!("http://{}", t.addr))
        .map_err(|e| CliError::Other(e.to_string()))
}

fn parse_session_id(s: &str) -> Result<pars_crypto::SessionId, CliError> {
    s.parse().map_err(|e: pars_crypto::SessionIdError| {
        CliError::BadInput(format!("invalid Session ID: {e}"))
    })
}

/// Runs a parsed command line.
pub async fn run(mut cli: Cli) -> Result<(), CliError> {
    let json = cli.json;
    if let Command::Node { chain, command } = cli.command {
        let datadir = cli.datadir.unwrap_or_else(default_datadir);
        return crate::node::run(&datadir, json, chain, command).await;
    }
    // Validate what can be validated before contacting the daemon.
    if let Command::File { command } = &mut cli.command {
        crate::file::prepare(command)?;
    }
    if let Command::Session {
        command: SessionCommand::Create { recipient },
    } = &cli.command
    {
        parse_session_id(recipient)?;
    }
    let since = match &cli.command {
        Command::Session {
            command: SessionCommand::Messages { since: Some(s), .. },
        } => Some(crate::time::parse_since(s, now()).map_err(CliError::BadInput)?),
        _ => None,
    };
    let restore_phrase = match &cli.command {
        Command::Session {
            command:
                SessionCommand::Identity {
                    command: IdentityCommand::Restore { mnemonic_file },
                },
        } => Some(read_phrase(mnemonic_file.as_deref())?),
        _ => None,
    };

    let trigger = match &cli.command {
        Command::Trigger {
            command: TriggerCommand::Send(a),
        } => Some(crate::trigger::request(
            a,
            &cli.datadir.clone().unwrap_or_else(default_datadir),
        )?),
        _ => None,
    };

    let t = target(&cli)?;
    let addr = t.addr.clone();
    let err = |e| CliError::from_client(e, &addr);
    match cli.command {
        Command::Status => {
            let s = http(&t)?.get_status().await.map_err(err)?;
            output::print(json, &s, output::status);
        }
        Command::Peers => {
            let p = http(&t)?.get_peers().await.map_err(err)?;
            output::print(json, &p, |p| output::peers(p));
        }
        Command::Node { .. } => {}
        Command::File { command } => {
            return crate::file::run(&t.addr, &t.token, json, command).await;
        }
        Command::Group { command } => {
            return crate::group::run(&http(&t)?, json, command, err).await;
        }
        Command::Trigger { .. } => {
            if let Some((request, timeout)) = trigger {
                return send_action(&t, json, request, timeout).await;
            }
        }
        Command::Session { command } => match command {
            SessionCommand::Identity { command } => match command {
                IdentityCommand::Create => {
                    let i = http(&t)?.create_identity().await.map_err(err)?;
                    output::print(json, &i, |i| output::identity(i, false));
                    if !json {
                        println!("\nBack it up now: `parsctl session identity export-mnemonic`.");
                    }
                }
                IdentityCommand::Show(a) => {
                    let i = http(&t)?.get_identity().await.map_err(err)?;
                    output::print(json, &i, |i| output::identity(i, a.qr));
                }
                IdentityCommand::ExportMnemonic => {
                    let m = http(&t)?.export_mnemonic().await.map_err(err)?;
                    output::print(json, &m, |m| {
                        println!("{}", m.mnemonic);
                        eprintln!(
                            "Keep these 24 words offline. Anyone who has them can read your messages and act as you."
                        );
                    });
                }
                IdentityCommand::Restore { .. } => {
                    let phrase = restore_phrase.unwrap_or_default();
                    let i = http(&t)?.restore_identity(phrase).await.map_err(err)?;
                    output::print(json, &i, |i| output::identity(i, false));
                }
            },
            SessionCommand::Create { recipient } => {
                let s = http(&t)?.create_session(recipient).await.map_err(err)?;
                output::print(json, &s, output::session);
            }
            SessionCommand::Send { session, message } => {
                if message.is_empty() {
                    return Err(CliError::BadInput("the message is empty".into()));
                }
                let r = http(&t)?
                    .send_message(session, message)
                    .await
                    .map_err(err)?;
                output::print(json, &r, output::sent);
            }
            SessionCommand::List => {
                let s = http(&t)?.get_sessions().await.map_err(err)?;
                output::print(json, &s, |s| output::sessions(s));
            }
            SessionCommand::Messages { session, limit, .. } => {
                let m = http(&t)?
                    .get_messages(session, since, Some(limit))
                    .await
                    .map_err(err)?;
                output::print(json, &m, |m| output::messages(m));
            }
            SessionCommand::Read { session, message } => {
                http(&t)?.mark_read(session, message).await.map_err(err)?;
                output::print(json, &serde_json::json!({"ok": true}), |_| {
                    println!("marked read")
                });
            }
            SessionCommand::Close { session } => {
                http(&t)?.close_session(session).await.map_err(err)?;
                output::print(json, &serde_json::json!({"ok": true}), |_| {
                    println!("session closed")
                });
            }
            SessionCommand::Listen => listen(&t, json).await?,
        },
    }
    Ok(())
}

async fn send_action(
    t: &Target,
    json: bool,
    request: pars_rpc::types::TriggerRequest,
    timeout: u64,
) -> Result<(), CliError> {
    let client = HttpClientBuilder::default()
        .set_headers(auth::auth_headers(&t.token))
        // The daemon may first wait up to max(timeout, 120 s) for a new session with the bridge
        // to complete (docs/protocol.md §6.4), then `timeout` for the receipt.
        .request_timeout(Duration::from_secs(
            timeout.max(120).saturating_add(timeout).saturating_add(60),
        ))
        .build(format!("http://{}", t.addr))
        .map_err(|e| CliError::Other(e.to_string()))?;
    if !json {
        eprintln!(
            "signing the action and sending it to bridge {}; waiting up to {timeout} s for its receipt",
            request.bridge
        );
    }
    let call = client.trigger_action(request);
    tokio::pin!(call);
    let started = std::time::Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(10));
    tick.tick().await;
    let r = loop {
        tokio::select! {
            r = &mut call => break r.map_err(|e| CliError::from_client(e, &t.addr))?,
            _ = tick.tick() => if !json {
                eprintln!("… still waiting for the bridge ({} s)", started.elapsed().as_secs());
            },
        }
    };
    output::print(json, &r, crate::trigger::human);
    crate::trigger::outcome(&r)
}

async fn listen(t: &Target, json: bool) -> Result<(), CliError> {
    let ws = WsClientBuilder::default()
        .set_headers(auth::auth_headers(&t.token))
        .build(format!("ws://{}", t.addr))
        .await
        .map_err(|e| CliError::from_client(e, &t.addr))?;
    let mut sub: Subscription<MessageInfo> = ws
        .subscribe_messages()
        .await
        .map_err(|e| CliError::from_client(e, &t.addr))?;
    if !json {
        eprintln!("listening for messages (Ctrl-C to stop)");
    }
    loop {
        tokio::select! {
            next = sub.next() => match next {
                Some(Ok(m)) => output::print(json, &m, output::message_line),
                Some(Err(e)) => return Err(CliError::Other(format!("bad notification from the daemon: {e}"))),
                None => return Err(CliError::Unreachable { addr: t.addr.clone(), reason: "the daemon closed the subscription".into() }),
            },
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
    }
}

fn read_phrase(file: Option<&std::path::Path>) -> Result<String, CliError> {
    use std::io::{IsTerminal, Read};
    let mut s = String::new();
    match file {
        Some(p) => {
            s = std::fs::read_to_string(p)
                .map_err(|e| CliError::BadInput(format!("cannot read {}: {e}", p.display())))?
        }
        None => {
            if std::io::stdin().is_terminal() {
                eprintln!("Type or paste the 24 words, then press Enter and Ctrl-D:");
            }
            std::io::stdin()
                .read_to_string(&mut s)
                .map_err(|e| CliError::BadInput(format!("cannot read standard input: {e}")))?;
        }
    }
    let words = s.split_whitespace().count();
    if words != 24 {
        return Err(CliError::BadInput(format!(
            "a backup phrase has 24 words; got {words}"
        )));
    }
    Ok(s)
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

// Keep the generic client traits in scope for the generated extension methods.
#[allow(dead_code)]
fn _traits<C: ClientT + SubscriptionClientT>() {}
