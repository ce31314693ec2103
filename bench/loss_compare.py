#!/usr/bin/env python3
"""bench/loss_compare.py: the metric-learning losses side by side on Fashion-MNIST.

Trains one model per (loss, seed) with tools/bin/train on the same budget
(architecture, epochs, batches, augmentation, optimiser) and prints one table
of the exported models' quality, measured by the trainer through the
inference path (docs/training.md: 1-NN and mAP of the 10k test images against
the 60k training gallery, verification AUC, 10-way 1-shot), mean +- std over
the seeds, and the training seconds.

  python3 bench/loss_compare.py [--arch mlp] [--epochs 5] [--seeds 1,2,3]
                                [--losses batch_all,...] [--jobs 2] [--out DIR]
                                [--imbalance CLASS:KEEP] [--ensemble SIAMESE_LOSS:CLASSIFIER_LOSS]

With --imbalance, the training set keeps only KEEP images of CLASS (the
seed's claim that Siamese models cope with extreme imbalance), and the table
shows that class's accuracy and precision and the overall accuracy: 1-NN over
the imbalanced gallery, nearest class mean, and for the losses with class
proxies the proxies' own argmax (tools/train.c's imbalance experiment).

With --ensemble, after training, tools/bin/ensemble pairs each seed's model
of the first loss (few-shot classification) with the same seed's model of
the second (its classifier) and a second table gives accuracy, NLL and ECE
of each alone and of their ensemble (SQL's classify, predict and
classify_ensemble), for 1, 5 and 20 shots.

Each run is one process with one BLAS thread, so --jobs 2 uses both cores.
Margins: each loss's usual value (MARGINS below); softmax has none.
"""
import argparse
import concurrent.futures
import json
import os
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN = os.path.join(ROOT, "tools", "bin", "train")

# each loss at the margin its paper (or this project's recipe) uses
MARGINS = {
    "batch_all": 0.2,         # the shipped fashion recipe
    "batch_hard": 0.2,
    "contrastive": 0.5,       # on L2-normalised embeddings (distances in [0, 2])
    "multi_similarity": 0.1,  # the paper's mining margin epsilon
    "softmax": 0.0,           # unused
    "cosface": 0.35,          # the paper's m
    "batch_all_cosface": 0.2,  # batch_all's margin; its CosFace part has 0.35, weight 0.2
}
METRICS = [("knn1_accuracy", "1-NN"), ("map", "mAP"), ("verification_auc", "verif. AUC"),
           ("fewshot_10way_1shot", "10-way 1-shot")]


IMB_METRICS = [("rare_class_accuracy", "rare-class acc."), ("rare_class_precision", "rare-class prec."),
               ("overall_accuracy", "overall acc."), ("prototype_rare_class_accuracy", "class mean: rare acc."),
               ("prototype_overall_accuracy", "class mean: overall")]


def run(arch, loss, seed, epochs, out, aug, imbalance):
    prefix = os.path.join(out, f"{loss}-s{seed}")
    cmd = [TRAIN, "--arch", arch, "--out", prefix, "--name", f"{loss}-s{seed}", "--loss", loss,
           "--margin", str(MARGINS[loss]), "--epochs", str(epochs), "--seed", str(seed)]
    if aug:
        cmd += ["--aug", aug]
    if imbalance:
        c, keep = imbalance.split(":")
        cmd += ["--imbalance-class", c, "--imbalance-keep", keep, "--results", prefix + ".imbalance.json"]
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    p = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{p.stderr[-2000:]}")
    with open(prefix + ".json") as f:
        cfg = json.load(f)
    if imbalance:
        with open(prefix + ".imbalance.json") as f:
            r = json.load(f)
        return loss, seed, r, r["train_seconds"]
    return loss, seed, cfg["quality"], cfg["training"]["train_seconds"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", default="mlp")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--losses", default=",".join(MARGINS))
    ap.add_argument("--aug", default="flip")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", default="")
    ap.add_argument("--imbalance", default="", help="CLASS:KEEP")
    ap.add_argument("--ensemble", default="", help="SIAMESE_LOSS:CLASSIFIER_LOSS")
    a = ap.parse_args()
    seeds = [int(s) for s in a.seeds.split(",")]
    losses = a.losses.split(",")
    for loss in losses:
        if loss not in MARGINS:
            sys.exit(f"unknown loss {loss}")
    out = a.out or tempfile.mkdtemp(prefix="siamese_losses.")
    os.makedirs(out, exist_ok=True)
    res = {}
    metrics = IMB_METRICS if a.imbalance else METRICS
    with concurrent.futures.ThreadPoolExecutor(a.jobs) as ex:
        futs = [ex.submit(run, a.arch, l, s, a.epochs, out, a.aug, a.imbalance) for l in losses for s in seeds]
        for f in concurrent.futures.as_completed(futs):
            loss, seed, q, secs = f.result()
            res.setdefault(loss, []).append((q, secs))
            print(f"# {loss} seed {seed}: {metrics[0][1]} {q[metrics[0][0]]:.4f} in {secs:.0f} s", file=sys.stderr)

    def ms(xs):
        return f"{statistics.mean(xs):.4f} +- {statistics.stdev(xs):.4f}" if len(xs) > 1 else f"{xs[0]:.4f}"

    print(f"Fashion-MNIST, arch {a.arch}, {a.epochs} epochs, P x K = 10 x 16, aug {a.aug or 'none'}, "
          + (f"class {a.imbalance.split(':')[0]} cut to {a.imbalance.split(':')[1]} training images, " if a.imbalance else "")
          + f"seeds {a.seeds} (mean +- std over {len(seeds)} seeds); models in {out}\n")
    print("| loss | margin | " + " | ".join(h for _, h in metrics) + " | train s |")
    print("|---|---|" + "---|" * len(metrics) + "---|")
    for loss in losses:
        rows = res[loss]
        cells = [ms([q[k] for q, _ in rows]) if all(k in q for q, _ in rows) else "-" for k, _ in metrics]
        print(f"| `{loss}` | {MARGINS[loss] if loss != 'softmax' else '-'} | " + " | ".join(cells) +
              f" | {statistics.mean(s for _, s in rows):.0f} |")
    if a.ensemble:
        ensemble_table(a.ensemble, seeds, out, ms)


def ensemble_table(pair, seeds, out, ms):
    siamese, classifier = pair.split(":")
    rows = {}
    for seed in seeds:
        p = subprocess.run([os.path.join(ROOT, "tools", "bin", "ensemble"), os.path.join(out, f"{siamese}-s{seed}"),
                            os.path.join(out, f"{classifier}-s{seed}"), "--seed", str(seed)],
                           capture_output=True, text=True, env=dict(os.environ, OPENBLAS_NUM_THREADS="1"))
        if p.returncode != 0:
            sys.exit(f"tools/bin/ensemble failed:\n{p.stderr[-2000:]}")
        for line in p.stdout.splitlines():
            r = json.loads(line)
            for method in ("siamese", "classifier", "ensemble"):
                rows.setdefault((r["shots"], method), []).append(r[method])
    print(f"\nFew-shot classification by the `{siamese}` models, the `{classifier}` models' classifiers, and "
          f"their ensemble (weight 0.5): test images 5000-9999, support drawn from the training set, "
          f"mean +- std over seeds {','.join(map(str, seeds))}\n")
    print("| shots | method | accuracy | NLL | ECE |")
    print("|---|---|---|---|---|")
    for (shots, method), rs in sorted(rows.items(), key=lambda kv: (kv[0][0], ["siamese", "classifier", "ensemble"].index(kv[0][1]))):
        name = {"siamese": f"few-shot (`{siamese}`)", "classifier": f"classifier (`{classifier}`)",
                "ensemble": "ensemble"}[method]
        print(f"| {shots} | {name} | " + " | ".join(ms([r[k] for r in rs]) for k in ("accuracy", "nll", "ece")) + " |")


if __name__ == "__main__":
    main()
