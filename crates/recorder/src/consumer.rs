//! The consumer side of the ring buffer: each record the BPF programs commit becomes a trace
//! event (kernel addresses replaced by small ids, names redacted when asked), and what /proc says
//! about threads, processes and files seen for the first time is written beside it.
//!
//! It runs on the recorder's main thread, draining the ring on a timer; it must keep up with the
//! kernel at millions of records a second (`cargo bench -p mysql-io-recorder --bench consumer`).

use std::fs::File;
use std::path::PathBuf;

use mysql_io_format::{Event, EventBody, FileInfo, Metadata, ThreadInfo, Writer, O_DIRECT};
use rustc_hash::{FxHashMap, FxHashSet};

use crate::abi;
use crate::inventory::{self, Mounts};
use crate::redact::Redactor;

/// Turns ring-buffer records into trace events, and adds what /proc says about new threads and
/// files as they appear.
#[derive(Debug)]
pub struct Consumer {
    pub(crate) writer: Writer<File>,
    mounts: Mounts,
    ids: KernelIds,
    /// Working directory of each process, to make the relative paths of open calls absolute.
    cwds: FxHashMap<u32, PathBuf>,
    pub(crate) threads: FxHashSet<u32>,
    pub(crate) files: FxHashSet<(u32, u64)>,
    processes: FxHashSet<u32>,
    undecodable: u64,
    /// The first write error; the ring-buffer callback cannot return it.
    pub(crate) error: Option<mysql_io_format::Error>,
    redact: Option<Redactor>,
    /// Events so far, per kind (for the self-check).
    pub(crate) counts: crate::selfcheck::Counts,
    /// Per thread, the time of its last page-cache insert.
    last_insert: FxHashMap<u32, u64>,
    /// The recorder's privileges, for processes that become targets while it runs.
    privileges: crate::privilege::Privileges,
    /// What the user should know, not yet reported.
    pub(crate) warnings: Vec<String>,
    /// Statements' digests and connections (`record --statements`).
    statements: crate::statements::Statements,
    /// Processes that became targets by starting a program during the recording, not yet given
    /// their statement probes.
    pub(crate) started: Vec<u32>,
}

impl Consumer {
    /// A consumer writing to `writer`. `cwds` are the working directories known at the start (of
    /// the targets and of the recorder itself), `processes` the processes already described in
    /// the trace.
    pub fn new(
        writer: Writer<File>,
        cwds: impl IntoIterator<Item = (u32, PathBuf)>,
        processes: impl IntoIterator<Item = u32>,
        redact: Option<Redactor>,
    ) -> Consumer {
        Consumer {
            writer,
            mounts: Mounts::read().unwrap_or_default(),
            ids: KernelIds::default(),
            cwds: cwds.into_iter().collect(),
            threads: FxHashSet::default(),
            files: FxHashSet::default(),
            processes: processes.into_iter().collect(),
            undecodable: 0,
            error: None,
            redact,
            counts: Default::default(),
            last_insert: FxHashMap::default(),
            privileges: crate::privilege::Privileges::current(),
            warnings: Vec::new(),
            statements: crate::statements::Statements::new(false),
            started: Vec::new(),
        }
    }

    /// Keeps each statement's text as the client sent it (`record --sql-text`); by default
    /// statements keep only their digest and normalised text.
    pub fn keep_sql_text(&mut self, keep: bool) {
        self.statements = crate::statements::Statements::new(keep);
    }

    /// The trace writer.
    pub fn writer(&mut self) -> &mut Writer<File> {
        &mut self.writer
    }

    /// Gives the writer back (to finish the trace).
    pub fn into_writer(self) -> Writer<File> {
        self.writer
    }

    /// Records that could not be decoded (a BPF object that does not match this build).
    pub fn undecodable(&self) -> u64 {
        self.undecodable
    }

    /// Writes a metadata record, redacted when asked.
    pub(crate) fn meta(&mut self, mut m: Metadata) -> mysql_io_format::Result<()> {
        if let Some(r) = &self.redact {
            r.metadata(&mut m);
        }
        self.writer.write_metadata(&m)
    }

    /// Takes one ring-buffer record: 0 to go on, -1 to stop the ring buffer (a write error, kept
    /// in `error`).
    pub fn on_record(&mut self, data: &[u8]) -> i32 {
        let mut ev = match abi::decode(data) {
            Ok(ev) => ev,
            Err(_) => {
                self.undecodable += 1;
                return 0;
            }
        };
        self.counts.add(ev.body.kind());
        match &ev.body {
            // An insert by a thread inside one of its buffered reads is the read's: it missed.
            EventBody::PageCacheAdd(_) => {
                self.last_insert.insert(ev.tid, ev.ts);
            }
            EventBody::Read(r) if r.file.flags & O_DIRECT == 0 => {
                let during = ev.ts.saturating_sub(r.latency_ns)..=ev.ts.saturating_add(r.latency_ns);
                if self.last_insert.get(&ev.tid).is_some_and(|t| during.contains(t)) {
                    self.counts.missed_reads += 1;
                }
            }
            _ => {}
        }
        if let EventBody::Statement(s) = &mut ev.body {
            self.statements.apply(s);
        }
        self.ids.apply(&mut ev);
        let discovered = self.discover(&ev);
        if let Some(r) = &self.redact {
            r.event(&mut ev.body);
        }
        if let Err(e) = discovered.and_then(|()| self.writer.push(&ev)) {
            self.error = Some(e);
            return -1;
        }
        0
    }

    /// Metadata for threads, processes and files seen for the first time.
    fn discover(&mut self, ev: &Event) -> mysql_io_format::Result<()> {
        if ev.tid != 0 && self.threads.insert(ev.tid) {
            if let Some(comm) = inventory::thread_comm(ev.pid, ev.tid) {
                let t = ThreadInfo { pid: ev.pid, tid: ev.tid, comm, role: String::new(), ts: ev.ts };
                self.meta(Metadata::Thread(t))?;
            }
        }
        // Every kind is named, so that a new one is a decision here, not a silent miss.
        match &ev.body {
            EventBody::Read(r) => self.file(ev, r.fd, r.file.dev, r.file.ino, None)?,
            EventBody::ReadEnter(r) => self.file(ev, r.fd, r.file.dev, r.file.ino, None)?,
            EventBody::AioSubmit(r) => self.file(ev, r.fd, r.file.dev, r.file.ino, None)?,
            EventBody::UringSubmit(r) if r.file.ino != 0 => {
                self.file(ev, r.fd, r.file.dev, r.file.ino, None)?
            }
            EventBody::Fadvise(r) => self.file(ev, r.fd, r.file.dev, r.file.ino, None)?,
            EventBody::FileOpen(r) => self.file(ev, r.fd, r.file.dev, r.file.ino, Some(&r.path))?,
            EventBody::TaskRename(r) => {
                let t = ThreadInfo {
                    pid: ev.pid,
                    tid: ev.tid,
                    comm: r.comm.clone(),
                    role: String::new(),
                    ts: ev.ts,
                };
                self.meta(Metadata::Thread(t))?;
            }
            EventBody::TaskFork(f) if f.child_pid != ev.pid => {
                self.note_cwd(f.child_pid);
                if let Some(cwd) = self.cwds.get(&ev.pid).cloned() {
                    self.cwds.entry(f.child_pid).or_insert(cwd);
                }
                self.process(f.child_pid, ev.ts)?;
            }
            EventBody::TaskExec(_) => {
                self.processes.remove(&ev.pid);
                self.process(ev.pid, ev.ts)?;
                self.started.push(ev.pid);
            }
            // A request whose file the probe could not resolve (a fixed file), a new thread (its
            // name comes with its first event), and kinds that name files by (device, inode)
            // only: what they need is found from the kinds above.
            EventBody::UringSubmit(_)
            | EventBody::TaskFork(_)
            | EventBody::ReadExit(_)
            | EventBody::VfsReadEnter(_)
            | EventBody::VfsReadExit(_)
            | EventBody::AioSubmitExit(_)
            | EventBody::AioComplete(_)
            | EventBody::UringComplete(_)
            | EventBody::ReadaheadTrigger(_)
            | EventBody::ReadaheadWindow(_)
            | EventBody::PageCacheAdd(_)
            | EventBody::PageCacheDelete(_)
            | EventBody::FilemapGetPages(_)
            | EventBody::DioRead(_)
            | EventBody::FileClose(_)
            | EventBody::TaskExit(_)
            | EventBody::Statement(_)
            | EventBody::Lost(_) => {}
        }
        Ok(())
    }

    fn file(
        &mut self,
        ev: &Event,
        fd: i32,
        dev: u32,
        ino: u64,
        path: Option<&str>,
    ) -> mysql_io_format::Result<()> {
        if !self.files.insert((dev, ino)) {
            return Ok(());
        }
        // The descriptor may already be closed; then the path the open call named will do, made
        // absolute with the process's working directory, and checked to be the same file.
        let info = match inventory::open_file(ev.pid, fd, ev.ts) {
            Some(f) if (f.file.dev, f.file.ino) == (dev, ino) => f.file,
            _ => {
                let path = path.map(|p| self.absolute(ev.pid, p)).unwrap_or_default();
                let size = std::fs::metadata(&path)
                    .ok()
                    .filter(|m| {
                        use std::os::unix::fs::MetadataExt;
                        m.ino() == ino
                    })
                    .map_or(0, |m| m.len());
                FileInfo {
                    dev,
                    ino,
                    path: path.to_string_lossy().into_owned(),
                    size,
                    fs_type: self.mounts.fs_type(dev).unwrap_or_default().to_string(),
                    ts: ev.ts,
                }
            }
        };
        self.meta(Metadata::File(info))
    }

    fn absolute(&mut self, pid: u32, path: &str) -> PathBuf {
        if path.starts_with('/') || path.is_empty() {
            return PathBuf::from(path);
        }
        let cwd = self.cwds.entry(pid).or_insert_with(|| {
            std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap_or_else(|_| PathBuf::from("."))
        });
        cwd.join(path)
    }

    /// Remembers a process's working directory while it is alive (children of `record -- CMD`
    /// start in the recorder's).
    fn note_cwd(&mut self, pid: u32) {
        if let Ok(cwd) = std::fs::read_link(format!("/proc/{pid}/cwd")) {
            self.cwds.insert(pid, cwd);
        }
    }

    pub(crate) fn process(&mut self, pid: u32, ts: u64) -> mysql_io_format::Result<()> {
        if !self.processes.insert(pid) {
            return Ok(());
        }
        if let Ok(s) = inventory::snapshot_process(pid, ts) {
            self.meta(Metadata::Process(s.info))?;
        }
        // The targets at the start were checked before recording; this one came later.
        if let Some(why) = crate::privilege::process_problem(pid, &self.privileges) {
            self.warnings.push(format!("{why} (it became a target during the recording)"));
        }
        Ok(())
    }
}

/// Kernel addresses the BPF side uses as ids (open file descriptions, io_uring rings and
/// requests) replaced by small numbers: a trace leaves the machine, and kernel addresses would
/// give away its address-space layout. A closed description or completed request frees its id.
#[derive(Debug, Default)]
struct KernelIds {
    map: FxHashMap<u64, u64>,
    next: u64,
}

impl KernelIds {
    fn id(&mut self, addr: u64) -> u64 {
        if addr == 0 {
            return 0;
        }
        let next = &mut self.next;
        *self.map.entry(addr).or_insert_with(|| {
            *next += 1;
            *next
        })
    }

    fn release(&mut self, addr: u64) -> u64 {
        let id = self.id(addr);
        self.map.remove(&addr);
        id
    }

    /// Replaces the kernel addresses of an event by ids. Every kind is named: one that carries
    /// an address and is not mapped here would put the address in the trace.
    fn apply(&mut self, ev: &mut Event) {
        match &mut ev.body {
            EventBody::Read(r) => r.file.ofd = self.id(r.file.ofd),
            EventBody::ReadEnter(r) => r.file.ofd = self.id(r.file.ofd),
            EventBody::VfsReadEnter(r) => r.file.ofd = self.id(r.file.ofd),
            EventBody::AioSubmit(r) => r.file.ofd = self.id(r.file.ofd),
            EventBody::Fadvise(r) => r.file.ofd = self.id(r.file.ofd),
            EventBody::FileOpen(r) => r.file.ofd = self.id(r.file.ofd),
            EventBody::FileClose(r) => r.ofd = self.release(r.ofd),
            EventBody::UringSubmit(r) => {
                r.file.ofd = self.id(r.file.ofd);
                r.ring = self.id(r.ring);
                r.req = self.id(r.req);
            }
            EventBody::UringComplete(r) => {
                r.ring = self.id(r.ring);
                r.req = self.release(r.req);
            }
            // No kernel addresses: AIO contexts, iocbs and user data are the server's own values.
            EventBody::ReadExit(_)
            | EventBody::VfsReadExit(_)
            | EventBody::AioSubmitExit(_)
            | EventBody::AioComplete(_)
            | EventBody::ReadaheadTrigger(_)
            | EventBody::ReadaheadWindow(_)
            | EventBody::PageCacheAdd(_)
            | EventBody::PageCacheDelete(_)
            | EventBody::FilemapGetPages(_)
            | EventBody::DioRead(_)
            | EventBody::TaskFork(_)
            | EventBody::TaskExec(_)
            | EventBody::TaskExit(_)
            | EventBody::TaskRename(_)
            | EventBody::Lost(_) => {}
            // Session addresses are numbered by `statements` before this.
            EventBody::Statement(_) => {}
        }
    }
}
