//! [`SwarmService`]: one swarm-protocol request in, one effect out.

use super::access::{Access, access_of, access_records, valid_access_record};
use super::store::store_error;
use super::{Authorizer, MailboxBackend};
use crate::set::Membership;
use libp2p::PeerId;
use pars_crypto::bundle::IdentityBundle;
use pars_crypto::mldsa::MlDsaPublicKey;
use pars_store::{Page, StoreError};
use pars_wire::swarm::{
    ContentHash, DEFAULT_TTL_MS, ErrorCode, GROUP_ACCESS_LEN, MAX_RETRIEVE_BYTES,
    MAX_RETRIEVE_COUNT, MAX_TTL_MS, MIN_COPIES, Mailbox, MailboxItem, ReplicaItem, SwarmRequest,
    SwarmResponse,
};
use std::sync::Mutex;
use std::time::Duration;

/// The retry hint of a [`ErrorCode::Busy`] refusal, milliseconds.
pub const BUSY_RETRY_MS: u32 = 1000;

/// What the service needs of the node's settings.
#[derive(Clone, Debug)]
pub struct ServiceConfig {
    /// Per-message size cap.
    pub max_payload: usize,
    /// Accepted clock difference of owner authorisations (and replay-cache lifetime).
    pub auth_window: Duration,
}

/// A retrieve's page request, after the node's caps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageQuery {
    /// The mailbox.
    pub mailbox: Mailbox,
    /// The cursor.
    pub after: u64,
    /// Most messages.
    pub max_count: usize,
    /// Most payload bytes.
    pub max_bytes: usize,
    /// Only messages with a sequence number below this one (an older generation's member
    /// token of a group mailbox sees what was stored before the next generation's record).
    pub before: Option<u64>,
}

/// A store written here whose answer waits for the replicas' acknowledgements: pass it to
/// [`SwarmService::stored`] with how many acknowledged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PendingStore {
    hash: ContentHash,
    expires_at_ms: u64,
    duplicate: bool,
    swarm_len: usize,
}

/// The effect the driver carries out for a request.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// Answer with this.
    Respond(SwarmResponse),
    /// Answer with this node's signed record.
    Record,
    /// Copy `item` to each of `to` (a `Replicate` request each), then, for each of them that
    /// did not acknowledge, to the next of `spare` in turn; count the peers that acknowledged
    /// and answer [`SwarmService::stored`].
    Replicate {
        /// The other members meant to hold the mailbox ([`Mailbox::holders`]), closest first.
        to: Vec<PeerId>,
        /// The rest of the swarm, closest first: asked only in place of a member of `to` that
        /// did not acknowledge (a file chunk's fourth member; empty for a message).
        spare: Vec<PeerId>,
        /// The stored message.
        item: ReplicaItem,
        /// What the answer is made from.
        pending: PendingStore,
    },
    /// A long-poll on an empty mailbox: hold it (or answer [`SwarmService::busy`] when
    /// [`Holds`](super::Holds) is full), look again with [`SwarmService::look`] once the hold is
    /// registered, and when a message arrives or the wait ends answer [`SwarmService::page`].
    Hold {
        /// The page to answer with.
        query: PageQuery,
        /// How long the client asked to wait.
        wait_ms: u32,
    },
    /// Send `request` (marked as forwarded) to each of `to`, wait for their answers (ignored),
    /// then answer `then`.
    Forward {
        /// The other members of the mailbox's swarm.
        to: Vec<PeerId>,
        /// The request they get.
        request: SwarmRequest,
        /// The answer after that.
        then: SwarmResponse,
    },
}

/// What [`SwarmService::handle`] decided.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    /// The effect.
    pub step: Step,
    /// Mailboxes that got a new message here: wake their held retrieves.
    pub arrived: Vec<Mailbox>,
    /// Replica copies accepted from other members.
    pub replicas_accepted: u64,
}

impl Outcome {
    fn respond(resp: SwarmResponse) -> Self {
        Self {
            step: Step::Respond(resp),
            arrived: Vec::new(),
            replicas_accepted: 0,
        }
    }
}

/// The swarm protocol's service logic, sans IO: owner authentication with its replay cache,
/// placement (wrong-swarm answers), size and TTL rules, bundle verification, and what to store,
/// replicate, hold or forward. Shared by the node's request tasks (`&self`; only the replay
/// cache takes a short lock).
#[derive(Debug)]
pub struct SwarmService {
    local: PeerId,
    cfg: ServiceConfig,
    auth: Mutex<Authorizer>,
    /// Held from a bundle's check against the bundle held to its write, so that an older
    /// bundle checked at the same time cannot be written after a newer one.
    bundles: tokio::sync::Mutex<()>,
}

impl SwarmService {
    /// The service of node `local`, started at `started_ms` (Unix ms): owner authorisations
    /// signed before then are refused, since the replay cache of an earlier run is gone.
    pub fn new(local: PeerId, cfg: ServiceConfig, started_ms: u64) -> Self {
        let window = u64::try_from(cfg.auth_window.as_millis()).unwrap_or(u64::MAX);
        Self {
            local,
            cfg,
            auth: Mutex::new(Authorizer::new(window, started_ms)),
            bundles: tokio::sync::Mutex::new(()),
        }
    }

    /// The node this service runs on.
    pub fn local(&self) -> PeerId {
        self.local
    }

    /// Handles `req` from `from` at `now_ms` (Unix ms). `from_member` says whether `from` is a
    /// member of the current or the previous set; `members` is the current set.
    pub async fn handle<S: MailboxBackend>(
        &self,
        now_ms: u64,
        from: PeerId,
        from_member: bool,
        members: &Membership,
        store: &S,
        req: SwarmRequest,
    ) -> Outcome {
        match req {
            SwarmRequest::GetRecord => Outcome {
                step: Step::Record,
                arrived: Vec::new(),
                replicas_accepted: 0,
            },
            SwarmRequest::Store {
                mailbox,
                ttl_ms,
                payload,
            } => {
                let _one_bundle_at_a_time = match mailbox {
                    Mailbox::Bundle(_) => Some(self.bundles.lock().await),
                    _ => None,
                };
                let (hash, ttl_ms) = match self.check_plain_store(now_ms, store, &mailbox, &payload)
                {
                    Ok((hash, signed_ttl)) => (hash, signed_ttl.unwrap_or(ttl_ms)),
                    Err(resp) => return Outcome::respond(resp),
                };
                self.store(now_ms, members, store, mailbox, ttl_ms, payload, hash)
                    .await
            }
            SwarmRequest::GroupStore {
                group,
                token,
                ttl_ms,
                payload,
            } => {
                let mailbox = Mailbox::Group(group);
                if let Some(w) = self.wrong_swarm(members, &mailbox) {
                    return Outcome::respond(w);
                }
                match access_of(store, group, &token, now_ms) {
                    Ok(Access::Current) => {
                        self.store(now_ms, members, store, mailbox, ttl_ms, payload, None)
                            .await
                    }
                    Ok(Access::Earlier {
                        generation,
                        current,
                        ..
                    }) => Outcome::respond(SwarmResponse::error(
                        ErrorCode::Unauthorized,
                        0,
                        format!(
                            "this access token is generation {generation}'s; the group is at \
                                 {current}: fetch and process its commits, then store with the \
                                 new token"
                        ),
                    )),
                    Err(resp) => Outcome::respond(resp),
                }
            }
            SwarmRequest::GroupRetrieve {
                group,
                token,
                after,
                max_count,
                max_bytes,
                wait_ms,
            } => {
                let mailbox = Mailbox::Group(group);
                if let Some(w) = self.wrong_swarm(members, &mailbox) {
                    return Outcome::respond(w);
                }
                let (before, wait_ms) = match access_of(store, group, &token, now_ms) {
                    Ok(Access::Current) => (None, wait_ms),
                    // An old token waits for nothing: nothing it may see arrives any more.
                    Ok(Access::Earlier { until_seq, .. }) => (Some(until_seq), 0),
                    Err(resp) => return Outcome::respond(resp),
                };
                let query = PageQuery {
                    mailbox,
                    after,
                    max_count: usize::from(max_count.min(MAX_RETRIEVE_COUNT)),
                    max_bytes: max_bytes.min(MAX_RETRIEVE_BYTES) as usize,
                    before,
                };
                self.first_look(query, wait_ms, store, now_ms)
            }
            SwarmRequest::Replicate { items } => {
                if !from_member {
                    return Outcome::respond(SwarmResponse::error(
                        ErrorCode::NotMember,
                        0,
                        "replication is accepted only from service-set members",
                    ));
                }
                self.replicate(now_ms, members, store, items).await
            }
            ref r @ SwarmRequest::Retrieve {
                mailbox,
                after,
                max_count,
                max_bytes,
                wait_ms,
                ..
            } => {
                if let Some(w) = self.wrong_swarm(members, &mailbox) {
                    return Outcome::respond(w);
                }
                if mailbox.owner_retrieves()
                    && let Err(resp) = self.authorize(now_ms, store, &mailbox, r, self.local)
                {
                    return Outcome::respond(resp);
                }
                let query = PageQuery {
                    mailbox,
                    after,
                    max_count: usize::from(max_count.min(MAX_RETRIEVE_COUNT)),
                    max_bytes: max_bytes.min(MAX_RETRIEVE_BYTES) as usize,
                    before: None,
                };
                // Only an owner may wait on a mailbox: a retrieve anyone may make (a bundle, a
                // file, a chunk) is answered at once, so strangers cannot take the slots.
                let wait_ms = if mailbox.owner_retrieves() {
                    wait_ms
                } else {
                    0
                };
                self.first_look(query, wait_ms, store, now_ms)
            }
            ref
            r @ (SwarmRequest::Delete { mailbox, .. } | SwarmRequest::Expire { mailbox, .. }) => {
                if let Some(w) = self.wrong_swarm(members, &mailbox) {
                    return Outcome::respond(w);
                }
                // A delete or expiry is signed for the member the owner sent it to, which
                // forwards it to the rest of the swarm: a forwarded one from a member is checked
                // as signed for that member.
                let forwarded = matches!(
                    r,
                    SwarmRequest::Delete {
                        forwarded: true,
                        ..
                    } | SwarmRequest::Expire {
                        forwarded: true,
                        ..
                    }
                );
                let signed_for = if forwarded && from_member {
                    from
                } else {
                    self.local
                };
                if let Err(resp) = self.authorize(now_ms, store, &mailbox, r, signed_for) {
                    return Outcome::respond(resp);
                }
                self.delete_or_expire(now_ms, members, store, mailbox, r.clone())
                    .await
            }
        }
    }

    /// A retrieve's first look: the page, or a hold when it is empty and the client waits.
    fn first_look<S: MailboxBackend>(
        &self,
        query: PageQuery,
        wait_ms: u32,
        store: &S,
        now_ms: u64,
    ) -> Outcome {
        let first = read_page(store, &query, now_ms);
        let step = if wait_ms == 0 || !first.as_ref().is_ok_and(|p| p.items.is_empty()) {
            Step::Respond(messages(first))
        } else {
            Step::Hold { query, wait_ms }
        };
        Outcome {
            step,
            arrived: Vec::new(),
            replicas_accepted: 0,
        }
    }

    /// What a plain [`SwarmRequest::Store`] must show for its namespace: nothing for an inbox
    /// or a file; a valid bundle of the Session ID newer than the one held (its TTL then is
    /// its signed prekey's, whatever the request asked); an access record of the group, signed
    /// by its owner key, newer than every record here. Group mailboxes take member stores
    /// only. Returns the content hash when it was computed, and the TTL the content imposes.
    fn check_plain_store<S: MailboxBackend>(
        &self,
        now_ms: u64,
        store: &S,
        mailbox: &Mailbox,
        payload: &[u8],
    ) -> Result<(Option<ContentHash>, Option<u64>), SwarmResponse> {
        match mailbox {
            Mailbox::Inbox(_) | Mailbox::File(_) => Ok((None, None)),
            Mailbox::Bundle(sid) => match super::bundle::check(store, sid, payload, now_ms) {
                Ok(expires_at_ms) => Ok((None, Some(expires_at_ms.saturating_sub(now_ms)))),
                Err(why) => Err(SwarmResponse::error(ErrorCode::InvalidContent, 0, why)),
            },
            Mailbox::Chunk(id) => {
                // The hash is the store's content hash too: hashed once.
                let hash = pars_wire::swarm::content_hash(payload);
                if hash == id.0 {
                    Ok((Some(hash), None))
                } else {
                    Err(SwarmResponse::error(
                        ErrorCode::InvalidContent,
                        0,
                        "a file chunk's mailbox takes only the chunk whose SHA3-256 is its \
                         address",
                    ))
                }
            }
            Mailbox::Group(_) => Err(SwarmResponse::error(
                ErrorCode::Forbidden,
                0,
                "a group mailbox takes stores from its members only (a group store with the \
                 member access token)",
            )),
            Mailbox::GroupAccess(g) => {
                let record = valid_access_record(*g, payload)
                    .map_err(|why| SwarmResponse::error(ErrorCode::InvalidContent, 0, why))?;
                let newest = access_records(store, *g, now_ms)
                    .map_err(store_error)?
                    .last()
                    .map(|r| (r.generation, r.token_hash));
                match newest {
                    // The owner renewing the current record before it expires.
                    Some((n, hash)) if n == record.generation && hash == record.token_hash => {
                        Ok((None, None))
                    }
                    Some((n, _)) if n >= record.generation => Err(SwarmResponse::error(
                        ErrorCode::InvalidContent,
                        0,
                        format!(
                            "access generation {} is not newer than the group's current {n} \
                             (only the current one may be renewed, with the same token)",
                            record.generation
                        ),
                    )),
                    _ => Ok((None, None)),
                }
            }
        }
    }

    /// Stores `payload` (whose content hash is `hash` when the checks computed it already).
    #[allow(clippy::too_many_arguments)]
    async fn store<S: MailboxBackend>(
        &self,
        now_ms: u64,
        members: &Membership,
        store: &S,
        mailbox: Mailbox,
        ttl_ms: u64,
        payload: Vec<u8>,
        hash: Option<ContentHash>,
    ) -> Outcome {
        if let Some(w) = self.wrong_swarm(members, &mailbox) {
            return Outcome::respond(w);
        }
        let max = self.cfg.max_payload;
        // An access record is checked and of fixed size: a node's message cap does not apply.
        let record =
            matches!(mailbox, Mailbox::GroupAccess(_)) && payload.len() == GROUP_ACCESS_LEN;
        if payload.len() > max && !record {
            return Outcome::respond(SwarmResponse::error(
                ErrorCode::TooLarge,
                u32::try_from(max).unwrap_or(u32::MAX),
                format!(
                    "message is {} bytes; this node accepts at most {max}",
                    payload.len()
                ),
            ));
        }
        let ttl = if ttl_ms == 0 { DEFAULT_TTL_MS } else { ttl_ms };
        if ttl > MAX_TTL_MS {
            return Outcome::respond(SwarmResponse::error(
                ErrorCode::BadTtl,
                (MAX_TTL_MS / 1000) as u32,
                "TTL is above the 30-day maximum",
            ));
        }
        let expires = now_ms.saturating_add(ttl);
        let out = match store
            .put(
                &mailbox,
                expires,
                payload.clone(),
                hash.unwrap_or_else(|| pars_wire::swarm::content_hash(&payload)),
                mailbox.single_slot(),
            )
            .await
        {
            Ok(o) => o,
            Err(e) => return Outcome::respond(store_error(e)),
        };
        let swarm = members.swarm_of(&mailbox);
        let mut to: Vec<PeerId> = swarm
            .iter()
            .filter(|p| **p != self.local)
            .copied()
            .collect();
        // This node holds one copy; the closest others are asked for the rest.
        let spare = to.split_off(mailbox.holders().saturating_sub(1).min(to.len()));
        Outcome {
            step: Step::Replicate {
                to,
                spare,
                item: ReplicaItem {
                    mailbox,
                    expires_at_ms: out.expires_at_ms,
                    payload,
                },
                pending: PendingStore {
                    hash: out.hash,
                    expires_at_ms: out.expires_at_ms,
                    duplicate: out.duplicate,
                    swarm_len: swarm.len(),
                },
            },
            arrived: if out.duplicate {
                Vec::new()
            } else {
                vec![mailbox]
            },
            replicas_accepted: 0,
        }
    }

    /// The answer to a store once `acks` of the other members acknowledged their copy.
    pub fn stored(&self, pending: PendingStore, acks: usize) -> SwarmResponse {
        let copies = 1 + acks;
        let need = MIN_COPIES.min(pending.swarm_len);
        if copies >= need {
            SwarmResponse::Stored {
                hash: pending.hash,
                copies: u8::try_from(copies).unwrap_or(u8::MAX),
                expires_at_ms: pending.expires_at_ms,
                duplicate: pending.duplicate,
            }
        } else {
            SwarmResponse::error(
                ErrorCode::InsufficientCopies,
                copies as u32,
                format!("only {copies} of the swarm's members hold the message; need {need}"),
            )
        }
    }

    async fn replicate<S: MailboxBackend>(
        &self,
        now_ms: u64,
        members: &Membership,
        store: &S,
        items: Vec<ReplicaItem>,
    ) -> Outcome {
        let max_expiry = now_ms.saturating_add(MAX_TTL_MS);
        let mut held = 0u32;
        let mut arrived = Vec::new();
        let mut accepted = 0u64;
        for item in items {
            let ours = members.swarm_of(&item.mailbox).contains(&self.local);
            // A copied bundle is checked as a stored one is, against the bundle held, and
            // kept no longer than its signed prekey.
            let _one_bundle_at_a_time = match item.mailbox {
                Mailbox::Bundle(_) => Some(self.bundles.lock().await),
                _ => None,
            };
            // A copied access record is checked as a stored one is (but an older generation is
            // taken: a hand-off brings the history in any order).
            let hash = pars_wire::swarm::content_hash(&item.payload);
            let valid = match item.mailbox {
                Mailbox::GroupAccess(g) => valid_access_record(g, &item.payload).is_ok(),
                // A copied chunk must be the one its address names, as a stored one must.
                Mailbox::Chunk(id) => hash == id.0 && item.payload.len() <= self.cfg.max_payload,
                Mailbox::Bundle(sid) => super::bundle::check(store, &sid, &item.payload, now_ms)
                    .is_ok_and(|expires| item.expires_at_ms <= expires),
                _ => item.payload.len() <= self.cfg.max_payload,
            };
            if !ours || !valid || item.expires_at_ms <= now_ms || item.expires_at_ms > max_expiry {
                continue;
            }
            match store
                .put(
                    &item.mailbox,
                    item.expires_at_ms,
                    item.payload,
                    hash,
                    item.mailbox.single_slot(),
                )
                .await
            {
                Ok(o) => {
                    if !o.duplicate {
                        accepted += 1;
                        arrived.push(item.mailbox);
                    }
                    held += 1;
                }
                Err(e) => {
                    return Outcome {
                        step: Step::Respond(store_error(e)),
                        arrived,
                        replicas_accepted: accepted,
                    };
                }
            }
        }
        Outcome {
            step: Step::Respond(SwarmResponse::Done { count: held }),
            arrived,
            replicas_accepted: accepted,
        }
    }

    async fn delete_or_expire<S: MailboxBackend>(
        &self,
        now_ms: u64,
        members: &Membership,
        store: &S,
        mailbox: Mailbox,
        req: SwarmRequest,
    ) -> Outcome {
        let (result, forwarded) = match req.clone() {
            SwarmRequest::Delete {
                hashes, forwarded, ..
            } => (store.delete(&mailbox, hashes).await, forwarded),
            SwarmRequest::Expire {
                hashes,
                expires_at_ms,
                forwarded,
                ..
            } => {
                if expires_at_ms > now_ms.saturating_add(MAX_TTL_MS) {
                    return Outcome::respond(SwarmResponse::error(
                        ErrorCode::BadTtl,
                        (MAX_TTL_MS / 1000) as u32,
                        "expiry is more than 30 days away",
                    ));
                }
                (
                    store.set_expiry(&mailbox, hashes, expires_at_ms).await,
                    forwarded,
                )
            }
            _ => {
                return Outcome::respond(SwarmResponse::error(
                    ErrorCode::Internal,
                    0,
                    "unreachable request",
                ));
            }
        };
        let count = match result {
            Ok(c) => c,
            Err(e) => return Outcome::respond(store_error(e)),
        };
        let then = SwarmResponse::Done { count };
        if forwarded {
            return Outcome::respond(then);
        }
        let mut request = req;
        if let SwarmRequest::Delete { forwarded, .. } | SwarmRequest::Expire { forwarded, .. } =
            &mut request
        {
            *forwarded = true;
        }
        let to = members
            .swarm_of(&mailbox)
            .into_iter()
            .filter(|p| *p != self.local)
            .collect();
        Outcome {
            step: Step::Forward { to, request, then },
            arrived: Vec::new(),
            replicas_accepted: 0,
        }
    }

    /// One look at a page: the answer when there is something to answer (messages or a store
    /// error), `None` when the page is empty.
    pub fn look<S: MailboxBackend>(
        &self,
        store: &S,
        query: &PageQuery,
        now_ms: u64,
    ) -> Option<SwarmResponse> {
        match read_page(store, query, now_ms) {
            Ok(p) if p.items.is_empty() => None,
            page => Some(messages(page)),
        }
    }

    /// The page to answer a held retrieve with (possibly empty).
    pub fn page<S: MailboxBackend>(
        &self,
        store: &S,
        query: &PageQuery,
        now_ms: u64,
    ) -> SwarmResponse {
        messages(read_page(store, query, now_ms))
    }

    /// The refusal of a long-poll when `max` retrieves are held already.
    pub fn busy(&self, max: usize) -> SwarmResponse {
        SwarmResponse::error(
            ErrorCode::Busy,
            BUSY_RETRY_MS,
            format!(
                "this node holds as many waiting retrieves as it allows ({max} in all, fewer \
                 for one mailbox); retry after {BUSY_RETRY_MS} ms or retrieve without waiting"
            ),
        )
    }

    fn authorize<S: MailboxBackend>(
        &self,
        now_ms: u64,
        store: &S,
        mailbox: &Mailbox,
        req: &SwarmRequest,
        signed_for: PeerId,
    ) -> Result<(), SwarmResponse> {
        let target = crate::set::node_id(&signed_for);
        let mut auth = self
            .auth
            .lock()
            .map_err(|_| SwarmResponse::error(ErrorCode::Internal, 0, "replay cache poisoned"))?;
        auth.authorize(now_ms, mailbox, req, &target, || {
            owner_key_from_bundle(store, mailbox, now_ms)
        })
    }

    fn wrong_swarm(&self, members: &Membership, mailbox: &Mailbox) -> Option<SwarmResponse> {
        let swarm = members.swarm_of(mailbox);
        if swarm.contains(&self.local) {
            None
        } else {
            Some(SwarmResponse::WrongSwarm {
                swarm: swarm.iter().map(|p| p.to_bytes()).collect(),
            })
        }
    }
}

fn read_page<S: MailboxBackend>(store: &S, q: &PageQuery, now_ms: u64) -> Result<Page, StoreError> {
    let mut page = store.get_since(&q.mailbox, q.after, q.max_count, q.max_bytes, now_ms)?;
    if let Some(before) = q.before
        && page.items.iter().any(|m| m.seq >= before)
    {
        page.items.retain(|m| m.seq < before);
        page.more = false;
    }
    Ok(page)
}

/// The owner's key from the bundle stored here for an inbox's or a bundle's Session ID.
fn owner_key_from_bundle<S: MailboxBackend>(
    store: &S,
    mailbox: &Mailbox,
    now_ms: u64,
) -> Option<MlDsaPublicKey> {
    let sid = match mailbox {
        Mailbox::Inbox(s) | Mailbox::Bundle(s) => *s,
        _ => return None,
    };
    let page = store
        .get_since(&Mailbox::Bundle(sid), 0, 1, usize::MAX, now_ms)
        .ok()?;
    let bundle = IdentityBundle::from_bytes(&page.items.first()?.payload).ok()?;
    (bundle.session_id() == sid).then(|| bundle.keys.mldsa.clone())
}

/// A retrieve's answer from a page of the store.
fn messages(page: Result<Page, StoreError>) -> SwarmResponse {
    match page {
        Ok(page) => SwarmResponse::Messages {
            items: page
                .items
                .into_iter()
                .map(|m| MailboxItem {
                    seq: m.seq,
                    hash: m.hash,
                    expires_at_ms: m.expires_at_ms,
                    payload: m.payload,
                })
                .collect(),
            more: page.more,
        },
        Err(e) => store_error(e),
    }
}
