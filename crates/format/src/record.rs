//! Record framing: `kind u8, body_len u32 LE, body, crc32 u32 LE` after the file preamble, and the
//! trailer that points at the footer. Specified in `docs/format.md` ("File layout").

use crate::varint::Cursor;

/// First 8 bytes of every trace. The high first byte and the CR LF / ^Z bytes catch files mangled
/// by text-mode transfers, as PNG's signature does.
pub const MAGIC: [u8; 8] = *b"\x89MIO\r\n\x1a\n";
/// Last 8 bytes of a finished trace.
pub const END_MAGIC: [u8; 8] = *b"\x89MIOEND\n";
/// Format major version this build writes. It reads this one and every earlier one (1.x, whose
/// chunk payloads code the time column and zero runs differently); a reader refuses a larger major
/// version.
pub const VERSION_MAJOR: u16 = 2;
/// Format minor version this build writes. Minor versions only add; any 2.x reads any 2.y.
pub const VERSION_MINOR: u16 = 2;
/// Bytes before the first record: magic, major, minor.
pub const PREAMBLE_LEN: usize = 12;
/// Bytes after the footer record: footer offset (u64 LE), end magic.
pub const TRAILER_LEN: usize = 16;
/// Bytes of framing around a record body.
pub(crate) const FRAME_LEN: usize = 9;

/// Kinds of records. Readers skip kinds they do not know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum RecordKind {
    /// [`Header`](crate::Header), always the first record.
    Header = 0x01,
    /// A chunk of events.
    Chunk = 0x02,
    /// [`FileInfo`](crate::FileInfo).
    File = 0x10,
    /// [`OpenFd`](crate::OpenFd).
    OpenFd = 0x11,
    /// [`ThreadInfo`](crate::ThreadInfo).
    Thread = 0x12,
    /// [`ProcessInfo`](crate::ProcessInfo).
    Process = 0x13,
    /// [`StatusSnapshot`](crate::StatusSnapshot).
    Status = 0x14,
    /// [`Footer`](crate::Footer), always the last record.
    Footer = 0x7f,
}

impl RecordKind {
    /// The kind with this code, if this version knows it.
    pub fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            0x01 => RecordKind::Header,
            0x02 => RecordKind::Chunk,
            0x10 => RecordKind::File,
            0x11 => RecordKind::OpenFd,
            0x12 => RecordKind::Thread,
            0x13 => RecordKind::Process,
            0x14 => RecordKind::Status,
            0x7f => RecordKind::Footer,
            _ => return None,
        })
    }
}

/// Appends the preamble.
pub(crate) fn write_preamble(out: &mut Vec<u8>) {
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&VERSION_MAJOR.to_le_bytes());
    out.extend_from_slice(&VERSION_MINOR.to_le_bytes());
}

/// Appends one framed record.
pub(crate) fn write_record(out: &mut Vec<u8>, kind: u8, body: &[u8]) {
    let start = out.len();
    let len = u32::try_from(body.len()).expect("record bodies are bounded far below 4 GiB");
    out.push(kind);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(body);
    let crc = crc32fast::hash(&out[start..]);
    out.extend_from_slice(&crc.to_le_bytes());
}

/// Appends the trailer that points at the footer record.
pub(crate) fn write_trailer(out: &mut Vec<u8>, footer_offset: u64) {
    out.extend_from_slice(&footer_offset.to_le_bytes());
    out.extend_from_slice(&END_MAGIC);
}

/// A framed record found in the data.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawRecord<'a> {
    pub(crate) kind: u8,
    pub(crate) offset: u64,
    /// The whole record, framing included.
    pub(crate) bytes: &'a [u8],
}

impl<'a> RawRecord<'a> {
    pub(crate) fn body(&self) -> &'a [u8] {
        &self.bytes[5..self.bytes.len() - 4]
    }

    /// Stored and computed CRC.
    pub(crate) fn crc(&self) -> (u32, u32) {
        let n = self.bytes.len();
        let t = &self.bytes[n - 4..];
        let stored = u32::from_le_bytes([t[0], t[1], t[2], t[3]]);
        (stored, crc32fast::hash(&self.bytes[..n - 4]))
    }

    pub(crate) fn crc_ok(&self) -> bool {
        let (a, b) = self.crc();
        a == b
    }
}

/// Why no record could be framed at an offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FrameError {
    /// The data ends inside the record (its framing says it needs `need` bytes, `have` remain).
    Truncated { need: u64, have: u64 },
}

/// Frames the record at `offset` without checking its CRC.
pub(crate) fn frame_at(data: &[u8], offset: usize) -> Result<RawRecord<'_>, FrameError> {
    let have = data.len().saturating_sub(offset) as u64;
    if have < FRAME_LEN as u64 {
        return Err(FrameError::Truncated { need: FRAME_LEN as u64, have });
    }
    let mut c = Cursor::new(&data[offset..]);
    let kind = c.u8().map_err(|_| FrameError::Truncated { need: 1, have })?;
    let len = c.u32_le().map_err(|_| FrameError::Truncated { need: 5, have })?;
    let need = u64::from(len) + FRAME_LEN as u64;
    if need > have {
        return Err(FrameError::Truncated { need, have });
    }
    Ok(RawRecord { kind, offset: offset as u64, bytes: &data[offset..offset + need as usize] })
}
