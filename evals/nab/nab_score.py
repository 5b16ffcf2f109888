#!/usr/bin/env python3
"""NAB scoring (Numenta Anomaly Benchmark v1.1), re-implemented with the standard library only.

Reads per-row result CSVs (timestamp,...,anomaly_score,...), the ground-truth windows and the
cost profiles, and computes the normalised NAB score per profile, either at a given threshold or
at the threshold that maximises the corpus score (an exhaustive sweep over every distinct score,
which is what NAB's optimiser approximates).

Usage:
  nab_score.py --nab DIR --results DIR [--detector NAME] [--thresholds published|sweep]
  nab_score.py --nab DIR --validate            (checks the scorer on NAB's own result files)

Result files are looked up as RESULTS/<category>/<detector>_<file>.csv (NAB's layout) or, when
--detector is not given, RESULTS/<category>/<file>.csv.
"""

import argparse
import csv
import json
import math
import os
import sys

PROFILES = ("standard", "reward_low_FP_rate", "reward_low_FN_rate")


def sigmoid(x):
    """NAB's scaled sigmoid: 2/(1+e^(5x)) - 1, clamped to -1 beyond x = 3."""
    if x > 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * x)) - 1.0


def load_profiles(nab_dir):
    with open(os.path.join(nab_dir, "config", "profiles.json")) as f:
        raw = json.load(f)
    return {name: raw[name]["CostMatrix"] for name in PROFILES}


def load_windows(nab_dir):
    with open(os.path.join(nab_dir, "labels", "combined_windows.json")) as f:
        raw = json.load(f)
    out = {}
    for name, wins in raw.items():
        out[name] = [(a.split(".")[0], b.split(".")[0]) for a, b in wins]
    return out


def read_scores(path):
    """The timestamp and anomaly_score columns of a result CSV, in file order."""
    ts, sc = [], []
    with open(path, newline="") as f:
        rd = csv.reader(f)
        header = next(rd)
        try:
            its, isc = header.index("timestamp"), header.index("anomaly_score")
        except ValueError:
            sys.exit("%s:1: header lacks timestamp or anomaly_score" % path)
        for lineno, row in enumerate(rd, start=2):
            if not row:
                continue
            try:
                v = float(row[isc])
            except (ValueError, IndexError):
                sys.exit("%s:%d: anomaly_score is not a number" % (path, lineno))
            if not (v == v) or v < 0.0 or v > 1.0:
                sys.exit("%s:%d: anomaly_score %r is outside [0, 1]" % (path, lineno, v))
            ts.append(row[its])
            sc.append(v)
    return ts, sc


class ScoredFile:
    """One file's rows reduced to what scoring needs: per scorable row, its window (or -1)
    and its weight for each profile."""

    def __init__(self, name, ts, scores, windows, profiles):
        n = len(ts)
        self.name = name
        self.n = n
        self.scores = scores
        self.probation = min(int(math.floor(0.15 * n)), int(0.15 * 5000))
        bounds = []
        for start, end in windows:
            lo = next((i for i in range(n) if ts[i] >= start), n)
            hi = max((i for i in range(n) if ts[i] <= end), default=-1)
            if hi < lo:
                sys.exit("%s: window %s..%s holds no rows" % (name, start, end))
            bounds.append((lo, hi))
        self.n_windows = len(bounds)
        self.win_of = [-1] * n
        self.weight = {p: [0.0] * n for p in profiles}
        for i in range(n):
            inside = None
            for j, (lo, hi) in enumerate(bounds):
                if lo <= i <= hi:
                    inside = j
                    break
            if inside is not None:
                lo, hi = bounds[inside]
                width = hi - lo + 1
                pos = -(hi - i + 1) / width
                self.win_of[i] = inside
                for p, cm in profiles.items():
                    self.weight[p][i] = sigmoid(pos) * cm["tpWeight"] / sigmoid(-1.0)
                continue
            prev = None  # (right edge, width) of the last window ended before row i
            for lo, hi in bounds:
                if hi < i:
                    prev = (hi, hi - lo + 1)
            for p, cm in profiles.items():
                if prev is None:
                    self.weight[p][i] = -cm["fpWeight"]
                else:
                    hi, width = prev
                    pos = (i - hi) / (width - 1) if width > 1 else 4.0
                    self.weight[p][i] = sigmoid(pos) * cm["fpWeight"]

    def score(self, profile, cm, theta):
        """Raw score and TP/TN/FP/FN counts of this file at threshold theta."""
        best = [None] * self.n_windows
        s = 0.0
        tp = tn = fp = fn = 0
        w = self.weight[profile]
        for i in range(self.probation, self.n):
            det = self.scores[i] >= theta
            k = self.win_of[i]
            if k >= 0:
                if det:
                    tp += 1
                    if best[k] is None or w[i] > best[k]:
                        best[k] = w[i]
                else:
                    fn += 1
            elif det:
                fp += 1
                s += w[i]
            else:
                tn += 1
        for b in best:
            s += -cm["fnWeight"] if b is None else b
        return s, (tp, tn, fp, fn)


def normalise(raw, cm, n_windows):
    null = -cm["fnWeight"] * n_windows
    perfect = cm["tpWeight"] * n_windows
    return 100.0 * (raw - null) / (perfect - null)


def sweep(files, profile, cm):
    """The threshold maximising the corpus raw score, over every distinct score value.
    Returns (theta, raw). Equal scores enter together; the null detector's score is the
    starting point (theta above every score)."""
    events = []
    null = 0.0
    for f in files:
        null -= cm["fnWeight"] * f.n_windows
        w = f.weight[profile]
        for i in range(f.probation, f.n):
            events.append((f.scores[i], id(f), f.win_of[i], w[i]))
    events.sort(key=lambda e: -e[0])
    best = {}
    raw = null
    best_raw, best_theta = null, 1.0 + 1e-9
    i = 0
    while i < len(events):
        theta = events[i][0]
        while i < len(events) and events[i][0] == theta:
            _, fid, k, w = events[i]
            if k < 0:
                raw += w
            else:
                cur = best.get((fid, k))
                if cur is None:
                    raw += w + cm["fnWeight"]
                    best[(fid, k)] = w
                elif w > cur:
                    raw += w - cur
                    best[(fid, k)] = w
            i += 1
        if raw > best_raw:
            best_raw, best_theta = raw, theta
    return best_theta, best_raw


def corpus(files, profile, cm, theta):
    raw = 0.0
    counts = [0, 0, 0, 0]
    for f in files:
        s, c = f.score(profile, cm, theta)
        raw += s
        counts = [a + b for a, b in zip(counts, c)]
    return raw, counts


def load_files(nab_dir, results_dir, detector, profiles):
    windows = load_windows(nab_dir)
    files = []
    for name in sorted(windows):
        cat, base = name.split("/")
        fname = ("%s_%s" % (detector, base)) if detector else base
        path = os.path.join(results_dir, cat, fname)
        if not os.path.exists(path):
            sys.exit("%s: missing result file for %s" % (path, name))
        ts, sc = read_scores(path)
        files.append(ScoredFile(name, ts, sc, windows[name], profiles))
    return files


def score_detector(nab_dir, results_dir, detector, mode, out=sys.stdout):
    """Score one detector; returns {profile: (nab, raw, theta, counts)}."""
    profiles = load_profiles(nab_dir)
    files = load_files(nab_dir, results_dir, detector, profiles)
    n_windows = sum(f.n_windows for f in files)
    published = None
    if mode == "published":
        with open(os.path.join(nab_dir, "config", "thresholds.json")) as f:
            published = json.load(f)[detector]
    res = {}
    for p in PROFILES:
        cm = profiles[p]
        if published is not None:
            theta = published[p]["threshold"]
        else:
            theta, _ = sweep(files, p, cm)
        raw, counts = corpus(files, p, cm, theta)
        res[p] = (normalise(raw, cm, n_windows), raw, theta, counts)
    return res


def print_table(title, res, out=sys.stdout):
    print(title, file=out)
    print("  %-20s %9s %12s %14s %6s %8s %6s %7s" %
          ("profile", "NAB", "raw", "threshold", "TP", "TN", "FP", "FN"), file=out)
    for p in PROFILES:
        nab, raw, theta, c = res[p]
        print("  %-20s %9.4f %12.6f %14.10f %6d %8d %6d %7d" %
              (p, nab, raw, theta, c[0], c[1], c[2], c[3]), file=out)


def validate(nab_dir):
    """Reproduce final_results.json for the vendored detectors at their published thresholds,
    and check every per-file score in their *_scores.csv. Returns the process exit code."""
    with open(os.path.join(nab_dir, "results", "final_results.json")) as f:
        final = json.load(f)
    profiles = load_profiles(nab_dir)
    with open(os.path.join(nab_dir, "config", "thresholds.json")) as f:
        thresholds = json.load(f)
    ok = True
    for det in ("numenta", "windowedGaussian", "null"):
        rdir = os.path.join(nab_dir, "results", det)
        if not os.path.isdir(rdir):
            print("%s: not present, skipped" % rdir)
            continue
        files = load_files(nab_dir, rdir, det, profiles)
        by_name = {f.name: f for f in files}
        n_windows = sum(f.n_windows for f in files)
        print("%s:" % det)
        for p in PROFILES:
            cm = profiles[p]
            theta = thresholds[det][p]["threshold"]
            raw, counts = corpus(files, p, cm, theta)
            nab = normalise(raw, cm, n_windows)
            want = final[det][p]
            sw_theta, sw_raw = sweep(files, p, cm)
            sw_nab = normalise(sw_raw, cm, n_windows)
            good = abs(nab - want) < 0.01
            ok = ok and good
            print("  %-20s published %10.6f  ours %10.6f  diff %.2e  %s   (sweep: %.4f at %.6f)" %
                  (p, want, nab, nab - want, "ok" if good else "MISMATCH", sw_nab, sw_theta))
            # Per-file rows of the published summary.
            bad = 0
            with open(os.path.join(rdir, "%s_%s_scores.csv" % (det, p)), newline="") as f:
                for row in csv.DictReader(f):
                    if row["File"] not in by_name:
                        continue
                    fs, c = by_name[row["File"]].score(p, cm, theta)
                    if abs(fs - float(row["Score"])) > 1e-6 or \
                            list(c) != [int(row[k]) for k in ("TP", "TN", "FP", "FN")]:
                        bad += 1
            print("  %-20s per-file scores and counts: %s" %
                  ("", "all match" if bad == 0 else "%d files differ" % bad))
            ok = ok and bad == 0
    print("scorer validation: %s" % ("PASS" if ok else "FAIL"))
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser(description="NAB scorer (standard library only)")
    ap.add_argument("--nab", required=True, help="NAB checkout (data/, labels/, config/)")
    ap.add_argument("--results", help="directory of per-row result CSVs")
    ap.add_argument("--detector", default="", help="result file prefix (NAB layout)")
    ap.add_argument("--thresholds", choices=("sweep", "published"), default="sweep")
    ap.add_argument("--validate", action="store_true")
    a = ap.parse_args()
    if a.validate:
        return validate(a.nab)
    if not a.results:
        ap.error("--results is required unless --validate is given")
    res = score_detector(a.nab, a.results, a.detector, a.thresholds)
    print_table("NAB scores (%s thresholds)" % a.thresholds, res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
