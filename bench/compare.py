#!/usr/bin/env python3
"""Run tapegrad's benchmark suite and its PyTorch twin side by side; print one report.

    python3 bench/compare.py [--rounds K] [--runs R] [--mnist-dir DIR] [--quick]
                             [--isa avx2|avx512|native] [--filter SUBSTRING] [--markdown PATH]

Builds the Rust suite once (`cargo bench --bench suite --no-run`), then alternates separate
processes of the two sides so that both see the same machine (its speed drifts over minutes):

* ops: K rounds at 2 threads, each round running the tapegrad suite and then
  `bench/torch_suite.py`; each process reports per-row medians of R runs, and the figure per
  row and side is the median over the rounds.
* e2e (training over one epoch): LeNet-5 at batch 16, 64, 256 x threads 1, 2, and PyTorch's
  MNIST-example CNN (`mnist_cnn`) at batch 64 x threads 1, 2 on the first 10000 samples, and
  the small ResNet of issue #17 (`resnet`, `nn::models::resnet`) at batch 64 x threads 1, 2 on
  the first 6400 samples; for each configuration K alternating tapegrad / PyTorch processes; the figure is the median of
  samples/s over the rounds and the maximum of peak RSS.
* infer (evaluation-mode forward passes): LeNet-5 and `mnist_cnn` at batch 1 (latency) and
  batch 1000 (throughput) x threads 1, 2; K alternating processes, the median latency.

Both sides follow one contract (see bench/README.md): same subcommands and arguments, one
JSON object per line on stdout; other stdout lines are ignored. Every child gets
OMP_NUM_THREADS, MKL_NUM_THREADS and RAYON_NUM_THREADS set to its thread count and a timeout.

`--isa` caps the instruction set of both sides' kernels (tapegrad's `TAPEGRAD_SIMD`, PyTorch's
`ATEN_CPU_CAPABILITY`), so a machine with AVX-512 measures the AVX2 comparison too; each side
prints the level it ran at (a JSON line with `simd_level`; tapegrad's also has `gemm_level`,
the gemm crate's), and the report names them. PyTorch is capped in all three of its
dispatchers (ATen, oneDNN's `ONEDNN_MAX_CPU_ISA`, MKL's `MKL_ENABLE_INSTRUCTIONS`), tapegrad in
both of its (`TAPEGRAD_SIMD`; at `--isa avx2` the suite is built with `--no-default-features`,
without the gemm crate's AVX-512 kernels). The first `--isa` runs (issue #15's max-pool
tables of 2026-12-01) capped only ATen and TAPEGRAD_SIMD: right for max pooling (ATen's and
tapegrad's own kernels on both sides), but GEMMs and PyTorch's convolutions ran AVX-512.
`--filter` keeps the ops rows and e2e configurations whose name contains the substring.

The report (Markdown, printed and optionally written to --markdown) holds the ops table, the
e2e table, the 2-vs-1-thread scaling of each side, and the machine, versions, date and
command. A child that fails has its stderr tail shown and its rows marked failed; the exit
status is then 1. If the Rust suite does not build, the runner says so and exits 2. If torch
cannot be imported, the PyTorch columns read n/a, the report says why, and that is no error.
"""

import argparse
import datetime
import json
import math
import os
import platform
import shlex
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TORCH_SUITE = REPO / "bench" / "torch_suite.py"
SIDES = ("tapegrad", "torch")
OPS_THREADS = 2
E2E_BATCHES = (16, 64, 256)
E2E_THREADS = (1, 2)
# PyTorch's MNIST-example CNN (issue #15): an epoch of this many samples (the new user of
# issue #15 measured on 10k images; a whole epoch takes PyTorch over a minute here).
MNIST_CNN_SAMPLES = 10000
MNIST_CNN_BATCHES = (64,)
# The small ResNet of issue #17 (stem 16, stages 16, 32, 64, batch norm): this many samples
# (100 steps of batch 64; PyTorch's full epoch takes about 40 s at 2 threads here).
RESNET_SAMPLES = 6400
RESNET_BATCHES = (64,)
# Inference: batch size -> timed runs (latency at batch 1, throughput at batch 1000).
INFER_MODELS = ("lenet5", "mnist_cnn")
INFER_RUNS = {1: 200, 1000: 20}
QUICK_SAMPLES = 10000
STDERR_TAIL_LINES = 20
# --isa: the CPU flags it needs (as tapegrad's `simd::level` and ATen detect them) and the
# value of each side's cap (None: the variable is removed, each side picks its widest level).
ISA_FLAGS = {
    "avx2": ("avx2", "fma"),
    "avx512": ("avx512f", "avx512bw", "avx512dq", "avx512vl", "avx2", "fma"),
    "native": (),
}
# PyTorch has three dispatchers: ATen's own kernels (ATEN_CPU_CAPABILITY), oneDNN's
# convolutions (ONEDNN_MAX_CPU_ISA) and MKL's GEMMs (MKL_ENABLE_INSTRUCTIONS); tapegrad two: its
# kernels (TAPEGRAD_SIMD) and the gemm crate's, whose AVX-512 kernels are a cargo feature
# (`gemm-avx512`), so `--isa avx2` builds the suite without it.
ISA_ENV = {
    "avx2": {
        "TAPEGRAD_SIMD": "avx2",
        "ATEN_CPU_CAPABILITY": "avx2",
        "ONEDNN_MAX_CPU_ISA": "AVX2",
        "MKL_ENABLE_INSTRUCTIONS": "AVX2",
    },
    "avx512": {
        "TAPEGRAD_SIMD": "avx512",
        "ATEN_CPU_CAPABILITY": "avx512",
        "ONEDNN_MAX_CPU_ISA": "AVX512_CORE",
        "MKL_ENABLE_INSTRUCTIONS": "AVX512",
    },
    "native": {
        "TAPEGRAD_SIMD": None,
        "ATEN_CPU_CAPABILITY": None,
        "ONEDNN_MAX_CPU_ISA": None,
        "MKL_ENABLE_INSTRUCTIONS": None,
    },
}
# Cargo arguments of the suite's build per --isa (no AVX-512 GEMM kernels at avx2).
ISA_BUILD = {"avx2": ["--no-default-features"], "avx512": [], "native": []}


def log(message):
    """Progress and diagnostics go to stderr; the report goes to stdout."""
    print(message, file=sys.stderr, flush=True)


def tail(text, lines=STDERR_TAIL_LINES):
    """The last `lines` lines of `text`, indented for display."""
    kept = (text or "").rstrip().splitlines()[-lines:]
    return "\n".join("    " + line for line in kept) or "    (no output)"


def as_text(output):
    """Captured output as text (a timeout hands back bytes or None)."""
    if isinstance(output, bytes):
        return output.decode(errors="replace")
    return output or ""


def build_rust_suite(isa):
    """Build the bench target once (for `--isa`); return its executable's path, or exit 2."""
    command = ["cargo", "bench", "--bench", "suite", "--no-run"] + ISA_BUILD[isa]
    command.append("--message-format=json-render-diagnostics")  # diagnostics stay on stderr
    log(f"building the Rust suite: {shlex.join(command)}")
    proc = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    executable = None
    for message in json_lines(proc.stdout):
        if message.get("reason") == "compiler-artifact" and message["target"]["name"] == "suite":
            executable = message.get("executable") or executable
    if proc.returncode != 0 or executable is None:
        log(f"error: the Rust suite did not build (`{shlex.join(command)}`, exit {proc.returncode})")
        log(tail(proc.stderr, 40))
        sys.exit(2)
    return executable


def json_lines(stdout):
    """The JSON objects among the lines of `stdout`; other lines are skipped."""
    for line in stdout.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict):
            yield obj


class Runner:
    """Launches both sides' processes and keeps what they report."""

    def __init__(self, rust_command, timeout, isa="native", filtered=False):
        self.commands = {"tapegrad": rust_command, "torch": [sys.executable, str(TORCH_SUITE)]}
        self.timeout = timeout
        self.isa_env = ISA_ENV[isa]
        # With --filter, a child may rightly have no rows to print.
        self.filtered = filtered
        # side -> the SIMD levels its children reported (one, unless something is wrong).
        self.levels = {side: [] for side in SIDES}
        # side -> row name -> list of result dicts, one per round that produced the row.
        self.results = {side: {} for side in SIDES}
        self.failures = {side: 0 for side in SIDES}
        # Why the torch side gave no rows while exiting 0 (torch missing); None while it works.
        self.torch_missing = None

    def run(self, side, args, threads, label):
        """Run one child of `side` and record its rows."""
        if side == "torch" and self.torch_missing:
            return
        log(f"{label} ... (load average {os.getloadavg()[0]:.2f})")
        env = dict(os.environ)
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "RAYON_NUM_THREADS"):
            env[var] = str(threads)
        for var, value in self.isa_env.items():
            if value is None:
                env.pop(var, None)
            else:
                env[var] = value
        command = self.commands[side] + args
        try:
            proc = subprocess.run(
                command, cwd=REPO, env=env, capture_output=True, text=True, timeout=self.timeout
            )
            stdout, stderr, problem = proc.stdout, proc.stderr, None
            if proc.returncode != 0:
                problem = f"exit status {proc.returncode}"
        except subprocess.TimeoutExpired as timeout:
            stdout, stderr = as_text(timeout.stdout), as_text(timeout.stderr)
            problem = f"timed out after {self.timeout} s"
        objects = list(json_lines(stdout))
        rows = [row for row in objects if "name" in row]
        info = next((o for o in objects if "simd_level" in o), None)
        # tapegrad also names its GEMM crate's level (not capped by TAPEGRAD_SIMD).
        level = None if info is None else info["simd_level"]
        if level is not None and "gemm_level" in info:
            level = f"{level} (GEMM {info['gemm_level']})"
        if level is not None and level not in self.levels[side]:
            self.levels[side].append(level)
        if problem is None and not rows:
            if self.filtered and level is not None:
                log(f"{label}: no row matches --filter")
                return
            if side == "torch":
                self.torch_missing = stderr.strip() or "the PyTorch side printed no rows"
                log(f"{label}: PyTorch gave no rows; its columns read n/a:\n{tail(stderr)}")
                return
            problem = "no JSON rows on stdout"
        if problem:
            self.failures[side] += 1
            log(f"{label}: FAILED ({problem}): {shlex.join(command)}")
            log(f"  stderr tail:\n{tail(stderr)}")
        for row in rows:
            self.results[side].setdefault(row["name"], []).append(row)
            if "samples_per_sec" in row:
                log(
                    f"{label}: {cell(row['samples_per_sec'], '.0f')} samples/s, "
                    f"peak RSS {cell(row.get('peak_rss_mb'), '.0f')} MiB, "
                    f"final loss {cell(row.get('final_loss'), '.4f')}"
                )
        if rows and "samples_per_sec" not in rows[0]:
            log(f"{label}: {len(rows)} rows")

    def ran(self, name):
        """Whether either side reported the row (with --filter, some never run)."""
        return any(name in self.results[side] for side in SIDES)

    def values(self, side, name, key):
        """Every round's `key` for one row and side (rows without a number there are skipped)."""
        return [r[key] for r in self.results[side].get(name, []) if is_number(r.get(key))]


def run_ops(runner, rounds, runs, row_filter=None, threads=OPS_THREADS):
    """K rounds of the ops suite, tapegrad then PyTorch in each; returns the row names."""
    args = ["ops", "--threads", str(threads), "--runs", str(runs)]
    if row_filter:
        args += ["--filter", row_filter]
    for k in range(1, rounds + 1):
        for side in SIDES:
            runner.run(side, args, threads, f"[ops round {k}/{rounds}] {side}")
    # Only ops rows are recorded so far; tapegrad's order first, then rows only PyTorch has.
    return list(dict.fromkeys(name for side in SIDES for name in runner.results[side]))


def e2e_name(batch, threads, model="lenet5"):
    """The e2e row name both sides print for one configuration."""
    return f"{model}_train_b{batch}_t{threads}"


def e2e_configs():
    """Every training configuration: (model, batch, threads, sample cap or None)."""
    configs = [("lenet5", b, t, None) for b in E2E_BATCHES for t in E2E_THREADS]
    configs += [("mnist_cnn", b, t, MNIST_CNN_SAMPLES) for b in MNIST_CNN_BATCHES for t in E2E_THREADS]
    configs += [("resnet", b, t, RESNET_SAMPLES) for b in RESNET_BATCHES for t in E2E_THREADS]
    return configs


def infer_name(model, batch, threads):
    """The inference row name both sides print for one configuration."""
    return f"{model}_infer_b{batch}_t{threads}"


def infer_configs():
    """Every inference configuration: (model, batch, threads, timed runs)."""
    return [
        (m, b, t, INFER_RUNS[b]) for m in INFER_MODELS for b in INFER_RUNS for t in E2E_THREADS
    ]


def run_e2e(runner, rounds, mnist_dir, samples, row_filter=None):
    """Every e2e configuration (that `row_filter` keeps), K alternating tapegrad / PyTorch
    processes each. `samples` (from --quick) caps every configuration's epoch."""
    for model, batch, threads, cap in e2e_configs():
        name = e2e_name(batch, threads, model)
        if row_filter and row_filter not in name:
            continue
        args = ["e2e", "--model", model, "--threads", str(threads), "--batch", str(batch)]
        if mnist_dir:
            args += ["--mnist-dir", mnist_dir]
        epoch = min(x for x in (samples, cap) if x) if samples or cap else None
        if epoch:
            args += ["--samples", str(epoch)]
        for k in range(1, rounds + 1):
            for side in SIDES:
                runner.run(side, args, threads, f"[{name} round {k}/{rounds}] {side}")


def run_infer(runner, rounds, row_filter=None):
    """Every inference configuration (that `row_filter` keeps), K alternating processes each."""
    for model, batch, threads, runs in infer_configs():
        name = infer_name(model, batch, threads)
        if row_filter and row_filter not in name:
            continue
        args = ["infer", "--model", model, "--threads", str(threads), "--batch", str(batch)]
        args += ["--runs", str(runs)]
        for k in range(1, rounds + 1):
            for side in SIDES:
                runner.run(side, args, threads, f"[{name} round {k}/{rounds}] {side}")


# ---------------------------------------------------------------------------------------------
# report


def median_or_none(values):
    """The median, or None for no values."""
    return statistics.median(values) if values else None


def is_number(value):
    """A finite int or float (JSON rows may carry null, NaN or garbage)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def cell(value, fmt):
    """A formatted number, or a dash where there is none."""
    return format(value, fmt) if is_number(value) else "—"


def ratio_cell(num, den, suffix=""):
    """num / den to two decimals, or n/a where either is missing."""
    return "n/a" if num is None or den is None or den == 0 else f"{num / den:.2f}{suffix}"


def side_cell(runner, side, value, fmt):
    """A side's figure, or why it is missing: n/a (torch missing), failed, or a dash."""
    if value is not None:
        return format(value, fmt)
    if side == "torch" and runner.torch_missing:
        return "n/a"
    return "failed" if runner.failures[side] else "—"


def table(header, rows):
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def ops_table(runner, names):
    """The ops rows: each side's median time and GFLOP/s, and the time ratio."""
    rows = []
    for name in names:
        ms = {s: median_or_none(runner.values(s, name, "median_ms")) for s in SIDES}
        gf = {s: median_or_none(runner.values(s, name, "gflops")) for s in SIDES}
        rows.append(
            [f"`{name}`"]
            + [side_cell(runner, s, ms[s], ".3f") for s in SIDES]
            + [ratio_cell(ms["tapegrad"], ms["torch"])]
            + [cell(gf[s], ".1f") if ms[s] is not None else "" for s in SIDES]
        )
    header = [
        "row",
        "tapegrad ms",
        "PyTorch ms",
        "ratio (tapegrad/PyTorch time, lower is better)",
        "tapegrad GFLOP/s",
        "PyTorch GFLOP/s",
    ]
    return table(header, rows)


def e2e_figures(runner, side, name):
    """Median samples/s and maximum peak RSS of one side and configuration."""
    rss = runner.values(side, name, "peak_rss_mb")
    return median_or_none(runner.values(side, name, "samples_per_sec")), max(rss, default=None)


def e2e_tables(runner):
    """The e2e rows (throughput, peak RSS, ratios) and each side's 2-vs-1-thread scaling."""
    rows, scaling, by_name = [], [], {}
    for model, batch, threads, _ in e2e_configs():
        name = e2e_name(batch, threads, model)
        fig = {s: e2e_figures(runner, s, name) for s in SIDES}
        by_name[name] = fig
        if runner.filtered and not runner.ran(name):
            continue
        (t_sps, t_rss), (p_sps, p_rss) = fig["tapegrad"], fig["torch"]
        rows.append(
            [
                f"`{name}`",
                side_cell(runner, "tapegrad", t_sps, ".0f"),
                side_cell(runner, "torch", p_sps, ".0f"),
                ratio_cell(t_sps, p_sps),
                side_cell(runner, "tapegrad", t_rss, ".0f"),
                side_cell(runner, "torch", p_rss, ".0f"),
                ratio_cell(t_rss, p_rss),
            ]
        )
    for model, batch, threads, _ in e2e_configs():
        if threads != 2:
            continue
        one, two = e2e_name(batch, 1, model), e2e_name(batch, 2, model)
        if runner.filtered and not (runner.ran(one) and runner.ran(two)):
            continue
        scaling.append(
            [f"{model} batch {batch}"]
            + [ratio_cell(by_name[two][s][0], by_name[one][s][0], "×") for s in SIDES]
        )
    header = [
        "row",
        "tapegrad samples/s",
        "PyTorch samples/s",
        "speedup (tapegrad/PyTorch)",
        "tapegrad peak RSS MiB",
        "PyTorch peak RSS MiB",
        "RSS ratio",
    ]
    scaling_header = ["2 threads vs 1 thread (samples/s ratio)", "tapegrad", "PyTorch"]
    return table(header, rows), table(scaling_header, scaling)


def infer_table(runner):
    """The inference rows: each side's median latency and throughput, and the time ratio."""
    rows = []
    for model, batch, threads, _ in infer_configs():
        name = infer_name(model, batch, threads)
        if runner.filtered and not runner.ran(name):
            continue
        ms = {s: median_or_none(runner.values(s, name, "median_ms")) for s in SIDES}
        sps = {s: median_or_none(runner.values(s, name, "samples_per_sec")) for s in SIDES}
        rows.append(
            [f"`{name}`"]
            + [side_cell(runner, s, ms[s], ".3f") for s in SIDES]
            + [ratio_cell(ms["tapegrad"], ms["torch"])]
            + [side_cell(runner, s, sps[s], ".0f") for s in SIDES]
        )
    header = [
        "row",
        "tapegrad ms",
        "PyTorch ms",
        "ratio (tapegrad/PyTorch time, lower is better)",
        "tapegrad samples/s",
        "PyTorch samples/s",
    ]
    return table(header, rows)


def cpu_flags():
    """The CPU's feature flags from /proc/cpuinfo (None where it cannot be read)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return None


def check_isa(isa):
    """Exit with a clear error when this CPU lacks what `--isa` asks for."""
    flags = cpu_flags()
    if flags is None:
        if ISA_FLAGS[isa]:
            log(f"warning: /proc/cpuinfo has no CPU flags; cannot check --isa {isa} (the report "
                "shows the level each side ran at)")
        return
    missing = [f for f in ISA_FLAGS[isa] if f not in flags]
    if missing:
        sys.exit(
            f"error: --isa {isa}: this CPU ({cpu_model()}) lacks {', '.join(missing)}; "
            f"run --isa native or a narrower level"
        )


def isa_lines(runner, isa):
    """The report's lines on the instruction sets: asked for, and what each side ran at."""
    caps = ", ".join(
        f"`{var}={value}`" if value else f"`{var}` unset" for var, value in ISA_ENV[isa].items()
    )
    ran = "; ".join(
        f"{side} ran at {', '.join(runner.levels[side]) or 'an unreported level'}"
        for side in SIDES
        if not (side == "torch" and runner.torch_missing)
    )
    lines = [f"- Instruction set: `--isa {isa}` ({caps}); {ran}"]
    if isa != "native":
        off = [
            s for s in SIDES if runner.levels[s] and runner.levels[s] not in ([isa], [f"{isa} (GEMM {isa})"])
        ]
        if off:
            lines.append(f"- **A side did not run at {isa}**: {', '.join(off)}; see above.")
    return lines


def cpu_model():
    """The CPU's model name from /proc/cpuinfo."""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def command_version(what, command):
    """The last line a version command prints, or that `what` is unavailable."""
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return f"{what} unavailable"
    out = proc.stdout.strip().splitlines()
    return out[-1] if proc.returncode == 0 and out else f"{what} unavailable"


def report(runner, names, args, rounds, runs, samples, load_before):
    """The whole report in Markdown: where and how it was measured, then the tables."""
    torch_version = command_version(
        "torch", [sys.executable, "-c", "import torch; print('torch', torch.__version__)"]
    )
    data = "random MNIST-shaped data"
    if args.mnist_dir:
        data = f"MNIST training set from `{args.mnist_dir}`"
    epoch = f"first {samples} samples" if samples else "60000 samples"
    load_after = os.getloadavg()
    parts = [
        f"## tapegrad vs PyTorch on the CPU (`--isa {args.isa}`)",
        "",
        f"- Machine: {cpu_model()}, {os.cpu_count()} logical cores; "
        f"load average (1 min) {load_before:.2f} before, {load_after[0]:.2f} after",
        f"- Versions: {command_version('rustc', ['rustc', '--version'])}; {torch_version}; "
        f"Python {platform.python_version()}",
        f"- Date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"- Command: `{shlex.join(['python3', 'bench/compare.py'] + sys.argv[1:])}`",
        f"- Method: separate processes, tapegrad then PyTorch in each of {rounds} round(s); "
        f"ops: median of {runs} runs per process at {args.ops_threads} threads, then median over "
        f"rounds; e2e: one epoch ({epoch}, {data}; `mnist_cnn`: at most the first "
        f"{MNIST_CNN_SAMPLES}, `resnet`: the first {RESNET_SAMPLES}), median samples/s over rounds, maximum peak RSS (VmHWM); infer: "
        f"median of {INFER_RUNS[1]} (batch 1) or {INFER_RUNS[1000]} (batch 1000) runs per "
        "process, then median over rounds.",
    ]
    parts += isa_lines(runner, args.isa)
    if args.filter:
        parts.append(f"- Rows: those whose name contains `{args.filter}` (`--filter`)")
    if load_before > (os.cpu_count() or 1) - args.ops_threads + 0.5:
        parts.append(
            f"- **The machine was busy** (load average {load_before:.2f} at the start): other "
            "processes preempt the worker threads, so multi-threaded figures are unreliable."
        )
    if runner.torch_missing:
        parts.append(f"- **PyTorch columns are n/a**: {runner.torch_missing.splitlines()[-1]}")
    if any(runner.failures.values()):
        failed = ", ".join(f"{s}: {n}" for s, n in runner.failures.items() if n)
        parts.append(f"- **Failed child processes** ({failed}); see the runner's stderr.")
    e2e, scaling = e2e_tables(runner)
    if names or not args.filter:
        parts += ["", f"### Ops (f32, {args.ops_threads} threads)", "", ops_table(runner, names)]
    if any(runner.ran(e2e_name(b, t, m)) for m, b, t, _ in e2e_configs()) or not args.filter:
        parts += [
            "",
            "### Training throughput (Adam, one epoch; `mnist_cnn`: PyTorch's MNIST-example "
            f"CNN, first {MNIST_CNN_SAMPLES} samples; `resnet`: the ResNet of issue #17, first "
            f"{RESNET_SAMPLES})",
            "",
            e2e,
            "",
            scaling,
        ]
    if any(runner.ran(infer_name(m, b, t)) for m, b, t, _ in infer_configs()) or not args.filter:
        parts += [
            "",
            "### Inference (evaluation mode, one batch of random images; median latency)",
            "",
            infer_table(runner),
        ]
    parts.append("")
    return "\n".join(parts)


def parse_args():
    """The runner's command line."""
    parser = argparse.ArgumentParser(
        description="Run tapegrad's benchmark suite and PyTorch's side by side; print one report.",
    )
    parser.add_argument(
        "--rounds",
        metavar="K",
        type=int,
        help="alternations of the two sides (default 3, 1 with --quick)",
    )
    parser.add_argument(
        "--runs", metavar="R", type=int, help="timed runs per ops row (default and minimum 20)"
    )
    parser.add_argument(
        "--mnist-dir",
        metavar="DIR",
        help="folder with MNIST's gzipped training IDX files (default: random data)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"one round, e2e on the first {QUICK_SAMPLES} samples only",
    )
    parser.add_argument(
        "--isa",
        choices=tuple(ISA_FLAGS),
        default="native",
        help="cap both sides' kernels at this instruction set (TAPEGRAD_SIMD and "
        "ATEN_CPU_CAPABILITY); native (the default) lets each pick its widest",
    )
    parser.add_argument(
        "--filter",
        metavar="SUBSTRING",
        help="only the ops rows and e2e configurations whose name contains SUBSTRING "
        "(e.g. maxpool, lenet5_train_b64_t2)",
    )
    parser.add_argument(
        "--ops-threads",
        metavar="T",
        type=int,
        default=OPS_THREADS,
        help=f"threads of the ops rows (default {OPS_THREADS}; 1 is less exposed to other "
        "processes on a busy machine)",
    )
    parser.add_argument(
        "--markdown", metavar="PATH", help="also write the report to this Markdown file"
    )
    parser.add_argument(
        "--rust-bin",
        metavar="PATH",
        help="run this prebuilt tapegrad suite executable instead of building `benches/suite.rs`",
    )
    parser.add_argument(
        "--timeout",
        metavar="S",
        type=int,
        default=900,
        help="seconds before a child process is killed (default 900)",
    )
    args = parser.parse_args()
    if args.rounds is not None and args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if args.ops_threads < 1:
        parser.error("--ops-threads must be at least 1")
    if args.runs is not None and args.runs < 20:
        parser.error("--runs must be at least 20")
    return args


def main():
    args = parse_args()
    rounds = args.rounds or (1 if args.quick else 3)
    runs = args.runs or 20
    samples = QUICK_SAMPLES if args.quick else None
    if args.mnist_dir:  # the children run in the repository root
        args.mnist_dir = str(Path(args.mnist_dir).resolve())
    check_isa(args.isa)
    load_before = os.getloadavg()[0]

    if args.rust_bin:
        rust_command = [str(Path(args.rust_bin).resolve())]
    else:
        rust_command = [build_rust_suite(args.isa)]
    runner = Runner(rust_command, args.timeout, args.isa, filtered=bool(args.filter))
    names = run_ops(runner, rounds, runs, args.filter, args.ops_threads)
    run_e2e(runner, rounds, args.mnist_dir, samples, args.filter)
    run_infer(runner, rounds, args.filter)

    text = report(runner, names, args, rounds, runs, samples, load_before)
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text)
        log(f"report written to {args.markdown}")
    if any(runner.failures.values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
