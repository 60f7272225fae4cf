//! `record --redact`: names that say something about the host and its data are replaced before
//! they reach the trace. Each path component becomes an 8-hex-digit token (a file's extension is
//! kept, so `.ibd`, `.frm` and logs stay recognisable), the host name becomes `redacted`, and
//! command lines keep only the program's file name. Tokens come from a hash keyed at random for
//! each recording and never stored: within one trace a name always gets the same token (files of
//! one schema stay together, `schema/table.ibd` still groups as one table), across traces they
//! differ. Thread names, counters, sizes, offsets and timings are kept, and so are the header's
//! block device names and memory sizes: they say what the machine is, not whose data it holds.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;

use mysql_io_format::{EventBody, Header, Metadata};

/// The replacement of names, for one recording.
#[derive(Debug)]
pub struct Redactor {
    key: RandomState,
}

impl Default for Redactor {
    fn default() -> Self {
        Redactor { key: RandomState::new() }
    }
}

impl Redactor {
    fn token(&self, s: &str) -> String {
        format!("{:08x}", self.key.hash_one(s) as u32)
    }

    /// Every component of `path` replaced by its token, the extension kept.
    pub fn path(&self, path: &str) -> String {
        path.split('/')
            .map(|c| match c {
                "" | "." | ".." => c.to_string(),
                _ => match c.rsplit_once('.') {
                    Some((stem, ext))
                        if !stem.is_empty()
                            && (1..=8).contains(&ext.len())
                            && ext.bytes().all(|b| b.is_ascii_alphanumeric()) =>
                    {
                        format!("{}.{ext}", self.token(stem))
                    }
                    _ => self.token(c),
                },
            })
            .collect::<Vec<_>>()
            .join("/")
    }

    /// A command line reduced to its program's file name.
    fn command(&self, argv: &[String]) -> Vec<String> {
        argv.first().map(|p| vec![program(p)]).unwrap_or_default()
    }

    /// The header with the host name and the recorder's command line replaced.
    pub fn header(&self, h: &mut Header) {
        h.host = "redacted".into();
        h.command = self.command(&h.command);
        for p in &mut h.processes {
            p.exe = program(&p.exe);
            p.cmdline = self.command(&p.cmdline);
        }
    }

    /// A metadata record with its names replaced.
    pub fn metadata(&self, m: &mut Metadata) {
        match m {
            Metadata::File(f) => f.path = self.path(&f.path),
            Metadata::Process(p) => {
                p.exe = program(&p.exe);
                p.cmdline = self.command(&p.cmdline);
            }
            _ => {}
        }
    }

    /// An event with its names replaced. Every kind is named: one that carries a name and is not
    /// handled here would put the name in a redacted trace.
    pub fn event(&self, body: &mut EventBody) {
        match body {
            EventBody::FileOpen(o) => o.path = self.path(&o.path),
            EventBody::TaskExec(e) => e.filename = program(&e.filename),
            // Thread names are kept (they say what a thread does, not whose data it is).
            EventBody::TaskRename(_) => {}
            // Statements keep their digest: no text, not even normalised (it names tables).
            EventBody::Statement(s) => {
                s.digest_text.clear();
                s.sql.clear();
            }
            // Numbers only.
            EventBody::Read(_)
            | EventBody::ReadEnter(_)
            | EventBody::ReadExit(_)
            | EventBody::VfsReadEnter(_)
            | EventBody::VfsReadExit(_)
            | EventBody::AioSubmit(_)
            | EventBody::AioSubmitExit(_)
            | EventBody::AioComplete(_)
            | EventBody::UringSubmit(_)
            | EventBody::UringComplete(_)
            | EventBody::ReadaheadTrigger(_)
            | EventBody::ReadaheadWindow(_)
            | EventBody::PageCacheAdd(_)
            | EventBody::PageCacheDelete(_)
            | EventBody::FilemapGetPages(_)
            | EventBody::DioRead(_)
            | EventBody::Fadvise(_)
            | EventBody::FileClose(_)
            | EventBody::TaskFork(_)
            | EventBody::TaskExit(_)
            | EventBody::Lost(_) => {}
        }
    }
}

/// The file name of a program's path (`/usr/sbin/mariadbd` → `mariadbd`).
fn program(path: &str) -> String {
    path.rsplit('/').next().unwrap_or_default().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_keep_their_shape_and_extensions_but_not_their_names() {
        let r = Redactor::default();
        let a = r.path("/var/lib/mysql/shop/orders.ibd");
        let b = r.path("/var/lib/mysql/shop/customers.ibd");
        let parts: Vec<&str> = a.split('/').collect();
        assert_eq!(parts.len(), 6);
        assert!(parts[0].is_empty() && parts[5].ends_with(".ibd"));
        assert!(!a.contains("shop") && !a.contains("orders") && !a.contains("mysql"));
        // Same schema, same token: the table grouping survives.
        assert_eq!(a.rsplit('/').nth(1), b.rsplit('/').nth(1));
        assert_ne!(a, b);
        assert_eq!(r.path("/var/lib/mysql/shop/orders.ibd"), a);
        assert_eq!(r.path(""), "");
        assert_eq!(program("/usr/sbin/mariadbd"), "mariadbd");
    }
}
