//! The framing of every request-response protocol of the node: one `u32` big-endian length
//! prefix and the frame, in each direction. Frames are opaque here; the event loop decodes them
//! with `pars-wire`, so a malformed frame gets a typed error answer. A length above the cap or a
//! stream that ends early fails the stream (the peer sees it reset) and never allocates more
//! than the cap. The buffer grows as the bytes arrive: a declared length is not allocated up
//! front, so a peer that declares large frames and sends nothing costs at most
//! [`FIRST_STEP`] bytes per stream.

use crate::NetError;
use libp2p::futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::request_response::{self as rr, Codec};
use libp2p::{PeerId, StreamProtocol};
use std::collections::HashMap;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A length-prefixed frame codec with separate caps for requests and responses. It counts the
/// inbound requests it had to drop (libp2p reports those only in its debug log).
#[derive(Clone, Debug)]
pub struct FrameCodec {
    /// Largest request frame accepted.
    pub max_request: usize,
    /// Largest response frame accepted.
    pub max_response: usize,
    rejected: Arc<AtomicU64>,
}

impl FrameCodec {
    /// A codec with these caps.
    pub fn new(max_request: usize, max_response: usize) -> Self {
        Self {
            max_request,
            max_response,
            rejected: Arc::default(),
        }
    }

    /// Inbound requests dropped so far (oversized, truncated or unreadable), across all clones.
    pub fn rejected(&self) -> u64 {
        self.rejected.load(Ordering::Relaxed)
    }
}

async fn read_frame<T: AsyncRead + Unpin + Send>(io: &mut T, max: usize) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame of {len} bytes exceeds the {max}-byte cap"),
        ));
    }
    // Grown in steps as the bytes arrive: the first holds any onion packet but a bulk one,
    // each later one at most doubles what the peer already sent.
    let mut buf = Vec::new();
    while buf.len() < len {
        let filled = buf.len();
        let step = len.min(filled.saturating_mul(2).max(FIRST_STEP));
        buf.resize(step, 0);
        io.read_exact(&mut buf[filled..]).await?;
    }
    Ok(buf)
}

/// The most a frame's buffer holds before any of its bytes arrived (64 KiB).
pub const FIRST_STEP: usize = 64 * 1024;

async fn write_frame<T: AsyncWrite + Unpin + Send>(
    io: &mut T,
    frame: &[u8],
    max: usize,
) -> io::Result<()> {
    if frame.len() > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("frame of {} bytes exceeds the {max}-byte cap", frame.len()),
        ));
    }
    let len = u32::try_from(frame.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "frame too large"))?;
    io.write_all(&len.to_be_bytes()).await?;
    io.write_all(frame).await?;
    io.flush().await
}

impl Codec for FrameCodec {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<u8>;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        let r = read_frame(io, self.max_request).await;
        if r.is_err() {
            self.rejected.fetch_add(1, Ordering::Relaxed);
        }
        r
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_frame(io, self.max_response).await
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: Vec<u8>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &req, self.max_request).await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: Vec<u8>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &res, self.max_response).await
    }
}

/// Waiters of outbound requests on one protocol, by request ID.
pub(crate) type Waiters<T> =
    HashMap<rr::OutboundRequestId, tokio::sync::oneshot::Sender<Result<T, NetError>>>;

/// The outcome of an outbound request on a request-response protocol: an answer (made into
/// the waiter's value by `answer`) or a failure (named after `peer`) goes to the waiter and
/// leaves `waiters`. Every other event (inbound requests and failures, sent responses) is
/// given back for the caller.
pub(crate) fn settle_outbound<T>(
    waiters: &mut Waiters<T>,
    e: rr::Event<Vec<u8>, Vec<u8>>,
    peer: impl FnOnce(PeerId) -> String,
    answer: impl FnOnce(Vec<u8>) -> T,
) -> Option<rr::Event<Vec<u8>, Vec<u8>>> {
    match e {
        rr::Event::Message {
            message:
                rr::Message::Response {
                    request_id,
                    response,
                },
            ..
        } => {
            if let Some(w) = waiters.remove(&request_id) {
                let _ = w.send(Ok(answer(response)));
            }
            None
        }
        rr::Event::OutboundFailure {
            peer: p,
            request_id,
            error,
            ..
        } => {
            if let Some(w) = waiters.remove(&request_id) {
                let _ = w.send(Err(NetError::Request {
                    peer: peer(p),
                    reason: error.to_string(),
                }));
            }
            None
        }
        other => Some(other),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    /// A stream of `data` that remembers the largest buffer it was asked to fill.
    struct Source {
        data: Vec<u8>,
        at: usize,
        largest_ask: usize,
    }

    impl AsyncRead for Source {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut [u8],
        ) -> Poll<io::Result<usize>> {
            self.largest_ask = self.largest_ask.max(buf.len());
            let n = buf.len().min(self.data.len() - self.at);
            buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
            self.at += n;
            Poll::Ready(Ok(n))
        }
    }

    fn framed(declared: u32, body: &[u8]) -> Source {
        let mut data = declared.to_be_bytes().to_vec();
        data.extend_from_slice(body);
        Source {
            data,
            at: 0,
            largest_ask: 0,
        }
    }

    #[tokio::test]
    async fn a_declared_length_is_not_allocated_before_its_bytes_arrive() {
        // 4 MiB declared, 100 bytes sent: refused, and never more than the first step asked.
        let mut s = framed(4 << 20, &[7; 100]);
        let e = read_frame(&mut s, 4 << 20).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
        assert!(s.largest_ask <= FIRST_STEP, "{}", s.largest_ask);
        // A whole frame over several steps comes back as sent.
        let body: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let mut s = framed(body.len() as u32, &body);
        assert_eq!(read_frame(&mut s, 4 << 20).await.unwrap(), body);
        // Over the cap: refused before anything is read.
        let mut s = framed(5 << 20, &[]);
        let e = read_frame(&mut s, 4 << 20).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
    }
}
