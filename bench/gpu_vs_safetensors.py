#!/usr/bin/env python3
"""zcopy gpu load against safetensors.torch.load_file and torch.load (run by
bench/gpu-vs-safetensors.sh, whose header says what is measured and how).

The orchestrator (this file run without --worker) uses the standard library only and never
touches the GPU itself: the checkpoint is generated, and every Python load runs, in a child
process (this file with --worker ...), each one bounded by a timeout, so a crash or a hang of one
loader is reported and the other loaders go on.
"""
import argparse
import collections
import ctypes
import json
import math
import mmap
import os
import re
import statistics
import struct
import subprocess
import sys
import time

PROG = "gpu-vs-safetensors"
GIB = 1 << 30
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DROP_CACHES = "/proc/sys/vm/drop_caches"


def log(msg=""):
    print(msg, flush=True)


def warn(msg):
    print(f"{PROG}: {msg}", file=sys.stderr, flush=True)


# --- page cache: evict, warm, measure ------------------------------------------------------------

def evict(path):
    """Drops the file's pages: sync (dirty pages cannot be dropped), posix_fadvise(DONTNEED) on the
    file, then echo 1 > /proc/sys/vm/drop_caches where writable (root); failures are ignored."""
    os.sync()
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
    try:
        with open(DROP_CACHES, "w") as f:
            f.write("1\n")
    except OSError:
        pass


def resident_fraction(path):
    """The fraction of the file's pages in the page cache (mincore on a fresh mapping, which
    faults nothing in), or None where it cannot be measured."""
    try:
        size = os.path.getsize(path)
        if size == 0:
            return None
        libc = ctypes.CDLL(None, use_errno=True)
        libc.mmap.restype = ctypes.c_void_p
        libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                              ctypes.c_int, ctypes.c_long]
        libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
        libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
        page = os.sysconf("SC_PAGE_SIZE")
        pages = (size + page - 1) // page
        fd = os.open(path, os.O_RDONLY)
        try:
            addr = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
        finally:
            os.close(fd)
        if addr is None or addr == ctypes.c_void_p(-1).value:
            return None
        try:
            vec = (ctypes.c_ubyte * pages)()
            if libc.mincore(addr, size, vec) != 0:
                return None
            raw = bytes(vec)
        finally:
            libc.munmap(addr, size)
        return (pages - raw.count(0)) / pages
    except (OSError, AttributeError, ValueError):
        return None


# --- the checkpoint ------------------------------------------------------------------------------

DTYPE_BYTES = {"BF16": 2, "F32": 4}


def plan_tensors(budget):
    """A LLaMA-7B-shaped tensor list (hidden 4096, MLP 11008, vocabulary 32000; bf16 matrices, fp32
    norm vectors) of at most `budget` bytes: the embedding, as many layers as fit (the last one
    cut short), the final norm and the LM head. Small budgets get layers only."""
    hidden, inter, vocab = 4096, 11008, 32000

    def nbytes(spec):
        return math.prod(spec[1]) * DTYPE_BYTES[spec[2]]

    head = [("model.embed_tokens.weight", (vocab, hidden), "BF16")]
    tail = [("model.norm.weight", (hidden,), "F32"), ("lm_head.weight", (vocab, hidden), "BF16")]
    if sum(map(nbytes, head + tail)) > budget // 2:
        head, tail = [], []
    reserve = sum(map(nbytes, tail))
    specs, used = list(head), sum(map(nbytes, head))
    layer = 0
    while True:
        p = f"model.layers.{layer}."
        for spec in [
            (p + "input_layernorm.weight", (hidden,), "F32"),
            (p + "self_attn.q_proj.weight", (hidden, hidden), "BF16"),
            (p + "self_attn.k_proj.weight", (hidden, hidden), "BF16"),
            (p + "self_attn.v_proj.weight", (hidden, hidden), "BF16"),
            (p + "self_attn.o_proj.weight", (hidden, hidden), "BF16"),
            (p + "post_attention_layernorm.weight", (hidden,), "F32"),
            (p + "mlp.gate_proj.weight", (inter, hidden), "BF16"),
            (p + "mlp.up_proj.weight", (inter, hidden), "BF16"),
            (p + "mlp.down_proj.weight", (hidden, inter), "BF16"),
        ]:
            if used + nbytes(spec) + reserve > budget:
                if used < hidden * hidden * DTYPE_BYTES["BF16"]:
                    raise SystemExit(f"{PROG}: SIZE_GIB is too small for one 4096x4096 matrix")
                return specs + tail
            specs.append(spec)
            used += nbytes(spec)
        layer += 1


def safetensors_info(path):
    """Header facts from the file itself (standard library only): tensors, data-section bytes."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        if n > 256 << 20:
            raise ValueError(f"{path}: header of {n} bytes")
        header = json.loads(f.read(n))
    tensors = {k: v for k, v in header.items() if k != "__metadata__"}
    data = sum(v["data_offsets"][1] - v["data_offsets"][0] for v in tensors.values())
    dtypes = collections.Counter(v["dtype"] for v in tensors.values())
    return {"tensors": len(tensors), "data_bytes": data, "header_bytes": 8 + n,
            "dtypes": dict(dtypes)}


def checkpoint_paths(directory, size_gib):
    stem = os.path.join(directory, f"ckpt-{size_gib:g}gib")
    return {"safetensors": stem + ".safetensors", "pt": stem + ".pt", "manifest": stem + ".json",
            "tiny_safetensors": os.path.join(directory, "tiny.safetensors"),
            "tiny_pt": os.path.join(directory, "tiny.pt")}


def checkpoint_ready(paths, size_gib):
    try:
        with open(paths["manifest"]) as f:
            m = json.load(f)
        return (m.get("size_gib") == size_gib
                and os.path.getsize(paths["safetensors"]) == m["safetensors_bytes"]
                and os.path.getsize(paths["pt"]) == m["pt_bytes"]
                and os.path.isfile(paths["tiny_safetensors"]) and os.path.isfile(paths["tiny_pt"])
                and safetensors_info(paths["safetensors"])["data_bytes"] == m["data_bytes"])
    except (OSError, ValueError, KeyError, struct.error):
        return False


def fsync_path(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path, write):
    tmp = path + ".tmp"
    write(tmp)
    fsync_path(tmp)
    os.replace(tmp, path)


# --- workers (child processes; these import torch) -----------------------------------------------

def worker_probe(_args):
    out = {"cuda": False}
    try:
        import torch
        out["torch"] = torch.__version__
        out["torch_cuda"] = torch.version.cuda
        import safetensors
        out["safetensors"] = getattr(safetensors, "__version__", "?")
        import safetensors.torch  # noqa: F401  the loader itself must import
        try:
            import numpy
            out["numpy"] = numpy.__version__
        except ImportError:
            out["numpy"] = None
        out["cuda"] = bool(torch.cuda.is_available())
        if out["cuda"]:
            out["device_count"] = torch.cuda.device_count()
            out["device"] = torch.cuda.get_device_name(0)
    except Exception as e:  # reported, and the orchestrator exits 2
        out["error"] = f"{type(e).__name__}: {e}"
    print(json.dumps(out), flush=True)


def worker_generate(args):
    import torch
    from safetensors.torch import save_file
    paths = checkpoint_paths(args.dir, args.size_gib)
    dtypes = {"BF16": torch.bfloat16, "F32": torch.float32}
    gen = torch.Generator(device="cuda")
    gen.manual_seed(4096)

    def make(specs):
        out = {}
        for name, shape, dtype in specs:
            out[name] = torch.randn(shape, generator=gen, device="cuda", dtype=dtypes[dtype]).cpu()
        torch.cuda.synchronize()
        return out

    meta = {"format": "pt", "written_by": "zcopy bench/gpu-vs-safetensors.sh"}
    tiny = make([("tiny.weight", (256, 256), "BF16"), ("tiny.norm", (256,), "F32")])
    write_atomic(paths["tiny_safetensors"], lambda p: save_file(tiny, p, metadata=meta))
    write_atomic(paths["tiny_pt"], lambda p: torch.save(tiny, p))

    tensors = make(plan_tensors(int(args.size_gib * GIB)))
    data_bytes = sum(t.nbytes for t in tensors.values())
    write_atomic(paths["safetensors"], lambda p: save_file(tensors, p, metadata=meta))
    write_atomic(paths["pt"], lambda p: torch.save(tensors, p))
    manifest = {"size_gib": args.size_gib, "tensors": len(tensors), "data_bytes": data_bytes,
                "safetensors_bytes": os.path.getsize(paths["safetensors"]),
                "pt_bytes": os.path.getsize(paths["pt"]), "torch": torch.__version__}
    def write_manifest(path):
        with open(path, "w") as f:
            f.write(json.dumps(manifest) + "\n")
    write_atomic(paths["manifest"], write_manifest)
    fd = os.open(args.dir, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    print(json.dumps(manifest), flush=True)


def worker_load(args):
    """One timed load in a process whose CUDA context, caching allocator and loader code are warm:
    the context is created with a tiny allocation and the loader has loaded a tiny file of its
    format once, so the time is the load's own, as zcopy's `seconds` is."""
    import torch
    torch.cuda.init()
    torch.empty(1, device="cuda")
    torch.cuda.synchronize()
    if args.worker == "load_file":
        from safetensors.torch import load_file

        def load(path):
            return load_file(path, device="cuda")
    else:
        def load(path):
            return torch.load(path, map_location="cuda", weights_only=True)
    first = load(args.tiny)
    torch.cuda.synchronize()
    del first
    torch.cuda.empty_cache()
    if args.cold:
        evict(args.file)
    resident = resident_fraction(args.file)

    start = time.perf_counter()
    out = load(args.file)
    torch.cuda.synchronize()
    seconds = time.perf_counter() - start

    tensors = len(out)
    nbytes = sum(t.nbytes for t in out.values())
    off_device = sorted(k for k, t in out.items() if t.device.type != "cuda")
    del out
    torch.cuda.empty_cache()
    print(json.dumps({"seconds": seconds, "bytes": nbytes, "tensors": tensors,
                      "resident_fraction": resident, "off_device": off_device[:5]}), flush=True)


def worker_main(argv):
    p = argparse.ArgumentParser(prog=f"{PROG} --worker")
    p.add_argument("worker", choices=["probe", "generate", "load_file", "torch_load"])
    p.add_argument("--file")
    p.add_argument("--tiny")
    p.add_argument("--cold", action="store_true")
    p.add_argument("--dir")
    p.add_argument("--size-gib", type=float)
    args = p.parse_args(argv)
    {"probe": worker_probe, "generate": worker_generate}.get(args.worker, worker_load)(args)


# --- the orchestrator ----------------------------------------------------------------------------

class Result:
    def __init__(self, rc, out, err, wall, error=None):
        self.rc, self.out, self.err, self.wall, self.error = rc, out, err, wall, error


def _text(x):
    if x is None:
        return ""
    return x.decode(errors="replace") if isinstance(x, bytes) else x


def run_cmd(argv, timeout, env=None, discard_stdout=False):
    """Runs argv to completion or for `timeout` seconds at most (then killed)."""
    start = time.perf_counter()
    stdout = subprocess.DEVNULL if discard_stdout else subprocess.PIPE
    try:
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=stdout,
                           stderr=subprocess.PIPE, text=True, errors="replace", timeout=timeout,
                           env=env)
        error = None if p.returncode == 0 else f"exit status {p.returncode}"
        return Result(p.returncode, p.stdout or "", p.stderr or "", time.perf_counter() - start,
                      error)
    except subprocess.TimeoutExpired as e:
        return Result(None, _text(e.stdout), _text(e.stderr), time.perf_counter() - start,
                      f"timed out after {timeout:g} s (killed)")
    except OSError as e:
        return Result(None, "", str(e), time.perf_counter() - start, f"could not run: {e}")


def last_json(text):
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                pass
    try:
        return json.loads(text)
    except ValueError:
        return None


def tail(text, lines=30):
    rows = text.rstrip().splitlines()
    return "\n".join("      " + r for r in rows[-lines:]) or "      (nothing on stderr)"


def shell_line(argv, timeout=30):
    r = run_cmd(argv, timeout)
    if r.error:
        detail = f": {r.err.strip()}" if r.err.strip() else ""
        return f"unavailable ({argv[0]}: {r.error}{detail})"
    return r.out.rstrip()


def mount_of(path):
    """(mount point, filesystem type, source) of the filesystem holding path."""
    best = ("/", "?", "?")
    path = os.path.realpath(path)
    try:
        with open("/proc/mounts") as f:
            for line in f:
                source, point, fstype = line.split()[:3]
                point = point.replace("\\040", " ")
                if (path == point or path.startswith(point.rstrip("/") + "/")) \
                        and len(point) >= len(best[0]):
                    best = (point, fstype, source)
    except OSError:
        pass
    return best


class Bench:
    def __init__(self, args):
        self.args = args
        self.runs = []
        self.failures = 0

    # One run of one loader; appends a record and prints a line.
    def record(self, rnd, loader, cache, seconds=None, resident=None, error=None, stderr="",
               **extra):
        if seconds is not None and not isinstance(seconds, (int, float)):
            error, seconds = error or f"seconds is not a number: {seconds!r}", None
        ok = error is None and seconds is not None and seconds > 0
        gbps = self.data_bytes / seconds / 1e9 if ok else None
        if loader["kind"] == "dd" and ok:
            gbps = extra["dd_bytes"] / seconds / 1e9
        rec = {"round": rnd, "loader": loader["label"], "cache": cache, "ok": ok,
               "seconds": seconds if ok else None, "gb_per_s": gbps,
               "resident_fraction": resident, "error": None if ok else (error or "no time")}
        rec.update(extra)
        self.runs.append(rec)
        res = "" if resident is None else f"  resident {resident:4.2f}"
        if ok:
            note = ""
            if cache == "cold" and resident is not None and resident > 0.05:
                note = "  (not cold: the page cache kept part of the file)"
            if extra.get("method") and loader.get("method") != extra["method"]:
                note += f"  (ran as {extra['method']})"
            log(f"  round {rnd} {loader['label']:<22} {cache:<6} {seconds:8.3f} s "
                f"{gbps:7.2f} GB/s{res}{note}")
        else:
            self.failures += 1
            log(f"  round {rnd} {loader['label']:<22} {cache:<6} FAILED: {rec['error']}")
            if stderr.strip():
                log(tail(stderr))

    def prepare_cache(self, path, cache):
        """Warm: one untimed read of the whole file. Cold: its pages dropped. Returns an error."""
        if cache == "warm":
            r = run_cmd(["cat", path], self.args.timeout, discard_stdout=True)
            if r.error:
                return f"warming with cat failed: {r.error} {r.err.strip()}"
            return None
        try:
            evict(path)
        except OSError as e:
            return f"evicting failed: {e}"
        return None

    def run_python(self, rnd, loader, cache):
        if cache == "warm":
            error = self.prepare_cache(loader["file"], "warm")
            if error:
                return self.record(rnd, loader, cache, error=error)
        argv = [sys.executable, "-u", os.path.abspath(__file__), "--worker", loader["worker"],
                "--file", loader["file"], "--tiny", loader["tiny"]]
        if cache == "cold":
            argv.append("--cold")  # evicted inside the worker, right before the timed call
        r = run_cmd(argv, self.args.timeout)
        out = last_json(r.out) if not r.error else None
        if r.error or out is None:
            return self.record(rnd, loader, cache, error=r.error or "no JSON result on stdout",
                               stderr=r.err + r.out, process_seconds=r.wall)
        error = None
        if out["bytes"] != self.data_bytes or out["tensors"] != self.tensors:
            error = (f"loaded {out['tensors']} tensors, {out['bytes']} bytes; expected "
                     f"{self.tensors}, {self.data_bytes}")
        elif out.get("off_device"):
            error = f"tensors not on the GPU: {', '.join(out['off_device'])}"
        self.record(rnd, loader, cache, seconds=out["seconds"], error=error,
                    resident=out.get("resident_fraction"), process_seconds=r.wall, tool=out)

    def run_zcopy(self, rnd, loader, cache):
        error = self.prepare_cache(loader["file"], cache)
        if error:
            return self.record(rnd, loader, cache, error=error)
        resident = resident_fraction(loader["file"])
        argv = [self.args.zcopy, "gpu", "load", loader["file"], "--json", "--method",
                loader["method"]]
        r = run_cmd(argv, self.args.timeout)
        out = last_json(r.out) if not r.error else None
        if r.error or not isinstance(out, dict) or "seconds" not in out:
            return self.record(rnd, loader, cache, error=r.error or "no JSON result on stdout",
                               stderr=r.err + r.out, resident=resident,
                               process_seconds=r.wall)
        error = None
        if out.get("bytes") not in (self.data_bytes, self.file_bytes):
            error = f"moved {out.get('bytes')} bytes, expected {self.data_bytes}"
        elif out.get("tensors") not in (None, self.tensors):
            error = f"loaded {out.get('tensors')} tensors, expected {self.tensors}"
        tool_resident = out.get("resident_fraction")
        self.record(rnd, loader, cache, seconds=out.get("seconds"), error=error,
                    resident=tool_resident if tool_resident is not None else resident,
                    stderr=r.err, method=out.get("method"), fallbacks=out.get("fallbacks"),
                    process_seconds=r.wall, tool=out)

    def run_dd(self, rnd, loader, cache):
        error = self.prepare_cache(loader["file"], "cold")
        if error:
            return self.record(rnd, loader, cache, error=error)
        argv = ["dd", f"if={loader['file']}", "of=/dev/null", "bs=16M", "iflag=direct"]
        env = dict(os.environ, LC_ALL="C")
        r = run_cmd(argv, self.args.timeout, env=env)
        if r.error:
            return self.record(rnd, loader, cache, error=r.error, stderr=r.err)
        m = re.search(r"^(\d+) bytes.*copied, ([0-9.eE+-]+) s", r.err, re.M)
        nbytes, seconds = (int(m.group(1)), float(m.group(2))) if m else (self.file_bytes, r.wall)
        error = None if nbytes == self.file_bytes else f"read {nbytes} of {self.file_bytes} bytes"
        self.record(rnd, loader, cache, seconds=seconds, error=error, stderr=r.err,
                    dd_bytes=nbytes, process_seconds=r.wall)

    def run_one(self, rnd, loader, cache):
        {"python": self.run_python, "zcopy": self.run_zcopy, "dd": self.run_dd}[loader["kind"]](
            rnd, loader, cache)


def median_or_none(xs):
    return statistics.median(xs) if xs else None


def summarize(bench, loaders):
    rows = []
    for loader in loaders:
        for cache in loader["caches"]:
            mine = [r for r in bench.runs if r["loader"] == loader["label"] and r["cache"] == cache]
            ok = [r for r in mine if r["ok"]]
            secs = [r["seconds"] for r in ok]
            rates = [r["gb_per_s"] for r in ok]
            resident = [r["resident_fraction"] for r in ok if r["resident_fraction"] is not None]
            methods = collections.Counter(r.get("method") for r in ok if r.get("method"))
            rows.append({"loader": loader["label"], "cache": cache, "runs": len(mine),
                         "ok": len(ok), "median_s": median_or_none(secs),
                         "median_gb_per_s": median_or_none(rates),
                         "min_gb_per_s": min(rates) if rates else None,
                         "max_gb_per_s": max(rates) if rates else None,
                         "median_resident": median_or_none(resident),
                         "methods": dict(methods)})
    return rows


def fmt(x, spec, width):
    return f"{x:{width}{spec}}" if x is not None else f"{'-':>{width}}"


def main():
    env = os.environ.get
    p = argparse.ArgumentParser(
        prog="bench/gpu-vs-safetensors.sh",
        description="zcopy gpu load against safetensors load_file and torch.load, warm and cold.")
    p.add_argument("--rounds", type=int, default=int(env("ROUNDS") or 3))
    p.add_argument("--size-gib", type=float, default=float(env("SIZE_GIB") or 4))
    p.add_argument("--dir", default=env("GPU_BENCH_DIR") or "/tmp/zcopy-gpu-bench")
    p.add_argument("--zcopy", default=env("ZCOPY") or os.path.join(ROOT, "build/tools/zcopy/zcopy"))
    p.add_argument("--methods", default=env("ZCOPY_METHODS") or "auto registered bounce naive")
    p.add_argument("--loaders", default=env("LOADERS") or "load_file torch_load zcopy dd",
                   help="a subset of: load_file torch_load zcopy dd")
    p.add_argument("--out-json", default=env("OUT_JSON") or "")
    p.add_argument("--timeout", type=float, default=float(env("LOAD_TIMEOUT") or 120),
                   help="seconds for one run of any command or loader")
    p.add_argument("--gen-timeout", type=float, default=float(env("GEN_TIMEOUT") or 1800),
                   help="seconds for generating the checkpoint")
    args = p.parse_args()
    if args.rounds < 1 or args.size_gib <= 0:
        p.error("--rounds must be >= 1 and --size-gib > 0")
    wanted = set(args.loaders.split())
    unknown = wanted - {"load_file", "torch_load", "zcopy", "dd"}
    if unknown:
        p.error(f"unknown loaders: {' '.join(sorted(unknown))}")
    methods = args.methods.split()
    args.dir = os.path.abspath(args.dir)

    # Preconditions: exit 2 when the comparison cannot run at all.
    if "zcopy" in wanted and not (os.path.isfile(args.zcopy) and os.access(args.zcopy, os.X_OK)):
        warn(f"{args.zcopy} is not an executable file: build zcopy with -DZCOPY_WITH_CUDA=ON, or "
             "point ZCOPY (or --zcopy) at the binary")
        sys.exit(2)
    r = run_cmd([sys.executable, "-u", os.path.abspath(__file__), "--worker", "probe"],
                args.timeout)
    probe = last_json(r.out) or {}
    if r.error or probe.get("error"):
        warn(f"python3 cannot import torch and safetensors.torch: "
             f"{probe.get('error') or r.error}\n{tail(r.err)}")
        sys.exit(2)
    if not probe.get("cuda"):
        warn("no CUDA device is visible to torch (torch.cuda.is_available() is false; "
             f"torch {probe.get('torch')}, built for CUDA {probe.get('torch_cuda')})")
        sys.exit(2)

    # The machine, at the top of the output.
    machine = {
        "gpu": shell_line(["nvidia-smi", "--query-gpu=name,driver_version,memory.total",
                           "--format=csv,noheader"]),
        "kernel": shell_line(["uname", "-r"]),
        "cpus": shell_line(["nproc"]),
        "memory": shell_line(["free", "-g"]),
        "zcopy": (shell_line([args.zcopy, "--version"]) if "zcopy" in wanted else None),
        "torch": probe.get("torch"), "torch_cuda": probe.get("torch_cuda"),
        "safetensors": probe.get("safetensors"), "numpy": probe.get("numpy"),
        "device": probe.get("device"), "device_count": probe.get("device_count"),
    }
    os.makedirs(args.dir, exist_ok=True)
    point, fstype, source = mount_of(args.dir)
    drop_ok = os.access(DROP_CACHES, os.W_OK)
    machine["storage"] = {"dir": args.dir, "mount": point, "fstype": fstype, "source": source}
    log(f"{PROG}: {args.rounds} rounds, {args.size_gib:g} GiB checkpoint, loaders rotated each "
        "round, each warm then cold")
    log(f"  gpu (name, driver, memory): {machine['gpu']}")
    log(f"  kernel: {machine['kernel']}   cpus: {machine['cpus']}")
    log("  memory (free -g):")
    for line in machine["memory"].splitlines():
        log(f"    {line}")
    log(f"  torch {machine['torch']} (CUDA {machine['torch_cuda']}), safetensors "
        f"{machine['safetensors']}, numpy {machine['numpy']}; device 0: {machine['device']}")
    if machine["zcopy"] is not None:
        log(f"  zcopy: {args.zcopy} ({machine['zcopy']}), methods: {' '.join(methods)}")
    log(f"  storage: {args.dir} on {fstype} ({source}, mounted at {point})")
    log("  cold: sync + posix_fadvise(DONTNEED)"
        + (" + echo 1 > /proc/sys/vm/drop_caches" if drop_ok
           else " only (/proc/sys/vm/drop_caches is not writable: run as root)"))
    if fstype in ("tmpfs", "ramfs"):
        warn(f"{args.dir} is on {fstype}: its pages cannot be dropped, so 'cold' is warm; set "
             "GPU_BENCH_DIR to a directory on a disk")

    # The checkpoint: generated once, reused while the manifest matches the files.
    paths = checkpoint_paths(args.dir, args.size_gib)
    if checkpoint_ready(paths, args.size_gib):
        log(f"  checkpoint: reusing {paths['safetensors']} and {paths['pt']}")
    else:
        st = os.statvfs(args.dir)
        need = int(args.size_gib * GIB * 2.1) + (64 << 20)
        if st.f_bavail * st.f_frsize < need:
            warn(f"{args.dir} has {st.f_bavail * st.f_frsize / GIB:.1f} GiB free; the "
                 f"checkpoint needs {need / GIB:.1f} GiB")
            sys.exit(1)
        log(f"  checkpoint: generating {args.size_gib:g} GiB of random bf16/fp32 tensors into "
            f"{args.dir} (safetensors and torch.save) ...")
        r = run_cmd([sys.executable, "-u", os.path.abspath(__file__), "--worker", "generate",
                     "--dir", args.dir, "--size-gib", repr(args.size_gib)], args.gen_timeout)
        if r.error or not checkpoint_ready(paths, args.size_gib):
            warn(f"generating the checkpoint failed: {r.error or 'files missing afterwards'}\n"
                 f"{tail(r.err + r.out)}")
            sys.exit(1)
        log(f"  checkpoint: generated in {r.wall:.1f} s")
    info = safetensors_info(paths["safetensors"])
    checkpoint = {"safetensors": paths["safetensors"], "pt": paths["pt"],
                  "safetensors_bytes": os.path.getsize(paths["safetensors"]),
                  "pt_bytes": os.path.getsize(paths["pt"]), **info}
    dtypes = ", ".join(f"{n} {d}" for d, n in sorted(info["dtypes"].items()))
    log(f"  checkpoint: {info['tensors']} tensors ({dtypes}), data "
        f"{info['data_bytes'] / GIB:.3f} GiB; .safetensors {checkpoint['safetensors_bytes']:,} "
        f"bytes, .pt {checkpoint['pt_bytes']:,} bytes")
    log("  GB/s = data-section bytes (sum of tensor nbytes) / seconds / 1e9; dd: bytes read / s")

    bench = Bench(args)
    bench.data_bytes, bench.tensors = info["data_bytes"], info["tensors"]
    bench.file_bytes = checkpoint["safetensors_bytes"]
    loaders = []
    if "load_file" in wanted:
        loaders.append({"label": "safetensors.load_file", "kind": "python", "worker": "load_file",
                        "file": paths["safetensors"], "tiny": paths["tiny_safetensors"],
                        "caches": ["warm", "cold"]})
    if "torch_load" in wanted:
        loaders.append({"label": "torch.load", "kind": "python", "worker": "torch_load",
                        "file": paths["pt"], "tiny": paths["tiny_pt"], "caches": ["warm", "cold"]})
    if "zcopy" in wanted:
        for m in methods:
            loaders.append({"label": f"zcopy {m}", "kind": "zcopy", "method": m,
                            "file": paths["safetensors"], "caches": ["warm", "cold"]})
    if "dd" in wanted:
        loaders.append({"label": "dd iflag=direct", "kind": "dd", "file": paths["safetensors"],
                        "caches": ["direct"]})
    if not loaders:
        p.error("nothing to run")

    log("")
    for rnd in range(1, args.rounds + 1):
        k = (rnd - 1) % len(loaders)
        for loader in loaders[k:] + loaders[:k]:
            for cache in loader["caches"]:
                bench.run_one(rnd, loader, cache)

    # The table and the ratios.
    rows = summarize(bench, loaders)
    by = {(row["loader"], row["cache"]): row for row in rows}
    log("")
    log(f"{'loader':<22} {'cache':<6} {'median s':>9} {'median GB/s':>12} {'min GB/s':>9} "
        f"{'max GB/s':>9} {'resident':>9} {'ok':>5}")
    for row in rows:
        log(f"{row['loader']:<22} {row['cache']:<6} {fmt(row['median_s'], '.3f', 9)} "
            f"{fmt(row['median_gb_per_s'], '.2f', 12)} {fmt(row['min_gb_per_s'], '.2f', 9)} "
            f"{fmt(row['max_gb_per_s'], '.2f', 9)} {fmt(row['median_resident'], '.2f', 9)} "
            f"{row['ok']:>2}/{row['runs']:<2}")
    for row in rows:
        label = row["loader"]
        if label.startswith("zcopy ") and row["methods"]:
            asked = label.split(" ", 1)[1]
            moved = ", ".join(f"{m} {n}/{row['ok']}" for m, n in sorted(row["methods"].items()))
            if asked == "auto" or set(row["methods"]) != {asked}:
                log(f"  {label} {row['cache']}: the bytes moved by {moved}")
    fallbacks = sorted({f"{r['loader']} {r['cache']}: {json.dumps(r['fallbacks'])}"
                        for r in bench.runs if r.get("fallbacks")})
    for f in fallbacks:
        log(f"  fallbacks: {f}")

    def speedup(a, b, cache):
        """b's median seconds / a's: how many times faster a is."""
        ra, rb = by.get((a, cache)), by.get((b, cache))
        if not ra or not rb or not ra["median_s"] or not rb["median_s"]:
            return None
        return rb["median_s"] / ra["median_s"]

    ratios = {}
    log("")
    log("ratios (the other's median seconds / zcopy's: above 1x zcopy is faster)")
    for a, b, caches in [("zcopy auto", "safetensors.load_file", ["warm", "cold"]),
                         ("zcopy auto", "torch.load", ["warm", "cold"]),
                         ("zcopy registered", "zcopy naive", ["warm"])]:
        parts = []
        for cache in caches:
            x = speedup(a, b, cache)
            ratios[f"{a} vs {b} ({cache})"] = x
            parts.append(f"{cache} {fmt(x, '.2f', 6)}x" if x is not None else f"{cache}    n/a")
        log(f"  {a + ' vs ' + b:<42} {'   '.join(parts)}")
    dd_row = by.get(("dd iflag=direct", "direct"))
    dd_rate = dd_row["median_gb_per_s"] if dd_row else None
    if dd_rate:
        log(f"cold loads as a share of the storage's O_DIRECT read rate (dd bs=16M iflag=direct, "
            f"median {dd_rate:.2f} GB/s)")
        cold_rows = [row for row in rows if row["cache"] == "cold"]
        cold_rows.sort(key=lambda row: (row["loader"] != "zcopy auto",
                                        not row["loader"].startswith("zcopy")))
        for row in cold_rows:
            share = row["median_gb_per_s"] / dd_rate * 100 if row["median_gb_per_s"] else None
            ratios[f"{row['loader']} (cold) vs dd O_DIRECT"] = share
            log(f"  {row['loader']:<22} {fmt(row['median_gb_per_s'], '.2f', 7)} GB/s "
                f"{fmt(share, '.0f', 5)}%")
    elif "dd" in wanted:
        log("cold loads vs dd O_DIRECT: n/a (no dd run succeeded)")

    if args.out_json:
        out_dir = os.path.dirname(os.path.abspath(args.out_json))
        os.makedirs(out_dir, exist_ok=True)
        with open(args.out_json, "w") as f:
            json.dump({"machine": machine,
                       "config": {"rounds": args.rounds, "size_gib": args.size_gib,
                                  "methods": methods, "loaders": sorted(wanted),
                                  "timeout_s": args.timeout, "drop_caches": drop_ok,
                                  "zcopy": args.zcopy},
                       "checkpoint": checkpoint, "runs": bench.runs, "summary": rows,
                       "ratios": ratios, "failures": bench.failures}, f, indent=1)
            f.write("\n")
        log(f"raw results: {args.out_json}")

    if bench.failures:
        warn(f"{bench.failures} of {len(bench.runs)} runs failed (their errors are above)")
        sys.exit(1)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker_main(sys.argv[2:])
    else:
        main()
