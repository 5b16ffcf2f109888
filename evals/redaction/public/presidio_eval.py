#!/usr/bin/env python3
"""Score `hale redact --json` on the Presidio synthetic set (microsoft/presidio-research, MIT).

The corpus (presidio/synth_dataset_v2.json) is a JSON array of records, each with
"full_text" and "spans" [{entity_type, entity_value, start_position, end_position}],
positions being Python string (code point) offsets into full_text, end exclusive.

Each record's full_text is sent on its own to `hale redact --json` as UTF-8, so
offsets never cross records; hale reports byte offsets, which are mapped back to
code points before comparison.

Only Presidio's pattern entities are scored, mapped to hale's types:

  CREDIT_CARD   <- CARD          US_SSN      <- SSN
  EMAIL_ADDRESS <- EMAIL         PHONE_NUMBER <- PHONE
  IP_ADDRESS    <- IPV4, IPV6    IBAN_CODE   <- IBAN

Per entity type E:
  recall    = gold spans of E overlapped by at least one hale finding of E's types
              / gold spans of E
  precision = hale findings of E's types that overlap a gold span of E
              / hale findings of E's types
  F2        = 5PR / (4P + R)
A second recall ("any type") credits a gold span overlapped by any hale finding,
whatever its type: what matters for leakage is that the bytes were masked.
Every other entity type in the truth (PERSON, LOCATION, GPE, DATE_TIME, ...) is
reported as "not covered", with the number of hale findings that overlap it.
hale findings of types outside the mapping are counted separately.

If the vendored file is a prefix of the published one (the fetch did not reach
the end), it is cut after its last complete record and the array is closed;
the number of records scored is printed. Usage:

  python3 evals/redaction/public/presidio_eval.py --hale build/hale \\
      --rules policies/redact/rules.json [--data FILE] [--verbose]

Exit status: 0 scored, 1 hale failed on a record, 2 usage or unreadable corpus.
"""

import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
# The whole published file if present, else the vendored prefix (see presidio/SOURCE).
DEFAULT_DATA = os.path.join(HERE, "presidio", "synth_dataset_v2.json")
if not os.path.exists(DEFAULT_DATA):
    DEFAULT_DATA += ".part"

PATTERN = {
    "CREDIT_CARD": ("CARD",),
    "US_SSN": ("SSN",),
    "EMAIL_ADDRESS": ("EMAIL",),
    "PHONE_NUMBER": ("PHONE",),
    "IP_ADDRESS": ("IPV4", "IPV6"),
    "IBAN_CODE": ("IBAN",),
}
HALE_TO_PRESIDIO = {h: p for p, hs in PATTERN.items() for h in hs}
RECORD_END = "\n    },"


def load_corpus(path):
    """Returns (records, complete). A prefix is cut after its last whole record."""
    with open(path, encoding="utf-8", newline="") as f:
        text = f.read()
    try:
        data = json.loads(text)
        complete = True
    except json.JSONDecodeError:
        cut = text.rfind(RECORD_END)
        if cut < 0:
            raise ValueError("%s: not JSON and no complete record found" % path)
        data = json.loads(text[:cut + len(RECORD_END) - 1] + "\n]")
        complete = False
    if not isinstance(data, list):
        raise ValueError("%s: expected a JSON array of records" % path)
    for i, rec in enumerate(data):
        if not isinstance(rec, dict) or not isinstance(rec.get("full_text"), str) \
                or not isinstance(rec.get("spans"), list):
            raise ValueError("%s: record %d lacks full_text or spans" % (path, i))
        for sp in rec["spans"]:
            s, e = sp.get("start_position"), sp.get("end_position")
            if not isinstance(s, int) or not isinstance(e, int) or not 0 <= s < e <= len(rec["full_text"]):
                raise ValueError("%s: record %d: bad span %r" % (path, i, sp))
            if "entity_value" in sp and rec["full_text"][s:e] != sp["entity_value"]:
                raise ValueError("%s: record %d: span %r does not cover its entity_value" % (path, i, sp))
    return data, complete


def byte_to_char(text):
    """Map from UTF-8 byte offset (at a code point boundary, or the end) to code point index."""
    m = {}
    b = 0
    for i, ch in enumerate(text):
        m[b] = i
        b += len(ch.encode("utf-8"))
    m[b] = len(text)
    return m


def run_hale(hale, rules, text):
    proc = subprocess.run([hale, "redact", "--json", "--rules", rules], input=text.encode("utf-8"),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    if proc.returncode != 0:
        raise RuntimeError("hale redact exited %d: %s" %
                           (proc.returncode, proc.stderr.decode(errors="replace").strip()))
    findings = []
    m = byte_to_char(text)
    for f in json.loads(proc.stdout)["findings"]:
        start, end = f["offset"], f["offset"] + f["length"]
        if start not in m or end not in m:
            raise RuntimeError("finding %r does not fall on character boundaries" % f)
        findings.append((f["type"], m[start], m[end], f["rule"]))
    return findings


def overlaps(a0, a1, b0, b1):
    return a0 < b1 and b0 < a1


def pct(n, d):
    return "%5.1f%%" % (100.0 * n / d) if d else "   n/a"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hale", required=True, help="path to the hale binary")
    ap.add_argument("--rules", required=True, help="redaction rules (policies/redact/rules.json)")
    ap.add_argument("--data", default=DEFAULT_DATA, help="corpus file (default: vendored copy)")
    ap.add_argument("--verbose", action="store_true", help="list every miss and false positive")
    args = ap.parse_args()

    try:
        records, complete = load_corpus(args.data)
    except (OSError, ValueError) as e:
        print("presidio_eval: %s" % e, file=sys.stderr)
        return 2

    gold = {}        # entity -> count
    found = {}       # pattern entity -> gold spans overlapped by a finding of its types
    found_any = {}   # entity -> gold spans overlapped by any finding
    npred = {}       # pattern entity -> findings of its types
    tp_pred = {}     # pattern entity -> those findings overlapping a gold span of the entity
    other_types = {}
    misses, fps = [], []

    for idx, rec in enumerate(records):
        text = rec["full_text"]
        try:
            findings = run_hale(args.hale, args.rules, text)
        except (OSError, RuntimeError, ValueError, KeyError) as e:
            print("presidio_eval: record %d: %s" % (idx, e), file=sys.stderr)
            return 1
        spans = [(sp["entity_type"], sp["start_position"], sp["end_position"]) for sp in rec["spans"]]
        for ent, s, e in spans:
            gold[ent] = gold.get(ent, 0) + 1
            hit_any = any(overlaps(s, e, f0, f1) for _, f0, f1, _ in findings)
            if hit_any:
                found_any[ent] = found_any.get(ent, 0) + 1
            if ent in PATTERN:
                hit = any(t in PATTERN[ent] and overlaps(s, e, f0, f1) for t, f0, f1, _ in findings)
                if hit:
                    found[ent] = found.get(ent, 0) + 1
                else:
                    misses.append((idx, ent, text[s:e], [(t, text[f0:f1]) for t, f0, f1, _ in findings
                                                         if overlaps(s, e, f0, f1)]))
        for t, f0, f1, rule in findings:
            ent = HALE_TO_PRESIDIO.get(t)
            if ent is None:
                other_types[t] = other_types.get(t, 0) + 1
                fps.append((idx, t, rule, text[f0:f1],
                            [g for g, s, e in spans if overlaps(s, e, f0, f1)]))
                continue
            npred[ent] = npred.get(ent, 0) + 1
            if any(g == ent and overlaps(s, e, f0, f1) for g, s, e in spans):
                tp_pred[ent] = tp_pred.get(ent, 0) + 1
            else:
                fps.append((idx, t, rule, text[f0:f1],
                            [g for g, s, e in spans if overlaps(s, e, f0, f1)]))

    print("Presidio synthetic set: %d records%s, %d labelled spans" %
          (len(records), "" if complete else " (prefix of the published file)", sum(gold.values())))
    print()
    print("%-14s %5s %6s %7s %6s %7s %7s %8s" %
          ("entity", "gold", "found", "recall", "pred", "prec", "F2", "any-type"))
    tg = tf = tp = tpp = 0
    for ent in PATTERN:
        g, f, p, t = gold.get(ent, 0), found.get(ent, 0), npred.get(ent, 0), tp_pred.get(ent, 0)
        r = f / g if g else None
        pr = t / p if p else None
        f2 = 5 * pr * r / (4 * pr + r) if r is not None and pr is not None and (4 * pr + r) else None
        print("%-14s %5d %6d %7s %6d %7s %7s %8s" %
              (ent, g, f, pct(f, g), p, pct(t, p), "%6.3f" % f2 if f2 is not None else "   n/a",
               pct(found_any.get(ent, 0), g)))
        tg, tf, tp, tpp = tg + g, tf + f, tp + p, tpp + t
    print("%-14s %5d %6d %7s %6d %7s" % ("all pattern", tg, tf, pct(tf, tg), tp, pct(tpp, tp)))
    print()
    print("Not covered (no hale recogniser; hale findings overlapping them in brackets):")
    for ent in sorted(k for k in gold if k not in PATTERN):
        print("  %-18s %5d  [%d]" % (ent, gold[ent], found_any.get(ent, 0)))
    if other_types:
        print()
        print("hale findings of types outside the mapping: " +
              ", ".join("%s %d" % kv for kv in sorted(other_types.items())))
    if args.verbose:
        print()
        print("Missed pattern spans (record, entity, value, overlapping findings of other types):")
        for m in misses:
            print("  %d %s %r %r" % m)
        print("Findings not matching a gold span of their type (record, type, rule, text, gold overlapped):")
        for f in fps:
            print("  %d %s %s %r %r" % f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
