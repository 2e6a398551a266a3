//! Owner authentication of deletes, expiry changes and owner retrieves: the signature, the
//! clock window and the replay cache of used authorisations, as a plain struct that takes `now`.

use pars_crypto::mldsa::MlDsaPublicKey;
use pars_crypto::sha3_256;
use pars_wire::swarm::{ErrorCode, Mailbox, SwarmRequest, SwarmResponse};
use std::collections::HashMap;

/// Entries kept before expired ones are swept.
const SWEEP_AT: usize = 100_000;

/// Checks owner authorisations. Every accepted `(owner, nonce)` is remembered until it could no
/// longer pass the window, so an authorisation is good once.
#[derive(Debug)]
pub struct Authorizer {
    window_ms: u64,
    /// (owner digest, nonce) → when the entry may be forgotten (Unix ms).
    used: HashMap<([u8; 32], [u8; 16]), u64>,
}

impl Authorizer {
    /// Accepts timestamps within `window_ms` of the node's clock (and remembers them as long).
    pub fn new(window_ms: u64) -> Self {
        Self {
            window_ms,
            used: HashMap::new(),
        }
    }

    /// Authorisations remembered now.
    pub fn remembered(&self) -> usize {
        self.used.len()
    }

    /// Checks the owner's authorisation of `req` for `mailbox` at `now_ms`, and records it.
    /// `bundle_key` finds the owner's key in a stored bundle when the request carries none.
    /// The error is the refusal to send.
    pub fn authorize(
        &mut self,
        now_ms: u64,
        mailbox: &Mailbox,
        req: &SwarmRequest,
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
        let key: MlDsaPublicKey = match &auth.public_key {
            Some(k) => k.clone(),
            None => bundle_key().ok_or_else(|| {
                unauthorized("no public key in the request and no bundle of the owner here")
            })?,
        };
        if sha3_256(&[key.as_bytes()]) != owner {
            return Err(unauthorized("the key is not the mailbox owner's"));
        }
        if auth.verify(&key, req).is_err() {
            return Err(unauthorized("owner signature does not verify"));
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
