#!/usr/bin/env python3
"""Collectives run on the communication stream, beside compute, and show it.

Usage: overlap_test.py TOOLS_DIR

The bundled Llama-style model (models/llama.py, small), compiled for training
with `--sp 4` for the allgather and ring strategies, runs two steps under
`mpirun --oversubscribe -np 4 sp-run --steps 2 --trace T --profile P`:

- the trace has, for every rank, a compute lane (tid 1) and a communication
  lane (tid 2); every collective is a "comm" event with its kind and bytes;
  the ring plan's transfers are send_receive events, and at least one of them
  ran while that rank computed (the ring kernel computes a block while the
  next one moves: overlap by construction, not by luck of timing);
- the hidden share that sp-run writes in the trace (the communication lane's
  busy time that overlaps compute, over its busy time) equals the one
  recomputed from the trace's own events, and sp-run prints it;
- the profile lists every instruction once, by a non-empty unique id, with
  the collectives' kinds and bytes.

Then the watchdog: a 4-rank run with `--timeout 2` whose rank 1 is stopped
(SIGSTOP) after the first step ends with a non-zero exit in bounded time, and
what it prints on stderr names the collective that made no progress.
"""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODELS = os.path.join(ROOT, "models")
RANKS = 4


def run(command, **kwargs):
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        raise SystemExit(f"FAIL: {' '.join(command)}: exit {result.returncode}\n"
                         f"{result.stdout[-2000:]}{result.stderr[-2000:]}")
    return result


def mpirun(tools, *args):
    return ["mpirun", "--oversubscribe", "-x", "OMP_NUM_THREADS", "-np", str(RANKS),
            os.path.join(tools, "sp-run"), *args]


def lanes_by_rank(events):
    ranks = {}
    for event in events:
        if event.get("ph") != "X":
            continue
        ranks.setdefault(event["pid"], {"compute": [], "wait": [], "comm": []})[
            event["cat"]].append(event)
    return ranks


def union(events):
    merged = []
    for begin, end in sorted((e["ts"], e["ts"] + e["dur"]) for e in events):
        if merged and begin <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        elif end > begin:
            merged.append([begin, end])
    return merged


def busy_microseconds(events):
    return sum(end - begin for begin, end in union(events))


def hidden_microseconds(comm, compute):
    """Time the communication lane is busy while the compute lane computes."""
    hidden = 0.0
    computing = union(compute)
    for begin, end in union(comm):
        for start, stop in computing:
            hidden += max(0.0, min(end, stop) - max(begin, start))
    return hidden


def check_trace(path, strategy, printed):
    failures = []
    trace = json.load(open(path))
    ranks = lanes_by_rank(trace["traceEvents"])
    if sorted(ranks) != list(range(1, RANKS + 1)):
        return [f"{strategy}: trace has ranks {sorted(ranks)}"]
    names = {(e["pid"], e.get("tid")): e["args"]["name"] for e in trace["traceEvents"]
             if e.get("ph") == "M" and e["name"] == "thread_name"}
    shares = []
    for pid, lanes in ranks.items():
        if names.get((pid, 1)) != "compute" or names.get((pid, 2)) != "communication":
            failures.append(f"{strategy}: rank {pid - 1} lanes are {names}")
        if not lanes["comm"]:
            failures.append(f"{strategy}: rank {pid - 1} has no communication events")
            continue
        if any(e["tid"] != 2 for e in lanes["comm"]) or any(
                e["tid"] != 1 for e in lanes["compute"] + lanes["wait"]):
            failures.append(f"{strategy}: rank {pid - 1} has events on the wrong lane")
        for event in lanes["comm"]:
            if event["args"].get("kind") != event["name"] or event["args"].get("bytes", 0) <= 0:
                failures.append(f"{strategy}: comm event without kind or bytes: {event}")
                break
        kinds = {e["name"] for e in lanes["comm"]}
        if strategy == "ring" and "send_receive" not in kinds:
            failures.append(f"{strategy}: rank {pid - 1} has no ring transfers: {kinds}")
        if strategy == "allgather" and "all_gather" not in kinds:
            failures.append(f"{strategy}: rank {pid - 1} has no all_gather: {kinds}")
        total = busy_microseconds(lanes["comm"])
        shares.append((hidden_microseconds(lanes["comm"], lanes["compute"]), total))
    if strategy == "ring":
        ring_hidden = 0.0
        for lanes in ranks.values():
            transfers = [e for e in lanes["comm"] if e["name"] == "send_receive"]
            ring_compute = [e for e in lanes["compute"] if e["name"].startswith("ring_attention")]
            ring_hidden += hidden_microseconds(transfers, ring_compute)
        if ring_hidden <= 0:
            failures.append("ring: no ring transfer overlapped its ring attention kernel")
    # The trace's own hidden share (the last step) and the events agree.
    # sp-run's figure is the mean over the steps after the first; with two
    # steps that is the traced one. Ratio of the ranks' sums, as sp-run.
    total = sum(t for _, t in shares)
    recomputed = sum(h for h, _ in shares) / total if total > 0 else 0
    other = trace.get("otherData", {})
    if abs(other.get("hidden_share", -1) - recomputed) > 0.01:
        failures.append(f"{strategy}: the trace says hidden_share {other.get('hidden_share')}, "
                        f"its events {recomputed:.4f}")
    for key in ("step_us", "comm_us", "hidden_share"):
        if key not in other:
            failures.append(f"{strategy}: otherData lacks {key}")
    if not 0 <= other.get("hidden_share", -1) <= 1:
        failures.append(f"{strategy}: hidden_share {other.get('hidden_share')} outside [0, 1]")
    if "overlap: communication" not in printed or "% hidden behind compute" not in printed:
        failures.append(f"{strategy}: sp-run printed no overlap line:\n{printed[-500:]}")
    print(f"{strategy}: hidden share from events {recomputed:.3f} (last step), "
          f"printed: {[l for l in printed.splitlines() if l.startswith('overlap:')]}")
    return failures


def check_profile(path, plan_text, strategy):
    failures = []
    profile = json.load(open(path))
    if profile.get("format") != "sp-profile" or profile.get("version") != 1:
        return [f"{strategy}: profile format {profile.get('format')} {profile.get('version')}"]
    if profile.get("world_size") != RANKS or profile.get("device") != "cpu":
        failures.append(f"{strategy}: profile world_size/device {profile.get('world_size')} "
                        f"{profile.get('device')}")
    ids = [entry["id"] for entry in profile["instructions"]]
    if not ids or any(not i for i in ids) or len(set(ids)) != len(ids):
        failures.append(f"{strategy}: profile instruction ids are not all set and unique "
                        f"({len(ids)} entries, {len(set(ids))} distinct, "
                        f"{sum(1 for i in ids if not i)} empty)")
    if sum(1 for line in plan_text.splitlines() if line.startswith("instructions {")) != len(ids):
        failures.append(f"{strategy}: the profile has {len(ids)} instructions, not the plan's")
    if any(entry["us"] < 0 for entry in profile["instructions"]):
        failures.append(f"{strategy}: negative times in the profile")
    collectives = profile["collectives"]
    if not collectives or any(c["bytes"] <= 0 or not c["kind"] for c in collectives):
        failures.append(f"{strategy}: profile collectives {collectives[:3]}")
    if not set(c["id"] for c in collectives) <= set(ids):
        failures.append(f"{strategy}: profile collectives name unknown instructions")
    return failures


def check_watchdog(tools, plan, work, env):
    """A stopped rank ends the job: the others time out in their collective."""
    command = mpirun(tools, plan, "--data", "synthetic:copy", "--steps", "100000",
                     "--timeout", "2")
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=env, start_new_session=True)
    stopped = []
    try:
        # Wait for the first step, then stop one rank that is not rank 0.
        line = process.stdout.readline()
        if not line.startswith("step "):
            return [f"watchdog: no first step: {line!r} {process.stderr.read()[-1000:]}"]
        ranks = subprocess.run(["pgrep", "-f", f"sp-run {plan}"], capture_output=True,
                               text=True).stdout.split()
        ranks = [int(pid) for pid in ranks if int(pid) != process.pid]
        if len(ranks) < RANKS:
            return [f"watchdog: found {len(ranks)} sp-run processes"]
        victim = sorted(ranks)[1]
        os.kill(victim, signal.SIGSTOP)
        stopped.append(victim)
        start = time.monotonic()
        try:
            _, stderr = process.communicate(timeout=90)
        except subprocess.TimeoutExpired:
            return ["watchdog: the job did not end within 90 s of stopping a rank"]
        elapsed = time.monotonic() - start
        print(f"watchdog: ended {elapsed:.1f} s after the stop, exit {process.returncode}")
        failures = []
        if process.returncode == 0:
            failures.append("watchdog: the job exited 0 with a rank stopped")
        errors = [l for l in stderr.splitlines() if l.startswith("sp-run: error:")]
        if not errors or not all("made no progress for 2 s" in l and "(--timeout)" in l
                                 for l in errors):
            failures.append(f"watchdog: stderr does not name the stuck collective:\n{stderr[-1500:]}")
        return failures
    finally:
        for pid in stopped:
            try:
                os.kill(pid, signal.SIGCONT)
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def main():
    tools = os.path.abspath(sys.argv[1])
    env = dict(os.environ, OMP_NUM_THREADS="1")
    failures = []
    with tempfile.TemporaryDirectory() as work:
        model = os.path.join(work, "llama.onnx")
        run([sys.executable, os.path.join(MODELS, "llama.py"), "-o", model, "--layers", "2",
             "--hidden", "64", "--heads", "4", "--kv-heads", "2", "--vocab", "128"])
        plans = {}
        for strategy in ("allgather", "ring"):
            plan = os.path.join(work, f"{strategy}.spplan")
            run([os.path.join(tools, "sp-compile"), model, "--train", "--input-shape",
                 "input_ids=2x256", "--sp", str(RANKS), f"--sp-strategy={strategy}", "-o", plan])
            plans[strategy] = plan
            trace, profile = (os.path.join(work, f"{strategy}.{kind}.json")
                              for kind in ("trace", "profile"))
            result = run(mpirun(tools, plan, "--data", "synthetic:copy", "--steps", "2",
                                "--trace", trace, "--profile", profile), env=env)
            failures += check_trace(trace, strategy, result.stdout)
            plan_text = run([os.path.join(tools, "sp-run"), plan, "--print-plan"]).stdout
            failures += check_profile(profile, plan_text, strategy)
        failures += check_watchdog(tools, plans["allgather"], work, env)
    for failure in failures:
        print(failure)
    print(f"overlap: {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
