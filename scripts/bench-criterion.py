#!/usr/bin/env python3
"""Turns criterion output into the tables of docs/benchmarks.md (used by scripts/bench.sh).

Usage: bench-criterion.py format|rooms LOG

Reads criterion's stdout (`cargo bench ... | tee LOG`) and prints the Markdown tables of the
"Sealed file format (native)" or "MLS rooms" section: every row next to its baseline from the same
run (the raw chacha20poly1305 crate for the file format, raw openmls for rooms) as a ratio.
Rows missing from the log (e.g. filtered out in quick mode) are left out.
"""
import re
import sys

UNITS_S = {"ps": 1e-12, "ns": 1e-9, "µs": 1e-6, "us": 1e-6, "ms": 1e-3, "s": 1.0}
UNITS_MIB = {"KiB/s": 1 / 1024, "MiB/s": 1.0, "GiB/s": 1024.0, "B/s": 1 / 1048576}


def parse(path):
    rows, current = {}, None
    for line in open(path, encoding="utf-8", errors="replace"):
        m = re.match(r"^(\S+/\S+)\s*(time:|$)", line)
        if m:
            current = m.group(1)
        t = re.search(r"time:\s+\[\S+ \S+ (\S+) (\S+) \S+ \S+\]", line)
        if t and current:
            rows.setdefault(current, {})["s"] = float(t.group(1)) * UNITS_S[t.group(2)]
        thr = re.search(r"thrpt:\s+\[\S+ \S+ (\S+) (\S+) \S+ \S+\]", line)
        if thr and current:
            rows.setdefault(current, {})["mibps"] = float(thr.group(1)) * UNITS_MIB[thr.group(2)]
    return rows


def dur(s):
    if s >= 1:
        return f"{s:.3f} s"
    if s >= 0.01:
        return f"{s * 1e3:.1f} ms"
    return f"{s * 1e3:.2f} ms"


def format_tables(rows):
    out = []
    for op, group, verb in (("Seal", "seal_256MiB", "seal"), ("Open", "open_256MiB", "open")):
        raw = rows.get(f"{group}/raw_chacha20poly1305_chunks", {}).get("mibps")
        names = [
            ("raw_chacha20poly1305_chunks", "raw `chacha20poly1305`, same 64 KiB chunks and nonces (baseline)", None),
            ("format_push_1MiB", "format, push API (1 MiB pushes)", None),
            (f"format_{verb}_writer_to_sink" if verb == "seal" else "format_open_reader_to_sink",
             "format, `SealWriter` into `io::sink()`" if verb == "seal" else "format, `OpenReader` copied into `io::sink()`", None),
            ("age_x25519_writer_to_sink" if verb == "seal" else "age_x25519_reader_to_sink",
             "`age`, X25519, through its `std::io` adaptor (peer)", None),
            (f"format_{verb}_parallel_1_threads", f"format, `{verb}_parallel` 1 thread (into a new buffer)", None),
            (f"format_{verb}_parallel_2_threads", f"format, `{verb}_parallel` 2 threads", "1t"),
        ]
        lines = []
        one = rows.get(f"{group}/format_{verb}_parallel_1_threads", {}).get("mibps")
        for key, label, base in names:
            v = rows.get(f"{group}/{key}", {}).get("mibps")
            if v is None:
                continue
            if base == "1t" and one:
                r = f"{v / one:.2f}x of 1 thread ({v / raw:.2f}x raw)" if raw else f"{v / one:.2f}x of 1 thread"
            else:
                r = f"{v / raw:.2f}x raw" if raw else "–"
            lines.append(f"| {label} | {v:.1f} MiB/s | {r} |")
        if lines:
            out.append(f"| {op} (criterion group `{group}`) | Throughput (median) | Ratio |\n|---|---:|---:|")
            out.extend(lines)
            out.append("")
    return "\n".join(out)


def rooms_tables(rows):
    labels = [
        ("rooms/create_and_add/{}/10", "create room + add 10 members in one commit"),
        ("rooms/create_and_add/{}/100", "create room + add 100 members in one commit"),
        ("rooms/create_and_add/{}/1000", "create room + add 1000 members in one commit"),
        ("rooms/1000_members/self_update/{}", "1000 members: self-update (commit + merge)"),
        ("rooms/1000_members/remove/{}", "1000 members: remove one member (commit + merge)"),
        ("rooms/1000_members/process_update/{}", "1000 members: receiver processes the self-update"),
        ("rooms/1000_members/process_remove/{}", "1000 members: receiver processes the remove"),
    ]
    out = ["| Operation | SDK | raw openmls (baseline) | SDK / openmls |", "|---|---:|---:|---:|"]
    for key, label in labels:
        sdk = rows.get(key.format("sdk"), {}).get("s")
        raw = rows.get(key.format("openmls"), {}).get("s")
        if sdk is None and raw is None:
            continue
        ratio = f"{sdk / raw:.2f}x" if sdk and raw else "–"
        out.append(f"| {label} | {dur(sdk) if sdk else '–'} | {dur(raw) if raw else '–'} | {ratio} |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    kind, log = sys.argv[1:3]
    rows = parse(log)
    print(format_tables(rows) if kind == "format" else rooms_tables(rows))
