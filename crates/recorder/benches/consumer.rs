//! The recorder's consumer on one core: ring-buffer records (as the BPF programs lay them out) to
//! trace events to the writer, as `mysql-io record` runs it, without the kernel. The records are
//! a read storm's: `read` records of four threads over two files (16 KiB reads, sequential with a
//! random jump one time in eight, random latencies), with a page-cache insert every 16 records. The figure is records per second of the consuming thread's CPU time (the writer
//! compresses and writes on a thread of its own, reported apart).
//!
//! Run: `cargo bench --profile release -p mysql-io-recorder --bench consumer [-- --records N]`.
//! No root needed.

use std::time::Instant;

#[path = "../tests/support/mod.rs"]
mod support;

use mysql_io_format::{Header, TraceFile, Writer, WriterOptions};
use mysql_io_recorder::abi::raw::{mio_kind, mio_page_cache, mio_read};
use mysql_io_recorder::consumer::Consumer;

use support::bench_arg as arg;

/// CPU time of the calling thread, in seconds.
fn thread_cpu() -> f64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes the timespec it is given.
    #[allow(unsafe_code)]
    unsafe {
        libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts);
    }
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}

/// The bytes of a record struct, as the ring buffer hands them over.
fn bytes<T>(r: &T) -> &[u8] {
    // SAFETY: the record types are plain integer structs (bindgen from bpf/mio_abi.h); viewing
    // one as bytes reads initialised memory of its size.
    #[allow(unsafe_code)]
    unsafe {
        std::slice::from_raw_parts((r as *const T).cast::<u8>(), size_of::<T>())
    }
}

fn main() {
    let n = arg("--records", 5_000_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("consumer.mio");
    let file = std::fs::File::create(&path).expect("create");
    let writer = Writer::new(file, &Header::default(), WriterOptions::default()).expect("writer");
    let mut consumer = Consumer::new(writer, std::iter::empty(), std::iter::empty(), None);
    let pid = std::process::id();

    let mut read = mio_read::default();
    read.h.kind = mio_kind::MIO_READ as u8;
    read.h.pid = pid;
    read.file.dev = 8 << 20 | 3;
    read.file.flags = 2;
    read.count = 16384;
    read.ret = 16384;
    read.iovcnt = 1;
    read.lookups = 1;
    read.syscall = 1;
    let mut add = mio_page_cache::default();
    add.h.kind = mio_kind::MIO_PAGE_CACHE_ADD as u8;
    add.h.pid = pid;
    add.dev = read.file.dev;

    let mut ts = 1_000_000_000u64;
    let mut pos = [0i64; 4];
    // xorshift64: positions, gaps and latencies that do not repeat (zstd would make a regular
    // pattern nearly free, and the writer's thread would not work as it does on real records).
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut rand = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let (wall0, cpu0) = (Instant::now(), thread_cpu());
    let mut records = 0u64;
    for i in 0..n {
        let r = rand();
        let t = (r % 4) as usize;
        ts += 200 + (r >> 8) % 2000;
        let tid = pid + 1 + t as u32;
        let ino = 4000 + (t as u64 & 1);
        if i % 16 == 15 {
            add.h.ts = ts;
            add.h.tid = tid;
            add.h.cpu = (t & 1) as u16;
            add.ino = ino;
            add.index = (pos[t] as u64 >> 12) + 4;
            assert_eq!(consumer.on_record(bytes(&add)), 0);
        } else {
            // Mostly sequential 16 KiB reads, one in eight somewhere else.
            pos[t] =
                if (r >> 20) % 8 == 0 { ((r >> 24) % (1 << 30)) as i64 & !16383 } else { pos[t] + 16384 };
            read.h.ts = ts;
            read.h.tid = tid;
            read.h.cpu = (t & 1) as u16;
            read.file.ino = ino;
            read.file.ofd = 0xffff_8881_0000_1000 + t as u64 * 0x100;
            read.fd = 10 + t as i32;
            read.pos = pos[t];
            read.latency_ns = 800 + (r >> 40) % 40_000;
            read.first_page = pos[t] as u64 >> 12;
            read.last_page = read.first_page + 3;
            assert_eq!(consumer.on_record(bytes(&read)), 0);
        }
        records += 1;
    }
    let (wall, cpu) = (wall0.elapsed().as_secs_f64(), thread_cpu() - cpu0);
    let finish0 = Instant::now();
    let summary = consumer.into_writer().finish().expect("finish");
    let finish = finish0.elapsed().as_secs_f64();
    let t = TraceFile::open(&path).expect("open");
    assert_eq!(t.parse().expect("parse").footer().expect("footer").totals.events, records);

    println!("consumer: {records} ring-buffer records (read storm of 4 threads, a page insert every 16)");
    println!(
        "  {:.2} M records/s per core of the consuming thread ({:.0} ns/record of its CPU time), {:.2} M/s by the wall clock",
        records as f64 / cpu / 1e6,
        cpu * 1e9 / records as f64,
        records as f64 / wall / 1e6
    );
    println!(
        "  then {:.2} s to finish the trace (the writer's thread compresses as records come); {:.2} bytes/record on disk",
        finish,
        summary.file_bytes as f64 / records as f64
    );
}
