//! What a bundle mailbox takes, stored or copied: a valid bundle of its Session ID, newer than
//! the one held, kept as long as its signed prekey is valid and no longer.
//!
//! A bundle's version is its signed `created_at` (the owner's daemon never signs one older than
//! the last). Without these rules anyone holding an old bundle could roll its owner's prekey
//! back, or store it with a TTL of a minute and so erase the owner from the whole swarm.

use super::MailboxBackend;
use pars_crypto::SessionId;
use pars_crypto::bundle::IdentityBundle;
use pars_wire::swarm::{MAX_TTL_MS, Mailbox};

/// Checks `payload` as the bundle of `sid` at `now_ms` against the bundle `store` holds, and
/// returns when it expires (Unix ms): its prekey's expiry, at most the longest TTL away. The
/// bundle held may be stored again as it is (a republish); any other must be newer. The error
/// says why not.
pub(super) fn check<S: MailboxBackend>(
    store: &S,
    sid: &SessionId,
    payload: &[u8],
    now_ms: u64,
) -> Result<u64, String> {
    let bundle =
        IdentityBundle::from_bytes(payload).map_err(|e| format!("not an identity bundle: {e}"))?;
    bundle
        .verify(sid, now_ms / 1000)
        .map_err(|e| format!("not a valid identity bundle of this Session ID: {e}"))?;
    let held = store
        .get_since(&Mailbox::Bundle(*sid), 0, 1, usize::MAX, now_ms)
        .map_err(|e| format!("the bundle held could not be read: {e}"))?;
    if let Some(item) = held.items.first()
        && item.payload != payload
        && let Ok(old) = IdentityBundle::from_bytes(&item.payload)
        && old.created_at >= bundle.created_at
    {
        return Err(format!(
            "this bundle (created at {}) is not newer than the one held (created at {}): a \
             bundle replaces only an older one",
            bundle.created_at, old.created_at
        ));
    }
    let signed_expiry = bundle.prekey.expires_at.saturating_mul(1000);
    Ok(signed_expiry.min(now_ms.saturating_add(MAX_TTL_MS)))
}
