//! Column codecs: how one event field is written to, and read back from, its column stream(s).
//!
//! Inside a chunk every field of every event kind has its own byte stream (see `docs/format.md`,
//! "Chunk payload"). A codec turns a field value into numbers in that stream:
//!
//! - [`Delta`]: zigzag of `value - previous value of this column`.
//! - [`Shared`]: zigzag of `value - predictor`, where the predictor is shared by fields of all
//!   kinds that hold the same quantity (file position, inode), one set per thread. A read, its readahead decision and its page-cache inserts name the same file
//!   and neighbouring pages; sharing the predictor pays for a random offset once, not once per kind.
//! - [`Recall`]: move-to-front over recently seen values of one id space (io_uring request, aio
//!   iocb, ...), shared by the kinds that name it: a completion names an id its submission named a
//!   moment ago, and freed ids are reused most-recently-freed first.
//! - [`Text`]: varint byte length, then UTF-8 bytes.
//! - [`Nested`]: a struct whose fields are columns of their own ([`FileRef`](crate::FileRef)).
//!
//! Number columns run-length code zeros (see [`ColumnOut`]). Predictors and previous values start
//! at zero in every chunk, so chunks decode independently.
//!
//! Decoding runs in three phases so that the per-event work is small: **bulk** decodes each column
//! on its own in a tight loop (varints, zero runs, prefix sums); **order** walks the events once in
//! file order to resolve what depends on other kinds (shared predictors, recall lists); **take**
//! builds field values from the decoded arrays (only when whole events are wanted).

use crate::tables::RecallLists;
use crate::varint::{self, Cursor, Number, StreamError};

/// Column output: the stream under construction and the last value written to it.
///
/// Number columns store one varint per value. A run of [`MIN_ZERO_RUN`] or more zeros is written
/// as the two bytes `80 00` (an overlong varint of 0, which a plain varint never uses) and a
/// varint count of the zeros; shorter runs are plain `00` bytes. Unchanged fields (the same
/// device, inode, flags as predicted) are the common case, and a long run of them costs three
/// bytes however long it is, while a lone zero between other values is one byte that the decoder
/// reads like any other value (format 1 wrote every zero as `00` and a count, which cost the
/// decoder a mispredicted branch per lone zero).
#[derive(Debug, Default)]
pub(crate) struct ColumnOut {
    pub(crate) buf: Vec<u8>,
    prev: u64,
    /// Zeros not written yet.
    zeros: u64,
}

/// Shortest run of zeros the writer codes as a run (format 2).
pub(crate) const MIN_ZERO_RUN: u64 = 4;

impl ColumnOut {
    /// Appends one number (already zigzag-mapped where signed).
    #[inline]
    pub(crate) fn put_number(&mut self, v: u64) {
        if v == 0 {
            self.zeros += 1;
            return;
        }
        self.end_run();
        varint::put(&mut self.buf, v);
    }

    /// Writes the pending zeros.
    #[inline]
    pub(crate) fn end_run(&mut self) {
        match self.zeros {
            0 => return,
            k if k < MIN_ZERO_RUN => self.buf.extend(std::iter::repeat_n(0, k as usize)),
            k => {
                self.buf.extend_from_slice(&[0x80, 0]);
                varint::put(&mut self.buf, k);
            }
        }
        self.zeros = 0;
    }

    /// Appends `bits` as a zigzag delta against the previous value.
    #[inline]
    pub(crate) fn put_delta(&mut self, bits: u64) {
        self.put_number(varint::zigzag(bits.wrapping_sub(self.prev) as i64));
        self.prev = bits;
    }

    /// Appends `bits` as a zigzag delta against an outside prediction.
    #[inline]
    pub(crate) fn put_rel(&mut self, bits: u64, predicted: u64) {
        self.put_number(varint::zigzag(bits.wrapping_sub(predicted) as i64));
    }

    /// Empties the column for the next chunk, keeping its allocation.
    pub(crate) fn reset(&mut self) {
        self.buf.clear();
        self.prev = 0;
        self.zeros = 0;
    }
}

/// Column input: one stream being read. A column the chunk does not contain (written by an older
/// writer that did not have the field) is given zero bytes, which every codec reads as 0 or "".
#[derive(Debug, Default, Clone)]
pub(crate) struct ColumnIn<'a> {
    pub(crate) cur: Cursor<'a>,
    /// Offset of the stream in the payload (text values are kept as payload ranges).
    base: usize,
    /// Zeros still owed by the current run.
    zeros: u64,
    /// Last value the bulk phase produced (for prefix sums across blocks).
    prev: u64,
    /// False for a stand-in for an absent column: it is not checked for leftover bytes.
    present: bool,
    /// True for a format 1 chunk: every zero is followed by a count of further zeros.
    legacy: bool,
}

impl<'a> ColumnIn<'a> {
    pub(crate) fn new(data: &'a [u8], base: usize, present: bool, legacy: bool) -> Self {
        ColumnIn { cur: Cursor::new(data), base, zeros: 0, prev: 0, present, legacy }
    }

    /// Appends the next `rows` numbers to `out`, each mapped by `f(previous output, number)`.
    /// Runs of zeros map to `f(previous, 0)` repeated, computed once.
    #[inline(always)]
    pub(crate) fn bulk(
        &mut self,
        rows: usize,
        out: &mut Vec<u64>,
        f: impl Fn(u64, u64) -> u64,
    ) -> Result<(), StreamError> {
        if self.legacy {
            return self.bulk_v1(rows, out, f);
        }
        let target = out.len() + rows;
        out.reserve(rows);
        let mut prev = self.prev;
        if self.zeros > 0 {
            let k = usize::try_from(self.zeros).unwrap_or(usize::MAX).min(rows);
            prev = f(prev, 0);
            out.resize(out.len() + k, prev);
            self.zeros -= k as u64;
        }
        let data = self.cur.data;
        let mut pos = self.cur.pos;
        while out.len() < target {
            // One-byte values (zeros included) are the common case and take no other branch.
            if let Some(&b) = data.get(pos) {
                if b < 0x80 {
                    pos += 1;
                    prev = f(prev, u64::from(b));
                    out.push(prev);
                    continue;
                }
            }
            self.cur.pos = pos;
            match self.cur.number_or_run()? {
                Number::Value(v) => {
                    prev = f(prev, v);
                    out.push(prev);
                }
                Number::Zeros(k) => {
                    let take = usize::try_from(k).unwrap_or(usize::MAX).min(target - out.len());
                    if take > 0 {
                        prev = f(prev, 0);
                        out.resize(out.len() + take, prev);
                    }
                    self.zeros = k - take as u64;
                }
            }
            pos = self.cur.pos;
        }
        self.cur.pos = pos;
        self.prev = prev;
        Ok(())
    }

    /// [`Self::bulk`] for a format 1 column.
    #[inline(never)]
    fn bulk_v1(
        &mut self,
        rows: usize,
        out: &mut Vec<u64>,
        f: impl Fn(u64, u64) -> u64,
    ) -> Result<(), StreamError> {
        let target = out.len() + rows;
        out.reserve(rows);
        let mut prev = self.prev;
        while out.len() < target {
            if self.zeros > 0 {
                let k = usize::try_from(self.zeros).unwrap_or(usize::MAX).min(target - out.len());
                prev = f(prev, 0);
                out.resize(out.len() + k, prev);
                self.zeros -= k as u64;
                continue;
            }
            let v = self.cur.varint()?;
            if v == 0 {
                self.zeros = self.cur.varint()?;
            }
            prev = f(prev, v);
            out.push(prev);
        }
        self.prev = prev;
        Ok(())
    }

    /// Errors when a real column holds more than its values: the writer never does that.
    pub(crate) fn check_end(&self) -> Result<(), StreamError> {
        if self.present && (self.zeros > 0 || !self.cur.is_empty()) {
            return Err(StreamError::Trailing);
        }
        Ok(())
    }
}

/// Slots of the cross-kind predictors (see [`Shared`]).
pub(crate) const SLOT_POS: usize = 0;
pub(crate) const SLOT_INO: usize = 1;
pub(crate) const SLOTS: usize = 2;

/// The cross-kind predictors of [`Shared`] codecs, one set per thread (direct-mapped by
/// `tid % 64`): a read, its readahead decision and its page inserts come from one thread, while
/// other threads' events land in between.
#[derive(Debug, Clone)]
pub(crate) struct SharedPredictors([[u64; SLOTS]; SHARED_SLOTS]);

const SHARED_SLOTS: usize = 64;

impl Default for SharedPredictors {
    fn default() -> Self {
        SharedPredictors([[0; SLOTS]; SHARED_SLOTS])
    }
}

impl SharedPredictors {
    #[inline(always)]
    pub(crate) fn of(&mut self, tid: u32) -> &mut [u64; SLOTS] {
        &mut self.0[tid as usize % SHARED_SLOTS]
    }
}

/// Encoding: writes the fields of one event into its kind's columns.
#[derive(Debug)]
pub(crate) struct EncodeCx<'a> {
    pub(crate) cols: &'a mut [ColumnOut],
    pub(crate) next: usize,
    pub(crate) shared: &'a mut [u64; SLOTS],
    pub(crate) recall: &'a mut RecallLists,
}

impl EncodeCx<'_> {
    #[inline]
    fn column(&mut self) -> &mut ColumnOut {
        let i = self.next;
        self.next += 1;
        &mut self.cols[i]
    }
}

/// Decoding phase 1: a kind's streams and the arrays the next `rows` values are appended to.
#[derive(Debug)]
pub(crate) struct BulkCx<'c, 'a> {
    pub(crate) ins: &'c mut [ColumnIn<'a>],
    pub(crate) outs: &'c mut [Vec<u64>],
    pub(crate) next: usize,
    pub(crate) rows: usize,
}

/// Decoding phase 2: one event, in file order.
#[derive(Debug)]
pub(crate) struct OrderCx<'c, 'a> {
    pub(crate) ins: &'c mut [ColumnIn<'a>],
    pub(crate) outs: &'c mut [Vec<u64>],
    pub(crate) next: usize,
    pub(crate) row: usize,
    pub(crate) shared: &'c mut [u64; SLOTS],
    pub(crate) recall: &'c mut RecallLists,
}

/// Decoding phase 3: building one event's fields from the decoded arrays.
#[derive(Debug)]
pub(crate) struct TakeCx<'c> {
    pub(crate) outs: &'c [Vec<u64>],
    pub(crate) next: usize,
    pub(crate) row: usize,
    pub(crate) payload: &'c [u8],
}

impl TakeCx<'_> {
    #[inline]
    fn value(&mut self) -> u64 {
        let i = self.next;
        self.next += 1;
        // Every array has exactly `rows` values (checked in the bulk phase).
        self.outs[i][self.row]
    }
}

/// A value that is stored as 64 raw bits (integers sign- or zero-extended, enums by code).
pub trait Bits: Copy {
    /// The value as 64 bits.
    fn to_bits(self) -> u64;
    /// The value back from 64 bits; out-of-range bits are truncated, never a panic.
    fn from_bits(bits: u64) -> Self;
}

macro_rules! unsigned_bits {
    ($($t:ty),*) => {$(
        impl Bits for $t {
            #[inline] fn to_bits(self) -> u64 { self as u64 }
            #[inline] fn from_bits(bits: u64) -> Self { bits as $t }
        }
    )*};
}
macro_rules! signed_bits {
    ($($t:ty),*) => {$(
        impl Bits for $t {
            #[inline] fn to_bits(self) -> u64 { self as i64 as u64 }
            #[inline] fn from_bits(bits: u64) -> Self { bits as i64 as $t }
        }
    )*};
}
unsigned_bits!(u8, u16, u32, u64);
signed_bits!(i32, i64);

/// One way of storing a field of type `T` in column streams.
pub(crate) trait Codec<T> {
    /// How many column streams the field takes.
    const STREAMS: usize;
    /// True when decoding needs the events in file order (phase 2).
    const ORDERED: bool;
    /// Names the columns for the layout table of `docs/format.md`.
    fn describe(field: &str, ty: &'static str, out: &mut Vec<ColumnDoc>);
    fn put(v: &T, cx: &mut EncodeCx<'_>);
    fn bulk(cx: &mut BulkCx<'_, '_>) -> Result<(), StreamError>;
    fn order(cx: &mut OrderCx<'_, '_>) -> Result<(), StreamError> {
        cx.next += Self::STREAMS;
        Ok(())
    }
    fn take(cx: &mut TakeCx<'_>) -> T;
}

/// One column of an event kind: its field, type and codec (for docs and generic exporters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnDoc {
    /// Field path, e.g. `file.ino`.
    pub field: String,
    /// The field's Rust type as written in the event list, e.g. `u64`, `i32`, `ReadSyscall`,
    /// `String`.
    pub ty: &'static str,
    /// Codec name as used in `docs/format.md`.
    pub codec: &'static str,
}

/// Zigzag delta against the previous value of the same column.
#[derive(Debug)]
pub(crate) struct Delta;

impl<T: Bits> Codec<T> for Delta {
    const STREAMS: usize = 1;
    const ORDERED: bool = false;
    fn describe(field: &str, ty: &'static str, out: &mut Vec<ColumnDoc>) {
        out.push(ColumnDoc { field: field.to_string(), ty, codec: "delta" });
    }
    #[inline]
    fn put(v: &T, cx: &mut EncodeCx<'_>) {
        cx.column().put_delta(v.to_bits());
    }
    #[inline(always)]
    fn bulk(cx: &mut BulkCx<'_, '_>) -> Result<(), StreamError> {
        let i = cx.next;
        cx.next += 1;
        cx.ins[i].bulk(cx.rows, &mut cx.outs[i], |prev, v| prev.wrapping_add(varint::unzigzag(v) as u64))
    }
    #[inline(always)]
    fn take(cx: &mut TakeCx<'_>) -> T {
        T::from_bits(cx.value())
    }
}

/// The value itself, with no prediction: for values that vary around no previous value of theirs
/// (latencies), where a delta would only add a sign bit.
#[derive(Debug)]
pub(crate) struct Plain;

impl<T: Bits> Codec<T> for Plain {
    const STREAMS: usize = 1;
    const ORDERED: bool = false;
    fn describe(field: &str, ty: &'static str, out: &mut Vec<ColumnDoc>) {
        out.push(ColumnDoc { field: field.to_string(), ty, codec: "plain" });
    }
    #[inline]
    fn put(v: &T, cx: &mut EncodeCx<'_>) {
        cx.column().put_number(v.to_bits());
    }
    #[inline(always)]
    fn bulk(cx: &mut BulkCx<'_, '_>) -> Result<(), StreamError> {
        let i = cx.next;
        cx.next += 1;
        cx.ins[i].bulk(cx.rows, &mut cx.outs[i], |_, v| v)
    }
    #[inline(always)]
    fn take(cx: &mut TakeCx<'_>) -> T {
        T::from_bits(cx.value())
    }
}

/// Zigzag delta against a predictor shared across kinds. `SHIFT` converts the field's unit to the
/// predictor's: 0 for byte positions, 12 for 4 KiB page indices. With `UPDATE` the value becomes
/// the new predictor; without it the field is only stored relative to it (for values that are
/// near the current position but are not the current position, like the previous read's end).
#[derive(Debug)]
pub(crate) struct Shared<const SLOT: usize, const SHIFT: u32, const UPDATE: bool>;

/// Byte offset in a file.
pub(crate) type BytePos = Shared<SLOT_POS, 0, true>;
/// Page index in a file (4 KiB pages).
pub(crate) type PagePos = Shared<SLOT_POS, 12, true>;
/// Byte offset near the current position, which it does not replace.
pub(crate) type BytePosNear = Shared<SLOT_POS, 0, false>;
/// Page index near the current position, which it does not replace.
pub(crate) type PagePosNear = Shared<SLOT_POS, 12, false>;
/// Inode number.
pub(crate) type Ino = Shared<SLOT_INO, 0, true>;
/// Device number: it rarely changes from one event of a kind to the next, a plain delta is as
/// small as a shared predictor.
pub(crate) type Dev = Delta;
/// Open file description id: as for [`Dev`].
pub(crate) type Ofd = Delta;

impl<T: Bits, const SLOT: usize, const SHIFT: u32, const UPDATE: bool> Codec<T>
    for Shared<SLOT, SHIFT, UPDATE>
{
    const STREAMS: usize = 1;
    const ORDERED: bool = true;
    fn describe(field: &str, ty: &'static str, out: &mut Vec<ColumnDoc>) {
        let codec = match (SLOT, SHIFT, UPDATE) {
            (SLOT_POS, 0, true) => "pos",
            (SLOT_POS, _, true) => "pos(pages)",
            (SLOT_POS, 0, false) => "near(pos)",
            (SLOT_POS, _, false) => "near(pos, pages)",
            _ => "ino",
        };
        out.push(ColumnDoc { field: field.to_string(), ty, codec });
    }
    #[inline]
    fn put(v: &T, cx: &mut EncodeCx<'_>) {
        let predicted = cx.shared[SLOT] >> SHIFT;
        let bits = v.to_bits();
        if UPDATE {
            cx.shared[SLOT] = bits << SHIFT;
        }
        cx.column().put_rel(bits, predicted);
    }
    #[inline(always)]
    fn bulk(cx: &mut BulkCx<'_, '_>) -> Result<(), StreamError> {
        // The arrays hold the deltas until the order phase adds the predictions.
        let i = cx.next;
        cx.next += 1;
        cx.ins[i].bulk(cx.rows, &mut cx.outs[i], |_, v| varint::unzigzag(v) as u64)
    }
    #[inline(always)]
    fn order(cx: &mut OrderCx<'_, '_>) -> Result<(), StreamError> {
        let i = cx.next;
        cx.next += 1;
        let slot = &mut cx.outs[i][cx.row];
        let bits = (cx.shared[SLOT] >> SHIFT).wrapping_add(*slot);
        *slot = bits;
        if UPDATE {
            cx.shared[SLOT] = bits << SHIFT;
        }
        Ok(())
    }
    #[inline(always)]
    fn take(cx: &mut TakeCx<'_>) -> T {
        T::from_bits(cx.value())
    }
}

/// Move-to-front against the recall list of id space `SPACE` (see [`MtfList`](crate::tables)).
#[derive(Debug)]
pub(crate) struct Recall<const SPACE: usize>;

/// Id spaces with a recall list of their own.
pub(crate) const RECALL_URING_REQ: usize = 0;
pub(crate) const RECALL_URING_DATA: usize = 1;
pub(crate) const RECALL_AIO_IOCB: usize = 2;
pub(crate) const RECALL_AIO_DATA: usize = 3;

/// io_uring request id.
pub(crate) type UringReq = Recall<RECALL_URING_REQ>;
/// io_uring `user_data`.
pub(crate) type UringData = Recall<RECALL_URING_DATA>;
/// Linux AIO iocb address.
pub(crate) type AioIocb = Recall<RECALL_AIO_IOCB>;
/// Linux AIO `aio_data`.
pub(crate) type AioData = Recall<RECALL_AIO_DATA>;

impl<T: Bits, const SPACE: usize> Codec<T> for Recall<SPACE> {
    const STREAMS: usize = 1;
    const ORDERED: bool = true;
    fn describe(field: &str, ty: &'static str, out: &mut Vec<ColumnDoc>) {
        let codec = match SPACE {
            RECALL_URING_REQ => "recall(uring_req)",
            RECALL_URING_DATA => "recall(uring_data)",
            RECALL_AIO_IOCB => "recall(aio_iocb)",
            _ => "recall(aio_data)",
        };
        out.push(ColumnDoc { field: field.to_string(), ty, codec });
    }
    #[inline]
    fn put(v: &T, cx: &mut EncodeCx<'_>) {
        let i = cx.next;
        cx.next += 1;
        cx.recall.list(SPACE).put(v.to_bits(), &mut cx.cols[i].buf);
    }
    #[inline(always)]
    fn bulk(cx: &mut BulkCx<'_, '_>) -> Result<(), StreamError> {
        // The stream is read in the order phase, where the list is shared across kinds.
        let i = cx.next;
        cx.next += 1;
        let len = cx.outs[i].len();
        cx.outs[i].resize(len + cx.rows, 0);
        Ok(())
    }
    #[inline(always)]
    fn order(cx: &mut OrderCx<'_, '_>) -> Result<(), StreamError> {
        let i = cx.next;
        cx.next += 1;
        cx.outs[i][cx.row] = cx.recall.list(SPACE).get(&mut cx.ins[i].cur)?;
        Ok(())
    }
    #[inline(always)]
    fn take(cx: &mut TakeCx<'_>) -> T {
        T::from_bits(cx.value())
    }
}

/// Length-prefixed UTF-8. Invalid UTF-8 (only a damaged or hand-made file has it) is replaced
/// rather than refused.
#[derive(Debug)]
pub(crate) struct Text;

/// Text values are decoded as payload ranges: offset in the high 40 bits, length in the low 24.
const TEXT_LEN_BITS: u32 = 24;

impl Codec<String> for Text {
    const STREAMS: usize = 1;
    const ORDERED: bool = false;
    fn describe(field: &str, ty: &'static str, out: &mut Vec<ColumnDoc>) {
        out.push(ColumnDoc { field: field.to_string(), ty, codec: "text" });
    }
    fn put(v: &String, cx: &mut EncodeCx<'_>) {
        // Longer strings are cut at a character boundary: nothing the recorder stores (paths,
        // thread names) comes near 16 MiB.
        let mut end = v.len().min((1 << TEXT_LEN_BITS) - 1);
        while !v.is_char_boundary(end) {
            end -= 1;
        }
        let col = cx.column();
        varint::put(&mut col.buf, end as u64);
        col.buf.extend_from_slice(&v.as_bytes()[..end]);
    }
    fn bulk(cx: &mut BulkCx<'_, '_>) -> Result<(), StreamError> {
        let i = cx.next;
        cx.next += 1;
        let (col, out) = (&mut cx.ins[i], &mut cx.outs[i]);
        out.reserve(cx.rows);
        for _ in 0..cx.rows {
            let len = col.cur.varint()?;
            if len >= 1 << TEXT_LEN_BITS {
                return Err(StreamError::Truncated);
            }
            let start = col.base + col.cur.position();
            col.cur.bytes(len as usize)?;
            out.push(((start as u64) << TEXT_LEN_BITS) | len);
        }
        Ok(())
    }
    fn take(cx: &mut TakeCx<'_>) -> String {
        let v = cx.value();
        let (start, len) = ((v >> TEXT_LEN_BITS) as usize, (v & ((1 << TEXT_LEN_BITS) - 1)) as usize);
        // The range was checked against the stream in the bulk phase; absent columns give 0..0.
        let bytes = cx.payload.get(start..start + len).unwrap_or_default();
        String::from_utf8_lossy(bytes).into_owned()
    }
}

/// A struct stored as columns of its own fields.
pub(crate) trait Columns: Sized {
    const STREAMS: usize;
    const ORDERED: bool;
    fn describe(prefix: &str, out: &mut Vec<ColumnDoc>);
    fn put(&self, cx: &mut EncodeCx<'_>);
    fn bulk(cx: &mut BulkCx<'_, '_>) -> Result<(), StreamError>;
    fn order(cx: &mut OrderCx<'_, '_>) -> Result<(), StreamError>;
    fn take(cx: &mut TakeCx<'_>) -> Self;
}

/// Codec for a [`Columns`] struct.
#[derive(Debug)]
pub(crate) struct Nested;

impl<T: Columns> Codec<T> for Nested {
    const STREAMS: usize = T::STREAMS;
    const ORDERED: bool = T::ORDERED;
    fn describe(field: &str, _ty: &'static str, out: &mut Vec<ColumnDoc>) {
        T::describe(field, out);
    }
    #[inline]
    fn put(v: &T, cx: &mut EncodeCx<'_>) {
        v.put(cx);
    }
    #[inline(always)]
    fn bulk(cx: &mut BulkCx<'_, '_>) -> Result<(), StreamError> {
        T::bulk(cx)
    }
    #[inline(always)]
    fn order(cx: &mut OrderCx<'_, '_>) -> Result<(), StreamError> {
        T::order(cx)
    }
    #[inline(always)]
    fn take(cx: &mut TakeCx<'_>) -> T {
        T::take(cx)
    }
}
