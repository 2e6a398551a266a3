//! The libp2p driver of a service node, split by concern (reth's `crates/net/network` is the
//! model). This file only declares the parts and starts them:
//!
//! - `behaviour`: the one composed libp2p behaviour and the `Swarm` built around it;
//! - `command` and `ctx`: what the handle and the request tasks ask of the event loop, and the
//!   state they all share;
//! - `event_loop`: the one task that owns the `Swarm` (inbound requests, rate limits, Kademlia,
//!   commands from the handle);
//! - `handle`: [`NetworkHandle`], cloneable, talking to the loop over a bounded channel;
//! - `serve`: carries out the effects the sans-IO [`SwarmService`](crate::swarm::SwarmService)
//!   decides (replicate, forward, hold a long-poll), and sends the node's own swarm requests;
//! - `onion_relay`, `onion_state` and `onion_keys`: `/pars/onion/1` (packets peeled on a worker
//!   pool), the onion state and counters, and the persisted, rotating onion key ring;
//! - `directory`: `/pars/directory/1`, answered from the directory of members' signed records;
//! - `records`: keeps those records (a round on a timer and on set changes, and a fetch from a
//!   member as soon as it connects);
//! - `rebalance`: TTL sweeps and handoff of mailboxes when the set changes;
//! - `stats`: counters;
//! - `direct` (feature `test-utils`): the direct, non-onion client API used by tests.
//!
//! The files form layers, each using only those below it: `behaviour`, `stats`, `onion_state`,
//! `command`; `ctx`; `serve`; `handle`; `onion_keys`, `direct`, `rebalance`; `records`;
//! `event_loop`; `onion_relay`, `directory`.

mod behaviour;
mod command;
mod conn_limits;
mod ctx;
#[cfg(feature = "test-utils")]
mod direct;
mod directory;
mod event_loop;
mod handle;
mod onion_keys;
mod onion_relay;
mod onion_state;
mod rebalance;
mod records;
mod serve;
mod stats;

pub use behaviour::{IDENTIFY_PROTOCOL, KAD_PROTOCOL};
#[cfg(feature = "test-utils")]
pub use direct::StoreReceipt;
pub use handle::NetworkHandle;
pub use onion_keys::ONION_KEYS_FILE;
pub(crate) use onion_keys::os_seeded_rng;
pub use onion_state::{OnionSeen, OnionStats};
pub use stats::NodeStats;

use crate::codec::FrameCodec;
use crate::config::{NodeConfig, unix_ms};
use crate::identity::{load_or_create_keypair, sign_record};
use crate::set::ServiceNodeSet;
use crate::swarm::{Holds, ServiceConfig, SwarmService};
use crate::{NetError, SOFTWARE};
use libp2p::futures::StreamExt;
use libp2p::kad;
use libp2p::kad::store::RecordStore;
use libp2p::swarm::SwarmEvent;
use pars_onion::OnionRouter;
use pars_store::MailboxStore;
use pars_wire::directory::{DIRECTORY_REQUEST_LEN, MAX_DIRECTORY_RESPONSE_LEN};
use pars_wire::onion::BULK_PACKET_LEN;
use pars_wire::swarm::MAX_FRAME_LEN;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

/// Starts a service node: loads (or creates) its key in `config.data_dir`, opens its mailbox
/// store, listens, signs its node record, and spawns the event loop, the sweeper and the
/// rebalancer on the current tokio runtime.
pub async fn start(
    config: NodeConfig,
    set: Arc<dyn ServiceNodeSet>,
) -> Result<NetworkHandle, NetError> {
    let key = load_or_create_keypair(&config.data_dir)?;
    let local = key.public().to_peer_id();
    let store = MailboxStore::open(config.data_dir.join("mailbox.redb"), config.store.clone())?;

    let codecs = behaviour::Codecs {
        swarm: FrameCodec::new(MAX_FRAME_LEN, MAX_FRAME_LEN),
        // Onion frames are one packet (of either class); the answer is an empty
        // acknowledgement.
        onion: FrameCodec::new(BULK_PACKET_LEN, 0),
        directory: FrameCodec::new(DIRECTORY_REQUEST_LEN, MAX_DIRECTORY_RESPONSE_LEN),
    };
    let mut rng = os_seeded_rng()?;
    let identity = onion_keys::ed25519_identity(&key)?;
    let ring = onion_keys::load_ring(
        &config.data_dir,
        crate::set::node_id(&local),
        config.onion_schedule,
        onion_keys::unix_secs(),
        &mut rng,
    )?;
    let onion_keys = onion_keys::announce(&ring, &identity)?;
    let mut swarm = behaviour::build_swarm(
        &key,
        local,
        &codecs,
        config.request_timeout,
        &config.connections,
    )?;

    for addr in &config.listen {
        swarm
            .listen_on(addr.clone())
            .map_err(|e| NetError::setup("listen", e))?;
    }
    let mut listen_addrs = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while listen_addrs.len() < config.listen.len() {
        match tokio::time::timeout_at(deadline, swarm.select_next_some()).await {
            Ok(SwarmEvent::NewListenAddr { address, .. }) => listen_addrs.push(address),
            Ok(SwarmEvent::ListenerError { error, .. }) => {
                return Err(NetError::setup("listen", error));
            }
            Ok(SwarmEvent::ListenerClosed { reason, .. }) => {
                return Err(NetError::Setup(format!("listener closed: {reason:?}")));
            }
            Ok(_) => {}
            Err(_) => {
                return Err(NetError::Setup(
                    "timed out waiting for listen addresses".into(),
                ));
            }
        }
    }

    let record = sign_record(
        &key,
        &listen_addrs,
        onion_keys,
        &config.operator,
        SOFTWARE,
        unix_ms(),
    )?;
    let encoded = record.encode()?;
    let _ = swarm
        .behaviour_mut()
        .kad
        .store_mut()
        .put(kad::Record::new(local.to_bytes(), encoded));

    let set_rx = set.watch();
    let initial = set_rx.borrow().clone();
    let (shutdown, _) = watch::channel(false);
    let service = SwarmService::new(
        local,
        ServiceConfig {
            max_payload: config.max_payload,
            auth_window: config.auth_window,
        },
        crate::config::unix_ms(),
    );
    let holds = Holds::new(config.max_waiting_retrieves, config.max_retrieve_wait);
    let peel_workers = config.onion_peel_workers.max(1);
    let (cmd_tx, cmd_rx) = mpsc::channel(command::COMMAND_QUEUE);
    let ctx = Arc::new(ctx::Ctx {
        local,
        store,
        set,
        cmd: cmd_tx,
        recent: Mutex::new(initial.nodes.iter().map(|n| n.peer_id).collect()),
        record: RwLock::new(record),
        key,
        record_addrs: listen_addrs.clone(),
        onion: onion_state::OnionState::new(
            OnionRouter::new(ring),
            identity,
            rng,
            codecs.onion.clone(),
            peel_workers,
        ),
        codec: codecs.swarm.clone(),
        service,
        holds: Mutex::new(holds),
        started: Instant::now(),
        counters: stats::Counters::default(),
        rebalance: tokio::sync::Mutex::new(initial.clone()),
        shutdown,
        cfg: config,
    });
    let handle = NetworkHandle { ctx };

    let mut el = event_loop::EventLoop::new(swarm, cmd_rx, handle.clone(), listen_addrs);
    el.apply_membership(&initial);
    tokio::spawn(el.run(set_rx));
    tokio::spawn(rebalance::sweeper(handle.clone()));
    tokio::spawn(rebalance::rebalancer(handle.clone()));
    tokio::spawn(onion_keys::onion_maintainer(handle.clone()));
    tokio::spawn(records::directory_refresher(handle.clone()));
    Ok(handle)
}
