#!/usr/bin/env python3
"""evals/redaction/make_holdout.py - holdout.txt (hand-written lines, [[TYPE|value]] marks) to
holdout.jsonl in the corpus format. Lines without marks are negatives. A line of holdout.txt
that ends a PEM block is joined with the block's other lines into one record."""
import json, re, sys

MARK = re.compile(r"\[\[([A-Z0-9_]+)\|(.*?)\]\]")

def record(text):
    out, spans, pos = "", [], 0
    for m in MARK.finditer(text):
        out += text[pos:m.start()]
        start = len(out.encode())
        out += m.group(2)
        spans.append({"start": start, "end": len(out.encode()), "type": m.group(1)})
        pos = m.end()
    out += text[pos:]
    return {"text": out, "spans": spans}

def main():
    lines = [l.rstrip("\n") for l in open(sys.argv[1] if len(sys.argv) > 1 else "holdout.txt") if not l.startswith("#")]
    i = 0
    while i < len(lines):
        l = lines[i]
        if l.startswith("-----BEGIN") and "PRIVATE KEY" in l:
            j = i
            while not lines[j].startswith("-----END"):
                j += 1
            block = "\n".join(lines[i:j + 1])
            print(json.dumps({"text": block, "spans": [{"start": 0, "end": len(block.encode()), "type": "PRIVATE_KEY"}]}))
            i = j + 1
            continue
        print(json.dumps(record(l)))
        i += 1

main()
