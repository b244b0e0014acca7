//! Reading a child's pipe: one line at a time, each at most `MAX_LINE_BYTES`, sent to the job's runner.
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::mpsc;

use crate::domain::OutputStream;

/// A longer line is cut into pieces of this size, so one newline-free stream cannot grow memory.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// What the pipe readers send to the job's runner.
pub enum PipeItem {
    Line { stream: OutputStream, text: String, bytes: u64 },
    Closed(OutputStream),
}

/// Reads `pipe` to its end, sending one `PipeItem::Line` per line (without its `\n` or a `\r` before it).
pub async fn read_lines<R: AsyncRead + Unpin>(pipe: R, stream: OutputStream, tx: mpsc::Sender<PipeItem>) {
    let mut reader = BufReader::with_capacity(MAX_LINE_BYTES, pipe);
    let mut line: Vec<u8> = Vec::new();
    while let Ok(buf) = reader.fill_buf().await {
        if buf.is_empty() {
            break;
        }
        let window = &buf[..buf.len().min(MAX_LINE_BYTES - line.len())];
        // A line ends at a newline (which counts as a byte of output) or when it reaches MAX_LINE_BYTES.
        let (consumed, complete, newline) = match window.iter().position(|&b| b == b'\n') {
            Some(i) => {
                line.extend_from_slice(&window[..i]);
                (i + 1, true, true)
            }
            None => {
                line.extend_from_slice(window);
                (window.len(), line.len() >= MAX_LINE_BYTES, false)
            }
        };
        reader.consume(consumed);
        if complete {
            let bytes = line.len() as u64 + u64::from(newline);
            if send_line(&tx, stream, &mut line, bytes).await.is_err() {
                return;
            }
        }
    }
    if !line.is_empty() {
        let bytes = line.len() as u64;
        let _ = send_line(&tx, stream, &mut line, bytes).await;
    }
    let _ = tx.send(PipeItem::Closed(stream)).await;
}

async fn send_line(
    tx: &mpsc::Sender<PipeItem>,
    stream: OutputStream,
    line: &mut Vec<u8>,
    bytes: u64,
) -> Result<(), mpsc::error::SendError<PipeItem>> {
    let body = line.strip_suffix(b"\r").unwrap_or(line);
    let text = String::from_utf8_lossy(body).into_owned();
    line.clear();
    tx.send(PipeItem::Line { stream, text, bytes }).await
}
