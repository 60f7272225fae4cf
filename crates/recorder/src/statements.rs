//! Statements as the trace keeps them (`record --statements`): each command the server dispatched
//! arrives from the BPF side with the raw text the client sent and the address of the server's
//! session object. Here the text becomes a digest ([`crate::digest`]) and is dropped unless the
//! user asked for it (`--sql-text`), an execution of a prepared statement gets the digest of what
//! was prepared under its id, and session addresses become small connection numbers.
//!
//! Prepared statement ids are not in the dispatch arguments of a prepare (the server assigns one
//! while preparing), so they are counted: both servers give a connection's prepared statements
//! the ids 1, 2, 3... in the order it prepares them, whether by the protocol's prepare command or
//! by SQL `PREPARE`, a failed prepare using its id too. A statement prepared before the recording
//! began is unknown: its executions have no digest.

use mysql_io_format::Statement;
use rustc_hash::FxHashMap;

use crate::digest;

const COM_QUIT: u8 = 1;
const COM_QUERY: u8 = 3;
const COM_STMT_PREPARE: u8 = 22;
const COM_STMT_CLOSE: u8 = 25;

/// Digests statements and follows each connection's prepared statements.
#[derive(Debug, Default)]
pub struct Statements {
    keep_text: bool,
    conns: FxHashMap<u64, Conn>,
    next_conn: u64,
}

#[derive(Debug, Default)]
struct Conn {
    number: u64,
    /// Prepared statements so far (the last id given).
    prepares: u32,
    /// Digest and normalised text of each prepared statement still open.
    prepared: FxHashMap<u32, (u64, String)>,
}

impl Statements {
    /// `keep_text`: keep each statement's text as sent (`--sql-text`).
    pub fn new(keep_text: bool) -> Statements {
        Statements { keep_text, ..Statements::default() }
    }

    /// Replaces a statement event's raw text (in `sql`) and session address (`conn`) with what
    /// the trace keeps.
    pub fn apply(&mut self, s: &mut Statement) {
        let raw = std::mem::take(&mut s.sql);
        let next = &mut self.next_conn;
        let conn = self.conns.entry(s.conn).or_insert_with(|| {
            *next += 1;
            Conn { number: *next, ..Conn::default() }
        });
        let number = conn.number;
        let (digest, text) = match s.command {
            COM_QUERY | COM_STMT_PREPARE => {
                let text = digest::normalize(raw.as_bytes());
                let d = if text.is_empty() { 0 } else { digest::digest(&text) };
                if s.command == COM_STMT_PREPARE {
                    conn.prepares += 1;
                    conn.prepared.insert(conn.prepares, (d, text.clone()));
                } else if digest::is_prepare(&text) {
                    // SQL PREPARE: what it prepares is a string (a literal, gone from the text).
                    conn.prepares += 1;
                    conn.prepared.insert(conn.prepares, (0, String::new()));
                }
                (d, text)
            }
            _ if s.stmt_id != 0 => {
                let known = conn.prepared.get(&s.stmt_id).cloned().unwrap_or_default();
                if s.command == COM_STMT_CLOSE {
                    conn.prepared.remove(&s.stmt_id);
                }
                known
            }
            _ => (0, String::new()),
        };
        if s.command == COM_QUIT {
            // The session ends; its object's address may serve the next one.
            self.conns.remove(&s.conn);
        }
        s.conn = number;
        s.digest = digest;
        s.digest_text = text;
        s.sql = if self.keep_text { raw } else { String::new() };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stmt(command: u8, conn: u64, stmt_id: u32, sql: &str) -> Statement {
        Statement {
            command,
            latency_ns: 1,
            conn,
            stmt_id,
            digest: 0,
            digest_text: String::new(),
            sql: sql.into(),
            text_len: sql.len() as u32,
        }
    }

    #[test]
    fn executions_get_the_digest_of_what_their_connection_prepared() {
        let mut st = Statements::new(false);
        let thd_a = 0x7f00_1000;
        let thd_b = 0x7f00_2000;
        let mut p1 = stmt(COM_STMT_PREPARE, thd_a, 0, "SELECT c FROM sbtest1 WHERE id=?");
        let mut p2 = stmt(COM_STMT_PREPARE, thd_a, 0, "SELECT c FROM sbtest1 WHERE id BETWEEN ? AND ?");
        let mut q = stmt(COM_QUERY, thd_b, 0, "SELECT c FROM sbtest1 WHERE id=17");
        let mut e1 = stmt(23, thd_a, 1, "");
        let mut e2 = stmt(23, thd_a, 2, "");
        let mut e_b = stmt(23, thd_b, 1, ""); // prepared before the recording
        for s in [&mut p1, &mut p2, &mut q, &mut e1, &mut e2, &mut e_b] {
            st.apply(s);
        }
        assert_eq!((p1.conn, q.conn, e_b.conn), (1, 2, 2));
        assert_ne!(p1.digest, 0);
        assert_eq!((e1.digest, &e1.digest_text), (p1.digest, &p1.digest_text));
        assert_eq!((e2.digest, &e2.digest_text), (p2.digest, &p2.digest_text));
        assert_ne!(p1.digest, p2.digest);
        // A literal and a placeholder normalise alike.
        assert_eq!(q.digest, p1.digest);
        assert_eq!((e_b.digest, e_b.digest_text.as_str()), (0, ""));
        // The text as sent is not kept unless asked.
        assert!([&p1, &q, &e1].iter().all(|s| s.sql.is_empty()));
        assert!(!q.digest_text.contains("17"));
    }

    #[test]
    fn sql_prepare_uses_an_id_and_closed_or_quit_state_is_forgotten() {
        let mut st = Statements::new(true);
        let thd = 0x55;
        let mut sql_prep = stmt(COM_QUERY, thd, 0, "PREPARE s1 FROM 'SELECT 1'");
        let mut p = stmt(COM_STMT_PREPARE, thd, 0, "SELECT k FROM sbtest2 WHERE id = ?");
        let mut e = stmt(23, thd, 2, "");
        let mut close = stmt(COM_STMT_CLOSE, thd, 2, "");
        let mut again = stmt(23, thd, 2, "");
        for s in [&mut sql_prep, &mut p, &mut e, &mut close, &mut again] {
            st.apply(s);
        }
        assert_eq!(e.digest, p.digest);
        assert_eq!(again.digest, 0);
        assert_eq!(sql_prep.sql, "PREPARE s1 FROM 'SELECT 1'", "kept with --sql-text");
        let mut quit = stmt(COM_QUIT, thd, 0, "");
        st.apply(&mut quit);
        assert_eq!(quit.conn, 1);
        // The next session at the same address is another connection, with its own ids.
        let mut e_new = stmt(23, thd, 1, "");
        st.apply(&mut e_new);
        assert_eq!((e_new.conn, e_new.digest), (2, 0));
    }
}
