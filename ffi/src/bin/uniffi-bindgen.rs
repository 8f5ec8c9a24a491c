//! The uniffi binding generator at exactly the uniffi version this workspace builds with
//! (see scripts/build-ffi.sh: library mode, Kotlin and Swift into `ffi/bindings/`).

fn main() {
    uniffi::uniffi_bindgen_main()
}
