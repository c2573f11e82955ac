#!/usr/bin/env python3
"""PyTorch + torchvision reference for the Fashion-MNIST study, written the way the
study's users write it: a `torch.utils.data.Dataset` over uint8 arrays that hands PIL
images to a `transforms.Compose`, a `DataLoader` with worker processes, eager PyTorch
models, Adam (or SGD with momentum), CrossEntropyLoss and a per-epoch StepLR.

It exists so that `bench/compare.py` can time our Rust harness against what a PyTorch
user would run on the same machine, and so that `harness parity` can check that our
trainer (its own Adam, SGD, initialisation, batch norm and data path) learns as well as
plain PyTorch with the same settings. Everything here is stock PyTorch: `torch.optim.Adam`
/ `SGD`, `StepLR`, the layers' default initialisation, `nn.CrossEntropyLoss()` (mean over
the batch, as ours), and the normalisation constants of our `data` crate (`PIXEL_MEAN`,
`PIXEL_STD`). `--seed` seeds torch (initialisation, dropout, the DataLoader's shuffle),
Python's `random` and NumPy.

Output is JSON lines on stdout; everything human-readable goes to stderr:
  {"kind": "start", ...}   first: torch and torchvision versions, threads, parameters, seed;
  {"kind": "epoch", ...}   one per epoch: epoch (1-based; 0 = warm-up), lr (during the
                           epoch), train_loss_sum (sum over batches of the mean batch loss),
                           train_loss_mean (that sum / batches), batches, images,
                           epoch_time_s, test_accuracy (percent, or null without a test set);
                           a non-finite number (a diverged run) is written as null;
  {"kind": "latency", ...} last, in `--mode train` (unless --no-latency) / `--mode latency`.

Modes:
  train    E epochs (train + evaluate each), then the latency measurement.
  epochs   1 warm-up epoch ("warmup": true) then E timed epochs; epoch lines only.
  latency  build the model (untrained weights) and measure inference latency only
           (--engines: also TorchScript frozen and ONNX Runtime).
  peak     the practical fp32 peak: a 2048 x 2048 matrix multiply, GFLOP/s.
"""

import argparse
import contextlib
import gzip
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
import torchvision
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

# The same constants as crates/data (PIXEL_MEAN, PIXEL_STD): pixels in [0, 1], normalised.
MEAN, STD = 0.2860, 0.3530
NUM_CLASSES = 10
IMAGE_MAGIC, LABEL_MAGIC = 2051, 2049
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", 60000),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", 10000),
}
LATENCY_WARMUP, LATENCY_TIMED = 10, 50
# Timed passes at the eval batch (each 30-800 ms on 2 cores): 20 give a stable median and keep
# `make bench`'s three engines per architecture within its time.
LATENCY_TIMED_EVAL = 20


# ---------------------------------------------------------------------------- data


def _read_raw(data_dir, name):
    """Bytes of an IDX file, from `name.gz` (preferred) or the uncompressed `name`."""
    gz = os.path.join(data_dir, name + ".gz")
    if os.path.exists(gz):
        with gzip.open(gz, "rb") as f:
            return f.read()
    plain = os.path.join(data_dir, name)
    if os.path.exists(plain):
        with open(plain, "rb") as f:
            return f.read()
    raise FileNotFoundError(f"neither {gz} nor {plain} exists")


def _header(raw, name, magic, ndims):
    if len(raw) < 4 + 4 * ndims:
        raise ValueError(f"{name}: {len(raw)} bytes is too short for an IDX header")
    found = int.from_bytes(raw[0:4], "big")
    if found != magic:
        raise ValueError(f"{name}: magic {found}, expected {magic}")
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndims)]
    body = 4 + 4 * ndims
    want = body + int(np.prod(dims))
    if len(raw) != want:
        raise ValueError(f"{name}: {len(raw)} bytes, header {dims} implies {want}")
    return dims, body


def load_split(data_dir, split):
    """(images uint8 [N,28,28], labels int64 [N]) with magic, shape and count checks."""
    img_name, lbl_name, count = FILES[split]
    raw = _read_raw(data_dir, img_name)
    (n, rows, cols), off = _header(raw, img_name, IMAGE_MAGIC, 3)
    if (n, rows, cols) != (count, 28, 28):
        raise ValueError(f"{img_name}: shape {(n, rows, cols)}, expected {(count, 28, 28)}")
    images = np.frombuffer(raw, dtype=np.uint8, offset=off).reshape(n, rows, cols)
    raw = _read_raw(data_dir, lbl_name)
    (m,), off = _header(raw, lbl_name, LABEL_MAGIC, 1)
    if m != count:
        raise ValueError(f"{lbl_name}: {m} labels, expected {count}")
    labels = np.frombuffer(raw, dtype=np.uint8, offset=off).astype(np.int64)
    if labels.max() >= NUM_CLASSES:
        raise ValueError(f"{lbl_name}: label {labels.max()} out of range")
    return images, labels


class FashionMNIST(Dataset):
    """uint8 images -> PIL 'L' image -> transform, as torchvision's own dataset does."""

    def __init__(self, images, labels, transform):
        self.images = images
        self.labels = labels
        self.transform = transform

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, index):
        img = Image.fromarray(self.images[index], mode="L")
        return self.transform(img), int(self.labels[index])


def parse_augment(text):
    if text == "none":
        return set()
    if text == "all":
        return {"flip", "translation", "erasing"}
    names = {t.strip() for t in text.split(",") if t.strip()}
    unknown = names - {"flip", "translation", "erasing"}
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"--augment: unknown {sorted(unknown)}; use none|all|flip,translation,erasing"
        )
    return names


def train_transform(augment, translate):
    steps = []
    if "flip" in augment:
        steps.append(transforms.RandomHorizontalFlip(p=0.5))
    if "translation" in augment:
        steps.append(transforms.RandomAffine(degrees=0, translate=(translate, translate)))
    steps.append(transforms.ToTensor())
    if "erasing" in augment:
        # Before Normalize, so value 0 is black, as in our harness.
        steps.append(transforms.RandomErasing(p=0.5, scale=(0.02, 0.33), ratio=(0.3, 3.3), value=0))
    steps.append(transforms.Normalize((MEAN,), (STD,)))
    return transforms.Compose(steps)


def eval_transform():
    return transforms.Compose([transforms.ToTensor(), transforms.Normalize((MEAN,), (STD,))])


# -------------------------------------------------------------------------- models


def conv_bn_relu(cin, cout, k, bn):
    layers = [nn.Conv2d(cin, cout, k, padding=k // 2, bias=True)]
    if bn:
        layers.append(nn.BatchNorm2d(cout))
    layers.append(nn.ReLU(inplace=True))
    return layers


class ResBlock(nn.Module):
    """conv BN ReLU conv BN, plus the identity, then ReLU (channels unchanged)."""

    def __init__(self, c, k, bn):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, k, padding=k // 2, bias=True)
        self.bn1 = nn.BatchNorm2d(c) if bn else nn.Identity()
        self.conv2 = nn.Conv2d(c, c, k, padding=k // 2, bias=True)
        self.bn2 = nn.BatchNorm2d(c) if bn else nn.Identity()
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + x)


def build_model(arch, w, k, bn, dropout):
    if arch in ("conv2", "conv2_res"):
        layers = conv_bn_relu(1, w, k, bn)
        if arch == "conv2_res":
            layers.append(ResBlock(w, k, bn))
        layers += [nn.MaxPool2d(2)]
        layers += conv_bn_relu(w, 2 * w, k, bn) + [nn.MaxPool2d(2)]
        features = 2 * w * 7 * 7
    elif arch in ("conv4", "conv4_res"):
        layers = conv_bn_relu(1, w, k, bn) + conv_bn_relu(w, 2 * w, k, bn)
        if arch == "conv4_res":
            layers.append(ResBlock(2 * w, k, bn))
        layers += [nn.MaxPool2d(2)]
        layers += conv_bn_relu(2 * w, 4 * w, k, bn) + conv_bn_relu(4 * w, 4 * w, k, bn)
        layers += [nn.MaxPool2d(2)]
        features = 4 * w * 7 * 7
    else:
        raise ValueError(f"unknown arch {arch}")
    layers += [nn.Flatten(), nn.Dropout(dropout), nn.Linear(features, NUM_CLASSES)]
    return nn.Sequential(*layers)


def param_count(model):
    return sum(p.numel() for p in model.parameters())


# ------------------------------------------------------------------------ training


def autocast(precision):
    """The context of a forward pass: `torch.autocast("cpu", dtype=torch.bfloat16)` for
    --precision bf16 (PyTorch's own mixed precision: convolutions and linear layers in
    bf16, the loss in fp32; weights and optimiser stay fp32), nothing for fp32."""
    if precision == "bf16":
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def train_epoch(model, loader, optimizer, criterion, precision="fp32"):
    """One pass over the loader; returns (wall seconds, summed batch losses, images,
    batches). The wall time covers everything the loop does: worker start-up, decoding,
    augmentation, collation, forward, backward, optimizer step."""
    model.train()
    loss_sum, images, batches = 0.0, 0, 0
    start = time.perf_counter()
    for x, y in loader:
        optimizer.zero_grad()
        with autocast(precision):
            loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
        loss_sum += loss.item()
        images += y.shape[0]
        batches += 1
    return time.perf_counter() - start, loss_sum, images, batches


@torch.no_grad()
def evaluate(model, loader, precision="fp32"):
    """Test accuracy in percent (as our records), or None without test images."""
    model.eval()
    correct, total = 0, 0
    for x, y in loader:
        with autocast(precision):
            logits = model(x)
        correct += (logits.float().argmax(dim=1) == y).sum().item()
        total += y.shape[0]
    return 100.0 * correct / total if total else None


def percentile(values, q):
    return float(np.percentile(np.asarray(values, dtype=np.float64), q))


def _time_calls(run, x_all):
    """batch 1 and eval-batch timings of `run(batch)`: warm-up, then timed calls."""
    result = {}
    for key, batch in (("batch1", x_all[:1]), ("eval", x_all)):
        for _ in range(LATENCY_WARMUP):
            run(batch)
        times = []
        for _ in range(LATENCY_TIMED if key == "batch1" else LATENCY_TIMED_EVAL):
            t0 = time.perf_counter()
            run(batch)
            times.append((time.perf_counter() - t0) * 1000.0)
        entry = {"median_ms": statistics.median(times), "p95_ms": percentile(times, 95)}
        if key == "eval":
            entry = {"batch": int(batch.shape[0]), **entry}
        result[key] = entry
    return result


@torch.no_grad()
def measure_latency(model, test_images, eval_batch, engines=False):
    """Inference latency on the first test images (normalised, no augmentation).

    Eager `model.eval()` under `torch.no_grad()`, as the study's users run it. With
    `engines`, also what a user would deploy, timed the same way right after it in the same
    process: TorchScript `optimize_for_inference(freeze(script(model)))` (batch norm folded,
    weights prepacked) and ONNX Runtime on `torch.onnx.export(..., dynamo=False)`'s file
    (opset 17, dynamic batch, all graph optimisations, which fold batch norm too), with the
    same intra-op thread count as torch."""
    model.eval()
    x_all = (torch.from_numpy(test_images[:eval_batch].copy()).float().div_(255.0).unsqueeze(1) - MEAN) / STD
    result = _time_calls(model, x_all)
    if not engines:
        return result
    frozen = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.script(model)))
    timed = {"torchscript_frozen": _time_calls(frozen, x_all)}
    import tempfile

    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.onnx")
        import warnings

        with warnings.catch_warnings():
            # The TorchScript-based exporter is chosen on purpose (GUIDE: dynamo=False).
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(model, (x_all[:1],), path, opset_version=17, input_names=["images"],
                              output_names=["logits"], dynamic_axes={"images": {0: "batch"}, "logits": {0: "batch"}},
                              dynamo=False)
        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    x_np = x_all.numpy()
    timed["onnxruntime"] = _time_calls(lambda b: session.run(None, {"images": b}), x_np)
    timed["onnxruntime"]["version"] = ort.__version__
    result["engines"] = timed
    return result


PEAK_N, PEAK_WARMUP, PEAK_TIMED = 2048, 3, 15


def measure_peak():
    """The machine's practical fp32 peak at torch's thread count: a large square matrix
    multiply (2 n^3 FLOPs), the fastest of the timed calls, in GFLOP/s."""
    a = torch.randn(PEAK_N, PEAK_N)
    b = torch.randn(PEAK_N, PEAK_N)
    for _ in range(PEAK_WARMUP):
        torch.mm(a, b)
    times = []
    for _ in range(PEAK_TIMED):
        t0 = time.perf_counter()
        torch.mm(a, b)
        times.append(time.perf_counter() - t0)
    # The best call: a peak is what the machine can do, and a stray interruption only slows.
    return {"gflops": 2.0 * PEAK_N**3 / min(times) / 1e9, "n": PEAK_N,
            "threads": torch.get_num_threads()}


def _strict(value):
    """`value` with every non-finite float (a diverged run's loss) replaced by None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _strict(v) for k, v in value.items()}
    return value


def emit(obj):
    # Strict JSON: json.dumps would write NaN, which JSON parsers (serde_json) refuse.
    sys.stdout.write(json.dumps(_strict(obj), allow_nan=False) + "\n")
    sys.stdout.flush()


def log(msg):
    print(f"reference: {msg}", file=sys.stderr, flush=True)


def default_data_dir():
    for d in (
        os.environ.get("FASHION_MNIST_DIR"),
        os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "fmnist-harness", "fashion-mnist"),
        "/usr/share/datasets/fashion-mnist",
    ):
        if d and (os.path.exists(os.path.join(d, "train-images-idx3-ubyte.gz")) or os.path.exists(os.path.join(d, "train-images-idx3-ubyte"))):
            return d
    return "/usr/share/datasets/fashion-mnist"


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arch", choices=["conv2", "conv2_res", "conv4", "conv4_res"], default="conv4")
    p.add_argument("--channels", type=int, default=32)
    p.add_argument("--kernel", type=int, default=3)
    p.add_argument("--no-bn", action="store_true", help="leave out BatchNorm2d")
    p.add_argument("--dropout", type=float, default=0.2)
    p.add_argument("--augment", type=parse_augment, default=set(), help="none | all | comma list of flip,translation,erasing")
    p.add_argument("--translate", type=float, default=0.1, help="RandomAffine translate fraction f (both axes)")
    p.add_argument("--optimizer", choices=["adam", "sgd"], default="adam")
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--momentum", type=float, default=0.9, help="SGD only")
    p.add_argument("--step-size", type=int, default=10, help="StepLR step size in epochs")
    p.add_argument("--gamma", type=float, default=0.1, help="StepLR factor")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--train-limit", type=int, default=None, help="first N training images (default all 60,000)")
    p.add_argument("--test-limit", type=int, default=None, help="first M test images (default all 10,000; 0 = no evaluation)")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--eval-batch-size", type=int, default=256)
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)")
    p.add_argument("--num-workers", type=int, default=0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--precision", choices=["fp32", "bf16"], default="fp32",
                   help="bf16: train and evaluate under torch.autocast('cpu', dtype=torch.bfloat16)")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--mode", choices=["train", "epochs", "latency", "peak"], default="train")
    p.add_argument("--engines", action="store_true",
                   help="--mode latency: also time TorchScript frozen and ONNX Runtime (needs onnxruntime)")
    p.add_argument("--no-latency", action="store_true", help="--mode train: skip the latency measurement at the end")
    args = p.parse_args(argv)
    for name in ("channels", "kernel", "batch_size", "eval_batch_size"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.kernel % 2 == 0:
        p.error("--kernel must be odd (padding k//2 keeps 28x28)")
    if args.epochs < 1 and args.mode != "latency":
        p.error("--epochs must be >= 1")
    if args.num_workers < 0:
        p.error("--num-workers must be >= 0")
    if not 0.0 <= args.translate <= 1.0:
        p.error("--translate must be in [0, 1]")
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    np.random.seed(args.seed)
    data_dir = args.data_dir or default_data_dir()

    model = build_model(args.arch, args.channels, args.kernel, not args.no_bn, args.dropout)
    n_params = param_count(model)
    emit(
        {
            "kind": "start",
            "torch": torch.__version__,
            "torchvision": torchvision.__version__,
            "threads": torch.get_num_threads(),
            "device": "cpu",
            "params": n_params,
            "seed": args.seed,
            "precision": args.precision,
        }
    )
    log(
        f"arch={args.arch} channels={args.channels} kernel={args.kernel} bn={not args.no_bn} "
        f"dropout={args.dropout} params={n_params} augment={','.join(sorted(args.augment)) or 'none'} "
        f"threads={torch.get_num_threads()} workers={args.num_workers} precision={args.precision} torch={torch.__version__}"
    )

    try:
        test_images, test_labels = load_split(data_dir, "test")
        train_images, train_labels = load_split(data_dir, "train") if args.mode != "latency" else (None, None)
    except (OSError, ValueError) as e:
        raise SystemExit(f"reference: cannot load Fashion-MNIST from {data_dir}: {e}")
    if args.mode == "peak":
        emit({"kind": "peak", **measure_peak()})
        return 0
    if args.mode == "latency":
        emit({"kind": "latency", **measure_latency(model, test_images, args.eval_batch_size, engines=args.engines)})
        return 0

    if args.train_limit is not None:
        if not 1 <= args.train_limit <= len(train_labels):
            raise SystemExit(f"--train-limit must be in 1..={len(train_labels)}")
        train_images, train_labels = train_images[: args.train_limit], train_labels[: args.train_limit]
    m = len(test_labels) if args.test_limit is None else args.test_limit
    if not 0 <= m <= len(test_labels):
        raise SystemExit(f"--test-limit must be in 0..={len(test_labels)}")

    train_set = FashionMNIST(train_images, train_labels, train_transform(args.augment, args.translate))
    test_set = FashionMNIST(test_images[:m], test_labels[:m], eval_transform())
    train_loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True, num_workers=args.num_workers, pin_memory=False)
    test_loader = DataLoader(test_set, batch_size=args.eval_batch_size, shuffle=False, num_workers=args.num_workers, pin_memory=False)

    criterion = nn.CrossEntropyLoss()
    if args.optimizer == "adam":
        optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    else:
        optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=args.step_size, gamma=args.gamma)

    epochs = [(0, True)] if args.mode == "epochs" else []
    epochs += [(e, False) for e in range(1, args.epochs + 1)]
    for epoch, warmup in epochs:
        lr = optimizer.param_groups[0]["lr"]  # the rate this epoch trains with
        seconds, loss_sum, images, batches = train_epoch(model, train_loader, optimizer, criterion, args.precision)
        scheduler.step()
        accuracy = evaluate(model, test_loader, args.precision) if m > 0 else None
        line = {
            "kind": "epoch",
            "epoch": epoch,
            "lr": lr,
            "epoch_time_s": seconds,
            "train_loss_sum": loss_sum,
            "train_loss_mean": loss_sum / batches if batches else None,
            "batches": batches,
            "test_accuracy": accuracy,
            "images": images,
        }
        if warmup:
            line["warmup"] = True
        emit(line)
        log(f"epoch {epoch}{' (warm-up)' if warmup else ''}: {seconds:.3f}s, {images / seconds:.0f} img/s, loss_sum {loss_sum:.3f}, accuracy {accuracy}")

    if args.mode == "train" and not args.no_latency:
        emit({"kind": "latency", **measure_latency(model, test_images, args.eval_batch_size)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
