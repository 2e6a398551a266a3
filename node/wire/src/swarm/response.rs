//! Responses on the swarm protocol ([`SwarmResponse`]) and their encoding.

use super::{
    ContentHash, ErrorCode, MAX_DETAIL_LEN, MAX_PAYLOAD_LEN, MAX_PEER_ID_LEN, MAX_RECORD_LEN,
    MAX_RETRIEVE_COUNT, SWARM_VERSION, read_bool, read_version,
};
use crate::{Reader, WireError, Writer};

/// One stored message as returned by a retrieve.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct MailboxItem {
    /// The answering node's sequence number: the cursor to continue after.
    pub seq: u64,
    /// SHA3-256 of the payload.
    pub hash: ContentHash,
    /// Absolute expiry, Unix milliseconds.
    pub expires_at_ms: u64,
    /// The payload.
    pub payload: Vec<u8>,
}

/// A response on the swarm protocol.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum SwarmResponse {
    /// The store succeeded on `copies` members (at least [`MIN_COPIES`](super::MIN_COPIES)).
    Stored {
        /// SHA3-256 of the payload.
        hash: ContentHash,
        /// Members holding it, the answering node included.
        copies: u8,
        /// Absolute expiry, Unix milliseconds.
        expires_at_ms: u64,
        /// Whether the answering node already had it.
        duplicate: bool,
    },
    /// Messages in sequence order.
    Messages {
        /// The messages.
        items: Vec<MailboxItem>,
        /// Whether more messages follow the last one.
        more: bool,
    },
    /// A delete, expire or replicate was applied to `count` messages.
    Done {
        /// Messages affected.
        count: u32,
    },
    /// The node is not in the mailbox's swarm; these are the members (peer ID bytes, closest
    /// first). Session's HTTP 421.
    WrongSwarm {
        /// The swarm.
        swarm: Vec<Vec<u8>>,
    },
    /// The node's signed node record (see [`crate::node_record`]).
    Record {
        /// The encoded record.
        record: Vec<u8>,
    },
    /// The request was refused.
    Error {
        /// Why.
        code: ErrorCode,
        /// Code-specific number: retry-after ms, a cap, or a copy count.
        value: u32,
        /// Human-readable detail (never message content).
        detail: String,
    },
}

mod rtag {
    pub const STORED: u8 = 1;
    pub const MESSAGES: u8 = 2;
    pub const DONE: u8 = 3;
    pub const WRONG_SWARM: u8 = 4;
    pub const RECORD: u8 = 5;
    pub const ERROR: u8 = 6;
}

/// Most peers in a wrong-swarm answer.
pub const MAX_WRONG_SWARM_PEERS: usize = 16;

impl SwarmResponse {
    /// An error response.
    pub fn error(code: ErrorCode, value: u32, detail: impl Into<String>) -> Self {
        let mut detail: String = detail.into();
        if detail.len() > MAX_DETAIL_LEN {
            let mut cut = MAX_DETAIL_LEN;
            while !detail.is_char_boundary(cut) {
                cut -= 1;
            }
            detail.truncate(cut);
        }
        SwarmResponse::Error {
            code,
            value,
            detail,
        }
    }

    /// Encodes the response.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.u8(SWARM_VERSION);
        match self {
            SwarmResponse::Stored {
                hash,
                copies,
                expires_at_ms,
                duplicate,
            } => {
                w.u8(rtag::STORED)
                    .bytes(hash)
                    .u8(*copies)
                    .u64(*expires_at_ms)
                    .u8(u8::from(*duplicate));
            }
            SwarmResponse::Messages { items, more } => {
                w.u8(rtag::MESSAGES)
                    .u16(u16::try_from(items.len()).unwrap_or(u16::MAX));
                for i in items.iter().take(usize::from(u16::MAX)) {
                    w.u64(i.seq)
                        .bytes(&i.hash)
                        .u64(i.expires_at_ms)
                        .var32(&i.payload);
                }
                w.u8(u8::from(*more));
            }
            SwarmResponse::Done { count } => {
                w.u8(rtag::DONE).u32(*count);
            }
            SwarmResponse::WrongSwarm { swarm } => {
                w.u8(rtag::WRONG_SWARM)
                    .u8(u8::try_from(swarm.len()).unwrap_or(u8::MAX));
                for p in swarm.iter().take(usize::from(u8::MAX)) {
                    w.var16(p);
                }
            }
            SwarmResponse::Record { record } => {
                w.u8(rtag::RECORD).var32(record);
            }
            SwarmResponse::Error {
                code,
                value,
                detail,
            } => {
                w.u8(rtag::ERROR)
                    .u16(code.to_u16())
                    .u32(*value)
                    .var16(detail.as_bytes());
            }
        }
        w.into_vec()
    }

    /// Decodes a response. Total.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(bytes);
        read_version(&mut r, "swarm response")?;
        let resp = match r.u8("swarm response tag")? {
            rtag::STORED => SwarmResponse::Stored {
                hash: r.array("content hash")?,
                copies: r.u8("copies")?,
                expires_at_ms: r.u64("expiry")?,
                duplicate: read_bool(&mut r, "duplicate flag")?,
            },
            rtag::MESSAGES => {
                let n = r.u16("message count")?;
                if n > MAX_RETRIEVE_COUNT {
                    return Err(WireError::TooLong {
                        what: "message list",
                        len: usize::from(n),
                        max: usize::from(MAX_RETRIEVE_COUNT),
                    });
                }
                let mut items = Vec::with_capacity(usize::from(n).min(64));
                for _ in 0..n {
                    items.push(MailboxItem {
                        seq: r.u64("sequence number")?,
                        hash: r.array("content hash")?,
                        expires_at_ms: r.u64("expiry")?,
                        payload: r.var32(MAX_PAYLOAD_LEN, "payload")?.to_vec(),
                    });
                }
                SwarmResponse::Messages {
                    items,
                    more: read_bool(&mut r, "more flag")?,
                }
            }
            rtag::DONE => SwarmResponse::Done {
                count: r.u32("count")?,
            },
            rtag::WRONG_SWARM => {
                let n = usize::from(r.u8("swarm size")?);
                if n > MAX_WRONG_SWARM_PEERS {
                    return Err(WireError::TooLong {
                        what: "swarm list",
                        len: n,
                        max: MAX_WRONG_SWARM_PEERS,
                    });
                }
                let swarm = (0..n)
                    .map(|_| r.var16(MAX_PEER_ID_LEN, "peer ID").map(<[u8]>::to_vec))
                    .collect::<Result<_, _>>()?;
                SwarmResponse::WrongSwarm { swarm }
            }
            rtag::RECORD => SwarmResponse::Record {
                record: r.var32(MAX_RECORD_LEN, "node record")?.to_vec(),
            },
            rtag::ERROR => {
                let code = ErrorCode::from_u16(r.u16("error code")?);
                let value = r.u32("error value")?;
                let detail = std::str::from_utf8(r.var16(MAX_DETAIL_LEN, "error detail")?)
                    .map_err(|_| WireError::Invalid {
                        what: "error detail",
                        reason: "not UTF-8",
                    })?
                    .to_owned();
                SwarmResponse::Error {
                    code,
                    value,
                    detail,
                }
            }
            other => {
                return Err(WireError::UnknownVariant {
                    what: "swarm response tag",
                    value: u64::from(other),
                });
            }
        };
        r.finish("swarm response")?;
        Ok(resp)
    }
}
