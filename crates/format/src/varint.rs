//! LEB128 varints, zigzag, and the bounds-checked cursor every decoder reads through.
//!
//! Decoding never panics on bad input: a truncated or overlong varint is a [`StreamError`], which
//! the chunk decoder turns into an error that names the chunk.

/// Appends `v` as an unsigned LEB128 varint (1 to 10 bytes).
#[inline]
pub(crate) fn put(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Maps signed to unsigned so that small magnitudes of either sign stay small.
#[inline]
pub(crate) fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// Inverse of [`zigzag`].
#[inline]
pub(crate) fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// Why a stream could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StreamError {
    /// The stream ended in the middle of a value.
    Truncated,
    /// A varint ran past 10 bytes or past 64 bits.
    Overlong,
    /// A move-to-front index past the end of its list.
    BadIndex,
    /// A column holds more data than its values.
    Trailing,
}

impl std::fmt::Display for StreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StreamError::Truncated => f.write_str("stream ends in the middle of a value"),
            StreamError::Overlong => f.write_str("varint longer than 64 bits"),
            StreamError::BadIndex => f.write_str("table index past the end of its table"),
            StreamError::Trailing => f.write_str("column holds bytes after its last value"),
        }
    }
}

/// What [`Cursor::number_or_run`] read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Number {
    /// One value.
    Value(u64),
    /// A run of this many zeros.
    Zeros(u64),
}

/// A read position in one byte stream.
#[derive(Debug, Clone, Default)]
pub(crate) struct Cursor<'a> {
    pub(crate) data: &'a [u8],
    pub(crate) pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Cursor { data, pos: 0 }
    }

    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.data.len()
    }

    #[inline]
    pub(crate) fn u8(&mut self) -> Result<u8, StreamError> {
        let b = *self.data.get(self.pos).ok_or(StreamError::Truncated)?;
        self.pos += 1;
        Ok(b)
    }

    /// Reads one unsigned LEB128 varint.
    #[inline(always)]
    pub(crate) fn varint(&mut self) -> Result<u64, StreamError> {
        // Fast path: most values in a trace are one byte (deltas of zero or small sizes).
        if let Some(&b) = self.data.get(self.pos) {
            if b < 0x80 {
                self.pos += 1;
                return Ok(u64::from(b));
            }
        }
        self.varint_slow()
    }

    #[cold]
    fn varint_slow(&mut self) -> Result<u64, StreamError> {
        let mut v: u64 = 0;
        for i in 0..10 {
            let b = self.u8()?;
            let low = u64::from(b & 0x7f);
            if i == 9 && b > 1 {
                return Err(StreamError::Overlong);
            }
            v |= low << (7 * i);
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(StreamError::Overlong)
    }

    /// Reads one value of a format 2 number column: a varint, or the run marker `80 00` and the
    /// varint count of the zeros it stands for.
    #[inline(never)]
    pub(crate) fn number_or_run(&mut self) -> Result<Number, StreamError> {
        if self.data.get(self.pos..self.pos + 2) == Some(&[0x80, 0][..]) {
            self.pos += 2;
            return Ok(Number::Zeros(self.varint()?));
        }
        self.varint().map(Number::Value)
    }

    /// Reads `n` raw bytes.
    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8], StreamError> {
        let end = self.pos.checked_add(n).ok_or(StreamError::Truncated)?;
        let s = self.data.get(self.pos..end).ok_or(StreamError::Truncated)?;
        self.pos = end;
        Ok(s)
    }

    pub(crate) fn u32_le(&mut self) -> Result<u32, StreamError> {
        let b = self.bytes(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(crate) fn u64_le(&mut self) -> Result<u64, StreamError> {
        let b = self.bytes(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_round_trip_edges() {
        for v in [0, 1, 127, 128, 255, 16383, 16384, u64::from(u32::MAX), u64::MAX - 1, u64::MAX] {
            let mut buf = Vec::new();
            put(&mut buf, v);
            let mut c = Cursor::new(&buf);
            assert_eq!(c.varint(), Ok(v));
            assert!(c.is_empty());
        }
    }

    #[test]
    fn zigzag_round_trip_edges() {
        for v in [0i64, 1, -1, 63, -64, i64::MAX, i64::MIN] {
            assert_eq!(unzigzag(zigzag(v)), v);
        }
        assert_eq!(zigzag(-1), 1);
        assert_eq!(zigzag(1), 2);
    }

    #[test]
    fn bad_varints_are_errors_not_panics() {
        assert_eq!(Cursor::new(&[0x80]).varint(), Err(StreamError::Truncated));
        assert_eq!(Cursor::new(&[0xff; 11]).varint(), Err(StreamError::Overlong));
        // Ten bytes whose last carries more than the one remaining bit of a u64.
        let mut ten = [0xffu8; 10];
        ten[9] = 0x02;
        assert_eq!(Cursor::new(&ten).varint(), Err(StreamError::Overlong));
    }
}
