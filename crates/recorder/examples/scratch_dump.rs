fn main() {
    let path = std::env::args().nth(1).expect("path");
    let f = mysql_io_format::TraceFile::open(&path).expect("open");
    let t = f.parse().expect("parse");
    for fi in t.files() { println!("FILE {} {}:{} ino {} size {}", fi.path, fi.dev >> 20, fi.dev & 0xfffff, fi.ino, fi.size); }
    for e in t.events() { let e = e.expect("ev"); println!("{}", serde_json::to_string(&e).expect("json")); }
}
