//! Errors of the group core, each with its workspace [`ErrorKind`].

use pars_error::{ErrorKind, HasKind};

/// What went wrong in a group operation. The group's state is unchanged after any of them.
#[derive(Debug, thiserror::Error)]
pub enum GroupError {
    /// A credential or signature key that is not bound to a Session ID, or not to the one
    /// claimed.
    #[error("credential refused: {0}")]
    Credential(String),
    /// Bytes that do not decode as the expected MLS message.
    #[error("malformed MLS message: {0}")]
    Malformed(String),
    /// A message from an earlier epoch than the group's (already superseded) or a later one
    /// (a commit was missed).
    #[error("message for epoch {message}, the group is at epoch {group}")]
    WrongEpoch {
        /// The message's epoch.
        message: u64,
        /// The group's.
        group: u64,
    },
    /// A message that does not verify or decrypt in this group (tampered, replayed, from a
    /// non-member, or for another group).
    #[error("message refused: {0}")]
    Refused(String),
    /// A Welcome that is not for this identity (no matching key package).
    #[error("this Welcome is not for us: {0}")]
    NotInvited(String),
    /// The operation is not allowed: not a member, no such member, a pending commit first.
    #[error("{0}")]
    NotAllowed(String),
    /// An operation the caller asked for with bad arguments.
    #[error("{0}")]
    BadInput(String),
    /// The group storage could not be read or was left inconsistent.
    #[error("group storage: {0}")]
    Storage(String),
    /// openmls reported a failure that is not the input's fault.
    #[error("MLS library error: {0}")]
    Library(String),
}

impl From<crate::records::StorageBroken> for GroupError {
    fn from(e: crate::records::StorageBroken) -> Self {
        Self::Storage(e.to_string())
    }
}

impl HasKind for GroupError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::Credential(_) => ErrorKind::Verification,
            Self::Malformed(_) => ErrorKind::PeerMalformed,
            Self::WrongEpoch { .. } => ErrorKind::Expired,
            Self::Refused(_) => ErrorKind::Decryption,
            Self::NotInvited(_) => ErrorKind::NotFound,
            Self::NotAllowed(_) => ErrorKind::Rejected,
            Self::BadInput(_) => ErrorKind::BadInput,
            Self::Storage(_) => ErrorKind::Storage,
            Self::Library(_) => ErrorKind::Internal,
        }
    }
}
