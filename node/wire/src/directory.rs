//! Onion transport over libp2p: the protocol names and the **directory** exchange by which a
//! client learns the service nodes' onion keys from its guard (`/pars/directory/1`).
//!
//! On `/pars/onion/1` every request frame is exactly one [`OnionPacket`](crate::OnionPacket)
//! ([`PACKET_LEN`](crate::onion::PACKET_LEN) bytes) and every response is the empty frame
//! (a transport acknowledgement, never an answer: answers travel as packets along reply blocks).
//!
//! Directory request: `version (1)` — one byte.
//! Directory response: `version (1) ‖ count (u16, ≤ MAX_DIRECTORY_RECORDS) ‖ count × var16(node record)`,
//! each record an encoded [`NodeRecord`](crate::NodeRecord) of at most
//! [`MAX_RECORD_LEN`](crate::swarm::MAX_RECORD_LEN) bytes. The client verifies every record
//! (signature, peer ID, membership in its service-node set, onion-key announcements) itself.

use crate::swarm::MAX_RECORD_LEN;
use crate::{Reader, WireError, Writer};

/// The libp2p protocol name of the onion-packet protocol.
pub const ONION_PROTOCOL: &str = "/pars/onion/1";
/// The libp2p protocol name of the directory protocol.
pub const DIRECTORY_PROTOCOL: &str = "/pars/directory/1";
/// Version byte of directory frames.
pub const DIRECTORY_VERSION: u8 = 1;
/// Most records in one directory response.
pub const MAX_DIRECTORY_RECORDS: usize = 1024;
/// Length of a directory request frame.
pub const DIRECTORY_REQUEST_LEN: usize = 1;
/// Largest directory response frame: 1 + 2 + 1024 × (2 + 16 KiB).
pub const MAX_DIRECTORY_RESPONSE_LEN: usize = 3 + MAX_DIRECTORY_RECORDS * (2 + MAX_RECORD_LEN);

/// A request for the guard's directory: the signed node records of the set members it knows.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct DirectoryRequest;

impl DirectoryRequest {
    /// `version (1)`.
    pub fn encode(&self) -> Vec<u8> {
        vec![DIRECTORY_VERSION]
    }

    /// Decodes a request.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(bytes);
        let v = r.u8("directory request version")?;
        if v != DIRECTORY_VERSION {
            return Err(WireError::UnsupportedVersion {
                what: "directory request",
                version: v,
            });
        }
        r.finish("directory request")?;
        Ok(Self)
    }
}

/// The guard's answer: encoded node records (verified by the client, not trusted).
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct DirectoryResponse {
    /// Encoded [`NodeRecord`](crate::NodeRecord)s.
    pub records: Vec<Vec<u8>>,
}

impl DirectoryResponse {
    /// Encodes the response. Records beyond [`MAX_DIRECTORY_RECORDS`] or longer than
    /// [`MAX_RECORD_LEN`] are left out.
    pub fn encode(&self) -> Vec<u8> {
        let recs: Vec<&Vec<u8>> = self
            .records
            .iter()
            .filter(|r| r.len() <= MAX_RECORD_LEN)
            .take(MAX_DIRECTORY_RECORDS)
            .collect();
        let mut w = Writer::with_capacity(3 + recs.iter().map(|r| 2 + r.len()).sum::<usize>());
        w.u8(DIRECTORY_VERSION).u16(recs.len() as u16);
        for r in recs {
            w.var16(r);
        }
        w.into_vec()
    }

    /// Decodes a response.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(bytes);
        let v = r.u8("directory response version")?;
        if v != DIRECTORY_VERSION {
            return Err(WireError::UnsupportedVersion {
                what: "directory response",
                version: v,
            });
        }
        let n = usize::from(r.u16("directory record count")?);
        if n > MAX_DIRECTORY_RECORDS {
            return Err(WireError::TooLong {
                what: "directory",
                len: n,
                max: MAX_DIRECTORY_RECORDS,
            });
        }
        let mut records = Vec::with_capacity(n.min(r.remaining() / 2 + 1));
        for _ in 0..n {
            records.push(r.var16(MAX_RECORD_LEN, "directory record")?.to_vec());
        }
        r.finish("directory response")?;
        Ok(Self { records })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejections() {
        assert_eq!(DirectoryRequest.encode(), vec![1]);
        assert_eq!(DirectoryRequest::decode(&[1]).unwrap(), DirectoryRequest);
        assert!(DirectoryRequest::decode(&[]).is_err());
        assert!(DirectoryRequest::decode(&[2]).is_err());
        assert!(DirectoryRequest::decode(&[1, 0]).is_err());

        let resp = DirectoryResponse {
            records: vec![vec![1, 2, 3], vec![], vec![9; 300]],
        };
        let bytes = resp.encode();
        assert_eq!(bytes.len(), 3 + 2 + 3 + 2 + 2 + 300);
        assert_eq!(DirectoryResponse::decode(&bytes).unwrap(), resp);
        for cut in 0..bytes.len() {
            assert!(
                DirectoryResponse::decode(&bytes[..cut]).is_err(),
                "cut {cut}"
            );
        }
        let mut extra = bytes.clone();
        extra.push(0);
        assert!(DirectoryResponse::decode(&extra).is_err());
        let mut big = vec![1u8];
        big.extend_from_slice(&(MAX_DIRECTORY_RECORDS as u16 + 1).to_be_bytes());
        assert!(matches!(
            DirectoryResponse::decode(&big),
            Err(WireError::TooLong { .. })
        ));
        // Oversized records are left out on encoding.
        let over = DirectoryResponse {
            records: vec![vec![0; MAX_RECORD_LEN + 1], vec![7]],
        };
        assert_eq!(
            DirectoryResponse::decode(&over.encode()).unwrap().records,
            vec![vec![7]]
        );
    }
}
