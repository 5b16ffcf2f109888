#!/usr/bin/env python3
"""Score `hale redact --json` on the leaky-repo corpus (Plazmaz/leaky-repo, MIT).

The truth (secrets.csv) gives, per file, a count of "risk" lines and a count of
"informative" lines, never their positions. The score therefore follows the
corpus's own benchmark script (.leaky-meta/benchmark.py), which produced the
published gitleaks figure:

  expected(file) = num_risk + num_informative
  found(file)    = min(findings(file), expected(file))
  fp(file)       = max(findings(file) - expected(file), 0)

summed over the files listed in secrets.csv (findings in other files are not
scored). findings(file) is the number of entries hale reports for the file.

A second figure restricts the truth to "risk" lines: found_risk(file) =
min(findings(file), num_risk). Without positions this assumes every finding
lands on a risk line before an informative one, so it is an upper bound.

A third figure counts distinct lines with at least one finding instead of
findings, since the CSV counts lines ("lines with multiple risks are still
counted as 1"); hale may report two findings on one line (user and password).

Files named in secrets.csv but absent from files/ count as fully missed and are
listed. Usage:

  python3 evals/redaction/public/leaky_repo_eval.py --hale build/hale \\
      --rules policies/redact/rules.json [--verbose]

Exit status: 0 scored, 1 hale failed on a file, 2 usage or missing corpus.
"""

import argparse
import csv
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "leaky-repo")

# Published in .leaky-meta/benchmarking/GITLEAKS.md (vendored as GITLEAKS.md).
GITLEAKS_FOUND = 133
GITLEAKS_TOTAL = 175
GITLEAKS_FP = 47


def read_truth(path):
    rows = []
    with open(path, encoding="utf-8") as f:
        lines = [l for l in f if l.strip() and not l.startswith("#")]
    for row in csv.reader(lines):
        if len(row) != 3:
            raise ValueError("%s: expected name,num_risk,num_informative, got %r" % (path, row))
        rows.append((row[0], int(row[1]), int(row[2])))
    return rows


def read_gitleaks_table(path):
    """Per-file Found/Total/FP rows of the published gitleaks report."""
    table = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = [p.strip() for p in line.split("|")]
            if len(parts) != 3 or "/" not in parts[1] or not parts[2].isdigit():
                continue
            found, total = parts[1].split("/")
            table[parts[0]] = (int(found), int(total), int(parts[2]))
    return table


def run_hale(hale, rules, path):
    with open(path, "rb") as f:
        proc = subprocess.run([hale, "redact", "--json", "--rules", rules], stdin=f,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    if proc.returncode != 0:
        raise RuntimeError("%s: hale redact exited %d: %s" %
                           (path, proc.returncode, proc.stderr.decode(errors="replace").strip()))
    return json.loads(proc.stdout)["findings"]


def pct(a, b):
    return 100.0 * a / b if b else 0.0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hale", required=True, help="path of the hale binary")
    ap.add_argument("--rules", required=True, help="rules file for hale redact")
    ap.add_argument("--corpus", default=CORPUS, help="directory with secrets.csv and files/")
    ap.add_argument("--verbose", action="store_true", help="print each finding")
    args = ap.parse_args()

    csv_path = os.path.join(args.corpus, "secrets.csv")
    files_dir = os.path.join(args.corpus, "files")
    if not os.path.isfile(csv_path) or not os.path.isdir(files_dir):
        print("leaky_repo_eval: %s: no secrets.csv or files/" % args.corpus, file=sys.stderr)
        return 2
    truth = read_truth(csv_path)
    published = read_gitleaks_table(os.path.join(args.corpus, "GITLEAKS.md"))

    tot = {"expected": 0, "risk": 0, "found": 0, "found_risk": 0, "fp": 0,
           "found_lines": 0, "fp_lines": 0, "findings": 0, "covered": 0}
    missing = []
    rows = []
    for name, risk, info in truth:
        expected = risk + info
        path = os.path.join(files_dir, name)
        if not os.path.isfile(path):
            missing.append(name)
            findings = []
        else:
            try:
                findings = run_hale(args.hale, args.rules, path)
            except (RuntimeError, ValueError, KeyError) as e:
                print("leaky_repo_eval: %s" % e, file=sys.stderr)
                return 1
        n = len(findings)
        nlines = len({f["line"] for f in findings})
        found = min(n, expected)
        fp = max(n - expected, 0)
        tot["expected"] += expected
        tot["risk"] += risk
        tot["found"] += found
        tot["found_risk"] += min(n, risk)
        tot["fp"] += fp
        tot["found_lines"] += min(nlines, expected)
        tot["fp_lines"] += max(nlines - expected, 0)
        tot["findings"] += n
        tot["covered"] += 1 if n else 0
        rows.append((name, risk, info, n, nlines, found, fp, findings))

    print("leaky-repo (Plazmaz/leaky-repo, MIT): %d files in secrets.csv, %d findings by hale"
          % (len(truth), tot["findings"]))
    print()
    print("%-40s %5s %5s %5s %5s %8s %4s   %s" %
          ("file", "risk", "info", "finds", "lines", "credited", "fp", "gitleaks found/total fp"))
    for name, risk, info, n, nlines, found, fp, findings in sorted(rows, key=lambda r: r[0]):
        g = published.get(name)
        gtxt = "%d/%d %d" % g if g else "-"
        note = "  (not in the index: counted as missed)" if name in missing else ""
        print("%-40s %5d %5d %5d %5d %8d %4d   %s%s" %
              (name, risk, info, n, nlines, found, fp, gtxt, note))
        if args.verbose:
            for f in findings:
                print("    line %d col %d len %d %s %s" %
                      (f["line"], f["column"], f["length"], f["type"], f["rule"]))
    print()
    print("Method of .leaky-meta/benchmark.py (per file: credited = min(findings, risk+informative),")
    print("fp = findings beyond risk+informative):")
    print("  hale     : found %d/%d (%.1f%%), false positives %d, files with a finding %d/%d"
          % (tot["found"], tot["expected"], pct(tot["found"], tot["expected"]), tot["fp"],
             tot["covered"], len(truth)))
    print("  gitleaks : found %d/%d (%.1f%%), false positives %d (published, GITLEAKS.md)"
          % (GITLEAKS_FOUND, GITLEAKS_TOTAL, pct(GITLEAKS_FOUND, GITLEAKS_TOTAL), GITLEAKS_FP))
    print("Same, counting distinct lines with a finding instead of findings:")
    print("  hale     : found %d/%d (%.1f%%), false positives %d"
          % (tot["found_lines"], tot["expected"], pct(tot["found_lines"], tot["expected"]),
             tot["fp_lines"]))
    print("Risk lines only (credited = min(findings, risk); an upper bound, see the header):")
    print("  hale     : found %d/%d (%.1f%%)"
          % (tot["found_risk"], tot["risk"], pct(tot["found_risk"], tot["risk"])))
    if missing:
        print("Not available offline, counted as missed: %s" % ", ".join(missing))
    return 0


if __name__ == "__main__":
    sys.exit(main())
