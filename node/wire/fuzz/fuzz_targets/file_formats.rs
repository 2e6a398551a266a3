//! The file formats' decoders are total, and whatever decodes re-encodes to exactly the input:
//! the file manifest; forged chunks never open; an index chunk's entries are read or refused.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pars_wire::file::{ChunkSealer, FileManifest, index_entries};

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = FileManifest::decode(data) {
        assert_eq!(m.encode().as_slice(), data);
    }
    let s = ChunkSealer::new(&[1; 32], 1024);
    assert!(s.open(0, 0, data).is_err());
    if let Ok(ids) = index_entries(data, data.len() / 32) {
        assert_eq!(ids.len(), data.len() / 32);
    }
});
