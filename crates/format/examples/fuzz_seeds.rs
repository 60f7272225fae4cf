//! Writes seed payloads for the `payload` fuzz target: raw chunk payloads of real event mixes.
use mysql_io_format::{diagnostics, synth::SyntheticStream};
fn main() {
    let dir = std::env::args().nth(1).expect("output directory");
    for (i, n) in [1usize, 10, 100, 1000].into_iter().enumerate() {
        let events: Vec<_> = SyntheticStream::new(i as u64, 20_000).take(n).collect();
        std::fs::write(format!("{dir}/synth-{n}.bin"), diagnostics::encode_for_diagnostics(&events))
            .expect("write");
    }
}
