//! Builds the BPF object (bpf/mio.bpf.c) with clang into a libbpf-rs skeleton, and generates the
//! Rust types of the record layouts from the one ABI header (bpf/mio_abi.h) with bindgen.

use std::env;
use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let bpf = manifest.join("../../bpf");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let source = bpf.join("mio.bpf.c");
    let abi = bpf.join("mio_abi.h");

    libbpf_cargo::SkeletonBuilder::new()
        .source(&source)
        .clang_args([
            "-I".as_ref(),
            bpf.as_os_str(),
            "-D__TARGET_ARCH_x86".as_ref(),
            "-Wall".as_ref(),
            "-Werror".as_ref(),
        ])
        .build_and_generate(out.join("mio.skel.rs"))
        .unwrap_or_else(|e| {
            panic!(
                "building {}: {e:#}\n(needs clang and libbpf headers: scripts/test installs them)",
                source.display()
            )
        });

    bindgen::Builder::default()
        .header(abi.to_string_lossy())
        .allowlist_type("mio_.*")
        .allowlist_var("MIO_.*")
        .blocklist_type("mio_config") // the skeleton generates it (the .rodata type)
        .rustified_enum("mio_kind")
        .constified_enum_module("mio_(read_syscall|ra_code|limits|server_command)")
        .derive_default(true)
        .derive_debug(true)
        .layout_tests(true)
        .use_core()
        .generate()
        .unwrap_or_else(|e| {
            panic!("bindgen on {}: {e} (needs libclang: apt-get install libclang-dev)", abi.display())
        })
        .write_to_file(out.join("abi.rs"))
        .expect("writing abi.rs");

    for f in [&source, &abi, &bpf.join("vmlinux.h")] {
        println!("cargo:rerun-if-changed={}", f.display());
    }
}
