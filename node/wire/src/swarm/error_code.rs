//! Why a node refused a request: the stable wire codes of [`super::SwarmResponse::Error`].

/// Why a node refused a request. Codes are stable on the wire.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[non_exhaustive]
pub enum ErrorCode {
    /// The request could not be decoded.
    Malformed,
    /// The peer sent too many requests; retry after `value` milliseconds.
    RateLimited,
    /// The node's store is full; it evicts no live mail, so it refuses new mail.
    Full,
    /// The payload is larger than the node's cap (`value` = the cap).
    TooLarge,
    /// The TTL is above the maximum (`value` = the maximum in seconds).
    BadTtl,
    /// Missing or invalid owner authorisation.
    Unauthorized,
    /// The namespace does not allow the operation.
    Forbidden,
    /// Fewer than `MinCopies` members hold the message (`value` = how many do).
    InsufficientCopies,
    /// A swarm-internal request from a peer outside the service-node set.
    NotMember,
    /// The node failed internally (storage error); retry elsewhere.
    Internal,
    /// The authorisation's nonce was already used.
    Replay,
    /// The content is invalid for its namespace (e.g. a bundle that does not verify).
    InvalidContent,
    /// The node holds as many waiting retrieves as it allows; retry after `value`
    /// milliseconds, or retrieve without waiting.
    Busy,
    /// A code this build does not know.
    Other(u16),
}

impl ErrorCode {
    /// The wire value.
    pub fn to_u16(self) -> u16 {
        match self {
            ErrorCode::Malformed => 1,
            ErrorCode::RateLimited => 2,
            ErrorCode::Full => 3,
            ErrorCode::TooLarge => 4,
            ErrorCode::BadTtl => 5,
            ErrorCode::Unauthorized => 6,
            ErrorCode::Forbidden => 7,
            ErrorCode::InsufficientCopies => 8,
            ErrorCode::NotMember => 9,
            ErrorCode::Internal => 10,
            ErrorCode::Replay => 11,
            ErrorCode::InvalidContent => 12,
            ErrorCode::Busy => 13,
            ErrorCode::Other(v) => v,
        }
    }

    /// From the wire value.
    pub fn from_u16(v: u16) -> Self {
        match v {
            1 => ErrorCode::Malformed,
            2 => ErrorCode::RateLimited,
            3 => ErrorCode::Full,
            4 => ErrorCode::TooLarge,
            5 => ErrorCode::BadTtl,
            6 => ErrorCode::Unauthorized,
            7 => ErrorCode::Forbidden,
            8 => ErrorCode::InsufficientCopies,
            9 => ErrorCode::NotMember,
            10 => ErrorCode::Internal,
            11 => ErrorCode::Replay,
            12 => ErrorCode::InvalidContent,
            13 => ErrorCode::Busy,
            v => ErrorCode::Other(v),
        }
    }
}
