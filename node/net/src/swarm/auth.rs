//! Owner authentication of deletes, expiry changes and owner retrieves: the signature (for this
//! node), the clock window and the replay cache of used authorisations, as a plain struct that
//! takes `now`.
//!
//! The replay cache lives in memory. It stays sound across a restart because an authorisation
//! signed before the node started is refused: whatever the lost cache held is older than that.

use pars_crypto::mldsa::MlDsaPublicKey;
use pars_crypto::sha3_256;
use pars_wire::NodeId;
use pars_wire::swarm::{ErrorCode, Mailbox, SwarmRequest, SwarmResponse};
use std::collections::HashMap;

/// Entries kept before expired ones are swept.
const SWEEP_AT: usize = 100_000;

/// Checks owner authorisations. Every accepted `(owner, nonce)` is remembered until it could no
/// longer pass the window, so an authorisation is good once.
#[derive(Debug)]
pub struct Authorizer {
    window_ms: u64,
    /// When this node started (Unix ms): older authorisations may have been used before.
    started_ms: u64,
    /// (owner digest, nonce) → when the entry may be forgotten (Unix ms).
    used: HashMap<([u8; 32], [u8; 16]), u64>,
}

impl Authorizer {
    /// Accepts timestamps within `window_ms` of the node's clock (and remembers them as long),
    /// and none from before `started_ms`, when the node started.
    pub fn new(window_ms: u64, started_ms: u64) -> Self {
        Self {
            window_ms,
            started_ms,
            used: HashMap::new(),
        }
    }

    /// Authorisations remembered now.
    pub fn remembered(&self) -> usize {
        self.used.len()
    }

    /// Checks the owner's authorisation of `req` for `mailbox` at `now_ms`, signed for the node
    /// `target` (this node, or the member that forwarded the request), and records it.
    /// `bundle_key` finds the owner's key in a stored bundle when the request carries none.
    /// The error is the refusal to send.
    pub fn authorize(
        &mut self,
        now_ms: u64,
        mailbox: &Mailbox,
        req: &SwarmRequest,
        target: &NodeId,
        bundle_key: impl FnOnce() -> Option<MlDsaPublicKey>,
    ) -> Result<(), SwarmResponse> {
        let unauthorized = |why: &str| SwarmResponse::error(ErrorCode::Unauthorized, 0, why);
        let Some(owner) = mailbox.owner_digest() else {
            return Err(SwarmResponse::error(
                ErrorCode::Forbidden,
                0,
                "this namespace has no owner: its messages only expire",
            ));
        };
        let Some(auth) = req.auth() else {
            return Err(unauthorized(
                "this operation needs the mailbox owner's signature (OwnerAuth)",
            ));
        };
        let window = self.window_ms;
        if auth.timestamp_ms.abs_diff(now_ms) > window {
            return Err(unauthorized(
                "authorisation timestamp is outside the node's window; check the clock",
            ));
        }
        if auth.timestamp_ms < self.started_ms {
            return Err(SwarmResponse::error(
                ErrorCode::Replay,
                0,
                "this authorisation was signed before the node started (it may have been used \
                 before); sign a fresh request",
            ));
        }
        let key: MlDsaPublicKey = match &auth.public_key {
            Some(k) => k.clone(),
            None => bundle_key().ok_or_else(|| {
                unauthorized("no public key in the request and no bundle of the owner here")
            })?,
        };
        if sha3_256(&[key.as_bytes()]) != owner {
            return Err(unauthorized("the key is not the mailbox owner's"));
        }
        if auth.verify(&key, req, target).is_err() {
            return Err(unauthorized(
                "owner signature does not verify (an authorisation is good only at the member \
                 it was signed for)",
            ));
        }
        if self.used.len() > SWEEP_AT {
            self.used.retain(|_, exp| *exp > now_ms);
        }
        let slot = (owner, auth.nonce);
        if self.used.get(&slot).is_some_and(|exp| *exp > now_ms) {
            return Err(SwarmResponse::error(
                ErrorCode::Replay,
                0,
                "this authorisation was already used; sign a fresh request",
            ));
        }
        self.used.insert(
            slot,
            auth.timestamp_ms
                .saturating_add(window)
                .max(now_ms + window),
        );
        Ok(())
    }
}
