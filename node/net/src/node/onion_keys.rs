//! The node's onion keys: the key ring persisted in the data dir (written "not clean" at start,
//! "clean" with its replay caches at shutdown), rotated on schedule, and announced in a
//! re-signed node record.

use super::command::Command;
use super::handle::NetworkHandle;
use super::stats::bump;
use crate::NetError;
use crate::config::unix_ms;
use crate::identity::{sign_record, write_private};
use pars_crypto::classic::Ed25519SigningKey;
use pars_onion::{KeySchedule, OnionKeyRing};
use pars_wire::NodeId;
use pars_wire::onion_state::StoredKeyRing;
use rand_chacha::ChaCha20Rng;
use std::path::Path;

/// File name of the persisted onion key ring inside the data dir (mode 0600).
pub const ONION_KEYS_FILE: &str = "onion_keys";

/// Unix seconds.
pub(super) fn unix_secs() -> u64 {
    unix_ms() / 1000
}

/// A CSPRNG seeded from the operating system.
pub(crate) fn os_seeded_rng() -> Result<ChaCha20Rng, NetError> {
    use rand_core::SeedableRng;
    ChaCha20Rng::try_from_rng(&mut rand::rngs::SysRng)
        .map_err(|e| NetError::setup("OS randomness", e))
}

/// The pars-crypto form of the node's libp2p Ed25519 key (it signs the onion announcements).
pub(super) fn ed25519_identity(
    key: &libp2p::identity::Keypair,
) -> Result<Ed25519SigningKey, NetError> {
    let kp = key
        .clone()
        .try_into_ed25519()
        .map_err(|_| NetError::Identity("the node key is not Ed25519".into()))?;
    let mut secret = [0u8; 32];
    secret.copy_from_slice(kp.secret().as_ref());
    let k = Ed25519SigningKey::from_bytes(secret);
    zeroize::Zeroize::zeroize(&mut secret);
    Ok(k)
}

/// Loads the key ring persisted at a clean shutdown, or makes a fresh one (no file, another
/// node's file, an unclean shutdown, all keys expired). Either way the file is rewritten at once
/// as "not clean", so that a crash from now on cannot bring back a stale replay cache.
pub(super) fn load_ring(
    data_dir: &Path,
    node: NodeId,
    schedule: KeySchedule,
    now: u64,
    rng: &mut ChaCha20Rng,
) -> Result<OnionKeyRing, NetError> {
    let path = data_dir.join(ONION_KEYS_FILE);
    let restored = match std::fs::read(&path) {
        Ok(bytes) => {
            let bytes = pars_crypto::SecretBytes::new(bytes);
            match StoredKeyRing::decode(bytes.as_slice())
                .map_err(|e| e.to_string())
                .and_then(|s| {
                    OnionKeyRing::from_stored(&s, node, schedule, now).map_err(|e| e.to_string())
                }) {
                Ok(r) => Some(r),
                Err(why) => {
                    tracing::info!(%why, "making fresh onion keys");
                    None
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(NetError::io(path.display(), e)),
    };
    let mut ring = restored.unwrap_or_else(|| OnionKeyRing::new(node, schedule, now, rng));
    ring.maintain(now, rng);
    save_ring(data_dir, &ring, false)?;
    Ok(ring)
}

/// Writes the ring atomically, readable by the owner only.
pub(super) fn save_ring(data_dir: &Path, ring: &OnionKeyRing, clean: bool) -> Result<(), NetError> {
    let bytes = ring.to_stored(clean).encode();
    write_private(&data_dir.join(ONION_KEYS_FILE), bytes.as_slice())
}

/// The announcements of the ring, encoded for the node record.
pub(super) fn announce(
    ring: &OnionKeyRing,
    identity: &Ed25519SigningKey,
) -> Result<Vec<u8>, NetError> {
    ring.announce_ed25519(identity)
        .map(|l| l.to_bytes())
        .map_err(|e| NetError::sign("the onion keys", e))
}

/// Rotates the onion keys on schedule; on every change re-signs and republishes the node record
/// and rewrites the key file.
pub(super) async fn onion_maintainer(handle: NetworkHandle) {
    let ctx = handle.ctx.clone();
    let mut stop = ctx.shutdown.subscribe();
    let mut tick = tokio::time::interval(ctx.cfg.onion_maintain_interval);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = crate::config::stopped(&mut stop) => break,
        }
        let now = unix_secs();
        let changed = {
            let (Ok(mut router), Ok(mut rng)) = (ctx.onion.router.write(), ctx.onion.rng.lock())
            else {
                break;
            };
            router.keys_mut().maintain(now, &mut *rng)
        };
        if changed && let Err(e) = handle.republish_onion_keys() {
            tracing::warn!(error = %e, "could not republish onion keys");
        }
    }
}

impl NetworkHandle {
    /// Re-signs the node record with the current onion announcements, publishes it (local DHT
    /// store and a DHT put) and rewrites the key file.
    pub(super) fn republish_onion_keys(&self) -> Result<(), NetError> {
        let ctx = &self.ctx;
        let (keys, ring_file) = {
            let router = ctx
                .onion
                .router
                .read()
                .map_err(|_| NetError::Poisoned("onion router"))?;
            (
                announce(router.keys(), &ctx.onion.identity)?,
                save_ring(&ctx.cfg.data_dir, router.keys(), false),
            )
        };
        ring_file?;
        let rec = sign_record(
            &ctx.key,
            &ctx.record_addrs,
            keys,
            &ctx.cfg.operator,
            crate::SOFTWARE,
            unix_ms(),
        )?;
        if let Ok(mut r) = ctx.record.write() {
            *r = rec;
        }
        bump(&ctx.onion.counters.key_rotations, 1);
        let _ = ctx.cmd.try_send(Command::PublishRecord);
        Ok(())
    }
}
