#!/usr/bin/env python3
"""Is our trainer's higher recorded training loss a difference in what the nets learn, or in
how the loss is measured?

Our trials record, per epoch, the mean over the epoch's batches of the batch-mean cross
entropy in train mode (dropout on, BN batch statistics), as `bench/reference/
train_reference.py` does. For the 9-epoch / 10k-image / Adam 0.01 protocol ours reads ~5 %
higher than PyTorch's. This script puts both final models side by side on the same data
with the same measuring code:

 1. loads one of our trials' final weights (`ckpt/last.model.ot`, a TorchScript archive
    whose parameters are named `conv1|weight`, `bn1|running_mean`, `classifier|bias`, ...)
    into the reference's `nn.Sequential` (`build_model`), asserting that every tensor is
    mapped exactly once with the right shape, and checks the mapping: eval-mode test
    accuracy on the 10,000 test images must equal the trial's recorded final accuracy
    (summary.json) within 0.01 points;
 2. trains the reference model for the same protocol and seed with the reference's own
    functions (seeding, model, Dataset/DataLoader, `train_epoch`, Adam, StepLR), as
    `train_reference.main` does, and keeps the final model (`main` does not return it);
 3. measures BOTH final models on the training images (the trial's `train_limit`):
      eval      eval mode: mean per-image cross entropy (no dropout, running BN stats)
      train     train mode as the trainers record it, but under no_grad on a copy (no weight
                or running-stat updates): shuffled batches of `batch_size`, mean of batch
                means; averaged over --shuffles passes, each with its own permutation and
                dropout draw; both models get the SAME permutations and dropout seeds
      train_nodrop  the same with dropout off (BN batch statistics only)
    plus eval-mode test accuracy / test loss, and the recorded last-epoch training losses;
 4. prints the seed spread of the recorded per-epoch losses: our finished trials of the
    same protocol and architecture (results/trials/*/summary.json) vs the committed PyTorch
    records (results/parity-study/pytorch/<arch>-*-seed*.json).

Run (from the repo root, with the harness's torch 2.11 Python; one CPU thread by default),
on a trial folder that still has its checkpoints: `results/` keeps none, so retrain one of
its trials first (bit for bit on the machine that recorded it), e.g. the study's 2 conv,
seed 2 (conv4 seed 2 is 115187284013):
    harness reproduce 42d1a30eec97 --runs results --keep /tmp/conv2-s2
    python bench/loss_gap.py --trial /tmp/conv2-s2
Options: --shuffles N (default 5), --threads, --data-dir, --json-out FILE (all numbers),
--extra-ckpt epoch-8 (also measure that checkpoint of ours), --skip-reference (ours only).
Output: a human-readable report on stdout (progress on stderr).
"""

import argparse
import copy
import glob
import importlib.util
import json
import math
import os
import random
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def load_reference():
    """bench/reference/train_reference.py as a module (its main() is behind a __main__ guard)."""
    path = os.path.join(HERE, "reference", "train_reference.py")
    spec = importlib.util.spec_from_file_location("train_reference", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


ref = load_reference()


def log(msg):
    print(f"loss_gap: {msg}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------ our weights -> reference


def our_tensors(path):
    """name -> tensor of every variable in one of our model checkpoints (weights and BN
    running statistics; tch's VarStore saves both, the archive lists them as parameters)."""
    m = torch.jit.load(path, map_location="cpu")
    out = {n: p.detach().clone() for n, p in m.named_parameters()}
    for n, b in m.named_buffers():
        out.setdefault(n, b.detach().clone())
    return out


def load_ours_into(model, tensors):
    """Copies our variables into the reference Sequential by layer order: the i-th Conv2d is
    our `conv{i}`, the i-th BatchNorm2d our `bn{i}`, the Linear our `classifier` (the
    layout of crates/models: plain conv2/conv4 only). Asserts that the mapping covers every
    tensor of the checkpoint and every parameter/running statistic of the model."""
    plan = []
    convs = [m for m in model if isinstance(m, nn.Conv2d)]
    bns = [m for m in model if isinstance(m, nn.BatchNorm2d)]
    linears = [m for m in model if isinstance(m, nn.Linear)]
    assert not any(isinstance(m, ref.ResBlock) for m in model), "residual archs are not mapped"
    assert len(linears) == 1
    for i, conv in enumerate(convs, 1):
        plan += [(f"conv{i}|weight", conv.weight), (f"conv{i}|bias", conv.bias)]
    for i, bn in enumerate(bns, 1):
        plan += [(f"bn{i}|weight", bn.weight), (f"bn{i}|bias", bn.bias),
                 (f"bn{i}|running_mean", bn.running_mean), (f"bn{i}|running_var", bn.running_var)]
    plan += [("classifier|weight", linears[0].weight), ("classifier|bias", linears[0].bias)]
    names = [n for n, _ in plan]
    assert len(set(names)) == len(names)
    assert set(names) == set(tensors), (
        f"unmapped in checkpoint: {sorted(set(tensors) - set(names))}; "
        f"missing from checkpoint: {sorted(set(names) - set(tensors))}")
    # Every trainable parameter and running statistic of the model is a target exactly once.
    targets = {id(t) for _, t in plan}
    model_tensors = list(model.parameters()) + [b for n, b in model.named_buffers()
                                                 if not n.endswith("num_batches_tracked")]
    assert targets == {id(t) for t in model_tensors}, "mapping does not cover the model"
    with torch.no_grad():
        for name, target in plan:
            src = tensors[name]
            assert tuple(src.shape) == tuple(target.shape), f"{name}: {src.shape} vs {target.shape}"
            target.copy_(src)
    return len(plan)


# ------------------------------------------------------------------------ measurements


def as_input(images_u8):
    """uint8 [N,28,28] -> normalised float [N,1,28,28], as ToTensor() + Normalize()."""
    x = torch.from_numpy(images_u8.copy()).float().div_(255.0).unsqueeze(1)
    return (x - ref.MEAN) / ref.STD


@torch.no_grad()
def eval_metrics(model, x, y, batch=1000):
    """Eval mode: (mean per-image cross entropy, accuracy in percent)."""
    model.eval()
    loss, correct = 0.0, 0
    for i in range(0, len(y), batch):
        logits = model(x[i:i + batch])
        loss += F.cross_entropy(logits, y[i:i + batch], reduction="sum").item()
        correct += (logits.argmax(1) == y[i:i + batch]).sum().item()
    return loss / len(y), 100.0 * correct / len(y)


@torch.no_grad()
def train_mode_loss(model, x, y, batch_size, passes, dropout=True, seed=1234):
    """Train-mode loss as recorded during training (mean over batches of the batch-mean
    cross entropy; dropout and BN batch statistics), on a deep copy so that neither the
    weights nor the running statistics change. Pass k uses permutation seed seed+k and
    dropout seed seed+1000+k, so two models measured with the same `seed` see identical
    batches and dropout draws. Returns (mean over passes, per-pass values)."""
    m = copy.deepcopy(model)
    m.train()
    if not dropout:
        for mod in m.modules():
            if isinstance(mod, nn.Dropout):
                mod.eval()
    values = []
    for k in range(passes):
        perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed + k))
        torch.manual_seed(seed + 1000 + k)
        losses = []
        for i in range(0, len(y), batch_size):
            idx = perm[i:i + batch_size]
            losses.append(F.cross_entropy(m(x[idx]), y[idx]).item())
        values.append(sum(losses) / len(losses))
    return sum(values) / len(values), values


def measure(model, data, cfg, passes):
    (xtr, ytr), (xte, yte) = data
    t0 = time.perf_counter()
    out = {}
    out["eval_train_loss"], out["eval_train_acc"] = eval_metrics(model, xtr, ytr)
    out["train_loss"], out["train_loss_passes"] = train_mode_loss(model, xtr, ytr, cfg["batch_size"], passes)
    out["train_nodrop_loss"], out["train_nodrop_passes"] = train_mode_loss(
        model, xtr, ytr, cfg["batch_size"], passes, dropout=False)
    out["test_loss"], out["test_acc"] = eval_metrics(model, xte, yte)
    log(f"measured in {time.perf_counter() - t0:.0f}s: {json.dumps({k: v for k, v in out.items() if not k.endswith('passes')})}")
    return out


# ------------------------------------------------------------------- reference training


def train_reference(cfg, seed, data_dir, train_images, train_labels):
    """The reference's training run (train_reference.main, mode train, no augmentation,
    num_workers 0), same seeding and construction order, returning the final model and the
    per-epoch records."""
    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed)
    model = ref.build_model(cfg["arch"], cfg["channels"], cfg["kernel"], cfg["bn"], cfg["dropout"])
    train_set = ref.FashionMNIST(train_images, train_labels, ref.train_transform(set(), 0.1))
    loader = ref.DataLoader(train_set, batch_size=cfg["batch_size"], shuffle=True, num_workers=0,
                            pin_memory=False)
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg["lr"])
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=cfg["step"], gamma=cfg["gamma"])
    records = []
    for epoch in range(1, cfg["epochs"] + 1):
        lr = optimizer.param_groups[0]["lr"]
        seconds, loss_sum, images, batches = ref.train_epoch(model, loader, optimizer, criterion)
        scheduler.step()
        records.append({"epoch": epoch, "lr": lr, "train_loss_mean": loss_sum / batches, "batches": batches})
        log(f"reference epoch {epoch}: lr {lr:g}, loss {loss_sum / batches:.4f}, {seconds:.1f}s")
    return model, records


# ----------------------------------------------------------------------- recorded spread


def recorded_losses(arch, cfg):
    """Per-seed recorded per-epoch train_loss_mean: ours (results/trials, this protocol and
    architecture, finished) and PyTorch's committed parity records."""
    variant = {"conv2": "2 conv", "conv4": "4 conv"}[arch]
    ours = {}
    for f in sorted(glob.glob(os.path.join(REPO, "results", "trials", "*", "summary.json"))):
        s = json.load(open(f))
        c = s.get("config", {})
        if (s.get("experiment") == "architectures" and s.get("variant") == variant
                and s.get("status") == "finished" and c.get("epochs") == cfg["epochs"]
                and c.get("data", {}).get("train_limit") == cfg["train_limit"]
                and not c.get("augmentations")):
            ours[s["seed"]] = [e["train_loss_mean"] for e in s["epochs"]]
    torch_side = {}
    for f in sorted(glob.glob(os.path.join(REPO, "results", "parity-study", "pytorch", f"{arch}-*-seed*.json"))):
        s = json.load(open(f))
        if s["settings"]["epochs"] == cfg["epochs"] and s["settings"]["train_limit"] == cfg["train_limit"]:
            torch_side[s["seed"]] = [e["train_loss_mean"] for e in s["epochs"]]
    return ours, torch_side


def spread_table(ours, torch_side):
    lines = ["epoch | ours mean (sd) [per seed] | pytorch mean (sd) [per seed] | diff | Welch t"]
    n_ep = min(len(v) for v in list(ours.values()) + list(torch_side.values()))
    for e in range(n_ep):
        a = [ours[s][e] for s in sorted(ours)]
        b = [torch_side[s][e] for s in sorted(torch_side)]
        ma, mb = statistics.mean(a), statistics.mean(b)
        sa, sb = statistics.stdev(a), statistics.stdev(b)
        se = math.sqrt(sa ** 2 / len(a) + sb ** 2 / len(b))
        lines.append(f"{e + 1} | {ma:.4f} ({sa:.4f}) {[round(v, 4) for v in a]} | "
                     f"{mb:.4f} ({sb:.4f}) {[round(v, 4) for v in b]} | {ma - mb:+.4f} | {(ma - mb) / se:+.2f}")
    return lines


# --------------------------------------------------------------------------------- main


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--trial", required=True, help="one of our trial folders (with ckpt/last.model.ot)")
    p.add_argument("--shuffles", type=int, default=5, help="train-mode passes per measurement")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--extra-ckpt", action="append", default=[], help="also measure ckpt/<NAME>/model.ot of ours")
    p.add_argument("--skip-reference", action="store_true", help="measure our model only")
    p.add_argument("--json-out", default=None)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)

    summary = json.load(open(os.path.join(args.trial, "summary.json")))
    c = summary["config"]
    assert c["model"]["architecture"] in ("conv2", "conv4"), c["model"]["architecture"]
    assert not c["augmentations"] and c["optimizer"]["name"] == "adam" and c["optimizer"]["weight_decay"] == 0.0
    cfg = {
        "arch": c["model"]["architecture"], "channels": c["model"]["channels"], "kernel": c["model"]["kernel_size"],
        "bn": c["model"]["batch_norm"], "dropout": c["model"]["dropout"], "lr": c["optimizer"]["lr"],
        "step": c["schedule"]["Step"]["every"], "gamma": c["schedule"]["Step"]["gamma"], "epochs": c["epochs"],
        "batch_size": c["batch_size"], "train_limit": c["data"]["train_limit"], "test_limit": c["data"]["test_limit"],
    }
    seed = summary["seed"]
    log(f"trial {summary['id'][:12]} {summary['variant']} seed {seed}: {cfg}")

    tr_img, tr_lbl = ref.load_split(args.data_dir, "train")
    te_img, te_lbl = ref.load_split(args.data_dir, "test")
    tr_img, tr_lbl = tr_img[:cfg["train_limit"]], tr_lbl[:cfg["train_limit"]]
    te_img, te_lbl = te_img[:cfg["test_limit"]], te_lbl[:cfg["test_limit"]]
    data = ((as_input(tr_img), torch.from_numpy(tr_lbl.copy())), (as_input(te_img), torch.from_numpy(te_lbl.copy())))

    result = {"trial": summary["id"], "variant": summary["variant"], "seed": seed, "config": cfg,
              "threads": torch.get_num_threads(), "torch": torch.__version__, "shuffles": args.shuffles}

    # 1. our weights in the reference model, checked by the recorded test accuracy
    ours = ref.build_model(cfg["arch"], cfg["channels"], cfg["kernel"], cfg["bn"], cfg["dropout"])
    n = load_ours_into(ours, our_tensors(os.path.join(args.trial, "ckpt", "last.model.ot")))
    test_loss, test_acc = eval_metrics(ours, *data[1])
    rec = summary["epochs"][-1]
    log(f"mapped {n} tensors; test accuracy {test_acc:.2f} (recorded {summary['final_accuracy']}), "
        f"test loss {test_loss:.5f} (recorded {rec['test_loss']:.5f})")
    assert abs(test_acc - summary["final_accuracy"]) <= 0.01 + 1e-9, "mapping check failed"
    result["ours"] = {"recorded_last_epoch_train_loss": rec["train_loss_mean"],
                      "recorded_train_losses": [e["train_loss_mean"] for e in summary["epochs"]],
                      "recorded_test_loss": rec["test_loss"], "recorded_test_acc": rec["test_accuracy"],
                      **measure(ours, data, cfg, args.shuffles)}
    for name in args.extra_ckpt:
        m = ref.build_model(cfg["arch"], cfg["channels"], cfg["kernel"], cfg["bn"], cfg["dropout"])
        load_ours_into(m, our_tensors(os.path.join(args.trial, "ckpt", name, "model.ot")))
        result[f"ours_{name}"] = measure(m, data, cfg, args.shuffles)

    # 2. the reference trained with the same protocol and seed
    if not args.skip_reference:
        t0 = time.perf_counter()
        model, records = train_reference(cfg, seed, args.data_dir, tr_img, tr_lbl)
        committed = glob.glob(os.path.join(REPO, "results", "parity-study", "pytorch", f"{cfg['arch']}-*-seed{seed}.json"))
        result["pytorch"] = {"train_seconds": time.perf_counter() - t0,
                             "recorded_train_losses": [r["train_loss_mean"] for r in records],
                             "recorded_last_epoch_train_loss": records[-1]["train_loss_mean"],
                             "committed_train_losses": ([e["train_loss_mean"] for e in json.load(open(committed[0]))["epochs"]]
                                                        if committed else None),
                             **measure(model, data, cfg, args.shuffles)}

    # 4. recorded seed spread
    ours_rec, torch_rec = recorded_losses(cfg["arch"], cfg)
    result["recorded_spread"] = {"ours": ours_rec, "pytorch": torch_rec}

    # report
    print(f"# {summary['variant']} seed {seed}, trial {summary['id'][:12]}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} thread(s), {args.shuffles} train-mode passes")
    keys = [("recorded_last_epoch_train_loss", "recorded last-epoch train loss"),
            ("eval_train_loss", "(a) eval-mode train loss"), ("eval_train_acc", "    eval-mode train acc %"),
            ("train_loss", "(b) train-mode loss (dropout+BN batch)"),
            ("train_nodrop_loss", "(c) train-mode loss, no dropout"),
            ("test_loss", "test loss (eval)"), ("test_acc", "test acc % (eval)")]
    sides = [s for s in ("ours", "pytorch") if s in result] + [f"ours_{n}" for n in args.extra_ckpt]
    print("quantity | " + " | ".join(sides))
    for k, label in keys:
        vals = [result[s].get(k) for s in sides]
        print(f"{label} | " + " | ".join("-" if v is None else f"{v:.4f}" for v in vals))
    for s in sides:
        for k in ("train_loss_passes", "train_nodrop_passes"):
            print(f"{s} {k}: {[round(v, 4) for v in result[s][k]]}")
    if "pytorch" in result:
        print("pytorch rerun per-epoch:   ", [round(v, 4) for v in result["pytorch"]["recorded_train_losses"]])
        if result["pytorch"]["committed_train_losses"]:
            print("pytorch committed per-epoch:", [round(v, 4) for v in result["pytorch"]["committed_train_losses"]])
    print("ours recorded per-epoch:   ", [round(v, 4) for v in result["ours"]["recorded_train_losses"]])
    print("\n# recorded per-epoch train loss across seeds")
    for line in spread_table(ours_rec, torch_rec):
        print(line)
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
