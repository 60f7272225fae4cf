use mysql_io_recorder::loader;
fn main() {
    loader::capture_libbpf_messages();
    for p in ["kp_close_enter", "fe_close_enter", "kp_vfs_read_enter"] {
        let t = std::time::Instant::now();
        println!("{p}: {:?} in {:?}", loader::try_programs(&[p]).err().map(|e| e.message), t.elapsed());
    }
}
