#!/usr/bin/env python3
"""ONNX's own operator test suite (the backend "node" tests) through sp, as a user runs it.

Usage: onnx_node_tests.py TOOLS_DIR [--jobs N] [--filter REGEX] [--min-pass N]
                          [--keep DIR] [--verbose] [--list-unsupported]

The cases come from the installed `onnx` package (`collect_testcases`, the
generator behind `onnx/backend/test/data/node`): one model.onnx per case with
its inputs and expected outputs. Each case runs as a user would run it:

    sp-compile model.onnx -o model.spplan
    sp-run model.spplan --input NAME=input_K.npy ... --dump DIR

and every graph output in DIR is compared with ONNX's expected output (shape,
element type, and values within the case's rtol/atol; NaN matches NaN).

Each case ends as one of:
  pass         the outputs match;
  unsupported  sp-compile or sp-run refused it with exit code 1 and exactly one
               line on stderr (an op, opset, type or attribute sp does not implement);
  wrong        it ran, and an output is missing or differs;
  crash        a signal, an exit code other than 0 or 1, a refusal that is not
               one line, or a hang past the time limit.

Prints one line per case that is not a pass (all cases with --verbose), the
counts, and exits 1 if any case is wrong or crashed, or fewer than --min-pass
cases pass (so that support cannot silently shrink).
"""

import argparse
import collections
import concurrent.futures
import os
import re
import shutil
import subprocess
import sys
import tempfile
import warnings

import numpy as np

# Per-process limit: the largest node test compiles and runs in well under a second.
TIMEOUT_S = 120


def encode_file_name(name):
    """sp-run --dump's file name for a tensor name (bytes outside [A-Za-z0-9._-] as %XX)."""
    out = []
    for byte in name.encode():
        char = chr(byte)
        if char.isascii() and (char.isalnum() or char in "._-"):
            out.append(char)
        else:
            out.append("%%%02X" % byte)
    return "".join(out)


def save_npy(path, array):
    """Writes .npy as sp-run reads it; bfloat16 (ml_dtypes) as '<V2' raw bits."""
    if array.dtype.name == "bfloat16":
        header = "{'descr': '<V2', 'fortran_order': False, 'shape': %s, }" % (
            repr(tuple(int(d) for d in array.shape)))
        header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
        with open(path, "wb") as f:
            f.write(b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little")
                    + header.encode() + array.tobytes())
        return
    # (np.ascontiguousarray would turn a scalar into shape (1,).)
    np.save(path, np.asarray(array))


def load_npy(path):
    """Reads .npy as sp-run writes it; '<V2' is bfloat16 (as ml_dtypes)."""
    with open(path, "rb") as f:
        data = f.read()
    if b"'descr': '<V2'" not in data[:128]:
        return np.load(path, allow_pickle=False)
    import ml_dtypes
    header_len = int.from_bytes(data[8:10], "little")
    header = data[10:10 + header_len].decode()
    shape = tuple(int(d) for d in re.findall(r"\d+", re.search(r"'shape': \(([^)]*)\)",
                                                              header).group(1)))
    return np.frombuffer(data[10 + header_len:], dtype=ml_dtypes.bfloat16).reshape(shape)


def to_numpy(value):
    import onnx
    from onnx import numpy_helper
    if isinstance(value, onnx.TensorProto):
        return numpy_helper.to_array(value)
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, (np.generic, int, float, bool)):
        return np.asarray(value)
    return None  # sequences, maps, optionals: not tensors


def write_cases(directory, name_filter):
    """Generates the node test cases into DIRECTORY/<name>/; returns their names."""
    import onnx
    from onnx.backend.test.case import node as node_cases

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with np.errstate(all="ignore"):
            cases = node_cases.collect_testcases(None)
    names = []
    for case in cases:
        if name_filter and not re.search(name_filter, case.name):
            continue
        folder = os.path.join(directory, case.name)
        os.makedirs(folder, exist_ok=True)
        onnx.save(case.model, os.path.join(folder, "model.onnx"))
        inputs, outputs = case.data_sets[0]
        graph = case.model.graph
        initializers = {t.name for t in graph.initializer}
        input_names = [i.name for i in graph.input if i.name not in initializers]
        manifest = []
        for kind, names_, values in (("input", input_names, inputs),
                                     ("output", [o.name for o in graph.output], outputs)):
            for index, (name, value) in enumerate(zip(names_, values)):
                array = to_numpy(value)
                file = f"{kind}_{index}.npy"
                if array is not None:
                    save_npy(os.path.join(folder, file), array)
                else:
                    file = "-"  # not a tensor: sp refuses such a model at compile time
                manifest.append(f"{kind}\t{name}\t{file}")
        manifest.append(f"tolerance\t{case.rtol}\t{case.atol}")
        with open(os.path.join(folder, "case.txt"), "w") as f:
            f.write("\n".join(manifest) + "\n")
        names.append(case.name)
    return names


def classify_refusal(tool, process):
    """'unsupported' for a one-line refusal with exit code 1, else 'crash'."""
    lines = [line for line in process.stderr.splitlines() if line.strip()]
    if process.returncode == 1 and len(lines) == 1:
        return "unsupported", f"{tool}: {lines[0]}"
    if process.returncode < 0:
        return "crash", f"{tool} killed by signal {-process.returncode}"
    if process.returncode != 1:
        return "crash", f"{tool} exited {process.returncode}: " + (lines[-1] if lines else "")
    return "crash", f"{tool} refused with {len(lines)} stderr lines, not one: " + \
        " | ".join(lines[:3])


def run_tool(command):
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S,
                              errors="replace")
    except subprocess.TimeoutExpired:
        return None


def compare(name, expected, actual, rtol, atol):
    """None if ACTUAL matches EXPECTED, else why not."""
    if expected.dtype != actual.dtype:
        return f"output '{name}' has dtype {actual.dtype}, expected {expected.dtype}"
    if expected.shape != actual.shape:
        return f"output '{name}' has shape {actual.shape}, expected {expected.shape}"
    if expected.dtype.kind in "biu" or expected.dtype.kind == "b":
        bad = expected != actual
    else:
        e = expected.astype(np.float64)
        a = actual.astype(np.float64)
        with np.errstate(invalid="ignore"):
            close = np.isclose(a, e, rtol=rtol, atol=atol, equal_nan=True)
        # isclose treats inf == inf but also needs same-signed infinities.
        close &= ~(np.isinf(e) & (a != e))
        bad = ~close
    if np.any(bad):
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        return (f"output '{name}' differs in {int(np.count_nonzero(bad))} of {bad.size} "
                f"elements; first at {index}: {actual[index]!r}, expected {expected[index]!r}")
    return None


def run_case(tools, directory, name):
    folder = os.path.join(directory, name)
    inputs, outputs = [], []
    rtol, atol = 1e-3, 1e-7
    with open(os.path.join(folder, "case.txt")) as f:
        for line in f:
            kind, first, second = line.rstrip("\n").split("\t")
            if kind == "input":
                inputs.append((first, second))
            elif kind == "output":
                outputs.append((first, second))
            else:
                rtol, atol = float(first), float(second)

    plan = os.path.join(folder, "model.spplan")
    compiled = run_tool([os.path.join(tools, "sp-compile"),
                         os.path.join(folder, "model.onnx"), "-o", plan])
    if compiled is None:
        return "crash", f"sp-compile did not finish in {TIMEOUT_S} s"
    if compiled.returncode != 0:
        return classify_refusal("sp-compile", compiled)
    if any(file == "-" for _, file in inputs):
        return "crash", "sp-compile accepted a model whose input is not a tensor"

    dump = os.path.join(folder, "dump")
    shutil.rmtree(dump, ignore_errors=True)
    command = [os.path.join(tools, "sp-run"), plan, "--dump", dump]
    for input_name, file in inputs:
        command += ["--input", f"{input_name}={os.path.join(folder, file)}"]
    ran = run_tool(command)
    if ran is None:
        return "crash", f"sp-run did not finish in {TIMEOUT_S} s"
    if ran.returncode != 0:
        status, why = classify_refusal("sp-run", ran)
        # What sp-compile accepts, sp-run must run: a refusal this late is a failure.
        return ("crash", "accepted by sp-compile, " + why) if status == "unsupported" \
            else (status, why)

    for output_name, file in outputs:
        if file == "-":
            return "wrong", f"expected output '{output_name}' is not a tensor"
        expected = load_npy(os.path.join(folder, file))
        dumped = os.path.join(dump, encode_file_name(output_name) + ".npy")
        if not os.path.exists(dumped):
            return "wrong", f"sp-run --dump wrote no '{output_name}'"
        actual = load_npy(dumped)
        problem = compare(output_name, expected, actual, rtol, atol)
        if problem:
            return "wrong", problem
    return "pass", ""


# ctest's SKIP_RETURN_CODE for this test: a skip is not a pass.
SKIP = 77


def main():
    try:
        import onnx  # noqa: F401
        from onnx.backend.test.case import node  # noqa: F401
    except ImportError as error:
        print(f"SKIP: the onnx package with its backend test cases is needed ({error})")
        return SKIP
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("tools", help="folder holding sp-compile and sp-run")
    parser.add_argument("--jobs", type=int, default=min(4, os.cpu_count() or 1))
    parser.add_argument("--filter", help="only cases whose name matches this regex")
    parser.add_argument("--min-pass", type=int, default=0,
                        help="fail if fewer cases pass (the count docs/ONNX_NODE_TESTS.md records)")
    parser.add_argument("--keep", help="generate into and keep this folder")
    parser.add_argument("--verbose", action="store_true", help="print every case")
    parser.add_argument("--list-unsupported", action="store_true",
                        help="print each refused case and the reasons grouped")
    args = parser.parse_args()

    directory = args.keep or tempfile.mkdtemp(prefix="sp-onnx-node-")
    os.makedirs(directory, exist_ok=True)
    try:
        names = write_cases(directory, args.filter)
        counts = collections.Counter()
        reasons = collections.Counter()
        with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
            results = pool.map(lambda n: (n, run_case(args.tools, directory, n)), names)
            for name, (status, why) in results:
                counts[status] += 1
                if status == "unsupported":
                    # Group by message, without the file and with names and
                    # numbers elided.
                    message = re.sub(r"^.*?model\.(onnx|spplan): ", "", why)
                    reasons[re.sub(r"'[^']*'|\d+", "_", message)] += 1
                if status in ("wrong", "crash") or args.verbose or \
                        (args.list_unsupported and status == "unsupported"):
                    print(f"{status.upper():12} {name}: {why}" if why else
                          f"{status.upper():12} {name}", flush=True)
        if args.list_unsupported:
            print("\nrefusals by reason:")
            for reason, count in reasons.most_common():
                print(f"{count:6}  {reason}")
        print(f"\nONNX node tests: {len(names)} cases, {counts['pass']} pass, "
              f"{counts['unsupported']} unsupported, {counts['wrong']} wrong, "
              f"{counts['crash']} crash")
        failed = counts["wrong"] + counts["crash"] > 0
        if counts["pass"] < args.min_pass:
            print(f"FAIL: {counts['pass']} cases pass, fewer than --min-pass {args.min_pass}")
            failed = True
        return 1 if failed else 0
    finally:
        if not args.keep:
            shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
