# Helpers shared by the project's scripts. Source it; do not run it.
say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Version of a package as locked in Cargo.lock (first match).
lock_version() {
  awk -v name="$1" '$0 == "name = \"" name "\"" { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock
}

# The debug build every test step shares. Cargo resolves features per invocation: without the
# test targets (dev-dependencies enable more features, e.g. libc's `std`) or with `-p` it chose
# other features and rebuilt most dependencies, so a cold run compiled the tree three to four
# times. With one argument list `cargo test --workspace`, the relay binary the end-to-end tests
# start, the API fixtures and the FFI library all come out of one dependency tree. `--lib` is
# needed for the FFI cdylib: with target flags cargo otherwise builds libraries only as rlibs.
DEBUG_BUILD=(build --workspace --lib --bins --tests --examples --locked)
