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
    let peer: String = x.peer.chars().take(12).collect();
    println!(
        "{} {} {}… {} [{}]{}",
        format_utc(x.local_time),
        arrow,
        peer,
        message_text(x),
        delivery(&x.delivery),
        x.error
            .as_deref()
            .map(|e| format!(" ({e})"))
            .unwrap_or_default()
    );
}

/// What a message says: its text, or for a file message `[file] <name> (<size>) id <file ID>`
/// (the full file ID, for `parsctl file receive --file`).
pub fn message_text(x: &MessageInfo) -> String {
    match &x.file {
        Some(f) => format!(
            "[file] {} ({}) id {}",
            printable(&f.name),
            human_size(f.size),
            f.file_id
        ),
        None => x.content.clone(),
    }
}

/// `s` with control characters (a terminal's escape sequences among them) shown as `?`: for
/// names that come from other people, such as file names.
pub fn printable(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// A size for people: bytes below 1 KB, else KB, MB or GB (powers of 1000) with one decimal.
/// A value that would round up to 1000.0 moves to the next unit (`999,950` is `1.0 MB`).
pub fn human_size(n: u64) -> String {
    if n < 1000 {
        return format!("{n} B");
    }
    let mut v = n as f64;
    for unit in ["KB", "MB"] {
        v /= 1000.0;
        if v < 999.95 {
            return format!("{v:.1} {unit}");
        }
    }
    format!("{:.1} GB", v / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pars_rpc::types::FileInfo;

    #[test]
    fn sizes_read_in_units_of_1000_with_one_decimal() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(999), "999 B");
        assert_eq!(human_size(1000), "1.0 KB");
        assert_eq!(human_size(1234), "1.2 KB");
        assert_eq!(human_size(999_949), "999.9 KB");
        assert_eq!(human_size(999_950), "1.0 MB");
        assert_eq!(human_size(1_250_000), "1.2 MB");
        assert_eq!(human_size(2 * 1024 * 1024 * 1024), "2.1 GB");
        assert_eq!(human_size(5_000_000_000_000), "5000.0 GB");
        assert_eq!(human_size(u64::MAX), "18446744073.7 GB");
    }

    fn message(file: Option<FileInfo>) -> MessageInfo {
        MessageInfo {
            id: "00".repeat(16),
            session: "ab".repeat(32),
            peer: format!("05{}", "cd".repeat(32)),
            direction: Direction::Incoming,
            content: "file: report.pdf (1234567 bytes)".into(),
            content_type: "file".into(),
            content_hex: String::new(),
            timestamp: 0,
            local_time: 0,
            sequence: 0,
            delivery: DeliveryState::Received,
            read: false,
            error: None,
            group: None,
            file,
        }
    }

    #[test]
    fn a_file_message_shows_its_name_size_and_full_file_id() {
        let id = format!("3fa4{}", "0".repeat(60));
        let m = message(Some(FileInfo {
            file_id: id.clone(),
            name: "report\u{1b}[2J.pdf".into(),
            mime_type: "application/pdf".into(),
            size: 1_234_567,
        }));
        assert_eq!(
            message_text(&m),
            format!("[file] report?[2J.pdf (1.2 MB) id {id}")
        );
        let mut text = message(None);
        text.content = "hello".into();
        text.content_type = "text".into();
        assert_eq!(message_text(&text), "hello");
    }
}
