//! Inbound connection limits per remote IP address: a plain counter that takes connection
//! events ([`IpCounts`]), and the libp2p behaviour that applies it ([`IpLimits`]). The total and
//! per-peer limits are libp2p's own `connection_limits` behaviour, next to it in the node's
//! behaviour; a peer ID costs nothing to make, an address does.

use libp2p::PeerId;
use libp2p::core::transport::PortUse;
use libp2p::core::{Endpoint, Multiaddr};
use libp2p::multiaddr::Protocol;
use libp2p::swarm::{
    ConnectionClosed, ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, THandler,
    THandlerInEvent, THandlerOutEvent, ToSwarm, dummy,
};
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::IpAddr;
use std::task::{Context, Poll};

/// A refused inbound connection: its address has as many as it may.
#[derive(Debug, thiserror::Error)]
#[error("{ip} has {max} inbound connections to this node already (the most one address may have)")]
pub struct TooManyFromIp {
    /// The remote address.
    pub ip: IpAddr,
    /// The limit.
    pub max: usize,
}

/// Inbound connections per remote IP address, pending and established, at most `max` each.
#[derive(Debug)]
pub struct IpCounts {
    max: usize,
    per_ip: HashMap<IpAddr, usize>,
    conns: HashMap<ConnectionId, IpAddr>,
}

impl IpCounts {
    /// At most `max` inbound connections from one address.
    pub fn new(max: usize) -> Self {
        Self {
            max,
            per_ip: HashMap::new(),
            conns: HashMap::new(),
        }
    }

    /// A connection `id` from `ip` is being accepted: counted, or refused when `ip` is at its
    /// limit. Counting the same connection again (pending, then established) is a no-op.
    pub fn admit(&mut self, id: ConnectionId, ip: IpAddr) -> Result<(), TooManyFromIp> {
        if self.conns.contains_key(&id) {
            return Ok(());
        }
        let n = self.per_ip.entry(ip).or_insert(0);
        if *n >= self.max {
            return Err(TooManyFromIp { ip, max: self.max });
        }
        *n += 1;
        self.conns.insert(id, ip);
        Ok(())
    }

    /// Connection `id` closed or failed: its slot is free (unknown IDs are ignored).
    pub fn closed(&mut self, id: ConnectionId) {
        if let Some(ip) = self.conns.remove(&id)
            && let Some(n) = self.per_ip.get_mut(&ip)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_ip.remove(&ip);
            }
        }
    }

    /// Inbound connections counted for `ip` now.
    #[cfg(test)]
    pub fn of(&self, ip: &IpAddr) -> usize {
        self.per_ip.get(ip).copied().unwrap_or(0)
    }
}

/// The IP address of a multiaddr (its first `/ip4` or `/ip6`), if any.
fn ip_of(addr: &Multiaddr) -> Option<IpAddr> {
    addr.iter().find_map(|p| match p {
        Protocol::Ip4(a) => Some(IpAddr::V4(a)),
        Protocol::Ip6(a) => Some(IpAddr::V6(a)),
        _ => None,
    })
}

/// The behaviour that refuses an inbound connection from an address with [`IpCounts`]'s
/// maximum already. It has no protocol of its own.
#[derive(Debug)]
pub struct IpLimits {
    counts: IpCounts,
}

impl IpLimits {
    /// At most `max` inbound connections per remote address.
    pub fn new(max: usize) -> Self {
        Self {
            counts: IpCounts::new(max),
        }
    }

    fn admit(&mut self, id: ConnectionId, remote: &Multiaddr) -> Result<(), ConnectionDenied> {
        match ip_of(remote) {
            Some(ip) => self.counts.admit(id, ip).map_err(ConnectionDenied::new),
            // No IP (a relayed or memory address): nothing to count by.
            None => Ok(()),
        }
    }
}

impl NetworkBehaviour for IpLimits {
    type ConnectionHandler = dummy::ConnectionHandler;
    type ToSwarm = Infallible;

    fn handle_pending_inbound_connection(
        &mut self,
        id: ConnectionId,
        _local: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        self.admit(id, remote)
    }

    fn handle_established_inbound_connection(
        &mut self,
        id: ConnectionId,
        _peer: PeerId,
        _local: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.admit(id, remote)?;
        Ok(dummy::ConnectionHandler)
    }

    fn handle_established_outbound_connection(
        &mut self,
        _id: ConnectionId,
        _peer: PeerId,
        _addr: &Multiaddr,
        _role: Endpoint,
        _port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(dummy::ConnectionHandler)
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        match event {
            FromSwarm::ConnectionClosed(ConnectionClosed { connection_id, .. }) => {
                self.counts.closed(connection_id);
            }
            FromSwarm::ListenFailure(f) => self.counts.closed(f.connection_id),
            _ => {}
        }
    }

    fn on_connection_handler_event(
        &mut self,
        _peer: PeerId,
        _id: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        match event {}
    }

    fn poll(&mut self, _: &mut Context<'_>) -> Poll<ToSwarm<Infallible, THandlerInEvent<Self>>> {
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn an_address_gets_at_most_its_share_and_its_slots_back_on_close() {
        let mut c = IpCounts::new(2);
        let a: IpAddr = "203.0.113.7".parse().unwrap();
        let b: IpAddr = "2001:db8::1".parse().unwrap();
        let ids: Vec<ConnectionId> = (0..5).map(ConnectionId::new_unchecked).collect();
        c.admit(ids[0], a).unwrap();
        // Pending, then established: counted once.
        c.admit(ids[0], a).unwrap();
        c.admit(ids[1], a).unwrap();
        let e = c.admit(ids[2], a).unwrap_err();
        assert!(e.to_string().contains("203.0.113.7 has 2 inbound"), "{e}");
        // Another address is counted apart.
        c.admit(ids[3], b).unwrap();
        assert_eq!((c.of(&a), c.of(&b)), (2, 1));
        // A refused connection that closes frees nothing it did not hold.
        c.closed(ids[2]);
        assert_eq!(c.of(&a), 2);
        c.closed(ids[0]);
        assert_eq!(c.of(&a), 1);
        c.admit(ids[4], a).unwrap();
        assert_eq!(c.of(&a), 2);
    }

    #[test]
    fn the_ip_of_an_address_is_its_first_ip_component() {
        let v4: Multiaddr = "/ip4/198.51.100.2/tcp/4001".parse().unwrap();
        let v6: Multiaddr = "/ip6/::1/udp/9/quic-v1".parse().unwrap();
        let none: Multiaddr = "/memory/5".parse().unwrap();
        assert_eq!(ip_of(&v4), Some("198.51.100.2".parse().unwrap()));
        assert_eq!(ip_of(&v6), Some("::1".parse().unwrap()));
        assert_eq!(ip_of(&none), None);
    }
}
