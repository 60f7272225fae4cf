# Helpers shared by scripts/test and scripts/demo: become root-capable, install Debian packages
# and Rust tools only when missing, and say what is happening.

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# Runs a command as root: directly when we are root, through sudo otherwise.
as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        echo "error: this step needs root (run the script as root, or install sudo): $*" >&2; exit 2
    fi
}

# apt_install PKG...: installs the Debian packages that are not installed yet.
apt_install() {
    local missing=()
    for p in "$@"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p"); done
    if [ ${#missing[@]} -gt 0 ]; then
        say "installing ${missing[*]}"
        # Quiet unless it fails: then everything apt and dpkg said is shown.
        local log
        log=$(mktemp)
        if ! { as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
            as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
            cat "$log" >&2
            rm -f "$log"
            echo "error: installing ${missing[*]} failed (apt-get's output above)" >&2
            exit 1
        fi
        rm -f "$log"
    fi
}

# Makes sure cargo is on PATH (rustup installs it in ~/.cargo/bin).
need_cargo() {
    if ! command -v cargo >/dev/null && [ -x "$HOME/.cargo/bin/cargo" ]; then export PATH="$HOME/.cargo/bin:$PATH"; fi
    command -v cargo >/dev/null || { echo "error: cargo not found: install Rust with rustup (https://rustup.rs)" >&2; exit 2; }
}

# Build dependencies of the workspace: a C toolchain, clang and libbpf's needs for the BPF
# programs, libclang for bindgen.
install_build_deps() {
    apt_install build-essential pkg-config clang llvm libelf-dev zlib1g-dev make libclang-dev
}

# A real server and its load generator, for the demo and the end-to-end test (the package's
# own service is not started where policy-rc.d forbids it; the sandbox runs its own server).
install_server_deps() {
    apt_install mariadb-server mariadb-client sysbench
}

# What the recorder's tests use: libaio for the AIO helper, e2fsprogs and util-linux for loop
# filesystems; bpftrace (the reference the recording-cost benchmark measures against) and
# bpftool (its BPF run times).
install_test_deps() {
    apt_install libaio-dev e2fsprogs util-linux python3 python3-venv bpftrace bpftool
    # The report's page is opened in a real browser (crates/cli/tests/report.rs).
    apt_install chromium
    install_server_deps
    # The Python example of docs/examples and the DuckDB queries of docs/fleet.md run in their own
    # virtualenv, with polars and duckdb from PyPI.
    local venv=target/python
    if ! "$venv/bin/python" -c 'import polars, duckdb' 2>/dev/null; then
        python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet --disable-pip-version-check polars duckdb
    fi
    export MYSQL_IO_PYTHON="$PWD/$venv/bin/python"
}

# The BPF tests load programs: they need root and must not be skipped.
need_root() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "error: $1 needs root (it loads BPF programs): run it with sudo" >&2
        exit 2
    fi
}
