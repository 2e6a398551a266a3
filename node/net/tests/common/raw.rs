//! A raw libp2p client that writes arbitrary bytes on a fresh stream of any protocol.

use libp2p::futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, StreamExt};
use libp2p::request_response::{self as rr, Codec, ProtocolSupport};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, StreamProtocol, noise, tcp, yamux};
use std::io;
use std::time::Duration;

/// What the raw client writes on a fresh stream.
#[derive(Clone, Debug)]
pub enum Raw {
    /// A `u32` length prefix and these bytes.
    Framed(Vec<u8>),
    /// Exactly these bytes (no framing), then the write side closes.
    Bytes(Vec<u8>),
}

#[derive(Clone, Default)]
pub struct RawCodec;

impl Codec for RawCodec {
    type Protocol = StreamProtocol;
    type Request = Raw;
    type Response = Vec<u8>;

    async fn read_request<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        _: &mut T,
    ) -> io::Result<Raw> {
        Err(io::Error::other("outbound only"))
    }

    async fn read_response<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Vec<u8>> {
        let mut v = Vec::new();
        io.take(8 << 20).read_to_end(&mut v).await?;
        Ok(v)
    }

    async fn write_request<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: Raw,
    ) -> io::Result<()> {
        match req {
            Raw::Framed(b) => {
                io.write_all(&(b.len() as u32).to_be_bytes()).await?;
                io.write_all(&b).await?;
            }
            Raw::Bytes(b) => io.write_all(&b).await?,
        }
        io.close().await
    }

    async fn write_response<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        _: &mut T,
        _: Vec<u8>,
    ) -> io::Result<()> {
        Ok(())
    }
}

/// Opens a fresh connection from a throwaway identity and sends one raw request on `protocol`.
pub async fn raw_send(
    target: PeerId,
    addr: &Multiaddr,
    protocol: &str,
    req: Raw,
) -> Result<Vec<u8>, String> {
    raw_send_many(target, addr, protocol, vec![req])
        .await
        .pop()
        .expect("one outcome per request")
}

/// Opens a fresh connection from one throwaway identity and sends `reqs` on `protocol`, all at
/// once; the outcomes in the order they came.
pub async fn raw_send_many(
    target: PeerId,
    addr: &Multiaddr,
    protocol: &str,
    reqs: Vec<Raw>,
) -> Vec<Result<Vec<u8>, String>> {
    let proto = StreamProtocol::try_from_owned(protocol.to_owned()).unwrap();
    let mut sw = libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            tcp::Config::default(),
            noise::Config::new,
            yamux::Config::default,
        )
        .unwrap()
        .with_behaviour(|_| {
            rr::Behaviour::with_codec(
                RawCodec,
                [(proto, ProtocolSupport::Outbound)],
                rr::Config::default().with_request_timeout(Duration::from_secs(3)),
            )
        })
        .unwrap()
        .build();
    sw.add_peer_address(target, addr.clone());
    let n = reqs.len();
    for req in reqs {
        sw.behaviour_mut().send_request(&target, req);
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let ev = tokio::time::timeout_at(deadline, sw.select_next_some())
            .await
            .expect("raw client got no outcome");
        match ev {
            SwarmEvent::Behaviour(rr::Event::Message {
                message: rr::Message::Response { response, .. },
                ..
            }) => out.push(Ok(response)),
            SwarmEvent::Behaviour(rr::Event::OutboundFailure { error, .. }) => {
                out.push(Err(error.to_string()));
            }
            _ => {}
        }
    }
    out
}
