//! A connection's socket under the API's idle and write deadlines.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

use super::{IDLE_LIMIT, WRITE_LIMIT};

/// A connection's socket with the [`IDLE_LIMIT`] and [`WRITE_LIMIT`] deadlines.
pub(super) struct Guarded {
    stream: TcpStream,
    /// Fires when no byte has moved for [`IDLE_LIMIT`]; pushed back on every byte.
    idle: Pin<Box<Sleep>>,
    /// Fires when a pending write has made no progress for [`WRITE_LIMIT`].
    write: Pin<Box<Sleep>>,
    /// Whether a write is pending (and `write` armed).
    writing: bool,
}

impl Guarded {
    pub(super) fn new(stream: TcpStream) -> Self {
        Self {
            stream,
            idle: Box::pin(tokio::time::sleep(IDLE_LIMIT)),
            write: Box::pin(tokio::time::sleep(WRITE_LIMIT)),
            writing: false,
        }
    }

    fn moved(&mut self) {
        self.idle.as_mut().reset(Instant::now() + IDLE_LIMIT);
    }

    fn check_idle(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        match self.idle.as_mut().poll(cx) {
            Poll::Ready(()) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "no byte moved within the idle limit",
            )),
            Poll::Pending => Ok(()),
        }
    }

    /// Polls a write-side operation under the write deadline.
    fn poll_write_op<T>(
        &mut self,
        cx: &mut Context<'_>,
        op: impl FnOnce(Pin<&mut TcpStream>, &mut Context<'_>) -> Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        if let Poll::Ready(done) = op(Pin::new(&mut self.stream), cx) {
            self.writing = false;
            self.moved();
            return Poll::Ready(done);
        }
        if !self.writing {
            self.writing = true;
            self.write.as_mut().reset(Instant::now() + WRITE_LIMIT);
        }
        ready!(self.write.as_mut().poll(cx));
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "the client did not read within the write limit",
        )))
    }
}

impl AsyncRead for Guarded {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Poll::Ready(done) = Pin::new(&mut this.stream).poll_read(cx, buf) {
            this.moved();
            return Poll::Ready(done);
        }
        this.check_idle(cx)?;
        Poll::Pending
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .poll_write_op(cx, |stream, cx| stream.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .poll_write_op(cx, |stream, cx| stream.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut()
            .poll_write_op(cx, |stream, cx| stream.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut()
            .poll_write_op(cx, |stream, cx| stream.poll_shutdown(cx))
    }
}
