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

/* The fast target check, which every program makes first, for every task of the host: slot
 * tgid % MIO_TARGET_SLOTS holds 0 when no target maps there, else the first target that did.
 * An array lookup is a few instructions where a hash lookup is a function call; a slot holding
 * another target's tgid sends the check to `targets`. Slots are only ever set, never cleared, so
 * a target's slot is never 0. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MIO_TARGET_SLOTS);
	__type(key, __u32);
	__type(value, __u32);
} target_slots SEC(".maps");

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

/* What a thread is in the middle of, between a syscall's entry and exit: one slot per traced
 * thread, made at its first syscall of interest and kept (updated in place, never deleted per
 * syscall) until the thread exits, so a read costs a lookup and no map update. */
enum pending_what { P_IDLE = 0, P_READ, P_OPEN, P_AIO_SUBMIT, P_AIO_GETEVENTS };
struct pending {
	__u32 what;
	__u32 sys; /* read syscall code */
	__u64 a;   /* openat: filename; aio: ctx */
	__u64 b;   /* io_submit: nr; io_getevents: events array */
	/* A read syscall (what == P_READ): what its record will say. */
	__u64 ts;
	struct mio_file file;
	__s64 pos;
	__u64 count;
	__s32 fd;
	__u32 iovcnt;
	__u32 rw_flags;
	__u32 lookups;
	__u64 first_page;
	__u64 last_page;
	__u64 mapping; /* the file's address_space, to know its lookups by */
	/* The struct file and inode `file` and `mapping` were resolved from: a read of the same
	 * file (the common case, a thread reading one tablespace) skips resolving them again. */
	__u64 cache_file;
	__u64 cache_inode;
};
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
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
	__u32 k = tgid & (MIO_TARGET_SLOTS - 1);
	__u32 *slot = bpf_map_lookup_elem(&target_slots, &k);
	if (!slot || *slot == 0)
		return false;
	if (*slot == tgid)
		return true;
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

/* Commits a record without waking the consumer, which drains the ring on a short timer; only the
 * record that takes the ring past cfg.wake_bytes wakes it, so a burst cannot fill the ring
 * between two drains. (A wakeup per record, libbpf's default when the consumer keeps up, costs
 * an interrupt each, and on a VM an exit to the hypervisor.) */
static __always_inline void submit(void *e, __u64 size)
{
	__u64 avail = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
	__u64 flags = BPF_RB_NO_WAKEUP;
	/* The ring holds this record (and its 8-byte header) already. */
	if (avail >= cfg.wake_bytes && avail < (__u64)cfg.wake_bytes + size + 8)
		flags = BPF_RB_FORCE_WAKEUP;
	bpf_ringbuf_submit(e, flags);
}

#define SUBMIT(e) submit((e), sizeof(*(e)))

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

/* The same for a program that can walk kernel pointers directly (tp_btf, Linux 6.2+ for the
 * cast): one helper call instead of five. */
static __always_inline struct file *fd_file_btf(long fd)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct fdtable *fdt = task->files->fdt;
	if (fd < 0 || fd >= fdt->max_fds)
		return NULL;
	struct file **fds = fdt->fd;
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

/* The current thread's slot, made on first use; NULL when the map is full (counted as a drop of
 * `kind`). */
static __always_inline struct pending *slot(__u32 kind)
{
	__u32 tid = cur_tid();
	struct pending *p = bpf_map_lookup_elem(&pending, &tid);
	if (p)
		return p;
	struct pending fresh = {};
	bpf_map_update_elem(&pending, &tid, &fresh, BPF_NOEXIST);
	p = bpf_map_lookup_elem(&pending, &tid);
	if (!p)
		count_drop(kind);
	return p;
}

/* The current thread's slot if it is in the middle of `what`. */
static __always_inline struct pending *pending_of(__u32 what)
{
	__u32 tid = cur_tid();
	struct pending *p = bpf_map_lookup_elem(&pending, &tid);
	return p && p->what == what ? p : NULL;
}

static __always_inline void set_pending(__u32 what, __u32 kind, __u64 a, __u64 b)
{
	struct pending *p = slot(kind);
	if (!p)
		return;
	p->what = what;
	p->a = a;
	p->b = b;
}

/* Takes the thread's pending state if it is `what`. */
static __always_inline bool take_pending(__u32 what, struct pending *out)
{
	struct pending *p = pending_of(what);
	if (!p)
		return false;
	out->a = p->a;
	out->b = p->b;
	p->what = P_IDLE;
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

/* Resolves `f` into the slot's file (device, inode, description, flags) and mapping; false for
 * anything but a regular file. The thread's previous file is not resolved again: when it is the
 * same struct file on the same inode, only the flags are read (fcntl can change O_DIRECT). A
 * struct file freed and reused for another file has another inode; reused for the same inode,
 * it resolves to the same values. Its inode is noted for page-cache events when first resolved
 * (the inodes map is an LRU of 65536: an inode would need that many others noted after it,
 * while none of its own page-cache events refreshed it, to be dropped). */
static __always_inline bool resolve_file(bool fast, struct pending *p, struct file *f)
{
	if (!f)
		return false;
	struct inode *inode;
	if (fast) {
		struct file *fb = bpf_core_cast(f, struct file);
		inode = fb->f_inode;
		if (p->cache_file == (__u64)f && p->cache_inode == (__u64)inode) {
			p->file.flags = fb->f_flags;
			return true;
		}
	} else {
		inode = BPF_CORE_READ(f, f_inode);
		if (p->cache_file == (__u64)f && p->cache_inode == (__u64)inode) {
			p->file.flags = BPF_CORE_READ(f, f_flags);
			return true;
		}
	}
	p->cache_file = 0;
	umode_t mode = BPF_CORE_READ(inode, i_mode);
	if ((mode & S_IFMT) != S_IFREG)
		return false;
	p->file.ino = BPF_CORE_READ(inode, i_ino);
	p->file.dev = BPF_CORE_READ(inode, i_sb, s_dev);
	p->file.flags = BPF_CORE_READ(f, f_flags);
	p->file.ofd = (__u64)f;
	p->mapping = (__u64)BPF_CORE_READ(f, f_mapping);
	p->cache_file = (__u64)f;
	p->cache_inode = (__u64)inode;
	note_inode(p->file.dev, p->file.ino);
	return true;
}

/* A read syscall's entry: everything its record needs is kept in the thread's slot; the record is
 * written once, at the return. pos < 0 means "at the file position" (read, readv, preadv2 with
 * offset -1). */
static __always_inline int read_enter(bool fast, __u8 sys, long fd, __s64 pos, __u64 count, __u32 iovcnt, __u32 rw_flags)
{
	if (!is_target())
		return 0;
	struct pending *p = slot(MIO_READ);
	if (!p)
		return 0;
	struct file *f = fast ? fd_file_btf(fd) : fd_file(fd);
	if (!resolve_file(fast, p, f)) {
		p->what = P_IDLE; /* a socket or a pipe: not recorded */
		return 0;
	}
	p->what = P_READ;
	p->sys = sys;
	if (pos >= 0)
		p->pos = pos;
	else if (fast)
		p->pos = bpf_core_cast(f, struct file)->f_pos;
	else
		p->pos = BPF_CORE_READ(f, f_pos);
	p->count = count;
	p->fd = fd;
	p->iovcnt = iovcnt;
	p->rw_flags = rw_flags;
	p->lookups = 0;
	p->first_page = (__u64)p->pos >> PAGE_SHIFT;
	p->last_page = count ? ((__u64)p->pos + count - 1) >> PAGE_SHIFT : p->first_page;
	/* The clock last and, at the return, first: the latency holds as little of the probes'
	 * own time as they can leave out (docs/recorder.md#latency). */
	p->ts = bpf_ktime_get_ns();
	return 0;
}

/* A read syscall's return at time `now` (the return program's first act). */
static __always_inline int read_exit_at(__u64 now, __u8 sys, long ret)
{
	struct pending *p = pending_of(P_READ);
	if (!p)
		return 0;
	p->what = P_IDLE;
	if (p->sys != sys) /* an entry whose return was not seen */
		return 0;
	struct mio_read *e = RESERVE(mio_read, MIO_READ);
	if (!e)
		return 0;
	e->h.ts = now;
	e->file = p->file;
	e->pos = p->pos;
	e->count = p->count;
	e->ret = ret;
	e->latency_ns = now - p->ts;
	e->first_page = p->first_page;
	e->last_page = p->last_page;
	e->fd = p->fd;
	e->iovcnt = p->iovcnt;
	e->rw_flags = p->rw_flags;
	e->lookups = p->lookups;
	e->syscall = sys;
	__builtin_memset(e->pad, 0, sizeof(e->pad));
	SUBMIT(e);
	return 0;
}

static __always_inline int read_exit(__u8 sys, long ret)
{
	return read_exit_at(bpf_ktime_get_ns(), sys, ret);
}

/* True while the current thread is inside a recorded read syscall. */
static __always_inline bool in_read_syscall(void)
{
	return pending_of(P_READ) != NULL;
}

static __always_inline int h_read(bool fast, __u64 fd, __u64 buf, __u64 count, __u64 a3, __u64 a4)
{
	return read_enter(fast, MIO_SYS_READ, fd, -1, count, 1, 0);
}

static __always_inline int h_pread64(bool fast, __u64 fd, __u64 buf, __u64 count, __u64 pos, __u64 a4)
{
	return read_enter(fast, MIO_SYS_PREAD64, fd, (__s64)pos, count, 1, 0);
}

static __always_inline int h_readv(bool fast, __u64 fd, __u64 vec, __u64 vlen, __u64 a3, __u64 a4)
{
	if (!is_target())
		return 0;
	return read_enter(fast, MIO_SYS_READV, fd, -1, iov_total((const struct iovec *)vec, vlen), vlen, 0);
}

static __always_inline int h_preadv(bool fast, __u64 fd, __u64 vec, __u64 vlen, __u64 pos_l, __u64 pos_h)
{
	if (!is_target())
		return 0;
	/* x86-64 passes the 64-bit offset whole in pos_l. */
	return read_enter(fast, MIO_SYS_PREADV, fd, (__s64)pos_l, iov_total((const struct iovec *)vec, vlen), vlen, 0);
}

static __always_inline int h_preadv2(bool fast, __u64 fd, __u64 vec, __u64 vlen, __u64 pos_l, __u64 pos_h)
{
	if (!is_target())
		return 0;
	/* The sixth argument (flags) is not available to every variant: recorded as 0. */
	return read_enter(fast, MIO_SYS_PREADV2, fd, (__s64)pos_l, iov_total((const struct iovec *)vec, vlen), vlen, 0);
}

/* Entry and exit programs of a syscall in each probe mode: syscall tracepoints, kprobes on the
 * syscall (libbpf resolves the arch prefix), and fentry/fexit on the x86-64 wrapper. Returns have
 * no kretprobe variant: the kprobe mode takes them from the syscall tracepoints (see the catalog
 * in crates/recorder/src/plan.rs for why). */
#define SYSCALL_ENTER(sys, handler)                                                                      \
	SEC("?tracepoint/syscalls/sys_enter_" #sys)                                                      \
	int tp_##sys##_enter(struct trace_event_raw_sys_enter *ctx)                                      \
	{                                                                                                \
		return handler(false, ctx->args[0], ctx->args[1], ctx->args[2], ctx->args[3], ctx->args[4]); \
	}                                                                                                \
	SEC("?ksyscall/" #sys)                                                                           \
	int BPF_KSYSCALL(kp_##sys##_enter, __u64 a0, __u64 a1, __u64 a2, __u64 a3, __u64 a4)             \
	{                                                                                                \
		return handler(false, a0, a1, a2, a3, a4);                                               \
	}                                                                                                \
	SEC("?fentry/__x64_sys_" #sys)                                                                   \
	int BPF_PROG(fe_##sys##_enter, struct pt_regs *regs)                                             \
	{                                                                                                \
		return handler(false, PT_REGS_PARM1_CORE_SYSCALL(regs), PT_REGS_PARM2_CORE_SYSCALL(regs), \
			       PT_REGS_PARM3_CORE_SYSCALL(regs), PT_REGS_PARM4_CORE_SYSCALL(regs),       \
			       PT_REGS_PARM5_CORE_SYSCALL(regs));                                        \
	}

#define SYSCALL_EXIT(sys, handler)                                                                       \
	SEC("?tracepoint/syscalls/sys_exit_" #sys)                                                       \
	int tp_##sys##_exit(struct trace_event_raw_sys_exit *ctx)                                        \
	{                                                                                                \
		return handler(ctx->ret);                                                                \
	}                                                                                                \
	SEC("?fexit/__x64_sys_" #sys)                                                                    \
	int BPF_PROG(fe_##sys##_exit, struct pt_regs *regs, long ret)                                    \
	{                                                                                                \
		return handler(ret);                                                                     \
	}

static __always_inline int x_read(long ret)
{
	return read_exit(MIO_SYS_READ, ret);
}
static __always_inline int x_pread64(long ret)
{
	return read_exit(MIO_SYS_PREAD64, ret);
}
static __always_inline int x_readv(long ret)
{
	return read_exit(MIO_SYS_READV, ret);
}
static __always_inline int x_preadv(long ret)
{
	return read_exit(MIO_SYS_PREADV, ret);
}
static __always_inline int x_preadv2(long ret)
{
	return read_exit(MIO_SYS_PREADV2, ret);
}

SYSCALL_EXIT(read, x_read)
SYSCALL_ENTER(read, h_read)
SYSCALL_EXIT(pread64, x_pread64)
SYSCALL_ENTER(pread64, h_pread64)
SYSCALL_EXIT(readv, x_readv)
SYSCALL_ENTER(readv, h_readv)
SYSCALL_EXIT(preadv, x_preadv)
SYSCALL_ENTER(preadv, h_preadv)
SYSCALL_EXIT(preadv2, x_preadv2)
SYSCALL_ENTER(preadv2, h_preadv2)

/* ------------------------------------------------------------------------------------------ */
/* vfs_read (kernel functions only: no tracepoint exists)                                       */

/* vfs_read calls of a recorded read syscall are part of its `read` record: only the others (kernel
 * reads, splice, ...) get vfs_read records. */
static __always_inline int vfs_enter(struct file *f, __u64 count, loff_t *ppos)
{
	if (!is_target() || in_read_syscall())
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
	SUBMIT(e);
	return 0;
}

static __always_inline int vfs_exit(struct file *f, long ret)
{
	if (!is_target() || in_read_syscall())
		return 0;
	struct mio_file mf;
	if (!fill_file(&mf, f))
		return 0;
	struct mio_vfs_read_exit *e = RESERVE(mio_vfs_read_exit, MIO_VFS_READ_EXIT);
	if (!e)
		return 0;
	e->ret = ret;
	SUBMIT(e);
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
	if (!is_target() || in_read_syscall())
		return 0;
	struct mio_vfs_read_exit *e = RESERVE(mio_vfs_read_exit, MIO_VFS_READ_EXIT);
	if (!e)
		return 0;
	e->ret = ret;
	SUBMIT(e);
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

static __always_inline int h_io_submit(bool fast, __u64 ctx, __u64 nr, __u64 iocbpp, __u64 a3, __u64 a4)
{
	if (!is_target())
		return 0;
	set_pending(P_AIO_SUBMIT, MIO_AIO_SUBMIT_EXIT, ctx, nr);
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
		SUBMIT(e);
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
	SUBMIT(e);
	return 0;
}

static __always_inline int h_io_getevents(bool fast, __u64 ctx, __u64 min_nr, __u64 nr, __u64 events, __u64 timeout)
{
	if (!is_target())
		return 0;
	set_pending(P_AIO_GETEVENTS, MIO_AIO_COMPLETE, ctx, events);
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
		SUBMIT(e);
	}
	return 0;
}

SYSCALL_EXIT(io_submit, io_submit_exit)
SYSCALL_ENTER(io_submit, h_io_submit)
SYSCALL_EXIT(io_getevents, io_getevents_exit)
SYSCALL_ENTER(io_getevents, h_io_getevents)
SYSCALL_EXIT(io_pgetevents, io_getevents_exit)
SYSCALL_ENTER(io_pgetevents, h_io_getevents)

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
	SUBMIT(e);
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
	SUBMIT(e);
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
	SUBMIT(e);
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
	SUBMIT(e);
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

static __always_inline int fn_ra_trigger(struct readahead_control *ractl, struct file_ra_state *ra, __u64 index,
					 __u64 req_count, __u8 trigger)
{
	if (!is_target())
		return 0;
	__u32 dev, size, async_size, ra_pages, order, mmap_miss;
	__u64 ino, start;
	__s64 prev_pos;
	ractl_inode(ractl, &dev, &ino);
	ra_state(ra, &start, &size, &async_size, &ra_pages, &order, &mmap_miss, &prev_pos);
	return ra_trigger(trigger, dev, ino, index, req_count, start, size, async_size, ra_pages, order, mmap_miss,
			  prev_pos);
}

/* The arguments moved twice, and CO-RE tells the layouts apart (libbpf resolves each test at
 * load time, and the verifier never walks the branch the kernel does not have):
 *   5.10, 5.11:  page_cache_sync_ra(ractl, ra, req)   page_cache_async_ra(ractl, ra, page, req)
 *   5.12-5.15:   page_cache_sync_ra(ractl, req)       page_cache_async_ra(ractl, page, req)
 *   5.16+:       the same, with a folio instead of the page (RHEL 9 from 9.1)
 * readahead_control has had its `ra` member since the file_ra_state left the arguments. The
 * trigger's page index: the folio's where there are folios (as the 6.18 tracepoint reports it);
 * before, ractl->_index, which every caller sets to the page's index. */
static __always_inline int fn_ra_sync(struct readahead_control *ractl, __u64 a1, __u64 a2)
{
	__u64 index = BPF_CORE_READ(ractl, _index);
	if (bpf_core_field_exists(ractl->ra))
		return fn_ra_trigger(ractl, BPF_CORE_READ(ractl, ra), index, a1, MIO_RA_SYNC);
	return fn_ra_trigger(ractl, (struct file_ra_state *)a1, index, a2, MIO_RA_SYNC);
}

static __always_inline int fn_ra_async(struct readahead_control *ractl, __u64 a1, __u64 a2, __u64 a3)
{
	if (!bpf_core_field_exists(ractl->ra))
		return fn_ra_trigger(ractl, (struct file_ra_state *)a1, BPF_CORE_READ(ractl, _index), a3, MIO_RA_ASYNC);
	__u64 index = BPF_CORE_READ(ractl, _index);
	if (bpf_core_type_exists(struct folio))
		index = BPF_CORE_READ((struct folio *)a1, index);
	return fn_ra_trigger(ractl, BPF_CORE_READ(ractl, ra), index, a2, MIO_RA_ASYNC);
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
int BPF_KPROBE(kp_ra_sync, struct readahead_control *ractl, __u64 a1, __u64 a2)
{
	return fn_ra_sync(ractl, a1, a2);
}

SEC("?kprobe/page_cache_async_ra")
int BPF_KPROBE(kp_ra_async, struct readahead_control *ractl, __u64 a1, __u64 a2, __u64 a3)
{
	return fn_ra_async(ractl, a1, a2, a3);
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

/* fentry reads its arguments from the context, and the verifier refuses a read past the
 * function's last argument even where it is never run: the argument a kernel may not have is
 * read only in the branch for the kernels that have it. */
SEC("?fentry/page_cache_sync_ra")
int fe_ra_sync(__u64 *ctx)
{
	struct readahead_control *ractl = (struct readahead_control *)ctx[0];
	if (bpf_core_field_exists(ractl->ra))
		return fn_ra_sync(ractl, ctx[1], 0);
	return fn_ra_sync(ractl, ctx[1], ctx[2]);
}

SEC("?fentry/page_cache_async_ra")
int fe_ra_async(__u64 *ctx)
{
	struct readahead_control *ractl = (struct readahead_control *)ctx[0];
	if (bpf_core_field_exists(ractl->ra))
		return fn_ra_async(ractl, ctx[1], ctx[2], 0);
	return fn_ra_async(ractl, ctx[1], ctx[2], ctx[3]);
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

/* Before 5.10 (RHEL 8's 4.18): no readahead_control. The exported entry points take the mapping
 * and the file_ra_state, and every window is read by __do_page_cache_readahead(mapping, filp,
 * offset, nr_to_read, lookahead_size), which later became page_cache_ra_unbounded. kprobes
 * only: whether RHEL 8 allows fentry is not known, and kprobes are tried first anyway. */
static __always_inline int fn_ra_trigger_old(struct address_space *mapping, struct file_ra_state *ra,
					     __u64 index, __u64 req_count, __u8 trigger)
{
	if (!is_target())
		return 0;
	__u32 dev, size, async_size, ra_pages, order, mmap_miss;
	__u64 start;
	__s64 prev_pos;
	struct inode *host = BPF_CORE_READ(mapping, host);
	dev = BPF_CORE_READ(host, i_sb, s_dev);
	ra_state(ra, &start, &size, &async_size, &ra_pages, &order, &mmap_miss, &prev_pos);
	return ra_trigger(trigger, dev, BPF_CORE_READ(host, i_ino), index, req_count, start, size, async_size,
			  ra_pages, order, mmap_miss, prev_pos);
}

SEC("?kprobe/page_cache_sync_readahead")
int BPF_KPROBE(kp_ra_sync_old, struct address_space *mapping, struct file_ra_state *ra, struct file *filp,
	       unsigned long offset, unsigned long req_size)
{
	return fn_ra_trigger_old(mapping, ra, offset, req_size, MIO_RA_SYNC);
}

SEC("?kprobe/page_cache_async_readahead")
int BPF_KPROBE(kp_ra_async_old, struct address_space *mapping, struct file_ra_state *ra, struct file *filp,
	       void *page, unsigned long offset, unsigned long req_size)
{
	return fn_ra_trigger_old(mapping, ra, offset, req_size, MIO_RA_ASYNC);
}

SEC("?kprobe/__do_page_cache_readahead")
int BPF_KPROBE(kp_ra_unbounded_old, struct address_space *mapping, struct file *filp, unsigned long offset,
	       unsigned long nr, unsigned long lookahead)
{
	if (!is_target())
		return 0;
	struct inode *host = BPF_CORE_READ(mapping, host);
	return ra_window(MIO_RA_UNBOUNDED, BPF_CORE_READ(host, i_sb, s_dev), BPF_CORE_READ(host, i_ino), offset, nr,
			 lookahead, 0, 0);
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
	SUBMIT(e);
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

/* Folds a page-cache lookup into the thread's read syscall in progress (its record carries the
 * range the read's lookups covered). */
static __always_inline void fold_lookup(struct pending *p, __u64 index, __u64 last_index)
{
	if (p->lookups == 0 || index < p->first_page)
		p->first_page = index;
	if (p->lookups == 0 || last_index > p->last_page)
		p->last_page = last_index;
	p->lookups++;
}

/* A page-cache lookup that is not part of a recorded read syscall (io_uring, AIO, kernel reads):
 * a record of its own. */
static __always_inline int emit_get_pages(__u32 dev, __u64 ino, __u64 index, __u64 last_index)
{
	struct mio_get_pages *e = RESERVE(mio_get_pages, MIO_FILEMAP_GET_PAGES);
	if (!e)
		return 0;
	e->ino = ino;
	e->index = index;
	e->last_index = last_index;
	e->dev = dev;
	e->pad = 0;
	SUBMIT(e);
	note_inode(dev, ino);
	return 0;
}

static __always_inline int get_pages(__u32 dev, __u64 ino, __u64 index, __u64 last_index)
{
	if (!is_target())
		return 0;
	struct pending *p = pending_of(P_READ);
	if (p && p->file.ino == ino && p->file.dev == dev) {
		fold_lookup(p, index, last_index);
		return 0;
	}
	return emit_get_pages(dev, ino, index, last_index);
}

/* The raw tracepoint (no event record is built for it): the lookup's file is known by its
 * address_space, which a read in progress remembered at entry. */
SEC("?raw_tp/mm_filemap_get_pages")
int rt_get_pages(struct bpf_raw_tracepoint_args *ctx)
{
	if (!is_target())
		return 0;
	struct address_space *mapping = (struct address_space *)ctx->args[0];
	__u64 index = ctx->args[1], last_index = ctx->args[2];
	struct pending *p = pending_of(P_READ);
	if (p && p->mapping == (__u64)mapping) {
		fold_lookup(p, index, last_index);
		return 0;
	}
	struct inode *host = BPF_CORE_READ(mapping, host);
	return emit_get_pages(BPF_CORE_READ(host, i_sb, s_dev), BPF_CORE_READ(host, i_ino), index, last_index);
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
	SUBMIT(e);
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

/* Before 5.10 (RHEL 8): iomap_dio_rw(iocb, iter, ops, end_io or dops) did the work itself (XFS;
 * ext4 took iomap for direct I/O in 5.5). Later kernels have it too, as a wrapper of
 * __iomap_dio_rw, which is planned first. */
SEC("?kprobe/iomap_dio_rw")
int BPF_KPROBE(kp_dio_read_old, struct kiocb *iocb, struct iov_iter *iter)
{
	return dio_read(iocb, iter, 0);
}

SEC("?fentry/__iomap_dio_rw")
int BPF_PROG(fe_dio_read, struct kiocb *iocb, struct iov_iter *iter, const void *ops, const void *dops,
	     unsigned int dio_flags)
{
	return dio_read(iocb, iter, dio_flags);
}

/* ------------------------------------------------------------------------------------------ */
/* fadvise, open, close                                                                          */

static __always_inline int h_fadvise(bool fast, __u64 fd, __u64 offset, __u64 len, __u64 advice, __u64 a4)
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
	SUBMIT(e);
	return 0;
}

SYSCALL_ENTER(fadvise64, h_fadvise)

static __always_inline int h_openat(bool fast, __u64 dirfd, __u64 filename, __u64 flags, __u64 mode, __u64 a4)
{
	if (!is_target())
		return 0;
	set_pending(P_OPEN, MIO_FILE_OPEN, filename, 0);
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
	SUBMIT(e);
	return 0;
}

SYSCALL_EXIT(openat, openat_exit)
SYSCALL_ENTER(openat, h_openat)
SYSCALL_EXIT(openat2, openat_exit)
SYSCALL_ENTER(openat2, h_openat)

static __always_inline int h_close(bool fast, __u64 fd, __u64 a1, __u64 a2, __u64 a3, __u64 a4)
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
	SUBMIT(e);
	return 0;
}

SYSCALL_ENTER(close, h_close)

/* ------------------------------------------------------------------------------------------ */
/* Tasks: fork, exec, exit, rename; following targets in the kernel                            */

/* Makes `tgid` a target (the recorder does the same from user space, crates/recorder/src/loader.rs). */
static __always_inline void add_target(__u32 tgid)
{
	__u8 one = 1;
	bpf_map_update_elem(&targets, &tgid, &one, BPF_ANY);
	__u32 k = tgid & (MIO_TARGET_SLOTS - 1);
	__u32 *slot = bpf_map_lookup_elem(&target_slots, &k);
	/* Two targets racing for one empty slot both leave it non-zero, which is all it needs. */
	if (slot && *slot == 0)
		*slot = tgid;
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
	SUBMIT(e);
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
	SUBMIT(e);
	return 0;
}

SEC("?raw_tp/sched_process_exit")
int BPF_PROG(rt_task_exit, struct task_struct *task)
{
	if (!is_target())
		return 0;
	__u32 tid = cur_tid();
	bpf_map_delete_elem(&pending, &tid);
	struct mio_task_exit *e = RESERVE(mio_task_exit, MIO_TASK_EXIT);
	if (!e)
		return 0;
	e->exit_code = BPF_CORE_READ(task, exit_code);
	e->pad = 0;
	SUBMIT(e);
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
	SUBMIT(e);
	return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Raw syscall tracepoints: one program for every syscall's entry, one for every return        */

/* The per-syscall tracepoints (syscalls:sys_enter_pread64, ...) build an event record for the
 * program on every hit, whoever makes the syscall; their raw counterparts call the program with
 * the registers, which costs every task on the host a small fraction of that. The syscall number
 * is checked first, the target second. x86-64 numbers. */
enum sys_nr {
	NR_read = 0,
	NR_close = 3,
	NR_pread64 = 17,
	NR_readv = 19,
	NR_io_getevents = 208,
	NR_io_submit = 209,
	NR_fadvise64 = 221,
	NR_openat = 257,
	NR_preadv = 295,
	NR_preadv2 = 327,
	NR_io_pgetevents = 333,
	NR_openat2 = 437,
};

#define RAW_ENTER(kind) (cfg.raw_enter_kinds & (1u << (kind)))
#define RAW_EXIT(kind) (cfg.raw_exit_kinds & (1u << (kind)))

/* The kind a syscall number belongs to (MIO_KIND_MAX for none of ours). */
static __always_inline __u32 sys_kind(long id)
{
	switch (id) {
	case NR_read:
	case NR_pread64:
	case NR_readv:
	case NR_preadv:
	case NR_preadv2:
		return MIO_READ;
	case NR_io_submit:
		return MIO_AIO_SUBMIT;
	case NR_io_getevents:
	case NR_io_pgetevents:
		return MIO_AIO_COMPLETE;
	case NR_openat:
	case NR_openat2:
		return MIO_FILE_OPEN;
	case NR_fadvise64:
		return MIO_FADVISE;
	case NR_close:
		return MIO_FILE_CLOSE;
	}
	return MIO_KIND_MAX;
}

/* A syscall entry of a target with its arguments (di, si, dx, r10, r8 on x86-64). */
static __always_inline int sys_enter(bool fast, long id, __u64 a0, __u64 a1, __u64 a2, __u64 a3, __u64 a4)
{
	switch (id) {
	case NR_read:
		return h_read(fast, a0, a1, a2, a3, a4);
	case NR_pread64:
		return h_pread64(fast, a0, a1, a2, a3, a4);
	case NR_readv:
		return h_readv(fast, a0, a1, a2, a3, a4);
	case NR_preadv:
		return h_preadv(fast, a0, a1, a2, a3, a4);
	case NR_preadv2:
		return h_preadv2(fast, a0, a1, a2, a3, a4);
	case NR_io_submit:
		return h_io_submit(fast, a0, a1, a2, a3, a4);
	case NR_io_getevents:
	case NR_io_pgetevents:
		return h_io_getevents(fast, a0, a1, a2, a3, a4);
	case NR_openat:
	case NR_openat2:
		return h_openat(fast, a0, a1, a2, a3, a4);
	case NR_fadvise64:
		return h_fadvise(fast, a0, a1, a2, a3, a4);
	case NR_close:
		return h_close(fast, a0, a1, a2, a3, a4);
	}
	return 0;
}

/* Kernels with BTF-typed tracepoint arguments and pointer casts (6.2+): the registers and the
 * kernel structures read directly. */
SEC("?tp_btf/sys_enter")
int BPF_PROG(bt_sys_enter, struct pt_regs *regs, long id)
{
	__u32 kind = sys_kind(id);
	if (kind >= MIO_KIND_MAX || !RAW_ENTER(kind) || !is_target())
		return 0;
	return sys_enter(true, id, regs->di, regs->si, regs->dx, regs->r10, regs->r8);
}

/* Older kernels: the registers read in one copy, kernel structures through bpf_probe_read. */
SEC("?raw_tp/sys_enter")
int rt_sys_enter(struct bpf_raw_tracepoint_args *ctx)
{
	long id = ctx->args[1];
	__u32 kind = sys_kind(id);
	if (kind >= MIO_KIND_MAX || !RAW_ENTER(kind) || !is_target())
		return 0;
	struct pt_regs r = {};
	bpf_probe_read_kernel(&r, sizeof(r), (void *)ctx->args[0]);
	return sys_enter(false, id, r.di, r.si, r.dx, r.r10, r.r8);
}

/* A return of a target thread at time `now`: only one with an entry pending has anything to do.
 * The recorder attaches returns before entries, so an entry it saw always gets its return. */
static __always_inline int sys_exit(__u64 now, long ret)
{
	__u32 tid = cur_tid();
	struct pending *p = bpf_map_lookup_elem(&pending, &tid);
	if (!p)
		return 0;
	switch (p->what) {
	case P_READ:
		if (RAW_EXIT(MIO_READ))
			return read_exit_at(now, p->sys, ret);
		break;
	case P_OPEN:
		if (RAW_EXIT(MIO_FILE_OPEN))
			return openat_exit(ret);
		break;
	case P_AIO_SUBMIT:
		if (RAW_EXIT(MIO_AIO_SUBMIT_EXIT))
			return io_submit_exit(ret);
		break;
	case P_AIO_GETEVENTS:
		if (RAW_EXIT(MIO_AIO_COMPLETE))
			return io_getevents_exit(ret);
		break;
	}
	return 0;
}

/* Kernels with BTF-typed tracepoint arguments: the syscall number is read directly, so the
 * returns of the target's other syscalls (its network, its locks) cost no map lookup. */
SEC("?tp_btf/sys_exit")
int BPF_PROG(bt_sys_exit, struct pt_regs *regs, long ret)
{
	if (sys_kind(regs->orig_ax) >= MIO_KIND_MAX || !is_target())
		return 0;
	return sys_exit(bpf_ktime_get_ns(), ret);
}

SEC("?raw_tp/sys_exit")
int rt_sys_exit(struct bpf_raw_tracepoint_args *ctx)
{
	if (!is_target())
		return 0;
	return sys_exit(bpf_ktime_get_ns(), ctx->args[1]);
}

/* ------------------------------------------------------------------------------------------ */
/* Statements (record --statements): a uprobe on the server's command dispatch function and a  */
/* uretprobe on its return. The recorder attaches them per server binary, with the entry that  */
/* matches the binary's argument layout (crates/recorder/src/dispatch.rs).                     */

/* One slot per thread that ever dispatched a command, updated in place like `pending`. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct mio_stmt_slot);
} stmts SEC(".maps");

/* A zeroed slot to create a thread's slot from (too large for the stack). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mio_stmt_slot);
} stmt_blank SEC(".maps");

static __always_inline struct mio_stmt_slot *stmt_slot(__u32 tid)
{
	struct mio_stmt_slot *slot = bpf_map_lookup_elem(&stmts, &tid);
	if (slot)
		return slot;
	__u32 zero = 0;
	struct mio_stmt_slot *blank = bpf_map_lookup_elem(&stmt_blank, &zero);
	if (!blank)
		return NULL;
	bpf_map_update_elem(&stmts, &tid, blank, BPF_NOEXIST);
	return bpf_map_lookup_elem(&stmts, &tid);
}

/* A command begins: `text` (user memory) of `len` bytes for the commands that carry a statement,
 * else NULL; `stmt_id` for the ones that name a prepared statement. */
static __always_inline int stmt_begin(__u32 command, __u64 thd, const void *text, __u32 len, __u32 stmt_id)
{
	if (!is_target())
		return 0;
	struct mio_stmt_slot *slot = stmt_slot(cur_tid());
	if (!slot)
		return 0;
	/* A command dispatched from inside another (not done by current servers): the outer one
	 * is the statement. */
	if (slot->s.depth++ > 0)
		return 0;
	slot->s.h.ts = bpf_ktime_get_ns();
	slot->s.conn = thd;
	slot->s.command = command;
	slot->s.stmt_id = stmt_id;
	slot->s.text_len = len;
	/* Sizes the verifier can bound: the constant, or a value masked below it (a clamp alone
	 * is compiled as a compare on a copy, and the unbounded register is passed). */
	__u32 n = len >= MIO_SQL_MAX ? MIO_SQL_MAX : (len & (MIO_SQL_MAX - 1));
	long err = -1;
	if (text && len >= MIO_SQL_MAX)
		err = bpf_probe_read_user(slot->text, MIO_SQL_MAX, text);
	else if (text)
		err = bpf_probe_read_user(slot->text, len & (MIO_SQL_MAX - 1), text);
	slot->s.copied = err == 0 ? n : 0;
	return 0;
}

static __always_inline bool stmt_has_text(__u32 command)
{
	return command == MIO_COM_QUERY || command == MIO_COM_STMT_PREPARE;
}

static __always_inline bool stmt_has_id(__u32 command)
{
	return command == MIO_COM_STMT_EXECUTE || command == MIO_COM_STMT_SEND_LONG_DATA ||
	       command == MIO_COM_STMT_CLOSE || command == MIO_COM_STMT_RESET || command == MIO_COM_STMT_FETCH;
}

/* MariaDB: dispatch_command(enum_server_command, THD *, char *packet, uint packet_length, ...);
 * a prepared statement's id is the packet's first 4 bytes (little-endian). */
SEC("?uprobe")
int BPF_UPROBE(stmt_mariadb, __u64 command, __u64 thd, const char *packet, __u64 packet_length)
{
	__u32 cmd = (__u32)command, id = 0;
	if (stmt_has_id(cmd))
		bpf_probe_read_user(&id, sizeof(id), packet);
	return stmt_begin(cmd, thd, stmt_has_text(cmd) ? packet : NULL, (__u32)packet_length, id);
}

/* MySQL 5.7-8.4: dispatch_command(THD *, const COM_DATA *, enum_server_command); COM_DATA starts
 * with {const char *query; unsigned int length} for a query or prepare and with
 * {unsigned long stmt_id; ...} for the commands on a prepared statement. */
SEC("?uprobe")
int BPF_UPROBE(stmt_mysql, __u64 thd, const void *com_data, __u64 command)
{
	__u32 cmd = (__u32)command, len = 0;
	__u64 first = 0;
	bpf_probe_read_user(&first, sizeof(first), com_data);
	if (stmt_has_text(cmd)) {
		bpf_probe_read_user(&len, sizeof(len), (const char *)com_data + 8);
		return stmt_begin(cmd, thd, (const void *)first, len, 0);
	}
	return stmt_begin(cmd, thd, NULL, 0, stmt_has_id(cmd) ? (__u32)first : 0);
}

SEC("?uretprobe")
int BPF_URETPROBE(stmt_return)
{
	if (!is_target())
		return 0;
	__u32 tid = cur_tid();
	struct mio_stmt_slot *slot = bpf_map_lookup_elem(&stmts, &tid);
	if (!slot || slot->s.depth == 0)
		return 0;
	if (--slot->s.depth > 0)
		return 0;
	__u64 now = bpf_ktime_get_ns();
	__u64 pt = bpf_get_current_pid_tgid();
	slot->s.latency_ns = now - slot->s.h.ts;
	slot->s.h.ts = now;
	slot->s.h.pid = pt >> 32;
	slot->s.h.tid = (__u32)pt;
	slot->s.h.cpu = bpf_get_smp_processor_id();
	slot->s.h.kind = MIO_STATEMENT;
	slot->s.h.pad0 = 0;
	slot->s.h.pad1 = 0;
	slot->s.pad = 0;
	__u32 n = slot->s.copied;
	__u64 size = sizeof(struct mio_stmt) + (n >= MIO_SQL_MAX ? MIO_SQL_MAX : (n & (MIO_SQL_MAX - 1)));
	__u64 avail = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
	__u64 flags = BPF_RB_NO_WAKEUP;
	if (avail >= cfg.wake_bytes && avail < (__u64)cfg.wake_bytes + size + 8)
		flags = BPF_RB_FORCE_WAKEUP;
	if (bpf_ringbuf_output(&events, slot, size, flags) != 0)
		count_drop(MIO_STATEMENT);
	return 0;
}
