#!/usr/bin/env bash
# zcopy gpu load against the loaders a PyTorch user has today: a generated safetensors checkpoint
# into CUDA memory, warm and cold, interleaved rounds, medians and ratios. Loaders:
#   safetensors.load_file   safetensors.torch.load_file(FILE.safetensors, device="cuda")
#   torch.load              torch.load(FILE.pt, map_location="cuda", weights_only=True), the .pt
#                           holding the same tensors (torch.save of the same dict)
#   zcopy M                 zcopy gpu load FILE.safetensors --json --method M, for every M in
#                           ZCOPY_METHODS (auto registered bounce naive); `auto` is reported with
#                           the method it resolved to
#   dd iflag=direct         dd if=FILE.safetensors of=/dev/null bs=16M iflag=direct: the storage's
#                           own O_DIRECT read rate, the ceiling for the cold loads
# Checkpoint: SIZE_GIB (default 4) of random values (torch.randn on the GPU, then .cpu(); never
# zeros) shaped like a LLaMA-7B: bf16 [4096,4096] attention and [11008,4096] MLP matrices, fp32
# [4096] norm vectors, embedding and LM head; written once into GPU_BENCH_DIR with
# safetensors.torch.save_file and torch.save, fsynced, and reused while its manifest matches.
# Warm: the file is read once (cat) before the timed load, so the page cache holds it. Cold: its
# pages are dropped just before the timed load: sync, posix_fadvise(POSIX_FADV_DONTNEED) on the
# file, and echo 1 > /proc/sys/vm/drop_caches when writable (root). Every run records how much of
# the file the page cache held when it started (mincore; zcopy reports its own).
# What is timed: zcopy's own `seconds` (from opening the file to the data on the device,
# synchronized; CUDA context creation excluded); for the Python loaders, the call alone with
# time.perf_counter() up to torch.cuda.synchronize(), in a fresh process whose CUDA context is
# created (torch.cuda.init() and a tiny allocation) and whose loader has loaded a tiny file of the
# same format once, so neither side pays for imports or the context. Every load is a fresh
# process, bounded by LOAD_TIMEOUT; a loader that fails or hangs is reported with its stderr and
# the others go on. GB/s = data-section bytes (sum of tensor nbytes) / seconds / 1e9, for every
# loader, the .pt included.
# Each round runs every loader warm then cold, the loaders' order rotated by one each round.
# Printed: the machine (GPU, driver, GPU memory, kernel, CPUs, memory, versions, the storage),
# every run, then per loader and cache the median seconds, median/min/max GB/s and the median
# resident fraction, and the ratios: zcopy auto vs load_file and vs torch.load (warm, cold),
# zcopy registered vs naive (warm), and every cold load as a % of dd's O_DIRECT rate.
#
#   bash bench/gpu-vs-safetensors.sh                        # 3 rounds, 4 GiB, /tmp/zcopy-gpu-bench
#   ROUNDS=5 ZCOPY_METHODS="auto registered bounce naive cufile" \
#     OUT_JSON=/tmp/gpu-vs-safetensors.json bash bench/gpu-vs-safetensors.sh
#
# Options, as environment variables (or the flag after them):
#   ROUNDS (--rounds, 3)  SIZE_GIB (--size-gib, 4)  GPU_BENCH_DIR (--dir, /tmp/zcopy-gpu-bench,
#   on a disk: on tmpfs nothing is ever cold)  ZCOPY (--zcopy, build/tools/zcopy/zcopy, built
#   with -DZCOPY_WITH_CUDA=ON; nothing is built here)  ZCOPY_METHODS (--methods)
#   LOADERS (--loaders, "load_file torch_load zcopy dd")  OUT_JSON (--out-json: every run, the
#   summary, the ratios and the machine as JSON; default none)  LOAD_TIMEOUT (--timeout, 120 s a
#   run)  GEN_TIMEOUT (--gen-timeout, 1800 s for writing the checkpoint)
# Needs python3 with torch (CUDA) and safetensors, nvidia-smi and dd; no network. Run it as root on
# an otherwise idle machine. Exit status: 0; 1 when a run failed (the table is printed all the
# same); 2 when no CUDA device is visible, torch or safetensors is missing, or ZCOPY is not an
# executable file.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export ZCOPY=${ZCOPY:-$root/build/tools/zcopy/zcopy}

if ! command -v python3 >/dev/null; then
  echo "gpu-vs-safetensors: python3 is not installed" >&2
  exit 2
fi
exec python3 -u "$root/bench/gpu_vs_safetensors.py" "$@"
