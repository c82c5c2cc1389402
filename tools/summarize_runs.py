#!/usr/bin/env python3
"""Mean and spread over seeds of the evaluations that `hierars train` / `transfer` logged.

    python3 tools/summarize_runs.py [--iter N] [--classes] GROUP=WORKDIR[,WORKDIR...] ...

Reads each work dir's log.jsonl (standard library only), takes the evaluation at iteration N (default:
the last one, not the best: the validation tiles are also the test tiles here, so picking the best
evaluation would flatter every run), and prints a Markdown table per group and level: mean, sample
standard deviation (n - 1) and min-max of mIoU, OA, kappa and mF1, plus consistency and path accuracy.
With --classes, per-class IoU means as well. With two or more groups, each group after the first is
compared with the first, per level and metric: the difference of the means, Welch's t, and whether the
difference exceeds the sum of the two standard deviations (the test the results doc states).
--json FILE writes the numbers.
"""
import json
import statistics
import sys


def evaluation(workdir, iteration):
    evals = []
    with open(f"{workdir}/log.jsonl") as f:
        for line in f:
            e = json.loads(line)
            if "eval" in e:
                evals.append(e)
    if not evals:
        sys.exit(f"error: {workdir}/log.jsonl has no evaluation")
    if iteration is None:
        return evals[-1]
    for e in evals:
        if e["iter"] == iteration:
            return e
    sys.exit(f"error: {workdir}/log.jsonl has no evaluation at iteration {iteration} (it has {[e['iter'] for e in evals]})")


def spread(values):
    m = statistics.mean(values)
    s = statistics.stdev(values) if len(values) > 1 else float("nan")
    return m, s, min(values), max(values)


def cell(values, scale=100.0, digits=1):
    m, s, lo, hi = spread([v * scale for v in values])
    return f"{m:.{digits}f} ± {s:.{digits}f} ({lo:.{digits}f}-{hi:.{digits}f})"


def main(argv):
    iteration, classes, out, groups = None, False, None, []
    it = iter(argv)
    for a in it:
        if a == "--iter":
            iteration = int(next(it))
        elif a == "--classes":
            classes = True
        elif a == "--json":
            out = next(it)
        elif "=" in a:
            name, dirs = a.split("=", 1)
            groups.append((name, dirs.split(",")))
        else:
            sys.exit(__doc__)
    if not groups:
        sys.exit(__doc__)
    summary = {}
    print("| model | level | n | mIoU | OA | kappa | mF1 |")
    print("|---|---|---|---|---|---|---|")
    for name, dirs in groups:
        evals = [evaluation(d, iteration) for d in dirs]
        its = sorted({e["iter"] for e in evals})
        levels = evals[0]["eval"]["levels"]
        summary[name] = {"iterations": its, "runs": dirs, "levels": []}
        for li, level in enumerate(levels):
            per = [e["eval"]["levels"][li] for e in evals]
            row = {k: [p[k] for p in per] for k in ("miou", "oa", "kappa", "mf1")}
            summary[name]["levels"].append({"name": level["name"], **row})
            print(f"| {name} | {level['name']} | {len(dirs)} | {cell(row['miou'])} | {cell(row['oa'])} | "
                  f"{cell(row['kappa'], 1.0, 3)} | {cell(row['mf1'])} |")
        cons = [e["eval"]["consistency"] for e in evals]
        path = [e["eval"]["path_accuracy"] for e in evals]
        summary[name]["consistency"], summary[name]["path_accuracy"] = cons, path
        print(f"| {name} | consistency / path accuracy | {len(dirs)} | {cell(cons)} | {cell(path)} | | |")
    if len(groups) > 1:
        base = groups[0][0]
        print(f"\n| vs {base} | level | metric | difference | Welch t | exceeds sd_a + sd_b |")
        print("|---|---|---|---|---|---|")
        for name, _ in groups[1:]:
            for la, lb in zip(summary[base]["levels"], summary[name]["levels"]):
                for metric in ("miou", "oa", "kappa"):
                    a, b = la[metric], lb[metric]
                    scale = 1.0 if metric == "kappa" else 100.0
                    (ma, sa, _, _), (mb, sb, _, _) = spread(a), spread(b)
                    se = (sa * sa / len(a) + sb * sb / len(b)) ** 0.5
                    t = (mb - ma) / se if se > 0 else float("nan")
                    digits = 3 if metric == "kappa" else 1
                    print(f"| {name} | {la['name']} | {metric} | {(mb - ma) * scale:+.{digits}f} | {t:+.1f} | "
                          f"{'yes' if abs(mb - ma) > sa + sb else 'no'} |")
    if classes:
        for name, dirs in groups:
            evals = [evaluation(d, iteration) for d in dirs]
            print(f"\n{name}, IoU per class (mean ± sd over {len(dirs)} runs):")
            for li, level in enumerate(evals[0]["eval"]["levels"]):
                parts = []
                for ci, cname in enumerate(level["classes"]):
                    vals = [e["eval"]["levels"][li]["iou"][ci] for e in evals]
                    vals = [v for v in vals if v is not None]
                    parts.append(f"{cname} {cell(vals).split(' (')[0]}" if vals else f"{cname} -")
                print(f"- {level['name']}: " + ", ".join(parts))
    if out:
        with open(out, "w") as f:
            json.dump(summary, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1:])
