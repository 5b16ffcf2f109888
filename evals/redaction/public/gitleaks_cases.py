#!/usr/bin/env python3
"""Extract and score the test cases of gitleaks' rule generators (gitleaks/gitleaks, MIT).

Each file cmd/generate/config/rules/<family>.go defines rules and, per rule, a list of
true positives (`tps := []string{...}`, `r.TPs = append(tps, ...)`) and false positives
(`fps := []string{...}`, `r.FPs = []string{...}`). Only elements that are one Go string
literal (raw `...` or interpreted "...") are taken; elements built at run time
(secrets.NewSecret, fmt.Sprintf, generateSampleSecret, concatenations) are skipped and
counted. No gitleaks regex is read or used.

  extract: gitleaks_cases.py extract FILE.go... > gitleaks/cases.jsonl
  score:   gitleaks_cases.py score --hale build/hale --rules policies/redact/rules.json \\
               [--cases gitleaks/cases.jsonl]

A true positive counts as found when hale reports at least one finding in it; a false
positive counts as hit when hale reports any finding in it.
Exit status: 0 done, 1 hale failed, 2 usage or unreadable input.
"""

import argparse
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_CASES = os.path.join(HERE, "gitleaks", "cases.jsonl")

SIMPLE_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t",
                  "v": "\v", "\\": "\\", "'": "'", '"': '"'}


class GoSyntaxError(ValueError):
    pass


def skip_space_and_comments(src, i):
    while i < len(src):
        if src[i] in " \t\r\n":
            i += 1
        elif src.startswith("//", i):
            j = src.find("\n", i)
            i = len(src) if j < 0 else j + 1
        elif src.startswith("/*", i):
            j = src.find("*/", i + 2)
            if j < 0:
                raise GoSyntaxError("unterminated /* comment")
            i = j + 2
        else:
            break
    return i


def parse_interpreted(src, i):
    """src[i] == '"'; returns (value, index after the closing quote)."""
    out = bytearray()
    i += 1
    while True:
        if i >= len(src) or src[i] == "\n":
            raise GoSyntaxError("unterminated string literal")
        c = src[i]
        if c == '"':
            return out.decode("utf-8", errors="surrogateescape"), i + 1
        if c != "\\":
            out += c.encode("utf-8")
            i += 1
            continue
        e = src[i + 1] if i + 1 < len(src) else ""
        if e in SIMPLE_ESCAPES:
            out += SIMPLE_ESCAPES[e].encode()
            i += 2
        elif e == "x":
            out.append(int(src[i + 2:i + 4], 16))
            i += 4
        elif e in "01234567":
            out.append(int(src[i + 1:i + 4], 8))
            i += 4
        elif e == "u":
            out += chr(int(src[i + 2:i + 6], 16)).encode("utf-8")
            i += 6
        elif e == "U":
            out += chr(int(src[i + 2:i + 10], 16)).encode("utf-8")
            i += 10
        else:
            raise GoSyntaxError("unknown escape \\%s" % e)


def parse_literal(src, i):
    """Returns (value, end) if a string literal starts at i, else None."""
    if src[i] == "`":
        j = src.find("`", i + 1)
        if j < 0:
            raise GoSyntaxError("unterminated raw string")
        return src[i + 1:j].replace("\r", ""), j + 1
    if src[i] == '"':
        return parse_interpreted(src, i)
    return None


def split_elements(src, i):
    """src[i] is just after '{' or '('; yields (element_source, literal or None)
    up to the matching close, returns via StopIteration value the end index."""
    depth = 0
    start = i = skip_space_and_comments(src, i)
    items = []
    while i < len(src):
        c = src[i]
        if c in "`\"":
            _, i = parse_literal(src, i)
            continue
        if src.startswith("//", i) or src.startswith("/*", i):
            i = skip_space_and_comments(src, i)
            continue
        if c in "({[":
            depth += 1
        elif c in ")}]":
            if depth == 0:
                if src[start:i].strip():
                    items.append((start, i))
                return items, i + 1
            depth -= 1
        elif c == "," and depth == 0:
            items.append((start, i))
            start = skip_space_and_comments(src, i + 1)
            i = start
            continue
        i += 1
    raise GoSyntaxError("unbalanced brackets")


def element_literal(src, a, b):
    """The value if src[a:b] is exactly one string literal (comments allowed)."""
    i = skip_space_and_comments(src, a)
    if i >= b:
        return None
    lit = parse_literal(src, i)
    if lit is None:
        return None
    value, j = lit
    j = skip_space_and_comments(src, j)
    return value if j >= b else None


FUNC_RE = re.compile(r"^func\s+(\w+)\s*\(", re.M)
LIST_RE = re.compile(
    r"\b(tps|fps|r\.TPs|r\.FPs)\s*(?::=|=)\s*(?:\[\]string\s*\{|append\(\s*(?:tps|fps)\s*,)")


def extract(path):
    with open(path, encoding="utf-8") as f:
        src = f.read()
    family = os.path.splitext(os.path.basename(path))[0]
    funcs = [(m.start(), m.group(1)) for m in FUNC_RE.finditer(src)]
    cases, skipped = [], 0
    for m in LIST_RE.finditer(src):
        func = "?"
        for pos, name in funcs:
            if pos < m.start():
                func = name
        kind = "tp" if m.group(1) in ("tps", "r.TPs") else "fp"
        items, _ = split_elements(src, m.end())
        for a, b in items:
            value = element_literal(src, a, b)
            if value is None:
                skipped += 1
            else:
                cases.append({"family": family, "func": func, "kind": kind, "text": value})
    return cases, skipped


def findings(hale, rules, text):
    proc = subprocess.run([hale, "redact", "--json", "--rules", rules],
                          input=text.encode("utf-8", errors="surrogateescape"),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    if proc.returncode != 0:
        raise RuntimeError("hale redact exited %d: %s" %
                           (proc.returncode, proc.stderr.decode(errors="replace").strip()))
    return json.loads(proc.stdout)["findings"]


def cmd_extract(args):
    total_skipped = 0
    for path in args.files:
        try:
            cases, skipped = extract(path)
        except (OSError, GoSyntaxError, ValueError) as e:
            print("gitleaks_cases: %s: %s" % (path, e), file=sys.stderr)
            return 2
        total_skipped += skipped
        for c in cases:
            print(json.dumps(c, ensure_ascii=False))
        print("gitleaks_cases: %s: %d literal cases, %d generated elements skipped" %
              (path, len(cases), skipped), file=sys.stderr)
    return 0


def cmd_score(args):
    try:
        with open(args.cases, encoding="utf-8") as f:
            cases = [json.loads(l) for l in f if l.strip()]
    except (OSError, ValueError) as e:
        print("gitleaks_cases: %s: %s" % (args.cases, e), file=sys.stderr)
        return 2
    per = {}
    misses = []
    for c in cases:
        try:
            n = len(findings(args.hale, args.rules, c["text"]))
        except (RuntimeError, ValueError) as e:
            print("gitleaks_cases: %s/%s: %s" % (c["family"], c["func"], e), file=sys.stderr)
            return 1
        s = per.setdefault(c["family"], [0, 0, 0, 0])
        if c["kind"] == "tp":
            s[0] += 1
            s[1] += 1 if n else 0
            if not n:
                misses.append(("missed tp", c))
        else:
            s[2] += 1
            s[3] += 1 if n else 0
            if n:
                misses.append(("fp hit", c))
    print("%-16s %6s %6s %6s %6s" % ("family", "tps", "found", "fps", "hit"))
    tot = [0, 0, 0, 0]
    for fam in sorted(per):
        s = per[fam]
        tot = [x + y for x, y in zip(tot, s)]
        print("%-16s %6d %6d %6d %6d" % (fam, s[0], s[1], s[2], s[3]))
    print("%-16s %6d %6d %6d %6d" % ("overall", *tot))
    print("tps recall %.1f%%, fps hit %d of %d" %
          (100.0 * tot[1] / tot[0] if tot[0] else 0.0, tot[3], tot[2]))
    if args.verbose:
        for what, c in misses:
            print("%s: %s/%s: %s" % (what, c["family"], c["func"], c["text"][:100].replace("\n", "\\n")))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("extract", help="print the literal cases of rule files as JSON lines")
    e.add_argument("files", nargs="+")
    s = sub.add_parser("score", help="run hale redact --json on every case")
    s.add_argument("--hale", required=True)
    s.add_argument("--rules", required=True)
    s.add_argument("--cases", default=DEFAULT_CASES)
    s.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    return cmd_extract(args) if args.cmd == "extract" else cmd_score(args)


if __name__ == "__main__":
    sys.exit(main())
