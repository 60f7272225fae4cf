/* SPDX-License-Identifier: (MIT OR Apache-2.0) */
/*
 * mio_abi.h: the one definition of everything the BPF programs (mio.bpf.c) and the recorder
 * (crates/recorder) exchange: ring-buffer record layouts, kind codes, drop-counter slots and the
 * configuration the recorder writes before loading. The Rust side is generated from this file by
 * bindgen (crates/recorder/build.rs); sizes are asserted here and in Rust.
 *
 * Rules: every record starts with struct mio_hdr; fields are naturally aligned with explicit
 * padding, so the layout is the same for clang's BPF target and the host; kind codes equal the
 * .mio format's event kind codes (crates/format/src/event.rs), which a Rust test checks.
 */
#ifndef MIO_ABI_H
#define MIO_ABI_H

#ifdef __VMLINUX_H__
typedef __u8 mio_u8;
typedef __u16 mio_u16;
typedef __u32 mio_u32;
typedef __u64 mio_u64;
typedef __s32 mio_s32;
typedef __s64 mio_s64;
#else
#include <stdint.h>
typedef uint8_t mio_u8;
typedef uint16_t mio_u16;
typedef uint32_t mio_u32;
typedef uint64_t mio_u64;
typedef int32_t mio_s32;
typedef int64_t mio_s64;
#endif

/* Event kinds: the .mio format's kind codes. */
enum mio_kind {
	/* 1 and 2 (read_enter, read_exit) were written by recorders before format 2.1: a read
	 * syscall is now one MIO_READ record at its return. */
	MIO_VFS_READ_ENTER = 3,
	MIO_VFS_READ_EXIT = 4,
	MIO_AIO_SUBMIT = 5,
	MIO_AIO_SUBMIT_EXIT = 6,
	MIO_AIO_COMPLETE = 7,
	MIO_URING_SUBMIT = 8,
	MIO_URING_COMPLETE = 9,
	MIO_RA_TRIGGER = 10,
	MIO_RA_WINDOW = 11,
	MIO_PAGE_CACHE_ADD = 12,
	MIO_PAGE_CACHE_DELETE = 13,
	MIO_FILEMAP_GET_PAGES = 14,
	MIO_DIO_READ = 15,
	MIO_FADVISE = 16,
	MIO_FILE_OPEN = 17,
	MIO_FILE_CLOSE = 18,
	MIO_TASK_FORK = 19,
	MIO_TASK_EXEC = 20,
	MIO_TASK_EXIT = 21,
	MIO_TASK_RENAME = 22,
	/* 23 is the recorder's own `lost` event. */
	MIO_READ = 24,
	MIO_STATEMENT = 25,
	MIO_KIND_MAX = 32, /* drop counters have this many slots per CPU */
};

/* Which read syscall (the format's ReadSyscall codes). */
enum mio_read_syscall {
	MIO_SYS_READ = 0,
	MIO_SYS_PREAD64 = 1,
	MIO_SYS_READV = 2,
	MIO_SYS_PREADV = 3,
	MIO_SYS_PREADV2 = 4,
};

/* Readahead trigger and decision codes (the format's RaTrigger and RaDecision). */
enum mio_ra_code {
	MIO_RA_SYNC = 0,
	MIO_RA_ASYNC = 1,
	MIO_RA_ORDER = 0,
	MIO_RA_UNBOUNDED = 1,
};

enum mio_limits {
	MIO_PATH_MAX = 256, /* bytes of a path kept in file_open / task_exec records */
	MIO_COMM_LEN = 16,
	MIO_MAX_IOCBS = 64, /* iocbs decoded per io_submit, completions per io_getevents */
	MIO_MAX_IOVECS = 16, /* iovecs summed for readv/preadv counts */
	MIO_TARGET_COMMS = 4, /* process names the recorder can ask the kernel side to follow */
	MIO_TARGET_SLOTS = 65536, /* the fast target check's array (see mio.bpf.c) */
	MIO_SQL_MAX = 1024, /* bytes of a statement's text copied (a power of two) */
};

/* The client commands the statement probes look into (values of the servers' enum_server_command,
 * the same in MariaDB and MySQL): which carry a statement's text, which a prepared statement's id. */
enum mio_server_command {
	MIO_COM_INIT_DB = 2,
	MIO_COM_QUERY = 3,
	MIO_COM_STMT_PREPARE = 22,
	MIO_COM_STMT_EXECUTE = 23,
	MIO_COM_STMT_SEND_LONG_DATA = 24,
	MIO_COM_STMT_CLOSE = 25,
	MIO_COM_STMT_RESET = 26,
	MIO_COM_STMT_FETCH = 28,
};

/* Configuration the recorder sets before loading (a read-only global). */
struct mio_config {
	mio_u32 self_tgid;     /* the recorder itself: never traced */
	mio_u32 follow_comms;  /* 1: processes exec'ing one of `comms` become targets */
	mio_u32 follow_children; /* 1: children of the recorder become targets (`record -- CMD`) */
	mio_u32 wake_bytes;    /* wake the consumer when a record takes the ring past this many bytes */
	char comms[MIO_TARGET_COMMS][MIO_COMM_LEN];
	/* Kinds (bit 1 << kind) whose syscall entries / returns the raw syscall tracepoint programs
	 * (rt_sys_enter, rt_sys_exit) handle; the planner puts each kind in one mode. */
	mio_u32 raw_enter_kinds;
	mio_u32 raw_exit_kinds;
};

struct mio_hdr {
	mio_u64 ts;  /* bpf_ktime_get_ns() */
	mio_u32 pid; /* tgid */
	mio_u32 tid;
	mio_u16 cpu;
	mio_u8 kind; /* enum mio_kind */
	mio_u8 pad0;
	mio_u32 pad1;
};

/* A file as the kernel sees it at the time of the event. */
struct mio_file {
	mio_u64 ino;
	mio_u64 ofd; /* struct file address: the open file description */
	mio_u32 dev; /* inode->i_sb->s_dev (major << 20 | minor) */
	mio_u32 flags; /* file->f_flags */
};

/* A read syscall, recorded at its return: the arguments and the file as they were at entry, the
 * result, and the page-cache lookups (filemap_get_pages) it made, folded in. */
struct mio_read {
	struct mio_hdr h; /* ts: the return */
	struct mio_file file;
	mio_s64 pos;
	mio_u64 count;
	mio_s64 ret;
	mio_u64 latency_ns; /* entry to return */
	mio_u64 first_page; /* the lookups' range; the read's own pages when it made none */
	mio_u64 last_page;
	mio_s32 fd;
	mio_u32 iovcnt;
	mio_u32 rw_flags;
	mio_u32 lookups;
	mio_u8 syscall;
	mio_u8 pad[7];
};

struct mio_vfs_read_enter {
	struct mio_hdr h;
	struct mio_file file;
	mio_s64 pos;
	mio_u64 count;
};

struct mio_vfs_read_exit {
	struct mio_hdr h;
	mio_s64 ret;
};

struct mio_aio_submit {
	struct mio_hdr h;
	struct mio_file file;
	mio_u64 ctx;
	mio_u64 iocb;
	mio_u64 data;
	mio_s64 offset;
	mio_u64 nbytes;
	mio_s32 fd;
	mio_u16 opcode;
	mio_u16 pad;
};

struct mio_aio_submit_exit {
	struct mio_hdr h;
	mio_u64 ctx;
	mio_s64 nr;
	mio_s64 ret;
};

struct mio_aio_complete {
	struct mio_hdr h;
	mio_u64 ctx;
	mio_u64 iocb;
	mio_u64 data;
	mio_s64 res;
	mio_s64 res2;
};

struct mio_uring_submit {
	struct mio_hdr h;
	struct mio_file file;
	mio_u64 ring;
	mio_u64 req;
	mio_u64 user_data;
	mio_s64 offset;
	mio_s32 fd;
	mio_u32 len;
	mio_u32 rw_flags;
	mio_u8 opcode;
	mio_u8 pad[3];
};

struct mio_uring_complete {
	struct mio_hdr h;
	mio_u64 ring;
	mio_u64 req;
	mio_u64 user_data;
	mio_s32 res;
	mio_u32 cflags;
};

struct mio_ra_trigger {
	struct mio_hdr h;
	mio_u64 ino;
	mio_u64 index;
	mio_u64 req_count;
	mio_u64 start;
	mio_s64 prev_pos;
	mio_u32 dev;
	mio_u32 size;
	mio_u32 async_size;
	mio_u32 ra_pages;
	mio_u32 order;
	mio_u32 mmap_miss;
	mio_u8 trigger; /* MIO_RA_SYNC / MIO_RA_ASYNC */
	mio_u8 pad[7];
};

struct mio_ra_window {
	struct mio_hdr h;
	mio_u64 ino;
	mio_u64 index;
	mio_u64 size;
	mio_u64 async_size;
	mio_u32 dev;
	mio_u32 order;
	mio_u32 ra_pages;
	mio_u8 decision; /* MIO_RA_ORDER / MIO_RA_UNBOUNDED */
	mio_u8 pad[3];
};

/* page_cache_add and page_cache_delete. */
struct mio_page_cache {
	struct mio_hdr h;
	mio_u64 ino;
	mio_u64 index;
	mio_u32 dev;
	mio_u32 order;
};

struct mio_get_pages {
	struct mio_hdr h;
	mio_u64 ino;
	mio_u64 index;
	mio_u64 last_index;
	mio_u32 dev;
	mio_u32 pad;
};

struct mio_dio_read {
	struct mio_hdr h;
	mio_u64 ino;
	mio_s64 pos;
	mio_u64 count;
	mio_u32 dev;
	mio_u32 flags;
};

struct mio_fadvise {
	struct mio_hdr h;
	struct mio_file file;
	mio_s64 offset;
	mio_s64 len;
	mio_s32 fd;
	mio_u8 advice;
	mio_u8 pad[3];
};

struct mio_file_open {
	struct mio_hdr h;
	struct mio_file file;
	mio_s32 fd;
	mio_u32 path_len; /* bytes of path used, without the NUL */
	char path[MIO_PATH_MAX];
};

struct mio_file_close {
	struct mio_hdr h;
	mio_u64 ofd;
	mio_s32 fd;
	mio_u32 pad;
};

struct mio_task_fork {
	struct mio_hdr h;
	mio_u32 child_pid;
	mio_u32 child_tid;
};

struct mio_task_exec {
	struct mio_hdr h;
	mio_u32 len;
	mio_u32 pad;
	char filename[MIO_PATH_MAX];
};

struct mio_task_exit {
	struct mio_hdr h;
	mio_s32 exit_code;
	mio_u32 pad;
};

struct mio_task_rename {
	struct mio_hdr h;
	char comm[MIO_COMM_LEN];
};

/* A client command the server dispatched (record --statements), recorded at its return: this
 * fixed part, then `copied` bytes of the statement's text (no NUL). */
struct mio_stmt {
	struct mio_hdr h; /* ts: the return */
	mio_u64 latency_ns;
	mio_u64 conn;     /* the server's session object (THD) address */
	mio_u32 command;  /* enum_server_command */
	mio_u32 stmt_id;  /* prepared statement id, for the commands that name one */
	mio_u32 text_len; /* bytes of text the client sent */
	mio_u32 copied;   /* bytes of it that follow (at most MIO_SQL_MAX) */
	mio_u32 depth;    /* the BPF side's own: dispatch calls in progress on the thread */
	mio_u32 pad;
};

/* The BPF side's per-thread copy of a statement in progress: the record and room for its text. */
struct mio_stmt_slot {
	struct mio_stmt s;
	char text[MIO_SQL_MAX];
};

#define MIO_ASSERT_SIZE(type, size) _Static_assert(sizeof(struct type) == (size), #type " size")
MIO_ASSERT_SIZE(mio_config, 88);
MIO_ASSERT_SIZE(mio_hdr, 24);
MIO_ASSERT_SIZE(mio_file, 24);
MIO_ASSERT_SIZE(mio_read, 120);
MIO_ASSERT_SIZE(mio_vfs_read_enter, 64);
MIO_ASSERT_SIZE(mio_vfs_read_exit, 32);
MIO_ASSERT_SIZE(mio_aio_submit, 96);
MIO_ASSERT_SIZE(mio_aio_submit_exit, 48);
MIO_ASSERT_SIZE(mio_aio_complete, 64);
MIO_ASSERT_SIZE(mio_uring_submit, 96);
MIO_ASSERT_SIZE(mio_uring_complete, 56);
MIO_ASSERT_SIZE(mio_ra_trigger, 96);
MIO_ASSERT_SIZE(mio_ra_window, 72);
MIO_ASSERT_SIZE(mio_page_cache, 48);
MIO_ASSERT_SIZE(mio_get_pages, 56);
MIO_ASSERT_SIZE(mio_dio_read, 56);
MIO_ASSERT_SIZE(mio_fadvise, 72);
MIO_ASSERT_SIZE(mio_file_open, 312);
MIO_ASSERT_SIZE(mio_file_close, 40);
MIO_ASSERT_SIZE(mio_task_fork, 32);
MIO_ASSERT_SIZE(mio_task_exec, 288);
MIO_ASSERT_SIZE(mio_task_exit, 32);
MIO_ASSERT_SIZE(mio_task_rename, 40);
MIO_ASSERT_SIZE(mio_stmt, 64);
MIO_ASSERT_SIZE(mio_stmt_slot, 64 + MIO_SQL_MAX);

#endif /* MIO_ABI_H */
