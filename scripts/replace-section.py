#!/usr/bin/env python3
"""Replaces a generated block of docs/benchmarks.md.

Usage: replace-section.py DOC MARKER HEADING SECTION_FILE

The block between "<!-- MARKER:begin" and "<!-- MARKER:end -->" is replaced by the contents of
SECTION_FILE; without markers, the body of the "## HEADING" section is replaced; without that
heading, the section is appended. Other sections stay as they are.
"""
import re
import sys

doc_path, marker, heading, section_path = sys.argv[1:5]
doc = open(doc_path, encoding="utf-8").read()
block = open(section_path, encoding="utf-8").read().rstrip("\n") + "\n"
marked = re.compile(r"<!-- " + re.escape(marker) + r":begin.*?<!-- " + re.escape(marker) + r":end -->\n?", re.S)
if marked.search(doc):
    doc = marked.sub(lambda _: block, doc, count=1)
else:
    head = re.compile(r"^## " + re.escape(heading) + r"[ \t]*\n", re.M)
    m = head.search(doc)
    if m:
        nxt = re.compile(r"^## ", re.M).search(doc, m.end())
        end = nxt.start() if nxt else len(doc)
        tail = doc[end:]
        doc = doc[: m.end()] + "\n" + block + ("\n" + tail if tail else "")
    else:
        doc = doc.rstrip("\n") + "\n\n## " + heading + "\n\n" + block
open(doc_path, "w", encoding="utf-8").write(doc)
