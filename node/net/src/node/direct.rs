//! The direct, non-onion client API of a node handle (feature `test-utils`): store and retrieve
//! straight at swarm members, for tests and benchmarks. Real clients use
//! [`OnionClient`](crate::OnionClient).

use super::NetworkHandle;
use crate::NetError;
use crate::config::unix_ms;
use libp2p::PeerId;
use pars_crypto::CryptoRng;
use pars_crypto::mldsa::MlDsaSigningKey;
use pars_wire::swarm::{
    ContentHash, MAX_RETRIEVE_BYTES, MAX_RETRIEVE_COUNT, Mailbox, MailboxItem, SwarmRequest,
    SwarmResponse, sign_request,
};
use std::collections::HashSet;

/// What a successful store reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreReceipt {
    /// The swarm member that took the store.
    pub node: PeerId,
    /// The content hash.
    pub hash: ContentHash,
    /// Members holding it.
    pub copies: u8,
    /// Expiry, Unix milliseconds.
    pub expires_at_ms: u64,
    /// Whether the member already had it.
    pub duplicate: bool,
}

impl NetworkHandle {
    /// Sends raw frame bytes on the swarm protocol (the answer is returned undecoded).
    pub async fn request_raw(&self, peer: PeerId, frame: Vec<u8>) -> Result<Vec<u8>, NetError> {
        self.ctx.send_frame(peer, frame).await
    }

    /// Stores a message in its swarm through one of the members (following wrong-swarm answers
    /// and skipping unreachable members). The member replicates it.
    pub async fn store_message(
        &self,
        mailbox: &Mailbox,
        ttl_ms: u64,
        payload: Vec<u8>,
    ) -> Result<StoreReceipt, NetError> {
        let req = SwarmRequest::Store {
            mailbox: *mailbox,
            ttl_ms,
            payload,
        };
        match self.swarm_request(mailbox, &req).await? {
            (
                node,
                SwarmResponse::Stored {
                    hash,
                    copies,
                    expires_at_ms,
                    duplicate,
                },
            ) => Ok(StoreReceipt {
                node,
                hash,
                copies,
                expires_at_ms,
                duplicate,
            }),
            (_, other) => Err(NetError::from_answer(other)),
        }
    }

    /// Retrieves one page from one member, signing as the owner when `key` is given.
    pub async fn retrieve_page(
        &self,
        peer: PeerId,
        mailbox: &Mailbox,
        after: u64,
        key: Option<&MlDsaSigningKey>,
        rng: &mut impl CryptoRng,
    ) -> Result<(Vec<MailboxItem>, bool), NetError> {
        let mut req = SwarmRequest::Retrieve {
            mailbox: *mailbox,
            after,
            max_count: MAX_RETRIEVE_COUNT,
            max_bytes: MAX_RETRIEVE_BYTES,
            wait_ms: 0,
            auth: None,
        };
        if let Some(k) = key {
            sign_request(
                &mut req,
                k,
                &crate::set::node_id(&peer),
                unix_ms(),
                true,
                rng,
            )
            .map_err(|e| NetError::sign("the retrieve request", e))?;
        }
        match self.request(peer, &req).await? {
            SwarmResponse::Messages { items, more } => Ok((items, more)),
            other => Err(NetError::from_answer(other)),
        }
    }

    /// Retrieves everything in a mailbox from every reachable swarm member and merges it,
    /// each message once (by content hash). Cursors are per member.
    pub async fn retrieve_all(
        &self,
        mailbox: &Mailbox,
        key: Option<&MlDsaSigningKey>,
        rng: &mut impl CryptoRng,
    ) -> Result<Vec<MailboxItem>, NetError> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        let mut answered = 0;
        let mut last = String::from("the swarm is empty");
        for peer in self.swarm_of(mailbox) {
            let mut after = 0;
            let mut ok = true;
            loop {
                match self.retrieve_page(peer, mailbox, after, key, rng).await {
                    Ok((items, more)) => {
                        if let Some(l) = items.last() {
                            after = l.seq;
                        }
                        for it in items {
                            if seen.insert(it.hash) {
                                out.push(it);
                            }
                        }
                        if !more {
                            break;
                        }
                    }
                    Err(e) => {
                        last = e.to_string();
                        ok = false;
                        break;
                    }
                }
            }
            if ok {
                answered += 1;
            }
        }
        if answered == 0 {
            return Err(NetError::NoSwarm(last));
        }
        Ok(out)
    }
}
