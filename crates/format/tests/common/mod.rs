//! Shared by the integration tests: a trace with one event of every kind, and helpers.
#![allow(dead_code, unreachable_pub)]

use mysql_io_format::*;

/// One event of every kind with distinctive values (also the golden file's content).
pub fn one_of_each() -> Vec<Event> {
    let mut ts = 1_000_000_000u64;
    EventKind::ALL
        .iter()
        .enumerate()
        .map(|(i, &k)| {
            ts += 1_000 + i as u64 * 7;
            let file = FileRef {
                dev: make_dev(8, 3),
                ino: 4242 + i as u64,
                ofd: 0xffff_8881_0000_1000 + i as u64,
                flags: O_DIRECT | 2,
            };
            let body = match k {
                EventKind::ReadEnter => ReadEnter {
                    syscall: ReadSyscall::Preadv2,
                    fd: 7,
                    file,
                    pos: 16384 * 3,
                    count: 16384,
                    iovcnt: 2,
                    rw_flags: 8,
                }
                .into(),
                EventKind::ReadExit => ReadExit { syscall: ReadSyscall::Read, ret: -11 }.into(),
                EventKind::VfsReadEnter => VfsReadEnter { file, pos: 77, count: 4096 }.into(),
                EventKind::VfsReadExit => VfsReadExit { ret: 4096 }.into(),
                EventKind::AioSubmit => AioSubmit {
                    ctx: 0x7f00_0000_1000,
                    iocb: 0x7f00_0000_2000,
                    data: 99,
                    opcode: AioOpcode::Pread,
                    fd: 9,
                    file,
                    offset: 1 << 40,
                    nbytes: 65536,
                }
                .into(),
                EventKind::AioSubmitExit => AioSubmitExit { ctx: 0x7f00_0000_1000, nr: 64, ret: 64 }.into(),
                EventKind::AioComplete => AioComplete {
                    ctx: 0x7f00_0000_1000,
                    iocb: 0x7f00_0000_2000,
                    data: 99,
                    res: 65536,
                    res2: 0,
                }
                .into(),
                EventKind::UringSubmit => UringSubmit {
                    ring: 0xffff_8881_2b40_0000,
                    req: 0xffff_8882_0000_0100,
                    user_data: 5,
                    opcode: 22,
                    fd: 11,
                    file,
                    offset: -1,
                    len: 16384,
                    rw_flags: 0,
                }
                .into(),
                EventKind::UringComplete => UringComplete {
                    ring: 0xffff_8881_2b40_0000,
                    req: 0xffff_8882_0000_0100,
                    user_data: 5,
                    res: -5,
                    cflags: 1,
                }
                .into(),
                EventKind::ReadaheadTrigger => ReadaheadTrigger {
                    trigger: RaTrigger::Async,
                    dev: file.dev,
                    ino: file.ino,
                    index: 96,
                    req_count: 4,
                    state: RaState {
                        start: 64,
                        size: 32,
                        async_size: 32,
                        ra_pages: 32,
                        order: 2,
                        mmap_miss: 1,
                        prev_pos: -1,
                    },
                }
                .into(),
                EventKind::ReadaheadWindow => ReadaheadWindow {
                    decision: RaDecision::Order,
                    dev: file.dev,
                    ino: file.ino,
                    index: 128,
                    size: 64,
                    async_size: 64,
                    order: 2,
                    ra_pages: 32,
                }
                .into(),
                EventKind::PageCacheAdd => {
                    PageCacheAdd { dev: file.dev, ino: file.ino, index: 128, order: 2 }.into()
                }
                EventKind::PageCacheDelete => {
                    PageCacheDelete { dev: file.dev, ino: file.ino, index: 7, order: 0 }.into()
                }
                EventKind::FilemapGetPages => {
                    FilemapGetPages { dev: file.dev, ino: file.ino, index: 3, last_index: 6 }.into()
                }
                EventKind::DioRead => {
                    DioRead { dev: file.dev, ino: file.ino, pos: 1 << 20, count: 16384, flags: 3 }.into()
                }
                EventKind::Fadvise => {
                    Fadvise { fd: 7, file, offset: 0, len: 0, advice: FadviseAdvice::Random }.into()
                }
                EventKind::FileOpen => {
                    FileOpen { fd: 12, file, path: "/var/lib/mysql/sbtest/sbtest1.ibd".into() }.into()
                }
                EventKind::FileClose => FileClose { fd: 12, ofd: file.ofd }.into(),
                EventKind::TaskFork => TaskFork { child_pid: 100, child_tid: 123 }.into(),
                EventKind::TaskExec => TaskExec { filename: "/usr/sbin/mariadbd".into() }.into(),
                EventKind::TaskExit => TaskExit { exit_code: 9 }.into(),
                EventKind::TaskRename => TaskRename { comm: "ib_io_rd-1 ✓".into() }.into(),
                EventKind::Lost => Lost { kind: EventKind::PageCacheAdd.code(), count: 17 }.into(),
                EventKind::Read => Read {
                    syscall: ReadSyscall::Pread64,
                    fd: 7,
                    file,
                    pos: 16384 * 5,
                    count: 16384,
                    iovcnt: 1,
                    rw_flags: 0,
                    ret: 16384,
                    latency_ns: 41_234,
                    lookups: 1,
                    first_page: 20,
                    last_page: 23,
                }
                .into(),
                EventKind::Statement => Statement {
                    command: 3,
                    latency_ns: 912_345,
                    conn: 2,
                    stmt_id: 0,
                    digest: 0x9e37_79b9_7f4a_7c15,
                    digest_text: "SELECT c FROM sbtest1 WHERE id = ?".into(),
                    sql: String::new(),
                    text_len: 33,
                }
                .into(),
            };
            Event { ts, pid: 100, tid: 100 + i as u32 % 3, cpu: (i % 4) as u16, body }
        })
        .collect()
}

/// Writes `events` and `meta` with `opts`.
pub fn write(events: &[Event], meta: &[Metadata], opts: WriterOptions) -> Vec<u8> {
    let mut w =
        Writer::new(Vec::new(), &Header { host: "test".into(), ..Header::default() }, opts).expect("writer");
    for m in meta {
        w.write_metadata(m).expect("metadata");
    }
    for e in events {
        w.push(e).expect("push");
    }
    w.into_inner().expect("finish")
}
