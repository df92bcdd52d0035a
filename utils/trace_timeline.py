#!/usr/bin/env python3
"""Draw an sp-run trace as a timeline PNG: per rank a compute lane and a communication lane.

Usage: utils/trace_timeline.py TRACE.json [-o timeline.png] [--title TEXT]

TRACE.json is what `sp-run --trace` writes (Chrome/Perfetto trace-event format):
one process per rank (`pid` = rank + 1), a compute lane (`tid` 1) and a
communication lane (`tid` 2), complete events (`"ph": "X"`, `ts`/`dur` in
microseconds) with `cat` "compute", "wait" (compute blocked on a collective)
or "comm" (a collective, its kind and bytes in `args`), and in `otherData` the
step time, the communication time and the measured share of it hidden behind
compute.

Each rank gets a pair of rows: compute in blue, waits in red, collectives in
the communication lane coloured by kind and labelled where wide enough. The
title gives the step time and the hidden share, from `otherData` or, where a
field is absent, recomputed from the events (and marked so). Traces from a
runtime without a communication lane (every kernel `cat` "kernel"; waits,
`*_start` issues and blocking collectives on the compute lane) are drawn too:
waits in red, collectives in the colour of their kind.

Prints one summary line. A file that is not such a trace ends with one line on
stderr and exit code 1.
"""

import argparse
import json
import os
import sys

COMPUTE_COLOUR = "#4C72B0"
WAIT_COLOUR = "#C44E52"
KIND_COLOURS = {
    "all_gather": "#55A868",
    "all_reduce": "#8172B3",
    "reduce_scatter": "#CCB974",
    "all_to_all": "#64B5CD",
    "ring": "#DA8BC3",
    "send": "#DA8BC3",
    "recv": "#DA8BC3",
    "shift": "#DA8BC3",
    "broadcast": "#937860",
}
OTHER_COMM_COLOUR = "#8C8C8C"
# Labels for collectives too narrow for their kind's full name (others: initials).
KIND_ABBREVIATIONS = {"all_gather": "AG", "all_reduce": "AR", "reduce_scatter": "RS",
                      "all_to_all": "A2A", "broadcast": "BC"}
COLLECTIVE_PREFIXES = ("all_gather", "all_reduce", "reduce_scatter", "all_to_all", "ring",
                       "send", "recv", "broadcast")


class TraceError(Exception):
    pass


def comm_kind(event):
    """The collective's kind: args.kind, else the event name less a _start/_wait suffix."""
    args = event.get("args") if isinstance(event.get("args"), dict) else {}
    kind = args.get("kind") or event.get("name") or "comm"
    kind = str(kind)
    for suffix in ("_start", "_wait", "_done"):
        if kind.endswith(suffix):
            kind = kind[: -len(suffix)]
    return kind


def kind_colour(kind):
    for prefix, colour in KIND_COLOURS.items():
        if kind.startswith(prefix):
            return colour
    return OTHER_COMM_COLOUR


def load(path):
    """Reads TRACE.json into {"other": dict, "ranks": [Rank]} or raises TraceError."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise TraceError(f"cannot read: {e.strerror or e}")
    if not raw.strip():
        raise TraceError("empty file")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise TraceError(f"not JSON ({e})")
    if isinstance(data, list):  # the trace-event format's array form
        data = {"traceEvents": data}
    if not isinstance(data, dict) or not isinstance(data.get("traceEvents"), list):
        raise TraceError("not a Chrome trace: no 'traceEvents' list")
    other = data.get("otherData") if isinstance(data.get("otherData"), dict) else {}

    process_names, lane_names, events = {}, {}, []
    for index, event in enumerate(data["traceEvents"]):
        if not isinstance(event, dict):
            raise TraceError(f"traceEvents[{index}] is not an object")
        phase = event.get("ph")
        args = event.get("args") if isinstance(event.get("args"), dict) else {}
        if phase == "M":
            if event.get("name") == "process_name":
                process_names[event.get("pid")] = str(args.get("name", ""))
            elif event.get("name") == "thread_name":
                lane_names[(event.get("pid"), event.get("tid"))] = str(args.get("name", ""))
            continue
        if phase != "X":
            continue
        try:
            ts, dur = float(event["ts"]), float(event.get("dur", 0.0))
        except (KeyError, TypeError, ValueError):
            raise TraceError(f"traceEvents[{index}] ('{event.get('name')}'): "
                             "a complete event without a numeric 'ts'/'dur'")
        if dur < 0 or ts != ts or dur != dur:
            raise TraceError(f"traceEvents[{index}] ('{event.get('name')}'): "
                             f"bad times ts {ts}, dur {dur}")
        events.append((event, ts, dur))
    if not events:
        raise TraceError("no complete (\"ph\": \"X\") events")

    origin = min(ts for _, ts, _ in events)
    ranks = {}
    for event, ts, dur in events:
        pid = event.get("pid", 0)
        tid = event.get("tid", 1)
        rank = ranks.setdefault(pid, {"pid": pid, "compute": [], "wait": [], "comm": [],
                                      "issue": []})
        category = str(event.get("cat", ""))
        name = str(event.get("name", ""))
        lane = lane_names.get((pid, tid), "")
        start, end = ts - origin, ts - origin + dur
        if category == "comm" or "comm" in lane.lower() or (not lane and tid == 2):
            rank["comm"].append((start, end, comm_kind(event), event))
        elif category == "wait" or name == "wait" or name.startswith("wait"):
            rank["wait"].append((start, end))
        elif category != "compute" and name.startswith(COLLECTIVE_PREFIXES):
            # A runtime without a communication lane: the collective is issued
            # (a *_start) or run whole (a blocking one) on the compute lane.
            rank["issue"].append((start, end, comm_kind(event)))
        else:
            rank["compute"].append((start, end))
    ordered = []
    for pid in sorted(ranks, key=lambda p: (not isinstance(p, (int, float)), str(p)
                                            if not isinstance(p, (int, float)) else p)):
        rank = ranks[pid]
        rank["name"] = process_names.get(pid) or (
            f"rank {pid - 1}" if isinstance(pid, int) and pid >= 1 else f"pid {pid}")
        ordered.append(rank)
    return {"other": other, "ranks": ordered}


def merged(intervals):
    out = []
    for start, end in sorted(intervals):
        if out and start <= out[-1][1]:
            if end > out[-1][1]:
                out[-1][1] = end
        else:
            out.append([start, end])
    return out


def runs(intervals, gap):
    """Intervals closer than gap (us) joined into (start, end, how many) runs."""
    out = []
    for start, end in sorted(intervals):
        if out and start <= out[-1][1] + gap:
            out[-1][1] = max(out[-1][1], end)
            out[-1][2] += 1
        else:
            out.append([start, end, 1])
    return out


def overlap_with(interval, union):
    """Length of [start, end) covered by the sorted, disjoint intervals of union."""
    start, end = interval
    total = 0.0
    for a, b in union:
        if b <= start:
            continue
        if a >= end:
            break
        total += min(b, end) - max(a, start)
    return total


def summarize(trace):
    """Step time, communication per step and hidden share, from otherData where given,
    else recomputed from the events. Returns a dict with a 'source' per figure."""
    other = trace["other"]
    ranks = trace["ranks"]
    spans = [max(e for _, e in r["compute"] + r["wait"] + [(s, e) for s, e, *_ in r["comm"]]
                 + [(s, e) for s, e, _ in r["issue"]]) for r in ranks]
    comm_totals, shares = [], []
    for rank in ranks:
        compute = merged(rank["compute"])
        total = sum(e - s for s, e, *_ in rank["comm"])
        comm_totals.append(total)
        if total > 0:
            hidden = sum(overlap_with((s, e), compute) for s, e, *_ in rank["comm"])
            shares.append(hidden / total)

    def number(key):
        value = other.get(key)
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) \
            else None

    result = {"ranks": len(ranks), "step": other.get("step"), "plan": other.get("plan")}
    for key, fallback in (("step_us", max(spans) if spans else None),
                          ("comm_us", sum(comm_totals) / len(comm_totals)
                           if any(comm_totals) else None),
                          ("hidden_share", sum(shares) / len(shares) if shares else None)):
        given = number(key)
        result[key] = given if given is not None else fallback
        result[key + "_source"] = "trace" if given is not None else (
            "events" if fallback is not None else None)
    result["has_comm_lane"] = any(r["comm"] for r in ranks)
    result["wait_us"] = sum(sum(e - s for s, e in r["wait"]) for r in ranks) / len(ranks)
    result["compute_us"] = sum(sum(e - s for s, e in merged(r["compute"])) for r in ranks) \
        / len(ranks)
    return result


def summary_line(summary):
    parts = []
    if summary["step_us"] is not None:
        parts.append(f"step {summary['step_us'] / 1000:.1f} ms")
    if summary["comm_us"] is not None:
        parts.append(f"communication {summary['comm_us'] / 1000:.1f} ms per rank")
    if summary["hidden_share"] is not None:
        marker = "" if summary["hidden_share_source"] == "trace" else " (from events)"
        parts.append(f"{100 * summary['hidden_share']:.1f}% hidden behind compute{marker}")
    elif not summary["has_comm_lane"]:
        parts.append("no communication lane")
    parts.append(f"wait {summary['wait_us'] / 1000:.1f} ms per rank")
    return ", ".join(parts)


def render(trace, summary, output, title=None):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    ranks = trace["ranks"]
    span = max(summary["step_us"] or 0.0,
               max(max([e for _, e in r["compute"] + r["wait"]] +
                       [e for _, e, *_ in r["comm"] + r["issue"]] + [0.0]) for r in ranks))
    span_ms = max(span / 1000.0, 1e-6)
    width_in = 14.0
    rows = 2 * len(ranks)
    figure, axes = plt.subplots(figsize=(width_in, 1.3 + 0.55 * rows))
    row_height = 0.8
    labels, ticks = [], []
    # Data units (ms) per inch of the plotting area, for deciding which labels fit.
    plot_width_in = width_in * 0.86
    ms_per_char = span_ms / plot_width_in * 0.06
    kinds_seen = set()
    for index, rank in enumerate(ranks):
        compute_y = rows - 1 - 2 * index
        comm_y = compute_y - 1
        ticks += [compute_y, comm_y]
        labels += [f"{rank['name']} compute", "communication"]

        def bars(intervals, y, colour):
            if intervals:
                axes.broken_barh([(s / 1000, max(e - s, 0.0) / 1000) for s, e in intervals],
                                 (y - row_height / 2, row_height), facecolors=colour,
                                 linewidth=0)

        bars(rank["compute"], compute_y, COMPUTE_COLOUR)
        bars(rank["wait"], compute_y, WAIT_COLOUR)
        by_kind = {}
        for start, end, kind, *_ in rank["comm"]:
            by_kind.setdefault(kind, []).append((start, end))
        for start, end, kind in rank["issue"]:
            by_kind.setdefault(kind, [])
            # Issues live on the compute lane: a thin bar of the kind's colour.
            axes.broken_barh([(start / 1000, max(end - start, 0.0) / 1000)],
                             (compute_y - row_height / 2, row_height),
                             facecolors=kind_colour(kind), linewidth=0)
        for kind, intervals in by_kind.items():
            kinds_seen.add(kind)
            # Back-to-back or concurrent collectives of one kind form one run,
            # labelled once ("all_reduce x5"), so labels never collide.
            axes.broken_barh([(start / 1000, (end - start) / 1000) for start, end in intervals],
                             (comm_y - row_height / 2, row_height),
                             facecolors=kind_colour(kind), edgecolor="white", linewidth=0.3)
            for start, end, count in runs(intervals, gap=span * 0.003):
                width_ms = (end - start) / 1000
                short = KIND_ABBREVIATIONS.get(kind) or "".join(
                    part[:1].upper() for part in kind.split("_") if part)
                suffix = f" x{count}" if count > 1 else ""
                for label in (kind + suffix, short and short + suffix, kind, short):
                    if label and width_ms > ms_per_char * (len(label) + 1):
                        axes.text((start + end) / 2000, comm_y, label, ha="center",
                                  va="center", fontsize=7, color="white", clip_on=True)
                        break
        if not rank["comm"] and index == 0 and not summary["has_comm_lane"]:
            axes.text(span_ms / 2, comm_y,
                      "no communication lane in this trace (collectives ran on the compute lane)",
                      ha="center", va="center", fontsize=8, color="#555555")
        if index:
            axes.axhline(compute_y + 0.5, color="#DDDDDD", linewidth=0.8)

    axes.set_yticks(ticks)
    axes.set_yticklabels(labels, fontsize=8)
    axes.set_ylim(-0.6, rows - 0.4)
    axes.set_xlim(0, span_ms * 1.005)
    axes.set_xlabel("time in the step (ms)")
    axes.grid(axis="x", color="#EEEEEE", linewidth=0.6)
    axes.set_axisbelow(True)

    if title is None:
        head = "sp-run timeline"
        if summary.get("plan"):
            head += f": {os.path.basename(str(summary['plan']))}"
        details = [f"{summary['ranks']} rank{'s' if summary['ranks'] != 1 else ''}"]
        if summary.get("step") is not None:
            details.append(f"step {summary['step']}")
        title = head + " (" + ", ".join(details) + ")\n" + summary_line(summary)
    axes.set_title(title, fontsize=10)

    legend = [Patch(color=COMPUTE_COLOUR, label="compute"),
              Patch(color=WAIT_COLOUR, label="wait (compute blocked on communication)")]
    legend += [Patch(color=kind_colour(k), label=k) for k in sorted(kinds_seen)]
    axes.legend(handles=legend, loc="upper center", bbox_to_anchor=(0.5, -0.5 / (1 + 0.3 * rows)),
                ncol=min(len(legend), 6), fontsize=8, frameon=False)
    figure.tight_layout()
    try:
        if os.path.exists(output) and not os.path.isfile(output):
            figure.savefig(output, dpi=120, format="png")  # /dev/null, a FIFO: write directly
            return
        # Write beside the target and rename, so a failed write leaves no half a PNG.
        partial = os.path.join(os.path.dirname(os.path.abspath(output)),
                               f".{os.path.basename(output)}.{os.getpid()}.partial")
        try:
            figure.savefig(partial, dpi=120, format="png")
            os.replace(partial, output)
        except BaseException:
            if os.path.exists(partial):
                os.unlink(partial)
            raise
    finally:
        plt.close(figure)


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Draw an sp-run --trace file as a timeline PNG, a compute and a "
                    "communication lane per rank.")
    parser.add_argument("trace", help="TRACE.json written by sp-run --trace")
    parser.add_argument("-o", "--output", default=None,
                        help="the PNG to write (default: TRACE with .png)")
    parser.add_argument("--title", default=None, help="replace the title")
    options = parser.parse_args(argv)
    output = options.output or os.path.splitext(options.trace)[0] + ".png"
    try:
        trace = load(options.trace)
        summary = summarize(trace)
    except TraceError as e:
        print(f"trace_timeline.py: {options.trace}: {e}", file=sys.stderr)
        return 1
    try:
        render(trace, summary, output, options.title)
    except (OSError, ValueError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        print(f"trace_timeline.py: {output}: cannot write: {reason}", file=sys.stderr)
        return 1
    print(f"timeline: {output} ({summary_line(summary)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
