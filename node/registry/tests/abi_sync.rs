//! The committed ABIs (`node/registry/abi/*.json`, what the bindings are generated from) must be exactly
//! the `abi` of the forge artifacts of the current contracts. Fix a failure with
//! `scripts/sync-abi` and commit the result.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Command;

#[test]
fn committed_abis_match_the_contracts() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .unwrap();
    let forge = root.join(".tools/bin/forge");
    assert!(
        forge.exists(),
        "{} is missing: run scripts/install-tools first",
        forge.display()
    );
    let out = Command::new(&forge)
        .current_dir(root)
        .arg("build")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "forge build failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut stale = Vec::new();
    for name in ["ServiceNodeRegistry", "SessionTrigger", "SessionGuestbook"] {
        let artifact = root.join(format!("out/{name}.sol/{name}.json"));
        let artifact: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&artifact).unwrap()).unwrap();
        let committed = root.join(format!("node/registry/abi/{name}.json"));
        let committed: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&committed).unwrap()).unwrap();
        if artifact["abi"] != committed {
            stale.push(name);
        }
    }
    assert!(
        stale.is_empty(),
        "node/registry/abi is out of date for {stale:?}: run scripts/sync-abi and commit the result"
    );
}
