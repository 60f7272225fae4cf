// SPDX-License-Identifier: GPL-2.0
/*
 * mio.bpf.c: the recorder's BPF programs. Every program is optional (SEC("?...")): the recorder
 * enables the variant it planned for each event kind (kprobe, fentry or tracepoint, see
 * crates/recorder/src/plan.rs) and leaves the others unloaded. Each event kind has one handler;
 * the variants only differ in how they get their arguments.
 *
 * Records and their layouts are defined in mio_abi.h. Tasks are filtered by the `targets` map
 * (tgids); page-cache inserts and deletes, which may happen in any task (kswapd), are filtered by
 * the `inodes` map of files the targets read.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "mio_abi.h"

char LICENSE[] SEC("license") = "GPL";

#define S_IFMT 00170000
#define S_IFREG 0100000
#define PAGE_SHIFT 12

const volatile struct mio_config cfg = {};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 24); /* the recorder resizes it (--ringbuf-mb) */
} events SEC(".maps");

/* Records lost because the ring buffer was full, per CPU and kind. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MIO_KIND_MAX);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

/* Traced processes (tgid -> 1). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u8);
} targets SEC(".maps");

struct inode_key {
	__u64 ino;
	__u32 dev;
	__u32 pad;
};

/* Files the targets read: their page-cache inserts and deletes are recorded, whoever causes them. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct inode_key);
	__type(value, __u8);
} inodes SEC(".maps");

/* What a thread is in the middle of, between a syscall's entry and exit. */
enum pending_what { P_READ = 1, P_OPEN, P_AIO_SUBMIT, P_AIO_GETEVENTS };
struct pending {
	__u32 what;
	__u32 sys; /* read syscall code */
	__u64 a;   /* openat: filename; aio: ctx */
	__u64 b;   /* io_submit: nr; io_getevents: events array */
};
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct pending);
} pending SEC(".maps");

/* Requests whose submission was recorded, so that only their completions are (io_uring req
 * address, aio iocb user address). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, __u8);
} inflight SEC(".maps");

/* ------------------------------------------------------------------------------------------ */
/* Common helpers                                                                               */

static __always_inline __u32 cur_tgid(void)
{
	return bpf_get_current_pid_tgid() >> 32;
}

static __always_inline __u32 cur_tid(void)
{
	return (__u32)bpf_get_current_pid_tgid();
}

static __always_inline bool is_target_tgid(__u32 tgid)
{
	return bpf_map_lookup_elem(&targets, &tgid) != NULL;
}

static __always_inline bool is_target(void)
{
	return is_target_tgid(cur_tgid());
}

static __always_inline void count_drop(__u32 kind)
{
	__u64 *n = bpf_map_lookup_elem(&drops, &kind);
	if (n)
		*n += 1;
}

/* Reserves a record of `size` bytes and fills its header for the current task. */
static __always_inline void *reserve(__u64 size, __u8 kind)
{
	struct mio_hdr *h = bpf_ringbuf_reserve(&events, size, 0);
	if (!h) {
		count_drop(kind);
		return NULL;
	}
	__u64 pt = bpf_get_current_pid_tgid();
	h->ts = bpf_ktime_get_ns();
	h->pid = pt >> 32;
	h->tid = (__u32)pt;
	h->cpu = bpf_get_smp_processor_id();
	h->kind = kind;
	h->pad0 = 0;
	h->pad1 = 0;
	return h;
}

#define RESERVE(type, kind) ((struct type *)reserve(sizeof(struct type), (kind)))

static __always_inline void note_inode(__u32 dev, __u64 ino)
{
	struct inode_key k = { .ino = ino, .dev = dev };
	if (!bpf_map_lookup_elem(&inodes, &k)) {
		__u8 one = 1;
		bpf_map_update_elem(&inodes, &k, &one, BPF_ANY);
	}
}

static __always_inline bool inode_known(__u32 dev, __u64 ino)
{
	struct inode_key k = { .ino = ino, .dev = dev };
	return bpf_map_lookup_elem(&inodes, &k) != NULL;
}

/* The struct file behind `fd` in the current task. */
static __always_inline struct file *fd_file(long fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	unsigned int max = BPF_CORE_READ(fdt, max_fds);
	if (fd < 0 || fd >= max)
		return NULL;
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *f = NULL;
	bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
	return f;
}

/* Fills `out` for a regular file; false for anything else (sockets, pipes, ...). */
static __always_inline bool fill_file(struct mio_file *out, struct file *f)
{
	if (!f)
		return false;
	struct inode *inode = BPF_CORE_READ(f, f_inode);
	umode_t mode = BPF_CORE_READ(inode, i_mode);
	if ((mode & S_IFMT) != S_IFREG)
		return false;
	out->ino = BPF_CORE_READ(inode, i_ino);
	out->dev = BPF_CORE_READ(inode, i_sb, s_dev);
	out->flags = BPF_CORE_READ(f, f_flags);
	out->ofd = (__u64)f;
	return true;
}

static __always_inline void set_pending(__u32 what, __u32 sys, __u64 a, __u64 b)
{
	__u32 tid = cur_tid();
	struct pending p = { .what = what, .sys = sys, .a = a, .b = b };
	bpf_map_update_elem(&pending, &tid, &p, BPF_ANY);
}

/* Takes the thread's pending state if it is `what`. */
static __always_inline bool take_pending(__u32 what, struct pending *out)
{
	__u32 tid = cur_tid();
	struct pending *p = bpf_map_lookup_elem(&pending, &tid);
	if (!p || p->what != what)
		return false;
	*out = *p;
	bpf_map_delete_elem(&pending, &tid);
	return true;
}

/* ------------------------------------------------------------------------------------------ */
/* read, pread64, readv, preadv, preadv2                                                        */

static __always_inline __u64 iov_total(const struct iovec *vec, __u64 iovcnt)
{
	__u64 total = 0;
	for (int i = 0; i < MIO_MAX_IOVECS; i++) {
		if (i >= iovcnt)
			break;
		struct iovec v = {};
		if (bpf_probe_read_user(&v, sizeof(v), &vec[i]))
			break;
		total += v.iov_len;
	}
	return total;
}

/* pos < 0 means "at the file position" (read, readv, preadv2 with offset -1). */
static __always_inline int read_enter(__u8 sys, long fd, __s64 pos, __u64 count, __u32 iovcnt, __u32 rw_flags)
{
	if (!is_target())
		return 0;
	struct file *f = fd_file(fd);
	struct mio_file mf;
	if (!fill_file(&mf, f))
		return 0;
	struct mio_read_enter *e = RESERVE(mio_read_enter, MIO_READ_ENTER);
	if (!e)
		return 0;
	e->file = mf;
	e->pos = pos < 0 ? BPF_CORE_READ(f, f_pos) : pos;
	e->count = count;
	e->fd = fd;
	e->iovcnt = iovcnt;
	e->rw_flags = rw_flags;
	e->syscall = sys;
	__builtin_memset(e->pad, 0, sizeof(e->pad));
	bpf_ringbuf_submit(e, 0);
	note_inode(mf.dev, mf.ino);
	set_pending(P_READ, sys, 0, 0);
	return 0;
}

static __always_inline int read_exit(long ret)
{
	struct pending p;
	if (!take_pending(P_READ, &p))
		return 0;
	struct mio_read_exit *e = RESERVE(mio_read_exit, MIO_READ_EXIT);
	if (!e)
		return 0;
	e->ret = ret;
	e->syscall = p.sys;
	__builtin_memset(e->pad, 0, sizeof(e->pad));
	bpf_ringbuf_submit(e, 0);
	return 0;
}

static __always_inline int h_read(__u64 fd, __u64 buf, __u64 count, __u64 a3, __u64 a4)
{
	return read_enter(MIO_SYS_READ, fd, -1, count, 1, 0);
}

static __always_inline int h_pread64(__u64 fd, __u64 buf, __u64 count, __u64 pos, __u64 a4)
{
	return read_enter(MIO_SYS_PREAD64, fd, (__s64)pos, count, 1, 0);
}

static __always_inline int h_readv(__u64 fd, __u64 vec, __u64 vlen, __u64 a3, __u64 a4)
{
	if (!is_target())
		return 0;
	return read_enter(MIO_SYS_READV, fd, -1, iov_total((const struct iovec *)vec, vlen), vlen, 0);
}

static __always_inline int h_preadv(__u64 fd, __u64 vec, __u64 vlen, __u64 pos_l, __u64 pos_h)
{
	if (!is_target())
		return 0;
	/* x86-64 passes the 64-bit offset whole in pos_l. */
	return read_enter(MIO_SYS_PREADV, fd, (__s64)pos_l, iov_total((const struct iovec *)vec, vlen), vlen, 0);
}

static __always_inline int h_preadv2(__u64 fd, __u64 vec, __u64 vlen, __u64 pos_l, __u64 pos_h)
{
	if (!is_target())
		return 0;
	/* The sixth argument (flags) is not available to every variant: recorded as 0. */
	return read_enter(MIO_SYS_PREADV2, fd, (__s64)pos_l, iov_total((const struct iovec *)vec, vlen), vlen, 0);
}

/* Entry and exit programs of a syscall in each probe mode: syscall tracepoints, kprobes on the
 * syscall (libbpf resolves the arch prefix), and fentry/fexit on the x86-64 wrapper. */
#define SYSCALL_ENTER(sys, handler)                                                                      \
	SEC("?tracepoint/syscalls/sys_enter_" #sys)                                                      \
	int tp_##sys##_enter(struct trace_event_raw_sys_enter *ctx)                                      \
	{                                                                                                \
		return handler(ctx->args[0], ctx->args[1], ctx->args[2], ctx->args[3], ctx->args[4]);    \
	}                                                                                                \
	SEC("?ksyscall/" #sys)                                                                           \
	int BPF_KSYSCALL(kp_##sys##_enter, __u64 a0, __u64 a1, __u64 a2, __u64 a3, __u64 a4)             \
	{                                                                                                \
		return handler(a0, a1, a2, a3, a4);                                                      \
	}                                                                                                \
	SEC("?fentry/__x64_sys_" #sys)                                                                   \
	int BPF_PROG(fe_##sys##_enter, struct pt_regs *regs)                                             \
	{                                                                                                \
		return handler(PT_REGS_PARM1_CORE_SYSCALL(regs), PT_REGS_PARM2_CORE_SYSCALL(regs),       \
			       PT_REGS_PARM3_CORE_SYSCALL(regs), PT_REGS_PARM4_CORE_SYSCALL(regs),       \
			       PT_REGS_PARM5_CORE_SYSCALL(regs));                                        \
	}

#define SYSCALL_EXIT(sys, handler)                                                                       \
	SEC("?tracepoint/syscalls/sys_exit_" #sys)                                                       \
	int tp_##sys##_exit(struct trace_event_raw_sys_exit *ctx)                                        \
	{                                                                                                \
		return handler(ctx->ret);                                                                \
	}                                                                                                \
	SEC("?kretsyscall/" #sys)                                                                        \
	int BPF_KRETPROBE(kp_##sys##_exit, long ret)                                                     \
	{                                                                                                \
		return handler(ret);                                                                     \
	}                                                                                                \
	SEC("?fexit/__x64_sys_" #sys)                                                                    \
	int BPF_PROG(fe_##sys##_exit, struct pt_regs *regs, long ret)                                    \
	{                                                                                                \
		return handler(ret);                                                                     \
	}

SYSCALL_ENTER(read, h_read)
SYSCALL_EXIT(read, read_exit)
SYSCALL_ENTER(pread64, h_pread64)
SYSCALL_EXIT(pread64, read_exit)
SYSCALL_ENTER(readv, h_readv)
SYSCALL_EXIT(readv, read_exit)
SYSCALL_ENTER(preadv, h_preadv)
SYSCALL_EXIT(preadv, read_exit)
SYSCALL_ENTER(preadv2, h_preadv2)
SYSCALL_EXIT(preadv2, read_exit)

/* ------------------------------------------------------------------------------------------ */
/* vfs_read (kernel functions only: no tracepoint exists)                                       */

static __always_inline int vfs_enter(struct file *f, __u64 count, loff_t *ppos)
{
	if (!is_target())
		return 0;
	struct mio_file mf;
	if (!fill_file(&mf, f))
		return 0;
	loff_t pos = -1;
	if (ppos)
		bpf_probe_read_kernel(&pos, sizeof(pos), ppos);
	struct mio_vfs_read_enter *e = RESERVE(mio_vfs_read_enter, MIO_VFS_READ_ENTER);
	if (!e)
		return 0;
	e->file = mf;
	e->pos = pos;
	e->count = count;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

static __always_inline int vfs_exit(struct file *f, long ret)
{
	if (!is_target())
		return 0;
	struct mio_file mf;
	if (!fill_file(&mf, f))
		return 0;
	struct mio_vfs_read_exit *e = RESERVE(mio_vfs_read_exit, MIO_VFS_READ_EXIT);
	if (!e)
		return 0;
	e->ret = ret;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("?kprobe/vfs_read")
int BPF_KPROBE(kp_vfs_read_enter, struct file *f, char *buf, size_t count, loff_t *pos)
{
	return vfs_enter(f, count, pos);
}

/* A kretprobe has no arguments: the kprobe variant records exits for every target task. */
SEC("?kretprobe/vfs_read")
int BPF_KRETPROBE(kp_vfs_read_exit, long ret)
{
	if (!is_target())
		return 0;
	struct mio_vfs_read_exit *e = RESERVE(mio_vfs_read_exit, MIO_VFS_READ_EXIT);
	if (!e)
		return 0;
	e->ret = ret;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("?fentry/vfs_read")
int BPF_PROG(fe_vfs_read_enter, struct file *f, char *buf, size_t count, loff_t *pos)
{
	return vfs_enter(f, count, pos);
}

SEC("?fexit/vfs_read")
int BPF_PROG(fe_vfs_read_exit, struct file *f, char *buf, size_t count, loff_t *pos, long ret)
{
	return vfs_exit(f, ret);
}

/* ------------------------------------------------------------------------------------------ */
/* Linux AIO: io_submit, io_getevents, io_pgetevents                                            */

static __always_inline int h_io_submit(__u64 ctx, __u64 nr, __u64 iocbpp, __u64 a3, __u64 a4)
{
	if (!is_target())
		return 0;
	set_pending(P_AIO_SUBMIT, 0, ctx, nr);
	for (int i = 0; i < MIO_MAX_IOCBS; i++) {
		if (i >= (long)nr)
			break;
		__u64 uptr = 0;
		if (bpf_probe_read_user(&uptr, sizeof(uptr), (void *)(iocbpp + i * sizeof(__u64))))
			break;
		struct iocb cb = {};
		if (bpf_probe_read_user(&cb, sizeof(cb), (void *)uptr))
			break;
		/* Reads only (IOCB_CMD_PREAD 0, IOCB_CMD_PREADV 7): InnoDB's AIO writes are not ours. */
		if (cb.aio_lio_opcode != 0 && cb.aio_lio_opcode != 7)
			continue;
		struct mio_file mf;
		if (!fill_file(&mf, fd_file(cb.aio_fildes)))
			continue;
		struct mio_aio_submit *e = RESERVE(mio_aio_submit, MIO_AIO_SUBMIT);
		if (!e)
			continue;
		e->file = mf;
		e->ctx = ctx;
		e->iocb = uptr;
		e->data = cb.aio_data;
		e->offset = cb.aio_offset;
		e->nbytes = cb.aio_lio_opcode == 7 ? iov_total((const struct iovec *)cb.aio_buf, cb.aio_nbytes)
						   : cb.aio_nbytes;
		e->fd = cb.aio_fildes;
		e->opcode = cb.aio_lio_opcode;
		e->pad = 0;
		bpf_ringbuf_submit(e, 0);
		note_inode(mf.dev, mf.ino);
		__u8 one = 1;
		bpf_map_update_elem(&inflight, &uptr, &one, BPF_ANY);
	}
	return 0;
}

static __always_inline int io_submit_exit(long ret)
{
	struct pending p;
	if (!take_pending(P_AIO_SUBMIT, &p))
		return 0;
	struct mio_aio_submit_exit *e = RESERVE(mio_aio_submit_exit, MIO_AIO_SUBMIT_EXIT);
	if (!e)
		return 0;
	e->ctx = p.a;
	e->nr = p.b;
	e->ret = ret;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

static __always_inline int h_io_getevents(__u64 ctx, __u64 min_nr, __u64 nr, __u64 events, __u64 timeout)
{
	if (!is_target())
		return 0;
	set_pending(P_AIO_GETEVENTS, 0, ctx, events);
	return 0;
}

static __always_inline int io_getevents_exit(long ret)
{
	struct pending p;
	if (!take_pending(P_AIO_GETEVENTS, &p))
		return 0;
	for (int i = 0; i < MIO_MAX_IOCBS; i++) {
		if (i >= ret)
			break;
		struct io_event ev = {};
		if (bpf_probe_read_user(&ev, sizeof(ev), (void *)(p.b + i * sizeof(struct io_event))))
			break;
		if (!bpf_map_lookup_elem(&inflight, &ev.obj))
			continue;
		bpf_map_delete_elem(&inflight, &ev.obj);
		struct mio_aio_complete *e = RESERVE(mio_aio_complete, MIO_AIO_COMPLETE);
		if (!e)
			continue;
		e->ctx = p.a;
		e->iocb = ev.obj;
		e->data = ev.data;
		e->res = ev.res;
		e->res2 = ev.res2;
		bpf_ringbuf_submit(e, 0);
	}
	return 0;
}

SYSCALL_ENTER(io_submit, h_io_submit)
SYSCALL_EXIT(io_submit, io_submit_exit)
SYSCALL_ENTER(io_getevents, h_io_getevents)
SYSCALL_EXIT(io_getevents, io_getevents_exit)
SYSCALL_ENTER(io_pgetevents, h_io_getevents)
SYSCALL_EXIT(io_pgetevents, io_getevents_exit)

/* ------------------------------------------------------------------------------------------ */
/* io_uring (tracepoints; the request's file and position are read from the io_kiocb)          */

static __always_inline bool uring_is_read(__u8 op)
{
	return op == IORING_OP_READV || op == IORING_OP_READ_FIXED || op == IORING_OP_READ;
}

/* A request being submitted: its ring, the io_kiocb (prepared: fd, position, length are set),
 * the user data and the opcode, as the submission tracepoint reports them. */
static __always_inline int uring_submit(void *ring, struct io_kiocb *req, __u64 user_data, __u8 op)
{
	if (!is_target())
		return 0;
	if (!uring_is_read(op))
		return 0;
	struct io_rw *rw = (struct io_rw *)&req->cmd;
	struct mio_file mf = {};
	int fd = BPF_CORE_READ(req, cqe.fd);
	__u64 flags = 0; /* 32 bits on 6.1, 64 on 6.18 */
	bpf_core_read(&flags, bpf_core_field_size(req->flags), &req->flags);
	/* A fixed file's fd indexes the ring's file table, not the task's: left unresolved. */
	bool resolved = !(flags & REQ_F_FIXED_FILE) && fill_file(&mf, fd_file(fd));
	struct mio_uring_submit *e = RESERVE(mio_uring_submit, MIO_URING_SUBMIT);
	if (!e)
		return 0;
	e->file = mf;
	e->ring = (__u64)ring;
	e->req = (__u64)req;
	e->user_data = user_data;
	e->offset = BPF_CORE_READ(rw, kiocb.ki_pos);
	e->fd = fd;
	/* READV's length counts iovecs (in the submitter's memory): report bytes, as for readv(2). */
	__u32 len = BPF_CORE_READ(rw, len);
	e->len = op == IORING_OP_READV ? iov_total((const struct iovec *)BPF_CORE_READ(rw, addr), len) : len;
	e->rw_flags = BPF_CORE_READ(rw, flags);
	e->opcode = op;
	__builtin_memset(e->pad, 0, sizeof(e->pad));
	bpf_ringbuf_submit(e, 0);
	if (resolved)
		note_inode(mf.dev, mf.ino);
	__u64 key = (__u64)req;
	__u8 one = 1;
	bpf_map_update_elem(&inflight, &key, &one, BPF_ANY);
	return 0;
}

SEC("?tracepoint/io_uring/io_uring_submit_req")
int tp_uring_submit(struct trace_event_raw_io_uring_submit_req *ctx)
{
	return uring_submit(ctx->ctx, ctx->req, ctx->user_data, ctx->opcode);
}

/* The same tracepoint in older kernels (Debian 12's 6.1), at the same place in io_submit_sqe,
 * under its old name; its record differs (32-bit flags, force_nonblock), hence the relocatable
 * layout. */
struct trace_event_raw_io_uring_submit_sqe {
	struct trace_entry ent;
	void *ctx;
	void *req;
	unsigned long long user_data;
	u8 opcode;
} __attribute__((preserve_access_index));

SEC("?tracepoint/io_uring/io_uring_submit_sqe")
int tp_uring_submit_sqe(struct trace_event_raw_io_uring_submit_sqe *ctx)
{
	return uring_submit(ctx->ctx, ctx->req, ctx->user_data, ctx->opcode);
}

SEC("?tracepoint/io_uring/io_uring_complete")
int tp_uring_complete(struct trace_event_raw_io_uring_complete *ctx)
{
	__u64 key = (__u64)ctx->req;
	if (!bpf_map_lookup_elem(&inflight, &key))
		return 0;
	bpf_map_delete_elem(&inflight, &key);
	struct mio_uring_complete *e = RESERVE(mio_uring_complete, MIO_URING_COMPLETE);
	if (!e)
		return 0;
	e->ring = (__u64)ctx->ctx;
	e->req = key;
	e->user_data = ctx->user_data;
	e->res = ctx->res;
	e->cflags = ctx->cflags;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Readahead                                                                                     */

static __always_inline int ra_trigger(__u8 trigger, __u32 dev, __u64 ino, __u64 index, __u64 req_count,
				      __u64 start, __u32 size, __u32 async_size, __u32 ra_pages, __u32 order,
				      __u32 mmap_miss, __s64 prev_pos)
{
	struct mio_ra_trigger *e = RESERVE(mio_ra_trigger, MIO_RA_TRIGGER);
	if (!e)
		return 0;
	e->ino = ino;
	e->index = index;
	e->req_count = req_count;
	e->start = start;
	e->prev_pos = prev_pos;
	e->dev = dev;
	e->size = size;
	e->async_size = async_size;
	e->ra_pages = ra_pages;
	e->order = order;
	e->mmap_miss = mmap_miss;
	e->trigger = trigger;
	__builtin_memset(e->pad, 0, sizeof(e->pad));
	bpf_ringbuf_submit(e, 0);
	note_inode(dev, ino);
	return 0;
}

static __always_inline int ra_window(__u8 decision, __u32 dev, __u64 ino, __u64 index, __u64 size,
				     __u64 async_size, __u32 order, __u32 ra_pages)
{
	struct mio_ra_window *e = RESERVE(mio_ra_window, MIO_RA_WINDOW);
	if (!e)
		return 0;
	e->ino = ino;
	e->index = index;
	e->size = size;
	e->async_size = async_size;
	e->dev = dev;
	e->order = order;
	e->ra_pages = ra_pages;
	e->decision = decision;
	__builtin_memset(e->pad, 0, sizeof(e->pad));
	bpf_ringbuf_submit(e, 0);
	return 0;
}

/* Tracepoints (6.18+): the kernel reports the state before the decision and the decided window. */
static __always_inline int tp_ra_op(struct trace_event_raw_page_cache_ra_op *ctx, __u8 trigger)
{
	if (!is_target())
		return 0;
	return ra_trigger(trigger, ctx->s_dev, ctx->i_ino, ctx->index, ctx->req_count, 0, ctx->size,
			  ctx->async_size, ctx->ra_pages, ctx->order, ctx->mmap_miss, ctx->prev_pos);
}

SEC("?tracepoint/readahead/page_cache_sync_ra")
int tp_ra_sync(struct trace_event_raw_page_cache_ra_op *ctx)
{
	return tp_ra_op(ctx, MIO_RA_SYNC);
}

SEC("?tracepoint/readahead/page_cache_async_ra")
int tp_ra_async(struct trace_event_raw_page_cache_ra_op *ctx)
{
	return tp_ra_op(ctx, MIO_RA_ASYNC);
}

SEC("?tracepoint/readahead/page_cache_ra_order")
int tp_ra_order(struct trace_event_raw_page_cache_ra_order *ctx)
{
	if (!is_target())
		return 0;
	return ra_window(MIO_RA_ORDER, ctx->s_dev, ctx->i_ino, ctx->index, ctx->size, ctx->async_size, ctx->order,
			 ctx->ra_pages);
}

SEC("?tracepoint/readahead/page_cache_ra_unbounded")
int tp_ra_unbounded(struct trace_event_raw_page_cache_ra_unbounded *ctx)
{
	if (!is_target())
		return 0;
	return ra_window(MIO_RA_UNBOUNDED, ctx->s_dev, ctx->i_ino, ctx->index, ctx->nr_to_read, ctx->lookahead_size,
			 0, 0);
}

/* Kernel functions (before 6.18): the same facts read from struct readahead_control and
 * struct file_ra_state at function entry, before the function changes them. */
struct file_ra_state___old {
	unsigned int mmap_miss; /* an unsigned int until 6.17 turned it into a short */
} __attribute__((preserve_access_index));

static __always_inline void ra_state(struct file_ra_state *ra, __u64 *start, __u32 *size, __u32 *async_size,
				     __u32 *ra_pages, __u32 *order, __u32 *mmap_miss, __s64 *prev_pos)
{
	*start = BPF_CORE_READ(ra, start);
	*size = BPF_CORE_READ(ra, size);
	*async_size = BPF_CORE_READ(ra, async_size);
	*ra_pages = BPF_CORE_READ(ra, ra_pages);
	*order = 0;
	if (bpf_core_field_exists(ra->order))
		*order = BPF_CORE_READ(ra, order);
	if (bpf_core_field_size(ra->mmap_miss) == 2)
		*mmap_miss = BPF_CORE_READ(ra, mmap_miss);
	else
		*mmap_miss = BPF_CORE_READ((struct file_ra_state___old *)ra, mmap_miss);
	*prev_pos = BPF_CORE_READ(ra, prev_pos);
}

/* The file's inode from a readahead_control. */
static __always_inline void ractl_inode(struct readahead_control *ractl, __u32 *dev, __u64 *ino)
{
	struct inode *host = BPF_CORE_READ(ractl, mapping, host);
	*dev = BPF_CORE_READ(host, i_sb, s_dev);
	*ino = BPF_CORE_READ(host, i_ino);
}

static __always_inline struct file_ra_state *ractl_ra(struct readahead_control *ractl)
{
	return BPF_CORE_READ(ractl, ra);
}

static __always_inline int fn_ra_trigger(struct readahead_control *ractl, __u64 index, __u64 req_count,
					 __u8 trigger)
{
	if (!is_target())
		return 0;
	__u32 dev, size, async_size, ra_pages, order, mmap_miss;
	__u64 ino, start;
	__s64 prev_pos;
	ractl_inode(ractl, &dev, &ino);
	ra_state(ractl_ra(ractl), &start, &size, &async_size, &ra_pages, &order, &mmap_miss, &prev_pos);
	return ra_trigger(trigger, dev, ino, index, req_count, start, size, async_size, ra_pages, order, mmap_miss,
			  prev_pos);
}

static __always_inline int fn_ra_order(struct readahead_control *ractl, struct file_ra_state *ra,
				       unsigned int new_order)
{
	if (!is_target())
		return 0;
	__u32 dev;
	__u64 ino;
	ractl_inode(ractl, &dev, &ino);
	return ra_window(MIO_RA_ORDER, dev, ino, BPF_CORE_READ(ra, start), BPF_CORE_READ(ra, size),
			 BPF_CORE_READ(ra, async_size), new_order, BPF_CORE_READ(ra, ra_pages));
}

static __always_inline int fn_ra_unbounded(struct readahead_control *ractl, __u64 nr, __u64 lookahead)
{
	if (!is_target())
		return 0;
	__u32 dev;
	__u64 ino;
	ractl_inode(ractl, &dev, &ino);
	return ra_window(MIO_RA_UNBOUNDED, dev, ino, BPF_CORE_READ(ractl, _index), nr, lookahead, 0, 0);
}

SEC("?kprobe/page_cache_sync_ra")
int BPF_KPROBE(kp_ra_sync, struct readahead_control *ractl, unsigned long req_count)
{
	return fn_ra_trigger(ractl, BPF_CORE_READ(ractl, _index), req_count, MIO_RA_SYNC);
}

SEC("?kprobe/page_cache_async_ra")
int BPF_KPROBE(kp_ra_async, struct readahead_control *ractl, struct folio *folio, unsigned long req_count)
{
	return fn_ra_trigger(ractl, BPF_CORE_READ(folio, index), req_count, MIO_RA_ASYNC);
}

SEC("?kprobe/page_cache_ra_order")
int BPF_KPROBE(kp_ra_order, struct readahead_control *ractl, struct file_ra_state *ra, unsigned int new_order)
{
	return fn_ra_order(ractl, ra, new_order);
}

SEC("?kprobe/page_cache_ra_unbounded")
int BPF_KPROBE(kp_ra_unbounded, struct readahead_control *ractl, unsigned long nr, unsigned long lookahead)
{
	return fn_ra_unbounded(ractl, nr, lookahead);
}

SEC("?fentry/page_cache_sync_ra")
int BPF_PROG(fe_ra_sync, struct readahead_control *ractl, unsigned long req_count)
{
	return fn_ra_trigger(ractl, BPF_CORE_READ(ractl, _index), req_count, MIO_RA_SYNC);
}

SEC("?fentry/page_cache_async_ra")
int BPF_PROG(fe_ra_async, struct readahead_control *ractl, struct folio *folio, unsigned long req_count)
{
	return fn_ra_trigger(ractl, BPF_CORE_READ(folio, index), req_count, MIO_RA_ASYNC);
}

SEC("?fentry/page_cache_ra_order")
int BPF_PROG(fe_ra_order, struct readahead_control *ractl, struct file_ra_state *ra, unsigned int new_order)
{
	return fn_ra_order(ractl, ra, new_order);
}

SEC("?fentry/page_cache_ra_unbounded")
int BPF_PROG(fe_ra_unbounded, struct readahead_control *ractl, unsigned long nr, unsigned long lookahead)
{
	return fn_ra_unbounded(ractl, nr, lookahead);
}

/* ------------------------------------------------------------------------------------------ */
/* Page cache: inserts, deletes, page-range lookups, direct reads                               */

static __always_inline int page_cache(__u8 kind, __u32 dev, __u64 ino, __u64 index, __u32 order)
{
	if (!inode_known(dev, ino))
		return 0;
	struct mio_page_cache *e = RESERVE(mio_page_cache, kind);
	if (!e)
		return 0;
	e->ino = ino;
	e->index = index;
	e->dev = dev;
	e->order = order;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

static __always_inline __u32 tp_folio_order(struct trace_event_raw_mm_filemap_op_page_cache *ctx)
{
	/* The order field arrived with large folios; before, every entry was one page. */
	if (bpf_core_field_exists(ctx->order))
		return ctx->order;
	return 0;
}

SEC("?tracepoint/filemap/mm_filemap_add_to_page_cache")
int tp_page_add(struct trace_event_raw_mm_filemap_op_page_cache *ctx)
{
	return page_cache(MIO_PAGE_CACHE_ADD, ctx->s_dev, ctx->i_ino, ctx->index, tp_folio_order(ctx));
}

SEC("?tracepoint/filemap/mm_filemap_delete_from_page_cache")
int tp_page_delete(struct trace_event_raw_mm_filemap_op_page_cache *ctx)
{
	return page_cache(MIO_PAGE_CACHE_DELETE, ctx->s_dev, ctx->i_ino, ctx->index, tp_folio_order(ctx));
}

static __always_inline int get_pages(__u32 dev, __u64 ino, __u64 index, __u64 last_index)
{
	if (!is_target())
		return 0;
	struct mio_get_pages *e = RESERVE(mio_get_pages, MIO_FILEMAP_GET_PAGES);
	if (!e)
		return 0;
	e->ino = ino;
	e->index = index;
	e->last_index = last_index;
	e->dev = dev;
	e->pad = 0;
	bpf_ringbuf_submit(e, 0);
	note_inode(dev, ino);
	return 0;
}

SEC("?tracepoint/filemap/mm_filemap_get_pages")
int tp_get_pages(struct trace_event_raw_mm_filemap_op_page_cache_range *ctx)
{
	return get_pages(ctx->s_dev, ctx->i_ino, ctx->index, ctx->last_index);
}

/* filemap_get_pages(iocb, count, ...): the range the tracepoint reports, computed the same way. */
static __always_inline int fn_get_pages(struct kiocb *iocb, __u64 count)
{
	if (!is_target() || count == 0)
		return 0;
	struct inode *inode = BPF_CORE_READ(iocb, ki_filp, f_inode);
	__u64 pos = BPF_CORE_READ(iocb, ki_pos);
	return get_pages(BPF_CORE_READ(inode, i_sb, s_dev), BPF_CORE_READ(inode, i_ino), pos >> PAGE_SHIFT,
			 (pos + count - 1) >> PAGE_SHIFT);
}

/* The second argument is the read's size since 6.5; before (6.1), it is the struct iov_iter
 * that holds it. A kprobe can tell them apart by value: a size is below 2^31 (MAX_RW_COUNT), a
 * kernel address on x86-64 has its top bit set. (fentry cannot: the verifier types the argument
 * from BTF, so fe_get_pages does not load on the older kernels and the kprobe is used.) */
SEC("?kprobe/filemap_get_pages")
int BPF_KPROBE(kp_get_pages, struct kiocb *iocb, unsigned long count_or_iter)
{
	__u64 count = count_or_iter;
	if ((long)count_or_iter < 0)
		count = BPF_CORE_READ((struct iov_iter *)count_or_iter, count);
	return fn_get_pages(iocb, count);
}

SEC("?fentry/filemap_get_pages")
int BPF_PROG(fe_get_pages, struct kiocb *iocb, size_t count)
{
	return fn_get_pages(iocb, count);
}

struct iov_iter___old {
	unsigned int type; /* direction in bit 0 (WRITE) before data_source existed */
} __attribute__((preserve_access_index));

static __always_inline bool iter_is_read(struct iov_iter *iter)
{
	if (bpf_core_field_exists(iter->data_source))
		return !BPF_CORE_READ(iter, data_source);
	return !(BPF_CORE_READ((struct iov_iter___old *)iter, type) & 1);
}

static __always_inline int dio_read(struct kiocb *iocb, struct iov_iter *iter, __u32 dio_flags)
{
	if (!is_target() || !iter_is_read(iter))
		return 0;
	struct inode *inode = BPF_CORE_READ(iocb, ki_filp, f_inode);
	struct mio_dio_read *e = RESERVE(mio_dio_read, MIO_DIO_READ);
	if (!e)
		return 0;
	e->ino = BPF_CORE_READ(inode, i_ino);
	e->dev = BPF_CORE_READ(inode, i_sb, s_dev);
	e->pos = BPF_CORE_READ(iocb, ki_pos);
	e->count = BPF_CORE_READ(iter, count);
	e->flags = dio_flags;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("?raw_tp/iomap_dio_rw_begin")
int BPF_PROG(rt_dio_read, struct kiocb *iocb, struct iov_iter *iter, unsigned int dio_flags)
{
	return dio_read(iocb, iter, dio_flags);
}

SEC("?kprobe/__iomap_dio_rw")
int BPF_KPROBE(kp_dio_read, struct kiocb *iocb, struct iov_iter *iter, const void *ops, const void *dops,
	       unsigned int dio_flags)
{
	return dio_read(iocb, iter, dio_flags);
}

SEC("?fentry/__iomap_dio_rw")
int BPF_PROG(fe_dio_read, struct kiocb *iocb, struct iov_iter *iter, const void *ops, const void *dops,
	     unsigned int dio_flags)
{
	return dio_read(iocb, iter, dio_flags);
}

/* ------------------------------------------------------------------------------------------ */
/* fadvise, open, close                                                                          */

static __always_inline int h_fadvise(__u64 fd, __u64 offset, __u64 len, __u64 advice, __u64 a4)
{
	if (!is_target())
		return 0;
	struct mio_file mf;
	if (!fill_file(&mf, fd_file(fd)))
		return 0;
	struct mio_fadvise *e = RESERVE(mio_fadvise, MIO_FADVISE);
	if (!e)
		return 0;
	e->file = mf;
	e->offset = offset;
	e->len = len;
	e->fd = fd;
	e->advice = advice;
	__builtin_memset(e->pad, 0, sizeof(e->pad));
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SYSCALL_ENTER(fadvise64, h_fadvise)

static __always_inline int h_openat(__u64 dirfd, __u64 filename, __u64 flags, __u64 mode, __u64 a4)
{
	if (!is_target())
		return 0;
	set_pending(P_OPEN, 0, filename, 0);
	return 0;
}

static __always_inline int openat_exit(long ret)
{
	struct pending p;
	if (!take_pending(P_OPEN, &p) || ret < 0)
		return 0;
	struct mio_file mf;
	if (!fill_file(&mf, fd_file(ret)))
		return 0;
	struct mio_file_open *e = RESERVE(mio_file_open, MIO_FILE_OPEN);
	if (!e)
		return 0;
	e->file = mf;
	e->fd = ret;
	long n = bpf_probe_read_user_str(e->path, sizeof(e->path), (void *)p.a);
	e->path_len = n > 0 ? n - 1 : 0;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SYSCALL_ENTER(openat, h_openat)
SYSCALL_EXIT(openat, openat_exit)
SYSCALL_ENTER(openat2, h_openat)
SYSCALL_EXIT(openat2, openat_exit)

static __always_inline int h_close(__u64 fd, __u64 a1, __u64 a2, __u64 a3, __u64 a4)
{
	if (!is_target())
		return 0;
	struct mio_file mf;
	if (!fill_file(&mf, fd_file(fd)))
		return 0;
	struct mio_file_close *e = RESERVE(mio_file_close, MIO_FILE_CLOSE);
	if (!e)
		return 0;
	e->ofd = mf.ofd;
	e->fd = fd;
	e->pad = 0;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SYSCALL_ENTER(close, h_close)

/* ------------------------------------------------------------------------------------------ */
/* Tasks: fork, exec, exit, rename; following targets in the kernel                            */

static __always_inline void add_target(__u32 tgid)
{
	__u8 one = 1;
	bpf_map_update_elem(&targets, &tgid, &one, BPF_ANY);
}

SEC("?raw_tp/sched_process_fork")
int BPF_PROG(rt_task_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = BPF_CORE_READ(parent, tgid);
	__u32 ctgid = BPF_CORE_READ(child, tgid);
	bool follow = is_target_tgid(ptgid);
	if (!follow && cfg.follow_children && ptgid == cfg.self_tgid && ctgid != ptgid) {
		follow = true; /* `record -- CMD`: the command the recorder starts */
	}
	if (!follow)
		return 0;
	if (ctgid != ptgid)
		add_target(ctgid);
	struct mio_task_fork *e = RESERVE(mio_task_fork, MIO_TASK_FORK);
	if (!e)
		return 0;
	e->child_pid = ctgid;
	e->child_tid = BPF_CORE_READ(child, pid);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

static __always_inline bool comm_is(const char *comm, const volatile char *want)
{
	for (int i = 0; i < MIO_COMM_LEN; i++) {
		if (comm[i] != want[i])
			return false;
		if (comm[i] == 0)
			return true;
	}
	return true;
}

SEC("?raw_tp/sched_process_exec")
int BPF_PROG(rt_task_exec, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm)
{
	__u32 tgid = BPF_CORE_READ(task, tgid);
	if (!is_target_tgid(tgid)) {
		if (!cfg.follow_comms || tgid == cfg.self_tgid)
			return 0;
		char comm[MIO_COMM_LEN] = {};
		BPF_CORE_READ_STR_INTO(&comm, task, comm);
		bool match = false;
		for (int i = 0; i < MIO_TARGET_COMMS; i++) {
			if (cfg.comms[i][0] && comm_is(comm, cfg.comms[i]))
				match = true;
		}
		if (!match)
			return 0;
		add_target(tgid);
	}
	struct mio_task_exec *e = RESERVE(mio_task_exec, MIO_TASK_EXEC);
	if (!e)
		return 0;
	const char *filename = BPF_CORE_READ(bprm, filename);
	long n = bpf_probe_read_kernel_str(e->filename, sizeof(e->filename), filename);
	e->len = n > 0 ? n - 1 : 0;
	e->pad = 0;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("?raw_tp/sched_process_exit")
int BPF_PROG(rt_task_exit, struct task_struct *task)
{
	if (!is_target())
		return 0;
	struct mio_task_exit *e = RESERVE(mio_task_exit, MIO_TASK_EXIT);
	if (!e)
		return 0;
	e->exit_code = BPF_CORE_READ(task, exit_code);
	e->pad = 0;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("?raw_tp/task_rename")
int BPF_PROG(rt_task_rename, struct task_struct *task, const char *comm)
{
	__u32 tgid = BPF_CORE_READ(task, tgid);
	if (!is_target_tgid(tgid))
		return 0;
	struct mio_task_rename *e = RESERVE(mio_task_rename, MIO_TASK_RENAME);
	if (!e)
		return 0;
	/* The renamed task, which need not be the one doing the renaming. */
	e->h.pid = tgid;
	e->h.tid = BPF_CORE_READ(task, pid);
	__builtin_memset(e->comm, 0, sizeof(e->comm));
	bpf_probe_read_kernel_str(e->comm, sizeof(e->comm), comm);
	bpf_ringbuf_submit(e, 0);
	return 0;
}
