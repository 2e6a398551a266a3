//! What the group tests share: users with real engines over encrypted redb stores in temp
//! dirs, and a network of a few maps in memory that does what the swarms do for the daemon's
//! group worker: pairwise inboxes, file mailboxes (blob chunks) and group mailboxes in store
//! order.

#![allow(
    dead_code,
    unused_imports,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

pub use pars_crypto::SessionId;
pub use pars_store::client::{ClientStore, KdfParams, Unlock};
pub use pars_wire::group::{BlobAssembler, Payload, seal_blob};
pub use pars_wire::message::ContentType;
pub use pars_wire::records::{Delivery, GroupOutKind, GroupState};
pub use pars_wire::swarm::content_hash;
pub use pars_wire::{FileId, GroupId};
pub use rand_chacha::ChaCha20Rng;
pub use rand_core::SeedableRng;
pub use sessiond::engine::{Engine, EngineError, GroupDelivered, GroupReceived};
pub use std::collections::HashMap;
pub use std::path::Path;

pub const T0: u64 = 1_795_651_200;

pub struct User {
    pub dir: tempfile::TempDir,
    pub engine: Engine,
    pub id: SessionId,
    /// Items of each group mailbox read so far.
    pub cursors: HashMap<GroupId, usize>,
    /// Whether a refused group item fails the test (else it is kept in `refused`).
    pub strict: bool,
    /// Group items refused, when not strict.
    pub refused: Vec<String>,
}

pub fn store(path: &Path, create: bool) -> ClientStore {
    let mut rng = ChaCha20Rng::seed_from_u64(path.as_os_str().len() as u64);
    if create {
        ClientStore::create(
            path,
            Unlock::Passphrase(b"pw"),
            KdfParams::insecure_for_tests(),
            &mut rng,
        )
        .unwrap()
    } else {
        ClientStore::open(path, Unlock::Passphrase(b"pw")).unwrap()
    }
}

impl User {
    pub fn new(rng: &mut ChaCha20Rng) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut engine = Engine::open(store(&dir.path().join("client.redb"), true)).unwrap();
        let id = engine.create_identity(T0, rng).unwrap();
        Self {
            dir,
            engine,
            id,
            cursors: HashMap::new(),
            strict: true,
            refused: Vec::new(),
        }
    }

    /// Closes the store and opens it again: everything comes back from disk.
    pub fn restart(&mut self) {
        let scratch = self.dir.path().join("scratch.redb");
        let _ = std::fs::remove_file(&scratch);
        let old = std::mem::replace(
            &mut self.engine,
            Engine::open(store(&scratch, true)).unwrap(),
        );
        drop(old);
        self.engine = Engine::open(store(&self.dir.path().join("client.redb"), false)).unwrap();
    }
}

/// What the swarms hold.
#[derive(Default)]
pub struct Net {
    pub inboxes: HashMap<SessionId, Vec<Vec<u8>>>,
    pub files: HashMap<FileId, Vec<Vec<u8>>>,
    pub groups: HashMap<GroupId, Vec<Vec<u8>>>,
    pub access_records: usize,
}

impl Net {
    pub fn fetch(&self, blob: &pars_wire::group::BlobRef) -> Option<Vec<u8>> {
        let mut asm = BlobAssembler::new(blob.clone());
        for c in self.files.get(&blob.file)? {
            asm.add(c).unwrap();
        }
        asm.finish().ok().map(|b| b.to_vec())
    }
}

/// One round of everything a user's workers do. Returns whether anything happened.
pub fn step(u: &mut User, net: &mut Net, now: u64, rng: &mut ChaCha20Rng) -> bool {
    let mut busy = false;
    // Pairwise: deliver the outbox, read the inbox.
    for r in u.engine.outbox_due(now).unwrap() {
        net.inboxes
            .entry(r.recipient)
            .or_default()
            .push(r.blob.clone());
        u.engine.mark_stored(&r.id, 3, rng).unwrap();
        busy = true;
    }
    for blob in net.inboxes.remove(&u.id).unwrap_or_default() {
        u.engine.receive(&blob, now, rng).unwrap();
        busy = true;
    }
    // Group tasks.
    for t in u.engine.group_tasks(now).unwrap() {
        let fetched = match t.blob() {
            Some(b) => match net.fetch(b) {
                Some(d) => Some(d),
                None => {
                    u.engine.defer_group_task(&t.key, now, 16, rng).unwrap();
                    busy = true;
                    continue;
                }
            },
            None => None,
        };
        match u.engine.run_group_task(&t, fetched.as_deref(), now, rng) {
            Ok(_) => busy = true,
            Err(EngineError::PendingCommit(_)) => {
                u.engine.defer_group_task(&t.key, now, 16, rng).unwrap();
                busy = true;
            }
            Err(e) => panic!("task refused: {e}"),
        }
    }
    // The group outbox, in order.
    let mut outcomes = Vec::new();
    for (key, e) in u.engine.group_outbox().unwrap() {
        if let Some((b, data)) = &e.blob {
            net.files
                .entry(b.file)
                .or_default()
                .extend(seal_blob(b, data).unwrap());
        }
        match e.kind {
            GroupOutKind::Item => net.groups.entry(e.group).or_default().push(e.item.clone()),
            GroupOutKind::Access => net.access_records += 1,
            GroupOutKind::BlobOnly => {}
        }
        outcomes.push(GroupDelivered::Stored { key, copies: 3 });
        busy = true;
    }
    u.engine
        .record_group_deliveries(&outcomes, now, rng)
        .unwrap();
    // The group mailboxes.
    for g in u.engine.active_groups().unwrap() {
        let items = net.groups.get(&g.group).cloned().unwrap_or_default();
        let from = u.cursors.get(&g.group).copied().unwrap_or(0);
        for item in &items[from.min(items.len())..] {
            let mls = match Payload::decode(item).unwrap() {
                Payload::Inline(m) => m,
                Payload::Blob(b) => net.fetch(&b).expect("blobs are stored before their item"),
            };
            match u
                .engine
                .group_receive(&g.group, &content_hash(item), &mls, now, rng)
            {
                Ok(_) => {}
                Err(e) if u.strict => panic!("{} refused a group item: {e}", u.id.short()),
                Err(e) => u.refused.push(e.to_string()),
            }
            busy = true;
        }
        u.cursors.insert(g.group, items.len());
    }
    busy
}

/// Runs every user's workers until nothing moves; the clock advances past every backoff.
pub fn settle(users: &mut [&mut User], net: &mut Net, now: &mut u64, rng: &mut ChaCha20Rng) {
    for _ in 0..50 {
        let mut busy = false;
        for u in users.iter_mut() {
            busy |= step(u, net, *now, rng);
        }
        *now += 700;
        if !busy {
            return;
        }
    }
    panic!("the group did not settle");
}

pub fn accept_invites(u: &mut User, now: u64, rng: &mut ChaCha20Rng) -> usize {
    let invites = u.engine.group_invites().unwrap();
    for (id, _, _) in &invites {
        u.engine.accept_invite(&id.to_string(), now, rng).unwrap();
    }
    invites.len()
}

pub fn texts(u: &User, g: &GroupId) -> Vec<String> {
    u.engine
        .group_messages(g, 0, 1000)
        .unwrap()
        .into_iter()
        .filter(|m| m.message.content_type == ContentType::Text as u8)
        .map(|m| String::from_utf8(m.message.content).unwrap())
        .collect()
}

pub fn open(a: &mut User, b: &User, rng: &mut ChaCha20Rng) {
    let bundle = b.engine.bundle().unwrap().clone();
    a.engine.open_session(&b.id, &bundle, T0, rng).unwrap();
}
