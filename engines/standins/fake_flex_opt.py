"""A stand-in for ``flexgen.flex_opt`` (which needs CUDA): same flags, same benchmark log format.

Numbers scale with the batch like seed 000's; ``num_gpu_batches * prompt_len > 8192`` ends in the
CUDA OOM traceback FlexGen prints (exit 1); ``--debug-mode breakdown`` exits 0 without results.
``--cut-gen-len N`` is honoured as ``flex_opt.py`` does: N tokens are "generated", the decode
latency is projected to ``--gen-len`` and the log says ``projected: True``
(``projected = bool(args.debug_mode or cut_gen_len)``). It prints its version first.
"""

from __future__ import annotations

import argparse
import sys

VERSION = "0.1.7-standin"


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True)
    p.add_argument("--path", default="~/opt_weights")
    p.add_argument("--offload-dir", default="~/flexgen_offload_dir")
    p.add_argument("--prompt-len", type=int, default=512)
    p.add_argument("--gen-len", type=int, default=32)
    p.add_argument("--cut-gen-len", type=int)
    p.add_argument("--debug-mode", choices=["fewer_batch", "breakdown"])
    p.add_argument("--gpu-batch-size", type=int, default=4)
    p.add_argument("--num-gpu-batches", type=int, default=1)
    p.add_argument("--percent", nargs="+", type=int, default=[100, 0, 100, 0, 100, 0])
    p.add_argument("--compress-cache", action="store_true")
    a = p.parse_args()
    print(f"flexgen version: {VERSION}", flush=True)
    if a.num_gpu_batches * a.prompt_len > 8192:
        print('Traceback (most recent call last):\n  File "flex_opt.py", line 1311, in <module>', flush=True)
        print("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 4.00 GiB.", file=sys.stderr)
        return 1
    if a.debug_mode == "breakdown":
        print("breakdown only")
        return 0
    batch = a.gpu_batch_size * a.num_gpu_batches
    total = 0.66 * a.num_gpu_batches
    tokens = batch * a.gen_len
    # flex_opt.py runs cut_gen_len tokens and projects the decode latency to gen_len: the printed
    # numbers are for gen_len either way (here: the same), only `projected` tells them apart
    projected = bool(a.debug_mode or a.cut_gen_len)
    print(f"TorchDevice: cuda:0\n  cur_mem: 2.4430 GB, peak_mem: {1.5 + 0.8 * a.num_gpu_batches:.4f} GB")
    print(
        f"model size: 2.443 GB\tcache size: {0.797 * a.num_gpu_batches:.3f} GB\thidden size (p): 0.017 GB\n"
        f"peak gpu mem: {1.5 + 0.8 * a.num_gpu_batches:.3f} GB\tprojected: {projected}\n"
        f"prefill latency: {total * 0.2:.3f} s\t"
        f"prefill throughput: {batch * a.prompt_len / (total * 0.2):.3f} token/s\n"
        f"decode latency: {total * 0.8:.3f} s\tdecode throughput: {tokens / (total * 0.8):.3f} token/s\n"
        f"total latency: {total:.3f} s\ttotal throughput: {tokens / total:.3f} token/s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
