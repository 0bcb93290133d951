//! The frames of the private channel between the bridge and a Python worker process.
//!
//! A frame is a 4-byte big-endian length, then one protobuf message. The messages are those of
//! the package's `framework/adapters/bridge_frames.py` (its docstring holds the proto text);
//! prost derives them here with the same field numbers, so no protoc is needed.

use prost::Message;
use std::collections::HashMap;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// A frame longer than this is a broken channel, not a message (the worker has the same limit).
const MAX_FRAME: u32 = 1 << 30;

/// `Request.kind`: what the worker is asked to do.
pub const LOAD: i32 = 0;
pub const RUN: i32 = 1;
pub const STREAM: i32 = 2;
/// A stream of a feed method: FEED requests follow it, then one FEED_END, while the worker
/// streams its chunks back.
pub const FEED_STREAM: i32 = 3;
/// One piece of the feed (`payload`).
pub const FEED: i32 = 4;
/// The end of the feed: sent after the client's last piece, or once the stream has ended.
pub const FEED_END: i32 = 5;

/// `Reply.kind`: LOAD ends with LOADED or ERROR, RUN with RESULT or ERROR, STREAM with any
/// number of CHUNKs, then END or ERROR.
pub const LOADED: i32 = 0;
pub const RESULT: i32 = 1;
pub const CHUNK: i32 = 2;
pub const END: i32 = 3;
pub const ERROR: i32 = 4;

/// Bridge → worker, one per call.
#[derive(Clone, PartialEq, Message)]
pub struct Request {
    #[prost(int32, tag = "1")]
    pub kind: i32,
    /// LOAD: the settings; RUN, STREAM: the args.
    #[prost(bytes = "vec", tag = "2")]
    pub payload: Vec<u8>,
    #[prost(map = "string, string", tag = "3")]
    pub metadata: HashMap<String, String>,
    /// The method; unset: the plugin's default method.
    #[prost(string, optional, tag = "4")]
    pub using: Option<String>,
}

/// Worker → bridge.
#[derive(Clone, PartialEq, Message)]
pub struct Reply {
    #[prost(int32, tag = "1")]
    pub kind: i32,
    /// RESULT: the result; CHUNK: the chunk.
    #[prost(bytes = "vec", tag = "2")]
    pub payload: Vec<u8>,
    /// RESULT: the returned metadata; ERROR: the error's metadata.
    #[prost(map = "string, string", tag = "3")]
    pub metadata: HashMap<String, String>,
    /// ERROR: the error, one line.
    #[prost(string, tag = "4")]
    pub message: String,
}

/// Why a frame could not be read or written.
pub enum ChannelError {
    /// The worker closed its end, or the socket failed.
    Closed,
    /// Bytes that are not a frame of this protocol.
    Malformed,
}

pub async fn write<W: AsyncWrite + Unpin>(
    channel: &mut W,
    request: &Request,
) -> Result<(), ChannelError> {
    let body = request.encode_to_vec();
    let length = u32::try_from(body.len()).map_err(|_| ChannelError::Malformed)?;
    if length > MAX_FRAME {
        return Err(ChannelError::Malformed);
    }
    let mut frame = Vec::with_capacity(body.len() + 4);
    frame.extend_from_slice(&length.to_be_bytes());
    frame.extend_from_slice(&body);
    channel
        .write_all(&frame)
        .await
        .map_err(|_| ChannelError::Closed)
}

pub async fn read<R: AsyncRead + Unpin>(channel: &mut R) -> Result<Reply, ChannelError> {
    let mut header = [0u8; 4];
    channel
        .read_exact(&mut header)
        .await
        .map_err(|_| ChannelError::Closed)?;
    let length = u32::from_be_bytes(header);
    if length > MAX_FRAME {
        return Err(ChannelError::Malformed);
    }
    let mut body = vec![0u8; length as usize];
    channel
        .read_exact(&mut body)
        .await
        .map_err(|_| ChannelError::Closed)?;
    Reply::decode(body.as_slice()).map_err(|_| ChannelError::Malformed)
}
