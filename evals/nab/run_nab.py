#!/usr/bin/env python3
"""Run `hale detect` over every NAB series and print the NAB scores (standard library only).

Usage:
  evals/nab/run_nab.py --hale build/hale [--nab ../shared/nab] [--detector ensemble]
                       [--out DIR] [--validate]

Each of the 58 data files is fed to `hale detect --csv FILE` exactly as NAB ships it; the
detector never sees the labels. The per-row results are written to OUT/<category>/<file>.csv
(a temporary directory unless --out is given) and scored with nab_score.py: the threshold is
optimised per profile over the whole corpus, as NAB's optimiser does, and the probationary
period (15% of each file, at most 750 rows) is excluded. --validate first checks the scorer
against NAB's own result files.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nab_score  # noqa: E402


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description="NAB evaluation of hale's detectors")
    ap.add_argument("--hale", required=True, help="path to the hale binary")
    # The layout keeps the data next to the repository (../shared/nab); a worktree sits
    # one level deeper.
    default_nab = next((p for p in (os.path.join(here, "../../../shared/nab"),
                                    os.path.join(here, "../../../../shared/nab"))
                        if os.path.isdir(p)), None)
    ap.add_argument("--nab", default=default_nab, help="NAB data (default: ../shared/nab)")
    ap.add_argument("--detector", default="", help="detector name (default: hale's default)")
    ap.add_argument("--out", help="keep the per-row results here")
    ap.add_argument("--validate", action="store_true", help="validate the scorer first")
    a = ap.parse_args()
    if not a.nab:
        ap.error("NAB data not found next to the repository; give --nab DIR")
    a.nab = os.path.normpath(a.nab)

    if a.validate and nab_score.validate(a.nab) != 0:
        return 1
    with open(os.path.join(a.nab, "labels", "combined_windows.json")) as f:
        names = sorted(json.load(f))
    tmp = None
    out = a.out
    if not out:
        tmp = tempfile.TemporaryDirectory(prefix="hale-nab-")
        out = tmp.name
    t0 = time.monotonic()
    for name in names:
        cat, base = name.split("/")
        os.makedirs(os.path.join(out, cat), exist_ok=True)
        cmd = [a.hale, "detect", "--csv", os.path.join(a.nab, "data", cat, base)]
        if a.detector:
            cmd += ["--detector", a.detector]
        with open(os.path.join(out, cat, base), "w") as dst:
            p = subprocess.run(cmd, stdout=dst, stderr=subprocess.PIPE, text=True)
        if p.returncode != 0:
            sys.stderr.write(p.stderr)
            sys.exit("run_nab: %s failed with status %d" % (" ".join(cmd), p.returncode))
    elapsed = time.monotonic() - t0
    res = nab_score.score_detector(a.nab, out, "", "sweep")
    nab_score.print_table("hale detect%s over %d NAB files (%.2f s including process start-up); "
                          "threshold optimised per profile over the corpus" %
                          (" --detector " + a.detector if a.detector else "", len(names), elapsed),
                          res)
    print("\n  %-20s %9s %9s %9s" % ("", "standard", "low FP", "low FN"))
    print("  %-20s %9.2f %9.2f %9.2f" % ("hale", res["standard"][0],
                                          res["reward_low_FP_rate"][0],
                                          res["reward_low_FN_rate"][0]))
    for ref, s in (("ARTime", (74.85, 65.15, 80.36)), ("Numenta HTM", (70.10, 63.12, 74.32)),
                   ("CAD OSE", (69.90, 66.98, 73.18))):
        print("  %-20s %9.2f %9.2f %9.2f" % (ref, s[0], s[1], s[2]))
    if tmp:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
