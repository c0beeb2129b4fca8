//! A response body made of a few shared buffers, sent one after another without being copied
//! into one: `/metrics` is the poll's exposition (shared by every scrape until the next poll)
//! followed by a few per-scrape lines.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Frame, SizeHint};

/// A body of whole buffers, each sent as one frame. Its exact length is known up front, so
/// hyper sends `Content-Length` and, on plain TCP, writes the buffers with one vectored write
/// instead of copying them together.
#[derive(Debug, Default)]
pub struct Chunks {
    parts: VecDeque<Bytes>,
    remaining: u64,
}

impl Chunks {
    /// A body of `parts`, in order; empty parts are dropped.
    pub fn new(parts: impl IntoIterator<Item = Bytes>) -> Chunks {
        let parts: VecDeque<Bytes> = parts.into_iter().filter(|p| !p.is_empty()).collect();
        let remaining = parts.iter().map(|p| p.len() as u64).sum();
        Chunks { parts, remaining }
    }

    /// The number of bytes not yet sent.
    pub fn len(&self) -> u64 {
        self.remaining
    }

    /// Whether every byte has been sent (or there were none).
    pub fn is_empty(&self) -> bool {
        self.remaining == 0
    }
}

impl From<Bytes> for Chunks {
    fn from(bytes: Bytes) -> Chunks {
        Chunks::new([bytes])
    }
}

impl From<String> for Chunks {
    fn from(text: String) -> Chunks {
        Chunks::from(Bytes::from(text))
    }
}

impl From<&'static str> for Chunks {
    fn from(text: &'static str) -> Chunks {
        Chunks::from(Bytes::from_static(text.as_bytes()))
    }
}

impl hyper::body::Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let next = self.parts.pop_front();
        if let Some(part) = &next {
            self.remaining -= part.len() as u64;
        }
        Poll::Ready(next.map(|part| Ok(Frame::data(part))))
    }

    fn is_end_stream(&self) -> bool {
        self.parts.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn parts_are_sent_in_order_with_an_exact_length() {
        let shared = Bytes::from(vec![b'a'; 100_000]);
        let cases: [(Vec<Bytes>, usize, usize); 4] = [
            (vec![], 0, 0),
            (vec![Bytes::new(), Bytes::new()], 0, 0),
            (vec![shared.clone()], 100_000, 1),
            (
                vec![Bytes::from_static(b"x"), Bytes::new(), shared.clone()],
                100_001,
                2,
            ),
        ];
        for (parts, len, frames) in cases {
            let want: Vec<u8> = parts.iter().flat_map(|p| p.iter().copied()).collect();
            let mut body = Chunks::new(parts);
            assert_eq!(
                hyper::body::Body::size_hint(&body).exact(),
                Some(len as u64)
            );
            assert_eq!(body.len(), len as u64);
            let mut got = Vec::new();
            let mut seen = 0;
            while let Some(frame) = body.frame().await {
                got.extend_from_slice(&frame.unwrap().into_data().unwrap());
                seen += 1;
            }
            assert_eq!((got, seen), (want, frames));
            assert!(hyper::body::Body::is_end_stream(&body) && body.is_empty());
        }
    }

    #[test]
    fn a_shared_part_is_not_copied() {
        let shared = Bytes::from(vec![7u8; 4096]);
        let mut body = Chunks::from(shared.clone());
        let frame = body.parts.pop_front().unwrap();
        assert_eq!(frame.as_ptr(), shared.as_ptr());
    }
}
