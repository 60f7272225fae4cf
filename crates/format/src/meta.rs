//! Metadata records: the header, the file / thread / process tables discovered while recording,
//! status snapshots, and the footer. Each is one postcard-encoded struct in a record of its own.
//!
//! Compatibility rule (see `docs/format.md`, "Metadata records"): fields are only ever added at
//! the end of a record's own struct. A reader ignores bytes after the fields it knows (newer
//! writer), and reads fields missing at the end (older writer) as zero / empty / `None`. A struct
//! nested inside another (`BlockDevice` in `Header::devices`, `ProcessInfo` in
//! `Header::processes`, `ChunkIndexEntry` in `Footer::chunks`) never grows: postcard writes no
//! field tags or lengths, so an older reader would take the new field for the next element.

use serde::{Deserialize, Serialize};

use crate::chunk::ChunkInfo;
use crate::event::code_enum;
use crate::EventKind;

code_enum! {
    /// The clock event timestamps are taken from.
    Clock {
        /// `CLOCK_MONOTONIC` (`bpf_ktime_get_ns`).
        Monotonic = 0 => "monotonic",
        /// `CLOCK_BOOTTIME` (`bpf_ktime_get_boot_ns`): also counts suspended time.
        Boottime = 1 => "boottime",
    }
}

code_enum! {
    /// How the events of one kind were captured.
    ProbeMode {
        /// Not captured.
        Off = 0 => "off",
        /// kprobe / kretprobe on a kernel function.
        Kprobe = 1 => "kprobe",
        /// fentry / fexit (BPF trampoline) on a kernel function.
        Fentry = 2 => "fentry",
        /// A tracepoint (classic, raw or BTF-typed).
        Tracepoint = 3 => "tracepoint",
        /// Read from /proc or another user-space source.
        Procfs = 4 => "procfs",
        /// Produced by the recorder itself (e.g. drop counters).
        Recorder = 5 => "recorder",
        /// A uprobe on a user-space function.
        Uprobe = 6 => "uprobe",
    }
}

/// The first record of every trace: what was recorded, where, and how.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Header {
    /// Name and version of the program that wrote the trace, e.g. `mysql-io 0.1.0`.
    pub tool: String,
    /// Host name of the recorded machine.
    pub host: String,
    /// Kernel release (`uname -r`).
    pub kernel_release: String,
    /// Kernel version string (`uname -v`).
    pub kernel_version: String,
    /// Machine architecture (`uname -m`).
    pub arch: String,
    /// Page size in bytes.
    pub page_size: u32,
    /// Number of online CPUs.
    pub cpus: u32,
    /// Clock of event timestamps.
    pub clock: Clock,
    /// Wall-clock time minus trace clock, in ns: `ts + clock_offset_ns` is ns since the Unix epoch.
    pub clock_offset_ns: i64,
    /// Trace-clock time recording started.
    pub start_ts: u64,
    /// Command line the recorder ran with.
    pub command: Vec<String>,
    /// How each event kind was captured.
    pub probes: Vec<ProbeInfo>,
    /// Block devices and their readahead settings at the start.
    pub devices: Vec<BlockDevice>,
    /// Target processes found at the start (more arrive as [`ProcessInfo`] records).
    pub processes: Vec<ProcessInfo>,
    // The fields below were added later, without a format version change: a trace written
    // before them reads them as 0 / empty (the compatibility rule above). New fields go after
    // the last one, here and never inside `ProbeInfo`, `BlockDevice` or `ProcessInfo`.
    /// The recorded host's memory at the start, in KiB: `MemTotal` of `/proc/meminfo`; 0 when
    /// not known (a trace written before this field).
    pub mem_total_kb: u64,
    /// `MemAvailable` of `/proc/meminfo` at the start, in KiB: what the kernel estimates could be
    /// given to new allocations without swapping (page cache it can drop included); 0 when not
    /// known.
    pub mem_available_kb: u64,
    /// `Cached` of `/proc/meminfo` at the start, in KiB: the page cache (shared memory and tmpfs
    /// included, as the kernel counts them); 0 when not known.
    pub page_cache_kb: u64,
    /// For each partition in `devices`: its `dev` and the name of the disk whose `queue/`
    /// settings (`read_ahead_kb` among them) it uses, e.g. `nvme0n1p2`'s `(259:2, "nvme0n1")`.
    /// Devices with a queue of their own (disks, loop, device-mapper, md) are not listed. Empty
    /// in a trace written before this field, where a partition's disk is not known; see
    /// [`Header::queue_device`].
    pub disks: Vec<(u32, String)>,
}

/// The major and minor version in a kernel release string (`6.1.0-28-amd64`: 6 and 1,
/// `5.14.0-284.30.1.el9_2.x86_64`: 5 and 14), each `None` where the string has no such number.
pub fn release_version(release: &str) -> (Option<u32>, Option<u32>) {
    let mut nums = release.split(|c: char| !c.is_ascii_digit()).filter_map(|s| s.parse::<u32>().ok());
    (nums.next(), nums.next())
}

impl Header {
    /// The probe mode recorded for `kind`, if the header lists it.
    pub fn probe(&self, kind: EventKind) -> Option<&ProbeInfo> {
        self.probes.iter().find(|p| p.kind == kind.code())
    }

    /// The name of the block device whose sysfs `queue/` directory (and so `read_ahead_kb`)
    /// governs the device `dev` (kernel encoding): the disk for a partition listed in
    /// [`Header::disks`], else the device itself when [`Header::devices`] lists it; `None` for a
    /// device the header does not know (an anonymous filesystem such as tmpfs or btrfs).
    ///
    /// In a trace written before `disks` existed a partition names itself, although the queue it
    /// uses is its disk's ([`BlockDevice::read_ahead_kb`] is the disk's value either way).
    pub fn queue_device(&self, dev: u32) -> Option<&str> {
        if let Some((_, disk)) = self.disks.iter().find(|(d, _)| *d == dev) {
            return Some(disk);
        }
        self.devices.iter().find(|d| d.dev == dev).map(|d| d.name.as_str())
    }
}

/// How one event kind was captured.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ProbeInfo {
    /// Event kind code ([`EventKind::code`]); a code kept raw so newer kinds still parse.
    pub kind: u8,
    /// Probe type used.
    pub mode: ProbeMode,
    /// Where it is attached, e.g. `tracepoint/syscalls/sys_enter_pread64` or `kprobe/vfs_read`.
    pub attach: Vec<String>,
    /// Why this mode (e.g. "kprobes unavailable: no kprobe PMU"); empty when it was the first
    /// choice.
    pub note: String,
}

/// A block device and its queue settings.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct BlockDevice {
    /// Device number (kernel encoding, as in events' `dev`).
    pub dev: u32,
    /// Kernel name, e.g. `vda`, `loop3`, `nvme0n1p2`.
    pub name: String,
    /// `queue/read_ahead_kb` (for a partition: its disk's).
    pub read_ahead_kb: u32,
    /// `queue/max_sectors_kb`.
    pub max_sectors_kb: u32,
    /// `queue/rotational`.
    pub rotational: bool,
    /// `queue/logical_block_size`.
    pub logical_block_size: u32,
}

/// A file seen during recording: identity, path and properties.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FileInfo {
    /// Device (kernel encoding).
    pub dev: u32,
    /// Inode number.
    pub ino: u64,
    /// Absolute path when found.
    pub path: String,
    /// Size in bytes when found.
    pub size: u64,
    /// Filesystem type (`ext4`, `xfs`, ...).
    pub fs_type: String,
    /// Trace-clock time the file was found.
    pub ts: u64,
}

/// A descriptor that was open when recording started (from `/proc/PID/fd` and `fdinfo`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct OpenFd {
    /// Process.
    pub pid: u32,
    /// Descriptor.
    pub fd: i32,
    /// Device of the file.
    pub dev: u32,
    /// Inode of the file.
    pub ino: u64,
    /// Open file description id as events report it (0 when not known).
    pub ofd: u64,
    /// `f_flags` (from fdinfo `flags:`, octal there).
    pub flags: u32,
    /// File position (fdinfo `pos:`).
    pub pos: u64,
}

/// A thread's name (and role where the server reported one).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ThreadInfo {
    /// Process.
    pub pid: u32,
    /// Thread.
    pub tid: u32,
    /// Kernel thread name (`comm`).
    pub comm: String,
    /// The server's own name for the thread (MySQL/MariaDB `performance_schema.threads.NAME`),
    /// empty when not known.
    pub role: String,
    /// Trace-clock time the name was seen.
    pub ts: u64,
}

/// A traced process.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ProcessInfo {
    /// Process id.
    pub pid: u32,
    /// `comm`.
    pub comm: String,
    /// Executable path.
    pub exe: String,
    /// Command line.
    pub cmdline: Vec<String>,
    /// Server version when known (e.g. `10.11.6-MariaDB-0+deb12u1`).
    pub version: String,
    /// Trace-clock time the process was found.
    pub ts: u64,
}

/// Counters read from the server (e.g. `SHOW GLOBAL STATUS`) at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct StatusSnapshot {
    /// Process the counters belong to.
    pub pid: u32,
    /// Where they came from, e.g. `SHOW GLOBAL STATUS`.
    pub source: String,
    /// Trace-clock time of the snapshot.
    pub ts: u64,
    /// Name and value of each counter.
    pub counters: Vec<(String, i64)>,
}

/// The last record: an index of the file and the totals.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Footer {
    /// Every chunk, in file order.
    pub chunks: Vec<ChunkIndexEntry>,
    /// File offsets of every metadata record after the header, in file order.
    pub metadata: Vec<u64>,
    /// Totals over the whole trace.
    pub totals: Totals,
}

/// Where a chunk is and what it holds.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ChunkIndexEntry {
    /// File offset of the chunk record.
    pub offset: u64,
    /// Length of the whole record (kind, length, body, CRC).
    pub record_len: u64,
    /// Number of events.
    pub events: u64,
    /// Smallest event timestamp.
    pub t_min: u64,
    /// Largest event timestamp.
    pub t_max: u64,
    /// Payload size before compression.
    pub uncompressed_len: u64,
    /// Events per kind code.
    pub kind_counts: Vec<(u8, u64)>,
}

impl ChunkIndexEntry {
    pub(crate) fn new(offset: u64, record_len: u64, info: &ChunkInfo) -> Self {
        ChunkIndexEntry {
            offset,
            record_len,
            events: info.events,
            t_min: info.t_min,
            t_max: info.t_max,
            uncompressed_len: info.uncompressed_len,
            kind_counts: info.kind_counts.clone(),
        }
    }
}

/// Totals a writer counted.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Totals {
    /// Events written.
    pub events: u64,
    /// Events per kind code, codes ascending.
    pub kind_counts: Vec<(u8, u64)>,
    /// Events lost before reaching the trace, summed from `lost` events: `(cpu, kind code,
    /// count)`.
    pub lost: Vec<(u16, u8, u64)>,
    /// Sum of chunk payloads before compression.
    pub uncompressed_bytes: u64,
    /// Sum of chunk payloads after compression.
    pub compressed_bytes: u64,
    /// Smallest event timestamp (0 when there are no events).
    pub t_min: u64,
    /// Largest event timestamp.
    pub t_max: u64,
}

/// Metadata records a writer can add between chunks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Metadata {
    /// A file and its path.
    File(FileInfo),
    /// A descriptor open at the start.
    OpenFd(OpenFd),
    /// A thread name.
    Thread(ThreadInfo),
    /// A traced process.
    Process(ProcessInfo),
    /// Server counters.
    Status(StatusSnapshot),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reader::decode_meta;
    use crate::record::{frame_at, RecordKind, PREAMBLE_LEN};
    use crate::{make_dev, Trace, Writer, WriterOptions};

    /// `Header` as traces written before the memory and disk fields have it: what an older
    /// reader knows, field for field.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    struct OldHeader {
        tool: String,
        host: String,
        kernel_release: String,
        kernel_version: String,
        arch: String,
        page_size: u32,
        cpus: u32,
        clock: Clock,
        clock_offset_ns: i64,
        start_ts: u64,
        command: Vec<String>,
        probes: Vec<ProbeInfo>,
        devices: Vec<BlockDevice>,
        processes: Vec<ProcessInfo>,
    }

    impl OldHeader {
        fn of(h: &Header) -> OldHeader {
            OldHeader {
                tool: h.tool.clone(),
                host: h.host.clone(),
                kernel_release: h.kernel_release.clone(),
                kernel_version: h.kernel_version.clone(),
                arch: h.arch.clone(),
                page_size: h.page_size,
                cpus: h.cpus,
                clock: h.clock,
                clock_offset_ns: h.clock_offset_ns,
                start_ts: h.start_ts,
                command: h.command.clone(),
                probes: h.probes.clone(),
                devices: h.devices.clone(),
                processes: h.processes.clone(),
            }
        }
    }

    const NVME0N1: u32 = 259 << 20;
    const NVME0N1P2: u32 = (259 << 20) | 2;
    const DM0: u32 = 253 << 20;

    fn device(dev: u32, name: &str, read_ahead_kb: u32) -> BlockDevice {
        BlockDevice {
            dev,
            name: name.into(),
            read_ahead_kb,
            max_sectors_kb: 1280,
            rotational: false,
            logical_block_size: 512,
        }
    }

    /// A header with every field set, the new ones included.
    fn new_header() -> Header {
        Header {
            tool: "mysql-io test".into(),
            host: "db1".into(),
            kernel_release: "6.1.0-28-amd64".into(),
            kernel_version: "#1 SMP".into(),
            arch: "x86_64".into(),
            page_size: 4096,
            cpus: 16,
            clock: Clock::Monotonic,
            clock_offset_ns: -42,
            start_ts: 7,
            command: vec!["mysql-io".into(), "record".into()],
            probes: vec![ProbeInfo {
                kind: 24,
                mode: ProbeMode::Tracepoint,
                attach: vec!["tracepoint:syscalls:sys_exit_pread64".into()],
                note: String::new(),
            }],
            devices: vec![
                device(DM0, "dm-0", 4096),
                device(NVME0N1, "nvme0n1", 128),
                device(NVME0N1P2, "nvme0n1p2", 128),
            ],
            processes: vec![ProcessInfo { pid: 9, comm: "mariadbd".into(), ..ProcessInfo::default() }],
            mem_total_kb: 24 << 20,
            mem_available_kb: 22_334_567,
            page_cache_kb: 2_202_010,
            disks: vec![(NVME0N1P2, "nvme0n1".into())],
        }
    }

    #[test]
    fn a_header_with_memory_and_disks_round_trips() {
        let h = new_header();
        let body = postcard::to_allocvec(&h).expect("encode");
        assert_eq!(decode_meta::<Header>(&body).expect("decode"), h);
        // And through a whole trace file.
        let w = Writer::new(Vec::new(), &h, WriterOptions::default()).expect("writer");
        let file = w.into_inner().expect("finish");
        assert_eq!(Trace::parse(&file).expect("parse").header(), &h);
    }

    #[test]
    fn an_old_header_reads_with_unknown_memory_and_no_disks() {
        let h = new_header();
        let old_body = postcard::to_allocvec(&OldHeader::of(&h)).expect("encode");
        // The body really ends before the new fields: postcard alone gives up on it.
        assert!(matches!(
            postcard::from_bytes::<Header>(&old_body),
            Err(postcard::Error::DeserializeUnexpectedEnd)
        ));
        let read: Header = decode_meta(&old_body).expect("decode");
        let want =
            Header { mem_total_kb: 0, mem_available_kb: 0, page_cache_kb: 0, disks: vec![], ..h.clone() };
        assert_eq!(read, want);
        // Without `disks` a partition names itself as its queue's device.
        assert_eq!(read.queue_device(NVME0N1P2), Some("nvme0n1p2"));
    }

    #[test]
    fn the_recorded_mariadb_trace_has_an_old_header() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/mariadb-sysbench.mio");
        let data = std::fs::read(path).expect("read testdata/mariadb-sysbench.mio");
        let rec = frame_at(&data, PREAMBLE_LEN).expect("header record");
        assert_eq!(rec.kind, RecordKind::Header as u8);
        // The old layout is exactly what the body holds: nothing is left over.
        let (old, rest) = postcard::take_from_bytes::<OldHeader>(rec.body()).expect("old layout");
        assert!(rest.is_empty(), "{} bytes after the old fields", rest.len());
        let read: Header = decode_meta(rec.body()).expect("decode");
        assert_eq!(OldHeader::of(&read), old);
        assert_eq!((read.mem_total_kb, read.mem_available_kb, read.page_cache_kb), (0, 0, 0));
        assert!(read.disks.is_empty());
        assert!(!read.devices.is_empty());
    }

    #[test]
    fn an_old_reader_reads_a_new_header() {
        let h = new_header();
        let body = postcard::to_allocvec(&h).expect("encode");
        let (old, rest) = postcard::take_from_bytes::<OldHeader>(&body).expect("old reader");
        assert_eq!(old, OldHeader::of(&h));
        // What it does not know is left at the end, where it ignores it.
        assert!(!rest.is_empty());
        assert_eq!(postcard::from_bytes::<OldHeader>(&body).expect("trailing bytes ignored"), old);
    }

    #[test]
    fn queue_device_names_the_disk_of_a_partition_and_the_device_otherwise() {
        let h = new_header();
        assert_eq!(h.queue_device(NVME0N1P2), Some("nvme0n1"));
        assert_eq!(h.queue_device(NVME0N1), Some("nvme0n1"));
        assert_eq!(h.queue_device(DM0), Some("dm-0"));
        // An anonymous filesystem (tmpfs) or a device the header does not list.
        assert_eq!(h.queue_device(make_dev(0, 27)), None);
        assert_eq!(h.queue_device(make_dev(8, 1)), None);
    }
}
