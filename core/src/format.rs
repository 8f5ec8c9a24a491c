//! The sealed-file format v1 (see `docs/format.md`).
