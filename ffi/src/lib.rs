//! Kotlin and Swift bindings of the Sealroom SDK (uniffi). Thin: conversions only.
