//! The event model: every kind of event a trace holds, with its fields and their column codecs.
//!
//! The `events!` list below is the single source of the event kinds: it generates the structs, the
//! [`EventKind`] codes, the column encoder and decoder, and the layout table in `docs/format.md`
//! (a test keeps that table in step). Kind codes and field order are part of the file format:
//! never renumber a kind or reorder fields; add new fields at the end of a kind and new kinds with
//! new codes.
//!
//! Timestamps are nanoseconds of `CLOCK_MONOTONIC` (`bpf_ktime_get_ns`) unless the header's
//! [`Clock`](crate::Clock) says otherwise; device numbers use the kernel's internal encoding
//! (`major << 20 | minor`, as in `inode->i_sb->s_dev`), see [`dev_major`] and [`dev_minor`].

use serde::{Deserialize, Serialize};

use crate::columns::{
    AioData, AioIocb, BulkCx, BytePos, BytePosNear, Codec, ColumnDoc, ColumnIn, Columns, Delta, Dev,
    EncodeCx, Ino, Nested, Ofd, OrderCx, PagePos, PagePosNear, Plain, SharedPredictors, TakeCx, Text,
    UringData, UringReq,
};
use crate::tables::RecallLists;
use crate::varint::StreamError;

/// Open flag that makes reads bypass the page cache (`O_DIRECT`, octal 040000 on x86-64).
pub const O_DIRECT: u32 = 0o40000;

/// Major number of a device in the kernel's internal encoding.
pub fn dev_major(dev: u32) -> u32 {
    dev >> 20
}

/// Minor number of a device in the kernel's internal encoding.
pub fn dev_minor(dev: u32) -> u32 {
    dev & 0xfffff
}

/// Kernel-internal device number from major and minor.
pub fn make_dev(major: u32, minor: u32) -> u32 {
    (major << 20) | (minor & 0xfffff)
}

/// One recorded event: when, which task, on which CPU, and what happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(proptest_derive::Arbitrary))]
pub struct Event {
    /// Nanoseconds on the trace's clock (see [`Header::clock`](crate::Header)).
    pub ts: u64,
    /// Process id (thread group id) of the task; 0 where the event has no task.
    pub pid: u32,
    /// Thread id of the task; 0 where the event has no task.
    pub tid: u32,
    /// CPU the event was recorded on.
    pub cpu: u16,
    /// The kind-specific part.
    #[serde(flatten)]
    pub body: EventBody,
}

impl Event {
    /// The event's kind.
    pub fn kind(&self) -> EventKind {
        self.body.kind()
    }
}

/// Defines a small enum stored by a one-byte code, with a variant that keeps codes this version
/// does not know. Serialized by name in human-readable formats (JSON) and by code otherwise.
macro_rules! code_enum {
    (
        $(#[$meta:meta])*
        $name:ident { $( $(#[$vmeta:meta])* $variant:ident = $code:literal => $text:literal ),* $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[cfg_attr(feature = "arbitrary", derive(proptest_derive::Arbitrary))]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )*
            /// A code this version does not know (written by a newer version); kept as is.
            #[cfg_attr(feature = "arbitrary", proptest(skip))]
            Unknown(u8),
        }

        impl $name {
            /// Every known value.
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            /// The one-byte code stored in the file.
            pub fn code(self) -> u8 {
                match self { $($name::$variant => $code,)* $name::Unknown(c) => c }
            }

            /// The value for a code; unknown codes are kept in [`Self::Unknown`].
            pub fn from_code(code: u8) -> Self {
                match code { $($code => $name::$variant,)* c => $name::Unknown(c) }
            }

            /// Lower-case name used in JSON and printed output.
            pub fn name(self) -> std::borrow::Cow<'static, str> {
                match self {
                    $($name::$variant => std::borrow::Cow::Borrowed($text),)*
                    $name::Unknown(c) => std::borrow::Cow::Owned(format!("unknown({c})")),
                }
            }

            /// Parses [`Self::name`] back.
            pub fn from_name(s: &str) -> Option<Self> {
                match s {
                    $($text => Some($name::$variant),)*
                    _ => s.strip_prefix("unknown(")
                        .and_then(|r| r.strip_suffix(')'))
                        .and_then(|n| n.parse().ok())
                        .map($name::from_code),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.name())
            }
        }

        /// The first variant (what zeroed bytes decode to).
        impl Default for $name {
            fn default() -> Self {
                Self::ALL[0]
            }
        }

        impl $crate::columns::Bits for $name {
            fn to_bits(self) -> u64 { u64::from(self.code()) }
            fn from_bits(bits: u64) -> Self { Self::from_code(bits as u8) }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                if s.is_human_readable() { s.serialize_str(&self.name()) } else { s.serialize_u8(self.code()) }
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                if d.is_human_readable() {
                    let s = <String as serde::Deserialize>::deserialize(d)?;
                    Self::from_name(&s).ok_or_else(|| {
                        serde::de::Error::custom(format!("unknown {} `{s}`", stringify!($name)))
                    })
                } else {
                    <u8 as serde::Deserialize>::deserialize(d).map(Self::from_code)
                }
            }
        }
    };
}
pub(crate) use code_enum;

code_enum! {
    /// Which read syscall an event belongs to.
    ReadSyscall {
        /// `read(2)`: reads at the file position.
        Read = 0 => "read",
        /// `pread64(2)`: reads at an explicit offset.
        Pread64 = 1 => "pread64",
        /// `readv(2)`.
        Readv = 2 => "readv",
        /// `preadv(2)`.
        Preadv = 3 => "preadv",
        /// `preadv2(2)`.
        Preadv2 = 4 => "preadv2",
    }
}

code_enum! {
    /// Linux AIO iocb opcode (`IOCB_CMD_*`).
    AioOpcode {
        /// `IOCB_CMD_PREAD`.
        Pread = 0 => "pread",
        /// `IOCB_CMD_PWRITE`.
        Pwrite = 1 => "pwrite",
        /// `IOCB_CMD_FSYNC`.
        Fsync = 2 => "fsync",
        /// `IOCB_CMD_FDSYNC`.
        Fdsync = 3 => "fdsync",
        /// `IOCB_CMD_POLL`.
        Poll = 5 => "poll",
        /// `IOCB_CMD_NOOP`.
        Noop = 6 => "noop",
        /// `IOCB_CMD_PREADV`.
        Preadv = 7 => "preadv",
        /// `IOCB_CMD_PWRITEV`.
        Pwritev = 8 => "pwritev",
    }
}

code_enum! {
    /// What started a readahead decision.
    RaTrigger {
        /// A read found a page missing (`page_cache_sync_ra`).
        Sync = 0 => "sync",
        /// A read reached a page marked `PG_readahead` (`page_cache_async_ra`).
        Async = 1 => "async",
    }
}

code_enum! {
    /// Which kernel function decided a readahead window.
    RaDecision {
        /// `page_cache_ra_order`: the window of the file's readahead state.
        Order = 0 => "ra_order",
        /// `page_cache_ra_unbounded`: a plain run of pages (small random reads, forced readahead,
        /// fallbacks).
        Unbounded = 1 => "ra_unbounded",
    }
}

code_enum! {
    /// `posix_fadvise(2)` advice.
    FadviseAdvice {
        /// `POSIX_FADV_NORMAL`.
        Normal = 0 => "normal",
        /// `POSIX_FADV_RANDOM`.
        Random = 1 => "random",
        /// `POSIX_FADV_SEQUENTIAL`.
        Sequential = 2 => "sequential",
        /// `POSIX_FADV_WILLNEED`.
        WillNeed = 3 => "willneed",
        /// `POSIX_FADV_DONTNEED`.
        DontNeed = 4 => "dontneed",
        /// `POSIX_FADV_NOREUSE`.
        NoReuse = 5 => "noreuse",
    }
}

/// Defines a struct whose fields are each stored in column(s) of their own.
macro_rules! column_struct {
    (
        $(#[$meta:meta])*
        $name:ident { $( $(#[$fmeta:meta])* $field:ident : $ty:ty => $codec:ty ),* $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
        #[cfg_attr(feature = "arbitrary", derive(proptest_derive::Arbitrary))]
        pub struct $name { $( $(#[$fmeta])* pub $field: $ty, )* }

        impl Columns for $name {
            const STREAMS: usize = 0 $( + <$codec as Codec<$ty>>::STREAMS )*;
            const ORDERED: bool = false $( || <$codec as Codec<$ty>>::ORDERED )*;
            fn describe(prefix: &str, out: &mut Vec<ColumnDoc>) {
                $( <$codec as Codec<$ty>>::describe(&join(prefix, stringify!($field)), stringify!($ty), out); )*
            }
            #[inline]
            fn put(&self, cx: &mut EncodeCx<'_>) {
                $( <$codec as Codec<$ty>>::put(&self.$field, cx); )*
            }
            #[inline(always)]
            fn bulk(cx: &mut BulkCx<'_, '_>) -> Result<(), StreamError> {
                $( <$codec as Codec<$ty>>::bulk(cx)?; )*
                Ok(())
            }
            #[inline(always)]
            fn order(cx: &mut OrderCx<'_, '_>) -> Result<(), StreamError> {
                $( <$codec as Codec<$ty>>::order(cx)?; )*
                Ok(())
            }
            #[inline(always)]
            fn take(cx: &mut TakeCx<'_>) -> Self {
                // Struct expressions evaluate their fields in the order written: column order.
                $name { $( $field: <$codec as Codec<$ty>>::take(cx), )* }
            }
        }
    };
}

fn join(prefix: &str, field: &str) -> String {
    if prefix.is_empty() {
        field.to_string()
    } else {
        format!("{prefix}.{field}")
    }
}

column_struct! {
    /// The file an event is about, resolved in the kernel at the time of the event.
    FileRef {
        /// Device of the file's superblock (kernel encoding, see [`dev_major`]).
        dev: u32 => Dev,
        /// Inode number.
        ino: u64 => Ino,
        /// Open file description id: identifies the `struct file` (one per `open()`, shared by
        /// `dup()` and `fork()`), which is where the kernel keeps readahead state. Unique among the
        /// descriptions open at the same time; 0 when not known.
        ofd: u64 => Ofd,
        /// `f_flags` of the open file description (`O_DIRECT` is [`O_DIRECT`]).
        flags: u32 => Delta,
    }
}

impl FileRef {
    /// True when reads through this description bypass the page cache.
    pub fn is_direct(&self) -> bool {
        self.flags & O_DIRECT != 0
    }
}

column_struct! {
    /// A file's readahead state (`struct file_ra_state`) as the kernel had it before a decision.
    RaState {
        /// First page of the current window.
        start: u64 => Delta,
        /// Pages in the current window.
        size: u32 => Delta,
        /// Pages of the window left when async readahead is to start.
        async_size: u32 => Delta,
        /// Maximum window, pages (from the device's `read_ahead_kb` at open time).
        ra_pages: u32 => Delta,
        /// Folio order of the window (6.17+; 0 before).
        order: u32 => Delta,
        /// mmap read-around miss counter.
        mmap_miss: u32 => Delta,
        /// Byte position just after the previous read on this description; -1 before the first.
        prev_pos: i64 => BytePosNear,
    }
}

macro_rules! events {
    ($(
        $(#[$kmeta:meta])*
        $kind:ident = $code:literal => $name:literal {
            $( $(#[$fmeta:meta])* $field:ident : $ty:ty => $codec:ty ),* $(,)?
        }
    )*) => {
        $(
            column_struct! {
                $(#[$kmeta])*
                $kind { $( $(#[$fmeta])* $field : $ty => $codec ),* }
            }
            impl From<$kind> for EventBody {
                fn from(v: $kind) -> Self { EventBody::$kind(v) }
            }
        )*

        /// Kind of an event; the code is the byte stored in a chunk's kind column.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        #[repr(u8)]
        pub enum EventKind { $( $(#[$kmeta])* $kind = $code, )* }

        impl EventKind {
            /// Every kind, in code order.
            pub const ALL: &'static [EventKind] = &[$(EventKind::$kind),*];

            /// The code stored in the file.
            pub fn code(self) -> u8 { self as u8 }

            /// The kind with this code, if this version knows it.
            pub fn from_code(code: u8) -> Option<Self> {
                match code { $($code => Some(EventKind::$kind),)* _ => None }
            }

            /// snake_case name used in JSON, CSV and printed output.
            pub fn name(self) -> &'static str {
                match self { $(EventKind::$kind => $name,)* }
            }

            /// The kind with this name.
            pub fn from_name(s: &str) -> Option<Self> {
                match s { $($name => Some(EventKind::$kind),)* _ => None }
            }

            /// Number of column streams of this kind's fields.
            pub(crate) fn streams(self) -> usize {
                match self { $(EventKind::$kind => <$kind as Columns>::STREAMS,)* }
            }

            /// True when decoding this kind needs the events in file order (cross-kind codecs).
            pub(crate) fn ordered(self) -> bool {
                match self { $(EventKind::$kind => <$kind as Columns>::ORDERED,)* }
            }

            /// The kind's columns in stream order, as documented in `docs/format.md`.
            pub fn columns(self) -> Vec<ColumnDoc> {
                let mut out = Vec::new();
                match self { $(EventKind::$kind => <$kind as Columns>::describe("", &mut out),)* }
                out
            }

            /// Index of the column named `field` (`"pos"`, `"file.ino"`) among [`Self::columns`].
            pub fn column_index(self, field: &str) -> Option<usize> {
                self.columns().iter().position(|c| c.field == field)
            }
        }

        impl std::fmt::Display for EventKind {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }

        /// The kind-specific part of an event.
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(tag = "kind", rename_all = "snake_case")]
        #[cfg_attr(feature = "arbitrary", derive(proptest_derive::Arbitrary))]
        pub enum EventBody { $( $(#[$kmeta])* $kind($kind), )* }

        impl EventBody {
            /// The body's kind.
            pub fn kind(&self) -> EventKind {
                match self { $(EventBody::$kind(_) => EventKind::$kind,)* }
            }

            #[inline]
            pub(crate) fn put_columns(&self, cx: &mut EncodeCx<'_>) {
                match self { $(EventBody::$kind(v) => v.put(cx),)* }
            }

            pub(crate) fn bulk_columns(kind: EventKind, cx: &mut BulkCx<'_, '_>) -> Result<(), StreamError> {
                match kind { $(EventKind::$kind => <$kind as Columns>::bulk(cx),)* }
            }

            /// Phase 2 for a run of consecutive events of one kind (`tids` are theirs, the first
            /// is row `row` of the kind): one dispatch on the kind per run, not per event.
            #[inline]
            pub(crate) fn order_run(
                kind: EventKind,
                ins: &mut [ColumnIn<'_>],
                outs: &mut [Vec<u64>],
                row: usize,
                tids: &[u32],
                shared: &mut SharedPredictors,
                recall: &mut RecallLists,
            ) -> Result<(), StreamError> {
                match kind {
                    $(EventKind::$kind => {
                        for (r, &tid) in tids.iter().enumerate() {
                            let mut cx = OrderCx {
                                ins: &mut *ins,
                                outs: &mut *outs,
                                next: 0,
                                row: row + r,
                                shared: shared.of(tid),
                                recall: &mut *recall,
                            };
                            <$kind as Columns>::order(&mut cx)?;
                        }
                        Ok(())
                    })*
                }
            }

            #[inline]
            pub(crate) fn take_columns(kind: EventKind, cx: &mut TakeCx<'_>) -> Self {
                match kind { $(EventKind::$kind => EventBody::$kind(<$kind as Columns>::take(cx)),)* }
            }
        }
    };
}

events! {
    /// A read syscall was entered (`read`, `pread64`, `readv`, `preadv`, `preadv2`).
    ReadEnter = 1 => "read_enter" {
        /// Which syscall.
        syscall: ReadSyscall => Delta,
        /// File descriptor argument.
        fd: i32 => Delta,
        /// The file behind `fd`, resolved in the kernel at entry.
        file: FileRef => Nested,
        /// Byte offset the read starts at: the offset argument of the `p*` calls, the file position
        /// for `read`/`readv` (and for `preadv2` with offset -1).
        pos: i64 => BytePos,
        /// Bytes requested (the sum of the iovec lengths for the vector calls).
        count: u64 => Delta,
        /// Number of iovecs (1 for `read`/`pread64`).
        iovcnt: u32 => Delta,
        /// `preadv2` flags (`RWF_*`), 0 for the other calls.
        rw_flags: u32 => Delta,
    }
    /// A read syscall returned; pairs with the task's previous [`ReadEnter`].
    ReadExit = 2 => "read_exit" {
        /// Which syscall.
        syscall: ReadSyscall => Delta,
        /// Return value: bytes read, or a negative errno.
        ret: i64 => Delta,
    }
    /// `vfs_read` was entered (reads from any path that reaches the VFS, e.g. `splice`, kernel
    /// reads).
    VfsReadEnter = 3 => "vfs_read_enter" {
        /// The file read.
        file: FileRef => Nested,
        /// Byte offset.
        pos: i64 => BytePos,
        /// Bytes requested.
        count: u64 => Delta,
    }
    /// `vfs_read` returned; pairs with the task's previous [`VfsReadEnter`].
    VfsReadExit = 4 => "vfs_read_exit" {
        /// Bytes read, or a negative errno.
        ret: i64 => Delta,
    }
    /// One iocb of an `io_submit(2)` call, read from user memory at entry.
    AioSubmit = 5 => "aio_submit" {
        /// AIO context id (`aio_context_t`).
        ctx: u64 => Delta,
        /// User address of the iocb; completions name it in [`AioComplete::iocb`].
        iocb: u64 => AioIocb,
        /// The iocb's `aio_data`, returned in the completion.
        data: u64 => AioData,
        /// Operation.
        opcode: AioOpcode => Delta,
        /// File descriptor (`aio_fildes`).
        fd: i32 => Delta,
        /// The file behind `fd`.
        file: FileRef => Nested,
        /// Byte offset (`aio_offset`).
        offset: i64 => BytePos,
        /// Bytes (`aio_nbytes`; the iovec total for vector opcodes).
        nbytes: u64 => Delta,
    }
    /// `io_submit(2)` returned.
    AioSubmitExit = 6 => "aio_submit_exit" {
        /// AIO context id.
        ctx: u64 => Delta,
        /// Number of iocbs passed.
        nr: i64 => Delta,
        /// Number submitted, or a negative errno.
        ret: i64 => Delta,
    }
    /// One completion returned by `io_getevents(2)` (or `io_pgetevents`).
    AioComplete = 7 => "aio_complete" {
        /// AIO context id.
        ctx: u64 => Delta,
        /// User address of the completed iocb (`io_event.obj`).
        iocb: u64 => AioIocb,
        /// `io_event.data` (the iocb's `aio_data`).
        data: u64 => AioData,
        /// `io_event.res`: bytes transferred or a negative errno.
        res: i64 => Delta,
        /// `io_event.res2`.
        res2: i64 => Delta,
    }
    /// An io_uring request was submitted (`io_uring:io_uring_submit_req` or equivalent).
    UringSubmit = 8 => "uring_submit" {
        /// Ring id (the kernel's `io_ring_ctx` address, as the tracepoint reports it).
        ring: u64 => Delta,
        /// Request id (the kernel's `io_kiocb` address), matched by [`UringComplete::req`].
        req: u64 => UringReq,
        /// The SQE's `user_data`.
        user_data: u64 => UringData,
        /// `IORING_OP_*` opcode (1 = READV, 4 = READ_FIXED, 22 = READ).
        opcode: u8 => Delta,
        /// File descriptor (or fixed-file index).
        fd: i32 => Delta,
        /// The file the request reads, when the probe could resolve it.
        file: FileRef => Nested,
        /// Byte offset.
        offset: i64 => BytePos,
        /// Bytes requested (for READV, the sum of the first 16 iovecs' lengths).
        len: u32 => Delta,
        /// `rw_flags` of the SQE.
        rw_flags: u32 => Delta,
    }
    /// An io_uring request completed (`io_uring:io_uring_complete`).
    UringComplete = 9 => "uring_complete" {
        /// Ring id.
        ring: u64 => Delta,
        /// Request id, as in [`UringSubmit::req`].
        req: u64 => UringReq,
        /// The CQE's `user_data`.
        user_data: u64 => UringData,
        /// The CQE's `res`: bytes or a negative errno.
        res: i32 => Delta,
        /// The CQE's flags.
        cflags: u32 => Delta,
    }
    /// The kernel was about to decide readahead (`page_cache_sync_ra` / `page_cache_async_ra`).
    ReadaheadTrigger = 10 => "readahead_trigger" {
        /// Sync (a page was missing) or async (a `PG_readahead` page was reached).
        trigger: RaTrigger => Delta,
        /// Device of the file.
        dev: u32 => Dev,
        /// Inode of the file.
        ino: u64 => Ino,
        /// Page index the read needs (for async: the marked folio's index).
        index: u64 => PagePos,
        /// Pages the read asked for from `index`.
        req_count: u64 => Delta,
        /// Readahead state before the decision.
        state: RaState => Nested,
    }
    /// The kernel decided a readahead window (`page_cache_ra_order` / `page_cache_ra_unbounded`).
    ReadaheadWindow = 11 => "readahead_window" {
        /// Which function decided it.
        decision: RaDecision => Delta,
        /// Device of the file.
        dev: u32 => Dev,
        /// Inode of the file.
        ino: u64 => Ino,
        /// First page of the window.
        index: u64 => PagePos,
        /// Pages in the window (`ra_order`: `size`; `ra_unbounded`: `nr_to_read`).
        size: u64 => Delta,
        /// Pages left when the next async readahead fires (`ra_order`: `async_size`;
        /// `ra_unbounded`: `lookahead_size`).
        async_size: u64 => Delta,
        /// Folio order (`ra_order` only; 0 otherwise).
        order: u32 => Delta,
        /// The description's maximum window in pages (`ra_order` only; 0 otherwise).
        ra_pages: u32 => Delta,
    }
    /// A folio was inserted into the page cache (`filemap:mm_filemap_add_to_page_cache`).
    PageCacheAdd = 12 => "page_cache_add" {
        /// Device of the file.
        dev: u32 => Dev,
        /// Inode of the file.
        ino: u64 => Ino,
        /// Page index of the folio's first page.
        index: u64 => PagePos,
        /// Folio order: the folio spans `1 << order` pages.
        order: u32 => Delta,
    }
    /// A folio left the page cache (`filemap:mm_filemap_delete_from_page_cache`): reclaim,
    /// truncate, invalidation.
    PageCacheDelete = 13 => "page_cache_delete" {
        /// Device of the file.
        dev: u32 => Dev,
        /// Inode of the file.
        ino: u64 => Ino,
        /// Page index of the folio's first page.
        index: u64 => PagePos,
        /// Folio order.
        order: u32 => Delta,
    }
    /// A buffered read looked up a page range (`filemap:mm_filemap_get_pages`), whatever issued it.
    FilemapGetPages = 14 => "filemap_get_pages" {
        /// Device of the file.
        dev: u32 => Dev,
        /// Inode of the file.
        ino: u64 => Ino,
        /// First page index.
        index: u64 => PagePos,
        /// Last page index (inclusive).
        last_index: u64 => PagePos,
    }
    /// A direct (O_DIRECT) read began (`iomap:iomap_dio_rw_begin` or equivalent).
    DioRead = 15 => "dio_read" {
        /// Device of the file.
        dev: u32 => Dev,
        /// Inode of the file.
        ino: u64 => Ino,
        /// Byte offset.
        pos: i64 => BytePos,
        /// Bytes.
        count: u64 => Delta,
        /// iomap dio flags.
        flags: u32 => Delta,
    }
    /// `posix_fadvise(2)` was called.
    Fadvise = 16 => "fadvise" {
        /// File descriptor.
        fd: i32 => Delta,
        /// The file behind `fd`.
        file: FileRef => Nested,
        /// Byte offset.
        offset: i64 => BytePos,
        /// Length in bytes (0 = to the end of the file).
        len: i64 => Delta,
        /// Advice.
        advice: FadviseAdvice => Delta,
    }
    /// A file was opened (the syscall returned a descriptor).
    FileOpen = 17 => "file_open" {
        /// The new descriptor.
        fd: i32 => Delta,
        /// The opened file (flags are the description's `f_flags`).
        file: FileRef => Nested,
        /// The path as the recorder resolved it (absolute where it could; may be empty).
        path: String => Text,
    }
    /// A descriptor was closed.
    FileClose = 18 => "file_close" {
        /// The descriptor.
        fd: i32 => Delta,
        /// Its open file description id (0 when not known).
        ofd: u64 => Ofd,
    }
    /// The task created a task (fork or clone; a thread when `child_pid` is the task's pid).
    TaskFork = 19 => "task_fork" {
        /// Process id of the new task.
        child_pid: u32 => Delta,
        /// Thread id of the new task.
        child_tid: u32 => Delta,
    }
    /// The task executed a program.
    TaskExec = 20 => "task_exec" {
        /// Path of the program.
        filename: String => Text,
    }
    /// The task exited.
    TaskExit = 21 => "task_exit" {
        /// Exit code (the kernel's `exit_code`: status << 8 | signal).
        exit_code: i32 => Delta,
    }
    /// The task's name changed (`prctl(PR_SET_NAME)`, `pthread_setname_np`, exec).
    TaskRename = 22 => "task_rename" {
        /// New name (at most 15 bytes on Linux).
        comm: String => Text,
    }
    /// Events were lost before reaching the trace (ring buffer full, or a kretprobe that ran out
    /// of instances). Counts are increments since the previous `lost` event for the same CPU and
    /// kind; the event's `cpu` says where (CPU 0 for a kretprobe's misses, which the kernel
    /// counts for the whole probe).
    Lost = 23 => "lost" {
        /// Code of the lost events' kind; 0 when not known.
        kind: u8 => Delta,
        /// How many.
        count: u64 => Delta,
    }
    /// A read syscall (`read`, `pread64`, `readv`, `preadv`, `preadv2`) that returned, as one
    /// event at its return: its arguments and file resolved in the kernel at entry, its result,
    /// how long it took, and the page lookups (`filemap_get_pages`) it made. Recorders since
    /// format 2.1 write this instead of [`ReadEnter`], [`FilemapGetPages`] and [`ReadExit`] for
    /// each read syscall (lookups made outside a read syscall, by io_uring or AIO, stay
    /// `filemap_get_pages` events). The event's time is the return; the read began
    /// `latency_ns` earlier.
    Read = 24 => "read" {
        /// Which syscall.
        syscall: ReadSyscall => Delta,
        /// File descriptor argument.
        fd: i32 => Delta,
        /// The file behind `fd`, resolved in the kernel at entry.
        file: FileRef => Nested,
        /// Byte offset the read starts at: the offset argument of the `p*` calls, the file position
        /// for `read`/`readv` (and for `preadv2` with offset -1).
        pos: i64 => BytePos,
        /// Bytes requested (the sum of the first 16 iovec lengths for the vector calls).
        count: u64 => Delta,
        /// Number of iovecs (1 for `read`/`pread64`).
        iovcnt: u32 => Delta,
        /// `preadv2` flags (`RWF_*`), 0 for the other calls.
        rw_flags: u32 => Delta,
        /// Return value: bytes read, or a negative errno.
        ret: i64 => Delta,
        /// Nanoseconds from entry to return (probe time included: see docs/recorder.md).
        latency_ns: u64 => Plain,
        /// Page-cache lookups (`filemap_get_pages`) the read made: 0 for a read that did not go
        /// through the page cache (O_DIRECT, an error, nothing to read), 1 for most, more for
        /// reads larger than a lookup batch.
        lookups: u32 => Delta,
        /// First page (4 KiB index) the lookups covered; when there were none, `pos / 4096`.
        first_page: u64 => PagePosNear,
        /// Last page the lookups covered (inclusive); when there were none, the read's last
        /// requested page (`first_page` for an empty read).
        last_page: u64 => PagePosNear,
    }
    /// A client command ran on a server thread (`record --statements`): recorded at its return by
    /// a uprobe and uretprobe on the server's command dispatch function. The event's time is the
    /// return; the command began `latency_ns` earlier. Added in format 2.2.
    Statement = 25 => "statement" {
        /// The client command (`enum_server_command`: 3 query, 22 prepare, 23 execute of a
        /// prepared statement, ...; [`server_command_name`]).
        command: u8 => Delta,
        /// Nanoseconds from dispatch to return.
        latency_ns: u64 => Plain,
        /// The connection: a small number the recorder gives each session object the server used
        /// (its `THD`), in order of first appearance; 0 when not known.
        conn: u64 => Delta,
        /// Prepared statement id for the commands that name one (execute, fetch, close, reset);
        /// 0 otherwise.
        stmt_id: u32 => Delta,
        /// Digest of `digest_text` (64-bit FNV-1a of its UTF-8 bytes); for an execute, that of
        /// the statement prepared under `stmt_id`; 0 when there is no text (commands without
        /// one, statements prepared before the recording began).
        digest: u64 => Plain,
        /// The statement normalised: every literal replaced by `?`, comments dropped, spacing
        /// and keywords' case made uniform; empty when recorded with `--redact`.
        digest_text: String => Text,
        /// The statement's text as the client sent it (its first 1024 bytes): only when
        /// recorded with `--sql-text`, empty otherwise.
        sql: String => Text,
        /// Bytes of statement text the client sent (`digest_text` covers at most the first
        /// 1024).
        text_len: u32 => Delta,
    }
}

/// Name of a client command code (`enum_server_command`, the same numbers in MySQL and
/// MariaDB for the commands that carry statements).
pub fn server_command_name(code: u8) -> &'static str {
    match code {
        0 => "sleep",
        1 => "quit",
        2 => "init_db",
        3 => "query",
        4 => "field_list",
        5 => "create_db",
        6 => "drop_db",
        7 => "refresh",
        8 => "shutdown",
        9 => "statistics",
        10 => "processlist",
        11 => "connect",
        12 => "process_kill",
        13 => "debug",
        14 => "ping",
        17 => "change_user",
        18 => "binlog_dump",
        22 => "stmt_prepare",
        23 => "stmt_execute",
        24 => "stmt_send_long_data",
        25 => "stmt_close",
        26 => "stmt_reset",
        27 => "set_option",
        28 => "stmt_fetch",
        31 => "reset_connection",
        _ => "other",
    }
}

/// Generates the per-kind column layout table of `docs/format.md`.
pub fn layout_markdown() -> String {
    let mut s =
        String::from("| code | kind | stream | field | type | codec |\n|---:|---|---:|---|---|---|\n");
    for &k in EventKind::ALL {
        for (i, c) in k.columns().iter().enumerate() {
            s.push_str(&format!(
                "| {} | `{}` | {} | `{}` | {} | {} |\n",
                k.code(),
                k.name(),
                i,
                c.field,
                c.ty,
                c.codec
            ));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_codes_and_names_are_unique_and_stream_counts_fit() {
        let mut codes = std::collections::HashSet::new();
        let mut names = std::collections::HashSet::new();
        for &k in EventKind::ALL {
            assert!(k.code() != 0, "code 0 is reserved for the common streams");
            assert!(codes.insert(k.code()));
            assert!(names.insert(k.name()));
            assert_eq!(EventKind::from_code(k.code()), Some(k));
            assert_eq!(EventKind::from_name(k.name()), Some(k));
            assert!(k.streams() < 64, "{k} has too many streams for a stream id");
            assert_eq!(k.streams(), k.columns().len());
        }
    }

    #[test]
    fn code_enums_keep_unknown_codes() {
        assert_eq!(ReadSyscall::from_code(200), ReadSyscall::Unknown(200));
        assert_eq!(ReadSyscall::from_code(200).code(), 200);
        assert_eq!(ReadSyscall::from_name("unknown(200)"), Some(ReadSyscall::Unknown(200)));
        for &v in ReadSyscall::ALL {
            assert_eq!(ReadSyscall::from_code(v.code()), v);
            assert_eq!(ReadSyscall::from_name(&v.name()), Some(v));
        }
    }

    #[test]
    fn dev_encoding() {
        let d = make_dev(253, 7);
        assert_eq!((dev_major(d), dev_minor(d)), (253, 7));
    }
}
