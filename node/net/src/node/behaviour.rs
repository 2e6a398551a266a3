//! The one composed libp2p behaviour of a service node and the `Swarm` built around it.

use super::conn_limits::IpLimits;
use crate::codec::FrameCodec;
use crate::config::ConnectionConfig;
use crate::{NetError, SOFTWARE};
use libp2p::swarm::NetworkBehaviour;
use libp2p::{
    PeerId, StreamProtocol, Swarm, connection_limits, identify, kad, noise, ping,
    request_response as rr, tcp, yamux,
};
use pars_wire::directory::DIRECTORY_PROTOCOL;
use pars_wire::directory::ONION_PROTOCOL;
use pars_wire::swarm::SWARM_PROTOCOL;
use std::time::Duration;

/// The Kademlia protocol name of the Pars network (distinct from the public IPFS DHT).
pub const KAD_PROTOCOL: &str = "/pars/kad/1.0.0";
/// The identify protocol version string.
pub const IDENTIFY_PROTOCOL: &str = "/pars/id/1.0.0";

#[derive(NetworkBehaviour)]
pub(super) struct Behaviour {
    /// Total inbound and per-peer connection limits (libp2p's).
    pub limits: connection_limits::Behaviour,
    /// Inbound connections per remote address.
    pub ip_limits: IpLimits,
    pub identify: identify::Behaviour,
    pub ping: ping::Behaviour,
    pub kad: kad::Behaviour<kad::store::MemoryStore>,
    pub swarm: rr::Behaviour<FrameCodec>,
    pub onion: rr::Behaviour<FrameCodec>,
    pub directory: rr::Behaviour<FrameCodec>,
}

/// The codecs of the three request-response protocols (they count refused frames).
pub(super) struct Codecs {
    pub swarm: FrameCodec,
    pub onion: FrameCodec,
    pub directory: FrameCodec,
}

/// Builds the node's `Swarm` (TCP + Noise + Yamux, QUIC) with the composed behaviour.
pub(super) fn build_swarm(
    key: &libp2p::identity::Keypair,
    local: PeerId,
    codecs: &Codecs,
    request_timeout: Duration,
    conns: &ConnectionConfig,
) -> Result<Swarm<Behaviour>, NetError> {
    let limits = connection_limits::ConnectionLimits::default()
        .with_max_pending_incoming(Some(conns.max_inbound))
        .with_max_established_incoming(Some(conns.max_inbound))
        .with_max_established_per_peer(Some(conns.max_per_peer));
    let rr_config = |streams| {
        rr::Config::default()
            .with_request_timeout(request_timeout)
            .with_max_concurrent_streams(streams)
    };
    let mut swarm = libp2p::SwarmBuilder::with_existing_identity(key.clone())
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| NetError::setup("TCP transport", e))?
        .with_quic()
        .with_behaviour(|k| {
            let mut kcfg = kad::Config::new(StreamProtocol::new(KAD_PROTOCOL));
            kcfg.set_kbucket_inserts(kad::BucketInserts::Manual)
                .set_record_filtering(kad::StoreInserts::FilterBoth)
                .set_query_timeout(Duration::from_secs(30));
            Behaviour {
                limits: connection_limits::Behaviour::new(limits),
                ip_limits: IpLimits::new(conns.max_per_ip),
                identify: identify::Behaviour::new(
                    identify::Config::new(IDENTIFY_PROTOCOL.into(), k.public())
                        .with_agent_version(SOFTWARE.into()),
                ),
                ping: ping::Behaviour::default(),
                kad: kad::Behaviour::with_config(local, kad::store::MemoryStore::new(local), kcfg),
                swarm: rr::Behaviour::with_codec(
                    codecs.swarm.clone(),
                    [(
                        StreamProtocol::new(SWARM_PROTOCOL),
                        rr::ProtocolSupport::Full,
                    )],
                    rr_config(1024),
                ),
                onion: rr::Behaviour::with_codec(
                    codecs.onion.clone(),
                    [(
                        StreamProtocol::new(ONION_PROTOCOL),
                        rr::ProtocolSupport::Full,
                    )],
                    rr_config(1024),
                ),
                directory: rr::Behaviour::with_codec(
                    codecs.directory.clone(),
                    [(
                        StreamProtocol::new(DIRECTORY_PROTOCOL),
                        rr::ProtocolSupport::Full,
                    )],
                    rr_config(64),
                ),
            }
        })
        .map_err(|e| NetError::setup("behaviour", e))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(300)))
        .build();
    swarm.behaviour_mut().kad.set_mode(Some(kad::Mode::Server));
    Ok(swarm)
}
