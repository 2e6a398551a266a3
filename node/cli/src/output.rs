//! Human-readable and JSON output.

use crate::time::format_utc;
use pars_rpc::types::{
    DaemonStatus, DeliveryState, Direction, IdentityInfo, MessageInfo, PeerInfo, RegistryState,
    SendResult, SessionInfo,
};
use serde::Serialize;

/// Prints `value` as pretty JSON, or through `human`.
pub fn print<T: Serialize>(json: bool, value: &T, human: impl FnOnce(&T)) {
    if json {
        match serde_json::to_string_pretty(value) {
            Ok(s) => println!("{s}"),
            Err(e) => eprintln!("error: cannot encode the answer as JSON: {e}"),
        }
    } else {
        human(value)
    }
}

pub fn identity(i: &IdentityInfo, qr: bool) {
    println!("Session ID: {}", i.session_id);
    println!("Link:       {}", i.link);
    if qr {
        match qrcode::QrCode::new(i.link.as_bytes()) {
            Ok(code) => {
                let art = code
                    .render::<qrcode::render::unicode::Dense1x2>()
                    .quiet_zone(true)
                    .build();
                println!("\n{art}");
            }
            Err(e) => eprintln!("cannot draw a QR code: {e}"),
        }
    }
}

pub fn status(s: &DaemonStatus) {
    println!("sessiond {} on {}", s.version, s.network);
    println!(
        "identity:        {}",
        s.session_id
            .as_deref()
            .unwrap_or("none (parsctl session identity create)")
    );
    println!(
        "role:            {}",
        if s.service_node {
            "service node"
        } else {
            "client"
        }
    );
    println!("peer ID:         {}", s.peer_id);
    println!("listening on:    {}", s.listen_addrs.join(", "));
    println!("connected peers: {}", s.connected_peers);
    println!("service nodes:   {}", s.known_service_nodes);
    println!("outbox pending:  {}", s.outbox_pending);
    println!("uptime:          {}s", s.uptime_secs);
    if let Some(r) = &s.registry {
        let state = match r.state {
            RegistryState::Starting => "starting (serving the cached set)",
            RegistryState::CatchingUp => "catching up",
            RegistryState::Synced => "synced",
            RegistryState::Unreachable => "unreachable (serving the last known set)",
        };
        println!("registry:        {state}");
        println!("  contract:      {} on chain {}", r.registry, r.chain_id);
        match (r.last_block, r.head) {
            (Some(b), Some(h)) => println!("  block:         {b} (head {h})"),
            (Some(b), None) => println!("  block:         {b}"),
            _ => println!("  block:         none yet"),
        }
        println!(
            "  members:       {}{}",
            r.members,
            if r.from_cache {
                " (from the cache)"
            } else {
                ""
            }
        );
        if let Some(e) = &r.last_error {
            println!("  last error:    {e}");
        }
    }
    if let Some(p) = &s.paths {
        let state = if p.degraded {
            "DEGRADED (retrying around failing nodes)"
        } else {
            "ok"
        };
        println!("onion paths:     {state}");
        println!(
            "  failures:      {} of {} attempts in the last minute",
            p.recent_failures, p.recent_attempts
        );
        println!(
            "  guard:         {}{}",
            p.guard.as_deref().unwrap_or("none yet"),
            if p.guard_failures > 0 {
                format!(" ({} failures in a row)", p.guard_failures)
            } else {
                String::new()
            }
        );
        match p.directory_age_secs {
            Some(a) => println!("  directory:     {} nodes, {a}s old", p.directory_nodes),
            None => println!("  directory:     none held"),
        }
        println!("  timeout:       {} ms per attempt", p.attempt_timeout_ms);
        for n in &p.failing_nodes {
            println!("  failing node:  {n}");
        }
    }
}

pub fn peers(p: &[PeerInfo]) {
    if p.is_empty() {
        println!("no peers");
    }
    for x in p {
        println!(
            "{} {} {}{}",
            if x.connected { "●" } else { "○" },
            x.peer_id,
            if x.service_node { "service-node " } else { "" },
            x.operator
                .as_deref()
                .map(|o| format!("({o})"))
                .unwrap_or_default()
        );
    }
}

pub fn session(s: &SessionInfo) {
    println!("session {} with {} ({:?})", s.id, s.peer, s.state);
}

pub fn sessions(s: &[SessionInfo]) {
    if s.is_empty() {
        println!("no sessions (start one: parsctl session create --recipient <session-id>)");
    }
    for x in s {
        println!(
            "{}  peer {}  {:?}  unread {}  last {}",
            x.id,
            x.peer,
            x.state,
            x.unread,
            format_utc(x.last_activity)
        );
    }
}

pub fn sent(r: &SendResult) {
    println!("queued message {} ({})", r.id, delivery(&r.delivery));
}

fn delivery(d: &DeliveryState) -> String {
    match d {
        DeliveryState::Queued => "queued".into(),
        DeliveryState::Stored { copies } => format!("stored on {copies} swarm nodes"),
        DeliveryState::Read => "read".into(),
        DeliveryState::Failed => "failed".into(),
        DeliveryState::Received => "received".into(),
    }
}

pub fn messages(m: &[MessageInfo]) {
    if m.is_empty() {
        println!("no messages");
    }
    for x in m {
        message_line(x);
    }
}

pub fn message_line(x: &MessageInfo) {
    let arrow = match x.direction {
        Direction::Outgoing => "→",
        Direction::Incoming => "←",
    };
    let peer = &x.peer[..x.peer.len().min(12)];
    println!(
        "{} {} {}… {} [{}]{}",
        format_utc(x.local_time),
        arrow,
        peer,
        x.content,
        delivery(&x.delivery),
        x.error
            .as_deref()
            .map(|e| format!(" ({e})"))
            .unwrap_or_default()
    );
}
