//! The deployment-addresses file (`.devnet/addresses.json`, written by
//! `contracts/script/Deploy.s.sol`), the default confirmation lag per chain, and the one way this
//! crate opens an EVM JSON-RPC endpoint (HTTP(S) only, URLs checked and redacted in errors).

use std::path::Path;

use alloy::primitives::Address;
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::transports::http::reqwest::Url;
use serde::Deserialize;

use crate::error::RegistryError;

/// Chain IDs of local development chains (anvil/hardhat 31337, geth --dev 1337).
pub const LOCAL_CHAIN_IDS: [u64; 2] = [31_337, 1_337];

/// Default confirmation lag: 1 block on a local chain, 12 elsewhere.
pub fn default_confirmations(chain_id: u64) -> u64 {
    if LOCAL_CHAIN_IDS.contains(&chain_id) {
        1
    } else {
        12
    }
}

/// Parses and checks an RPC URL (http or https).
pub fn parse_rpc_url(url: &str) -> Result<Url, RegistryError> {
    let parsed: Url = url.parse().map_err(|e| {
        RegistryError::Config(format!(
            "--eth-rpc {:?} is not a URL ({e}); expected e.g. http://127.0.0.1:8545",
            crate::error::redact_urls(url)
        ))
    })?;
    match parsed.scheme() {
        "http" | "https" => Ok(parsed),
        other => Err(RegistryError::Config(format!(
            "--eth-rpc uses the scheme {other:?}; only http and https are supported"
        ))),
    }
}

/// A read-only provider over HTTP(S).
pub fn read_provider(url: &str) -> Result<DynProvider, RegistryError> {
    let url = parse_rpc_url(url)?;
    Ok(ProviderBuilder::new()
        .disable_recommended_fillers()
        .connect_http(url)
        .erased())
}

/// The addresses file `contracts/script/Deploy.s.sol` writes (default `.devnet/addresses.json`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct DevnetAddresses {
    /// Chain ID deployed to.
    pub chain_id: u64,
    /// RPC URL recorded by the deploy script, if it was given one.
    #[serde(default)]
    pub rpc_url: Option<String>,
    /// A block at or before the deployment.
    #[serde(default)]
    pub deploy_block: u64,
    /// `ServiceNodeRegistry`.
    pub service_node_registry: Address,
    /// `SessionTrigger`.
    pub session_trigger: Address,
    /// `SessionGuestbook` (the example target).
    #[serde(default)]
    pub session_guestbook: Option<Address>,
    /// The verifier adapter SessionTrigger calls.
    #[serde(default)]
    pub verifier_adapter: Option<Address>,
}

impl DevnetAddresses {
    /// Reads an addresses file.
    pub fn load(path: &Path) -> Result<Self, RegistryError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            RegistryError::Config(format!(
                "cannot read the devnet address file {}: {e}; deploy the contracts first (contracts/script/Deploy.s.sol) or pass --registry",
                path.display()
            ))
        })?;
        serde_json::from_str(&text).map_err(|e| {
            RegistryError::Config(format!(
                "{} is not a deployment address file: {e}",
                path.display()
            ))
        })
    }
}
