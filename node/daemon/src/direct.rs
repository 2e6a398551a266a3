//! INTERIM: [`Transport`] over a plain `pars-net` node that talks to swarm members directly.
//! It exists only until the onion client of `pars-net` lands, which replaces it; it gives the
//! daemon no metadata protection (the swarm sees the client's peer ID).

use crate::transport::{Page, Stored, Transport};
use jsonrpsee::core::async_trait;
use libp2p::PeerId;
use pars_crypto::mldsa::MlDsaSigningKey;
use pars_net::{NetError, NetworkHandle, unix_ms};
use pars_wire::swarm::{
    ContentHash, MAX_RETRIEVE_BYTES, MAX_RETRIEVE_COUNT, Mailbox, SwarmRequest, SwarmResponse,
    sign_request,
};
use rand_chacha::ChaCha20Rng;
use std::sync::Mutex;

/// The interim direct transport.
pub struct Direct {
    net: NetworkHandle,
    rng: Mutex<ChaCha20Rng>,
}

impl Direct {
    /// Wraps a running node.
    pub fn new(net: NetworkHandle, rng: ChaCha20Rng) -> Self {
        Self {
            net,
            rng: Mutex::new(rng),
        }
    }

    fn sign(&self, req: &mut SwarmRequest, key: &MlDsaSigningKey) -> Result<(), NetError> {
        let mut rng = self
            .rng
            .lock()
            .map_err(|_| NetError::Identity("rng lock poisoned".into()))?;
        sign_request(req, key, unix_ms(), true, &mut *rng)
            .map_err(|e| NetError::Identity(e.to_string()))
    }

    async fn first_answer(
        &self,
        mailbox: &Mailbox,
        via: Option<PeerId>,
        req: &SwarmRequest,
    ) -> Result<(PeerId, SwarmResponse), NetError> {
        let members = match via {
            Some(p) => vec![p],
            None => self.net.swarm_of(mailbox),
        };
        let mut last = NetError::NoSwarm("the swarm is empty".into());
        for m in members {
            match self.net.request(m, req).await {
                Ok(r) => return Ok((m, r)),
                Err(e) => last = e,
            }
        }
        Err(last)
    }
}

fn refused(r: SwarmResponse) -> NetError {
    match r {
        SwarmResponse::Error {
            code,
            value,
            detail,
        } => NetError::Refused {
            code,
            value,
            detail,
        },
        other => NetError::Unexpected(format!("{other:?}")),
    }
}

#[async_trait]
impl Transport for Direct {
    fn peer_id(&self) -> PeerId {
        self.net.peer_id()
    }

    async fn store(
        &self,
        mailbox: &Mailbox,
        ttl_ms: u64,
        payload: Vec<u8>,
    ) -> Result<Stored, NetError> {
        let r = self.net.store_message(mailbox, ttl_ms, payload).await?;
        Ok(Stored {
            copies: r.copies,
            duplicate: r.duplicate,
        })
    }

    async fn retrieve_page(
        &self,
        mailbox: &Mailbox,
        via: Option<PeerId>,
        after: u64,
        key: Option<&MlDsaSigningKey>,
    ) -> Result<Page, NetError> {
        let mut req = SwarmRequest::Retrieve {
            mailbox: *mailbox,
            after,
            max_count: MAX_RETRIEVE_COUNT,
            max_bytes: MAX_RETRIEVE_BYTES,
            auth: None,
        };
        if let Some(k) = key {
            self.sign(&mut req, k)?;
        }
        match self.first_answer(mailbox, via, &req).await? {
            (member, SwarmResponse::Messages { items, more }) => Ok(Page {
                member,
                items,
                more,
            }),
            (_, other) => Err(refused(other)),
        }
    }

    async fn delete(
        &self,
        mailbox: &Mailbox,
        hashes: Vec<ContentHash>,
        key: &MlDsaSigningKey,
    ) -> Result<u32, NetError> {
        let mut req = SwarmRequest::Delete {
            mailbox: *mailbox,
            hashes,
            forwarded: false,
            auth: None,
        };
        self.sign(&mut req, key)?;
        match self.first_answer(mailbox, None, &req).await? {
            (_, SwarmResponse::Done { count }) => Ok(count),
            (_, other) => Err(refused(other)),
        }
    }

    async fn connected_peers(&self) -> Result<Vec<PeerId>, NetError> {
        self.net.connected_peers().await
    }

    fn swarm_of(&self, mailbox: &Mailbox) -> Vec<PeerId> {
        self.net.swarm_of(mailbox)
    }

    async fn shutdown(&self) {
        self.net.shutdown().await
    }
}
