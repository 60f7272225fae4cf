//! Names the analyses group by: a thread's role and a file's table.

/// A thread's role: the server's own thread name when the trace has one (the last part of a
/// performance_schema name like `thread/innodb/io_read_thread`), else the kernel name without
/// its numeric suffix (`ib_io_rd-3` -> `ib_io_rd`, `iou-wrk-4242` -> `iou-wrk`).
pub fn role(comm: &str, server_name: &str) -> String {
    if !server_name.is_empty() {
        return server_name.rsplit('/').next().unwrap_or(server_name).to_string();
    }
    let trimmed = comm.trim_end_matches(|c: char| c.is_ascii_digit());
    let trimmed = if trimmed.len() < comm.len() {
        trimmed.trim_end_matches(['-', '_', '/', ':', '.'])
    } else {
        trimmed
    };
    if trimmed.is_empty() {
        comm.to_string()
    } else {
        trimmed.to_string()
    }
}

/// The table a file belongs to: `schema/table.ibd` -> `schema.table`, partitions folded
/// (`t#p#p0.ibd`, `t#P#p0#SP#s0.ibd` -> `schema.t`); other files keep their file name (`ibdata1`,
/// `ib_logfile0`, `binlog.000001`).
pub fn table(path: &str) -> String {
    let mut parts = path.rsplit('/');
    let file = parts.next().unwrap_or(path);
    let Some(stem) = file.strip_suffix(".ibd") else {
        return file.to_string();
    };
    let stem = match stem.find("#p#").or_else(|| stem.find("#P#")) {
        Some(i) => &stem[..i],
        None => stem,
    };
    match parts.next() {
        Some(schema) if !schema.is_empty() => format!("{schema}.{stem}"),
        _ => stem.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles() {
        assert_eq!(role("ib_io_rd-3", ""), "ib_io_rd");
        assert_eq!(role("iou-wrk-4242", ""), "iou-wrk");
        assert_eq!(role("connection", ""), "connection");
        assert_eq!(role("mariadbd", ""), "mariadbd");
        assert_eq!(role("worker-0", ""), "worker");
        assert_eq!(role("12345", ""), "12345");
        assert_eq!(role("mariadbd", "thread/sql/one_connection"), "one_connection");
        assert_eq!(role("ib_pg_flush_co", ""), "ib_pg_flush_co");
    }

    #[test]
    fn tables() {
        assert_eq!(table("/var/lib/mysql/sbtest/sbtest1.ibd"), "sbtest.sbtest1");
        assert_eq!(table("/d/shop/orders#p#p2024.ibd"), "shop.orders");
        assert_eq!(table("/d/shop/orders#P#p0#SP#s1.ibd"), "shop.orders");
        assert_eq!(table("/var/lib/mysql/ibdata1"), "ibdata1");
        assert_eq!(table("binlog.000001"), "binlog.000001");
        assert_eq!(table("t.ibd"), "t");
    }
}
