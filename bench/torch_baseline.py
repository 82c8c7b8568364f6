#!/usr/bin/env python3
"""PyTorch composite AReLU on the same GPU: the baseline of SPEC section 7.

The module of the paper's authors, in eager mode:
    y = relu(x) * (1 + sigmoid(beta)) - relu(-x) * clamp(alpha, 0.01, 0.99)
Times, with CUDA events (median of --reps batches of --calls calls, after
warm-up), at the sizes of bench/gpu-bench.js:
  forward            y = f(x)                        (no autograd graph)
  backward           torch.autograd.grad(y, (x, alpha, beta), g) on a kept graph
  copy               a device-to-device copy of the same bytes (y.copy_(x))
GB/s use the bytes arelu must move (forward 8, backward 12 per element,
copy 8), so the figures line up with gpu-bench.json.

Usage: python3 bench/torch_baseline.py [--sizes 16M,64M,256M,1G] [--out torch.json]
"""
import argparse
import datetime
import json
import statistics
import sys


def parse_size(s):
    s = s.strip().upper()
    mult = {"K": 2 ** 10, "M": 2 ** 20, "G": 2 ** 30}
    return int(s[:-1]) * mult[s[-1]] if s[-1] in mult else int(s)


def fmt_size(n):
    for u, v in (("G", 2 ** 30), ("M", 2 ** 20), ("K", 2 ** 10)):
        if n >= v and n % v == 0:
            return f"{n // v}{u}"
    return str(n)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="16M,64M,256M,1G")
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--calls", type=int, default=10)
    ap.add_argument("--out", default=None)
    o = ap.parse_args()
    report = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(), "rows": []}
    try:
        import torch
        import torch.nn.functional as F
    except Exception as e:  # noqa: BLE001 - any import failure is reported
        report["skipped"] = f"PyTorch not importable: {e!r}"
        return finish(report, o.out)
    report["torch"] = torch.__version__
    if not torch.cuda.is_available():
        report["skipped"] = "torch.cuda.is_available() is False"
        return finish(report, o.out)
    dev = torch.device("cuda:0")
    report["gpu"] = torch.cuda.get_device_name(0)
    report["method"] = (f"CUDA events, median of {o.reps} batches of {o.calls} calls after warm-up; "
                        "eager composite module of the AReLU authors")

    class AReLU(torch.nn.Module):
        def __init__(self, alpha=0.90, beta=2.0):
            super().__init__()
            self.alpha = torch.nn.Parameter(torch.tensor([alpha]))
            self.beta = torch.nn.Parameter(torch.tensor([beta]))

        def forward(self, x):
            alpha = torch.clamp(self.alpha, min=0.01, max=0.99)
            beta = 1 + torch.sigmoid(self.beta)
            return F.relu(x) * beta - F.relu(-x) * alpha

    def timed(fn):
        fn()
        torch.cuda.synchronize()
        per = []
        for _ in range(o.reps):
            start = torch.cuda.Event(enable_timing=True)
            stop = torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(o.calls):
                fn()
            stop.record()
            stop.synchronize()
            per.append(start.elapsed_time(stop) / 1e3 / o.calls)
        return statistics.median(per)

    m = AReLU(0.3, 0.7).to(dev)
    for n in [parse_size(s) for s in o.sizes.split(",")]:
        row = {"n": n, "size": fmt_size(n)}
        try:
            gen = torch.Generator(device=dev).manual_seed(1234)
            x = torch.rand(n, device=dev, generator=gen) * 8 - 4 + 1e-3
            g = torch.rand(n, device=dev, generator=gen) * 8 - 4 + 1e-3
            y = torch.empty_like(x)
            t_copy = timed(lambda: y.copy_(x))
            with torch.no_grad():
                t_fwd = timed(lambda: m(x))
            xg = x.detach().requires_grad_(True)
            out = m(xg)
            t_bwd = timed(lambda: torch.autograd.grad(out, (xg, m.alpha, m.beta), g, retain_graph=True))
            row.update({
                "copyMs": t_copy * 1e3, "forwardMs": t_fwd * 1e3, "backwardMs": t_bwd * 1e3,
                "copyGBs": 8 * n / t_copy / 1e9, "forwardGBs": 8 * n / t_fwd / 1e9,
                "backwardGBs": 12 * n / t_bwd / 1e9,
            })
            print(f"torch {row['size']:>5}: copy {row['copyGBs']:.0f} GB/s, composite forward "
                  f"{row['forwardMs']:.3f} ms ({row['forwardGBs']:.0f} GB/s), backward {row['backwardMs']:.3f} ms "
                  f"({row['backwardGBs']:.0f} GB/s)", file=sys.stderr, flush=True)
            del x, g, y, xg, out
        except torch.cuda.OutOfMemoryError as e:
            row["error"] = f"out of memory: {e}"
        torch.cuda.empty_cache()
        report["rows"].append(row)
    return finish(report, o.out)


def finish(report, out):
    text = json.dumps(report, indent=2)
    if out:
        with open(out, "w") as f:
            f.write(text + "\n")
    else:
        print(text)
    if "skipped" in report:
        print(f"torch_baseline: skipped: {report['skipped']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
