//! Browser and Node bindings of the Sealroom SDK (wasm-bindgen). Thin: conversions only.
