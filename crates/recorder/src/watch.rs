//! The traced servers asked about themselves while recording: their thread names
//! (performance_schema) at the start, every two seconds on a thread of its own and at the end,
//! and their status counters at the start and the end (see [`crate::server`]).

use std::collections::HashMap;
use std::fs::File;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use mysql_io_format::{Metadata, StatusSnapshot, ThreadInfo, Writer};

use crate::server::ServerLink;
use crate::session::{monotonic_ns, ServerOptions};

/// Names the server gives a thread, as the background asker reports them.
type NameReport = (u32, Result<HashMap<u32, String>, String>);

/// The traced servers, asked about themselves: their thread names at the start, every two
/// seconds (connections come and go) and at the end, their status counters at the start and end.
pub(crate) struct ServerWatch {
    links: Vec<ServerLink>,
    /// Names written so far, per tid.
    written: HashMap<u32, String>,
    rx: Option<mpsc::Receiver<NameReport>>,
    stop: Arc<AtomicBool>,
    asker: Option<std::thread::JoinHandle<()>>,
    /// Why something could not be had; each reason once.
    pub(crate) warnings: Vec<String>,
}

impl ServerWatch {
    pub(crate) fn new(opts: &ServerOptions, servers: &[u32]) -> ServerWatch {
        let mut w = ServerWatch {
            links: Vec::new(),
            written: HashMap::new(),
            rx: None,
            stop: Arc::new(AtomicBool::new(false)),
            asker: None,
            warnings: Vec::new(),
        };
        if opts.off {
            return w;
        }
        for &pid in servers {
            match ServerLink::new(
                pid,
                opts.socket.as_deref(),
                opts.user.as_deref(),
                opts.defaults_file.as_deref(),
            ) {
                Ok(l) => w.links.push(l),
                Err(e) => w.warn(format!("server {pid}: {e}")),
            }
        }
        w
    }

    fn warn(&mut self, w: String) {
        if !self.warnings.contains(&w) {
            self.warnings.push(w);
        }
    }

    /// Asks every server now, on this thread: names, and counters when `status`.
    pub(crate) fn ask_now(&mut self, writer: &mut Writer<File>, status: bool) -> mysql_io_format::Result<()> {
        for l in self.links.clone() {
            let names = l.thread_names();
            self.names(writer, l.pid, names)?;
            if status {
                match l.status() {
                    Ok(counters) => writer.write_metadata(&Metadata::Status(StatusSnapshot {
                        pid: l.pid,
                        source: "SHOW GLOBAL STATUS".into(),
                        ts: monotonic_ns(),
                        counters,
                    }))?,
                    Err(e) => self.warn(format!("server {}: SHOW GLOBAL STATUS failed: {e}", l.pid)),
                }
            }
        }
        Ok(())
    }

    /// Writes the names not written yet (or changed).
    fn names(
        &mut self,
        writer: &mut Writer<File>,
        pid: u32,
        names: Result<HashMap<u32, String>, String>,
    ) -> mysql_io_format::Result<()> {
        let names = match names {
            Ok(n) => n,
            Err(e) => {
                self.warn(format!("server {pid}: no thread names: {e}"));
                return Ok(());
            }
        };
        let ts = monotonic_ns();
        let mut tids: Vec<_> = names.into_iter().collect();
        tids.sort_unstable();
        for (tid, name) in tids {
            if self.written.get(&tid) == Some(&name) {
                continue;
            }
            let comm = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/comm"))
                .map(|c| c.trim_end().to_string())
                .unwrap_or_default();
            writer.write_metadata(&Metadata::Thread(ThreadInfo {
                pid,
                tid,
                comm,
                role: name.clone(),
                ts,
            }))?;
            self.written.insert(tid, name);
        }
        Ok(())
    }

    /// Starts asking for thread names every two seconds in the background.
    pub(crate) fn start_asking(&mut self) {
        if self.links.is_empty() {
            return;
        }
        let (tx, rx) = mpsc::channel();
        let (links, stop) = (self.links.clone(), Arc::clone(&self.stop));
        self.asker = std::thread::Builder::new()
            .name("mysql-io-server".into())
            .spawn(move || {
                let mut next = Instant::now() + Duration::from_secs(2);
                while !stop.load(Ordering::Relaxed) {
                    if Instant::now() < next {
                        std::thread::sleep(Duration::from_millis(50));
                        continue;
                    }
                    for l in &links {
                        if tx.send((l.pid, l.thread_names())).is_err() {
                            return;
                        }
                    }
                    next = Instant::now() + Duration::from_secs(2);
                }
            })
            .ok();
        self.rx = Some(rx);
    }

    /// Writes what the background asker reported.
    pub(crate) fn drain(&mut self, writer: &mut Writer<File>) -> mysql_io_format::Result<()> {
        let reports: Vec<NameReport> = self.rx.as_ref().map(|rx| rx.try_iter().collect()).unwrap_or_default();
        for (pid, names) in reports {
            self.names(writer, pid, names)?;
        }
        Ok(())
    }

    /// Stops the asker, then asks a last time (names and counters).
    pub(crate) fn finish(&mut self, writer: &mut Writer<File>) -> mysql_io_format::Result<()> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.asker.take() {
            let _ = h.join();
        }
        self.drain(writer)?;
        self.ask_now(writer, true)
    }
}
