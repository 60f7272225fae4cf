//! Fuzzes the column decoder behind the CRC: any bytes taken as an uncompressed chunk payload
//! must decode or fail cleanly, read as a format 2 payload and as a format 1 one (the two code
//! the time column and zero runs differently). Run from crates/format:
//! `cargo +nightly fuzz run payload`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = mysql_io_format::diagnostics::decode_raw_payload(data);
    let _ = mysql_io_format::diagnostics::decode_raw_payload_of(data, 1);
});
