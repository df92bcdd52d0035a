#!/usr/bin/env python3
"""Overlap of communication with compute under sequence parallelism: measured and predicted.

Usage: utils/bench/overlap.py [--build DIR] [--ranks N] [--sequence S] [--batch B] [--steps K]
                              [--repeats R] [--threads T] [--strategies allgather,ulysses,ring]
                              [--model MODEL.onnx] [--out DIR] [--timelines]

Generates the bundled Llama-style model (utils/demo.sh's: 4 layers, width 128,
8 heads / 2 KV heads, vocab 256) unless --model names another whose token
input is `input_ids` (an HF export from utils/export_hf_models.py), compiles it for training (`--train`, AdamW)
at batch B x sequence S split over N ranks (`--sp N`), once per strategy, each
with the default overlap schedule and with `--no-overlap`, and runs each plan
as `mpirun --oversubscribe -np N sp-run PLAN --data synthetic:copy --steps K
--trace TRACE.json`. The two variants of a strategy alternate run by run
(R pairs), so drift on a shared machine hits both alike.

Prints one table, a row per strategy:
- step ms: the median over runs of each run's median step time (from sp-run's
  tokens/s per step, the first step left out as warm-up), with overlap and with
  --no-overlap, and their ratio (below 1: overlap is faster);
- hidden: the measured share of communication time that ran while compute ran,
  from the trace's otherData (`hidden_share`), or where absent recomputed from
  the trace's events (marked *); "-" when the trace has no communication lane;
- comm ms: the measured communication time per rank and step;
- predicted hidden and step ms: from `sp-compile --report`'s prediction line.

A benchmark: it prints numbers and asserts nothing. Exits 1 with one line on
stderr when a tool fails.
"""

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "utils"))
import trace_timeline  # noqa: E402

MODEL_ARGS = ["--layers", "4", "--hidden", "128", "--heads", "8", "--kv-heads", "2",
              "--ffn", "344", "--vocab", "256", "--seed", "0"]
STEP_LINE = re.compile(r"^step\s+(\d+)/\d+.*?tokens/s\s+([\d.]+)", re.M)
OVERLAP_LINE = re.compile(r"^overlap:.*$", re.M)


class BenchError(Exception):
    pass


def run(command, env=None, timeout=600):
    try:
        result = subprocess.run(command, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise BenchError(f"{os.path.basename(command[0])}: no result after {timeout} s: "
                         + " ".join(command))
    except OSError as e:
        raise BenchError(f"{command[0]}: {e.strerror or e}")
    if result.returncode != 0:
        last = (result.stderr.strip() or result.stdout.strip()).splitlines()
        # The tools' own error line names the tool and the file; mpirun adds
        # its boilerplate after it.
        errors = [line for line in last if "error" in line.lower()]
        raise BenchError(errors[0] if errors else last[-1] if last else
                         f"{' '.join(command)}: exit {result.returncode}")
    return result.stdout


def to_us(value, unit):
    return float(value) * {"us": 1.0, "µs": 1.0, "ms": 1e3, "s": 1e6}[unit]


def parse_prediction(report):
    """The predicted hidden share (0..1) and step time (us) from sp-compile --report.

    Today's line: 'communication hidden: 356.9 of 3137.6 us (11%), 2780.6 us exposed;
    compute 36497.4 us, step 39278.0 us; at most 4 in flight'. Reads any line that
    speaks of 'hidden' with a percentage or 'X of Y', and a 'step N us|ms|s' on it
    or on a line mentioning 'predict'; None for what is not there."""
    share = step = None
    number = r"([\d]+(?:\.\d+)?)"
    for line in report.splitlines():
        lower = line.lower()
        if "hidden" in lower and share is None:
            match = re.search(number + r"\s*%", line)
            if match:
                share = float(match.group(1)) / 100.0
            else:
                match = re.search(number + r"\s*(?:us|ms|s)?\s+of\s+" + number, line)
                if match and float(match.group(2)) > 0:
                    share = float(match.group(1)) / float(match.group(2))
        if step is None and ("hidden" in lower or "predict" in lower):
            match = re.search(r"\bstep\s*(?:time)?\s*:?\s*" + number + r"\s*(us|µs|ms|s)\b",
                              line)
            if match:
                step = to_us(match.group(1), match.group(2))
    return share, step


def parse_overlap_line(output):
    """sp-run's 'overlap: communication 12.3 ms per step, 64.0% hidden behind compute;
    step 45.6 ms' as (comm us, share, step us); None where a figure is missing."""
    match = OVERLAP_LINE.search(output)
    if not match:
        return None, None, None
    line = match.group(0)
    comm = re.search(r"communication\s+([\d.]+)\s*(us|µs|ms|s)\b", line)
    share = re.search(r"([\d.]+)\s*%", line)
    step = re.search(r"step\s+([\d.]+)\s*(us|µs|ms|s)\b", line)
    return (to_us(*comm.groups()) if comm else None,
            float(share.group(1)) / 100.0 if share else None,
            to_us(*step.groups()) if step else None)


def step_times_us(output, tokens):
    """Per-step times from the progress lines, the first (warm-up) left out."""
    times = [tokens / float(rate) * 1e6 for _, rate in STEP_LINE.findall(output)
             if float(rate) > 0]
    return times[1:] if len(times) > 1 else times


def measure(options, plan, trace_path, tokens, env):
    command = ["mpirun", "--oversubscribe", "-np", str(options.ranks),
               os.path.join(options.build, "bin", "sp-run"), plan, "--data", "synthetic:copy",
               "--steps", str(options.steps), "--seed", "0", "--trace", trace_path]
    output = run(command, env=env, timeout=options.timeout)
    times = step_times_us(output, tokens)
    line_comm, line_share, line_step = parse_overlap_line(output)
    result = {"step_us": statistics.median(times) if times else line_step,
              "hidden": None, "hidden_source": None, "comm_us": None}
    try:
        summary = trace_timeline.summarize(trace_timeline.load(trace_path))
    except trace_timeline.TraceError as e:
        raise BenchError(f"{trace_path}: {e}")
    if summary["has_comm_lane"] or summary["hidden_share_source"] == "trace":
        result["hidden"] = summary["hidden_share"]
        result["hidden_source"] = summary["hidden_share_source"]
        result["comm_us"] = summary["comm_us"]
    elif line_share is not None:
        result["hidden"], result["hidden_source"] = line_share, "line"
        result["comm_us"] = line_comm
    if result["step_us"] is None:
        result["step_us"] = summary["step_us"]
    return result


def median_of(results, key):
    values = [r[key] for r in results if r[key] is not None]
    return statistics.median(values) if values else None


def fmt(value, pattern, missing="-"):
    return missing if value is None else pattern.format(value)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build", default=os.path.join(ROOT, "build"),
                        help="the build folder holding bin/sp-compile and bin/sp-run")
    parser.add_argument("--ranks", type=int, default=4)
    parser.add_argument("--sequence", type=int, default=1024,
                        help="tokens per sequence, split over the ranks (default 1024)")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--steps", type=int, default=5, help="training steps per run")
    parser.add_argument("--repeats", type=int, default=1,
                        help="runs of each plan, overlap and --no-overlap alternating")
    parser.add_argument("--threads", type=int, default=None,
                        help="OMP_NUM_THREADS per rank (default: sp-run shares the cores "
                             "among the local ranks)")
    parser.add_argument("--strategies", default="allgather,ulysses,ring")
    parser.add_argument("--model", default=None,
                        help="an ONNX model with an input_ids input (default: the bundled one)")
    parser.add_argument("--out", default=None,
                        help="keep plans, traces and reports here (default: a temporary folder)")
    parser.add_argument("--timelines", action="store_true",
                        help="also render each strategy's last trace with trace_timeline.py "
                             "(needs --out)")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per sp-run")
    options = parser.parse_args()
    if options.timelines and not options.out:
        parser.error("--timelines needs --out")
    strategies = [s for s in options.strategies.split(",") if s]

    for tool in ("sp-compile", "sp-run"):
        if not os.access(os.path.join(options.build, "bin", tool), os.X_OK):
            print(f"overlap.py: {options.build}/bin/{tool} not found: build first (utils/build.sh)",
                  file=sys.stderr)
            return 1
    if not shutil.which("mpirun"):
        print("overlap.py: mpirun not found (utils/setup.sh installs OpenMPI)", file=sys.stderr)
        return 1

    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    if options.threads:
        env["OMP_NUM_THREADS"] = str(options.threads)
        env["OPENBLAS_NUM_THREADS"] = str(options.threads)
    workdir = options.out or tempfile.mkdtemp(prefix="sp-overlap-")
    os.makedirs(workdir, exist_ok=True)
    tokens = options.batch * options.sequence
    rows = []
    try:
        model = options.model
        if not model:
            model = os.path.join(workdir, "llama-demo.onnx")
            run([sys.executable, os.path.join(ROOT, "models", "llama.py"), "-o", model,
                 "--max-positions", str(max(512, options.sequence))] + MODEL_ARGS)
        for strategy in strategies:
            plans, predicted = {}, {}
            for variant, flags in (("overlap", []), ("no-overlap", ["--no-overlap"])):
                plan = os.path.join(workdir, f"{strategy}-{variant}.spplan")
                report = run([os.path.join(options.build, "bin", "sp-compile"), model, "--train",
                              "--input-shape", f"input_ids={options.batch}x{options.sequence}",
                              "--sp", str(options.ranks), f"--sp-strategy={strategy}",
                              "--report", "-o", plan] + flags)
                with open(plan + ".report.txt", "w") as f:
                    f.write(report)
                plans[variant] = plan
                predicted[variant] = parse_prediction(report)
            measured = {"overlap": [], "no-overlap": []}
            for repeat in range(options.repeats):
                order = ("overlap", "no-overlap") if repeat % 2 == 0 else ("no-overlap", "overlap")
                for variant in order:
                    trace = os.path.join(workdir, f"{strategy}-{variant}.trace.json")
                    measured[variant].append(measure(options, plans[variant], trace, tokens, env))
            if options.timelines:
                for variant in ("overlap", "no-overlap"):
                    trace = os.path.join(workdir, f"{strategy}-{variant}.trace.json")
                    trace_timeline.main([trace, "-o", trace[:-len(".json")] + ".png"])
            with_overlap, without = measured["overlap"], measured["no-overlap"]
            step_on, step_off = median_of(with_overlap, "step_us"), median_of(without, "step_us")
            sources = {r["hidden_source"] for r in with_overlap + without}
            rows.append({
                "strategy": strategy, "step_on": step_on, "step_off": step_off,
                "ratio": step_on / step_off if step_on and step_off else None,
                "hidden_on": median_of(with_overlap, "hidden"),
                "hidden_off": median_of(without, "hidden"),
                "comm_on": median_of(with_overlap, "comm_us"),
                "recomputed": "events" in sources,
                "pred_hidden": predicted["overlap"][0], "pred_step": predicted["overlap"][1],
                "pred_step_off": predicted["no-overlap"][1],
            })
    except BenchError as e:
        print(f"overlap.py: {e}", file=sys.stderr)
        return 1
    finally:
        if not options.out:
            shutil.rmtree(workdir, ignore_errors=True)

    threads = options.threads or "shared"
    name = os.path.basename(options.model) if options.model else "bundled Llama-style model"
    print(f"{name}, batch {options.batch} x sequence {options.sequence}, "
          f"--train --sp {options.ranks}, {options.ranks} ranks (mpirun --oversubscribe), "
          f"{options.steps} steps x {options.repeats} runs, threads per rank: {threads}")
    header = ("strategy", "step ms", "no-overlap ms", "ratio", "hidden", "hidden no-ovl",
              "comm ms", "pred. hidden", "pred. step ms", "pred. no-ovl ms")
    table = [header]
    for row in rows:
        star = "*" if row["recomputed"] else ""
        table.append((row["strategy"], fmt(row["step_on"] and row["step_on"] / 1e3, "{:.1f}"),
                      fmt(row["step_off"] and row["step_off"] / 1e3, "{:.1f}"),
                      fmt(row["ratio"], "{:.3f}"),
                      fmt(row["hidden_on"], "{:.1%}") + (star if row["hidden_on"] is not None
                                                         else ""),
                      fmt(row["hidden_off"], "{:.1%}") + (star if row["hidden_off"] is not None
                                                          else ""),
                      fmt(row["comm_on"] and row["comm_on"] / 1e3, "{:.1f}"),
                      fmt(row["pred_hidden"], "{:.0%}"),
                      fmt(row["pred_step"] and row["pred_step"] / 1e3, "{:.1f}"),
                      fmt(row["pred_step_off"] and row["pred_step_off"] / 1e3, "{:.1f}")))
    widths = [max(len(str(r[i])) for r in table) for i in range(len(header))]
    for index, row in enumerate(table):
        print("  ".join(str(cell).ljust(widths[i]) if i == 0 else str(cell).rjust(widths[i])
                        for i, cell in enumerate(row)))
        if index == 0:
            print("  ".join("-" * w for w in widths))
    print("ratio: step with overlap / step with --no-overlap (below 1: overlap is faster); "
          "hidden: measured share of communication time concurrent with compute"
          + (" (* recomputed from the trace's events)" if any(r["recomputed"] for r in rows)
             else "")
          + "; comm ms: measured communication per rank and step; pred.: sp-compile --report")
    if options.out:
        print(f"plans, reports and traces: {workdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
