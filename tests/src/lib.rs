//! Harness for Sealroom's end-to-end tests.
