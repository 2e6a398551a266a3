//! The node's libp2p identity (an Ed25519 key kept in the data dir) and its signed node record.

use crate::NetError;
use libp2p::identity::{Keypair, PublicKey};
use libp2p::{Multiaddr, PeerId};
use pars_wire::NodeRecord;
use std::io::Write;
use std::path::Path;

/// File name of the node key inside the data dir (libp2p protobuf encoding, mode 0600).
pub const NODE_KEY_FILE: &str = "node_key";

/// Loads the node key from `data_dir`, or creates it (readable by the owner only).
pub fn load_or_create_keypair(data_dir: &Path) -> Result<Keypair, NetError> {
    let path = data_dir.join(NODE_KEY_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => Keypair::from_protobuf_encoding(&bytes)
            .map_err(|e| NetError::Identity(format!("{} is not a node key: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(data_dir).map_err(|e| NetError::io(data_dir.display(), e))?;
            let kp = Keypair::generate_ed25519();
            let bytes = kp
                .to_protobuf_encoding()
                .map_err(|e| NetError::sign("the node key file", e))?;
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                opts.mode(0o600);
            }
            let mut f = opts
                .open(&path)
                .map_err(|e| NetError::io(path.display(), e))?;
            f.write_all(&bytes)
                .and_then(|()| f.sync_all())
                .map_err(|e| NetError::io(path.display(), e))?;
            Ok(kp)
        }
        Err(e) => Err(NetError::io(path.display(), e)),
    }
}

/// Writes `bytes` to `path` atomically (a temporary file beside it, fsync, rename), readable by
/// the owner only.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> Result<(), NetError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    let io = |e: std::io::Error| NetError::io(tmp.display(), e);
    let _ = std::fs::remove_file(&tmp);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&tmp).map_err(io)?;
    f.write_all(bytes).and_then(|()| f.sync_all()).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(|e| NetError::io(path.display(), e))
}

/// Builds and signs the node record (Ed25519 by the libp2p key, over `SIG_NODE_RECORD ‖ fields`).
pub fn sign_record(
    key: &Keypair,
    addrs: &[Multiaddr],
    onion_keys: Vec<u8>,
    operator: &str,
    software: &str,
    issued_at_ms: u64,
) -> Result<NodeRecord, NetError> {
    let mut rec = NodeRecord {
        peer_id: key.public().to_peer_id().to_bytes(),
        public_key: key.public().encode_protobuf(),
        addrs: addrs
            .iter()
            .take(pars_wire::node_record::MAX_ADDRS)
            .map(|a| a.to_vec())
            .collect(),
        onion_keys,
        operator: operator.to_owned(),
        software: software.to_owned(),
        issued_at_ms,
        signature: Vec::new(),
    };
    rec.signature = key
        .sign(&rec.signed_bytes())
        .map_err(|e| NetError::sign("the node record", e))?;
    rec.validate().map_err(NetError::Wire)?;
    Ok(rec)
}

/// Checks a record: its key matches its peer ID and signs its fields. Returns the peer ID.
pub fn verify_record(rec: &NodeRecord) -> Result<PeerId, NetError> {
    let bad = |why: &str| NetError::BadRecord(why.to_owned());
    let peer = PeerId::from_bytes(&rec.peer_id).map_err(|_| bad("peer ID does not parse"))?;
    let pk = PublicKey::try_decode_protobuf(&rec.public_key)
        .map_err(|_| bad("public key does not parse"))?;
    if pk.to_peer_id() != peer {
        return Err(bad("public key does not match the peer ID"));
    }
    if !pk.verify(&rec.signed_bytes(), &rec.signature) {
        return Err(bad("signature does not verify"));
    }
    Ok(peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_persists_and_record_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let a = load_or_create_keypair(dir.path()).unwrap();
        let b = load_or_create_keypair(dir.path()).unwrap();
        assert_eq!(a.public(), b.public());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(NODE_KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let addr: Multiaddr = "/ip4/127.0.0.1/tcp/1".parse().unwrap();
        let rec = sign_record(&a, &[addr], vec![1, 2], "op", "pars-net/0.1.0", 5).unwrap();
        assert_eq!(verify_record(&rec).unwrap(), a.public().to_peer_id());
        let decoded = NodeRecord::decode(&rec.encode().unwrap()).unwrap();
        assert_eq!(verify_record(&decoded).unwrap(), a.public().to_peer_id());
        let mut forged = rec.clone();
        forged.operator = "mallory".into();
        assert!(verify_record(&forged).is_err());
        let mut swapped = rec.clone();
        swapped.peer_id = Keypair::generate_ed25519().public().to_peer_id().to_bytes();
        assert!(verify_record(&swapped).is_err());
    }
}
