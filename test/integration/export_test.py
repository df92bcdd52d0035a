#!/usr/bin/env python3
"""sp-export writes the trained model back to ONNX, and ONNX Runtime agrees.

Usage: export_test.py TOOLS_DIR

On small Llama-style models (models/llama.py), trained with AdamW on
synthetic:copy and saved with --save:

- trained on one rank and on 2 ranks (ring): `sp-export CKPT -o OUT.onnx`
  (the model found from the checkpoint, or named with --model) writes every
  parameter bit for bit as the checkpoint holds it, every other initializer,
  node and input as the source model has them; ONNX Runtime's logits on the
  export match sp-run's (an inference plan compiled from the export) within
  1e-4 relative, and differ from the untrained model's;
- a model with external data, some of its parameters frozen, exports with
  --external-data-threshold: the frozen tensors come from the source's data
  file, large tensors land in OUT.onnx.data, and ONNX Runtime loads the pair;
  a source whose external data climbs out of its folder is refused;
- a checkpoint of another model, a corrupt tensor file, a missing model, an
  output that is a folder, and external data to a device are refused with one
  line and exit code 1, leaving an earlier export in place; /dev/null as the
  output is written in place and left a device.
"""

import glob
import os
import shutil
import stat
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODELS = os.path.join(ROOT, "models")
BATCH, SEQ, VOCAB = 2, 32, 64
TOLERANCE = 1e-4


def run(command, expect=0, **kwargs):
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, **kwargs)
    if result.returncode != expect:
        raise SystemExit(f"FAIL: {' '.join(command)}: exit {result.returncode}, expected "
                         f"{expect}\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    return result


class Tools:
    def __init__(self, tools, work):
        self.tools, self.work = tools, work
        self.env = dict(os.environ, OMP_NUM_THREADS="1")

    def tool(self, name):
        return os.path.join(self.tools, name)

    def compile(self, model, name, *flags):
        plan = os.path.join(self.work, name + ".spplan")
        run([self.tool("sp-compile"), model, "--input-shape", f"input_ids={BATCH}x{SEQ}",
             "-o", plan, *flags])
        return plan

    def train(self, model, name, ranks, *flags):
        plan = self.compile(model, name, "--train", "--lr", "1e-2", *flags)
        checkpoint = os.path.join(self.work, name + "-ckpt")
        command = [self.tool("sp-run"), plan, "--data", "synthetic:copy", "--seed", "3",
                   "--steps", "4", "--save", checkpoint]
        if ranks > 1:
            command = ["mpirun", "--oversubscribe", "-x", "OMP_NUM_THREADS", "-np",
                       str(ranks)] + command
        run(command, env=self.env)
        return checkpoint

    def export(self, checkpoint, output, *flags, expect=0):
        return run([self.tool("sp-export"), checkpoint, "-o", output, *flags], expect=expect)

    def logits(self, model, ids, name):
        plan = self.compile(model, name)
        np.save(os.path.join(self.work, "ids.npy"), ids)
        dump = os.path.join(self.work, name + "-dump")
        run([self.tool("sp-run"), plan, "--input", f"input_ids={self.work}/ids.npy",
             "--dump", dump], env=self.env)
        return np.load(os.path.join(dump, "logits.npy"))


def ort_logits(model, ids):
    import onnxruntime as ort
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    (logits,) = session.run(["logits"], {"input_ids": ids})
    return logits


def relative_error(candidate, reference):
    reference = reference.astype(np.float64)
    return float(np.linalg.norm(candidate.astype(np.float64) - reference) /
                 np.linalg.norm(reference))


def check_export(tools, source, checkpoint, exported, name):
    """The export against its checkpoint, its source model and ONNX Runtime."""
    import onnx
    from onnx import numpy_helper
    failures = []
    original = onnx.load(source)
    model = onnx.load(exported)
    step = sorted(glob.glob(os.path.join(checkpoint, "step-*")))[-1]
    trained = {}
    for path in glob.glob(os.path.join(step, "param", "*.npy")):
        import urllib.parse
        trained[urllib.parse.unquote(os.path.basename(path)[:-4])] = np.load(path)
    if not trained:
        return [f"{name}: the checkpoint {step} holds no parameters"]
    before = {t.name: numpy_helper.to_array(t, os.path.dirname(source))
              for t in original.graph.initializer}
    after = {t.name: numpy_helper.to_array(t, os.path.dirname(exported))
             for t in model.graph.initializer}
    if list(before) != list(after):
        failures.append(f"{name}: initializers {list(after)} differ from the source's "
                        f"{list(before)}")
    for key, value in after.items():
        expected = trained.get(key, before.get(key))
        if expected is None or value.dtype != expected.dtype or not np.array_equal(value, expected):
            failures.append(f"{name}: initializer {key} is not the "
                            f"{'checkpoint' if key in trained else 'source model'}'s")
    changed = [key for key in trained if not np.array_equal(trained[key], before[key])]
    if not changed:
        failures.append(f"{name}: training changed no parameter; the test proves nothing")
    if [n.SerializeToString() for n in model.graph.node] != \
            [n.SerializeToString() for n in original.graph.node]:
        failures.append(f"{name}: the export's nodes differ from the source model's")
    steps = {p.key: p.value for p in model.metadata_props}.get("sp.checkpoint_step")
    if steps != "4":
        failures.append(f"{name}: metadata sp.checkpoint_step is {steps!r}, expected '4'")

    ids = np.random.default_rng(11).integers(0, VOCAB, size=(BATCH, SEQ), dtype=np.int64)
    ours = tools.logits(exported, ids, name + "-infer")
    theirs = ort_logits(exported, ids)
    error = relative_error(ours, theirs)
    if not error <= TOLERANCE:
        failures.append(f"{name}: sp-run's logits differ from ONNX Runtime's on the export by "
                        f"{error:.2e} relative, beyond {TOLERANCE}")
    untrained = relative_error(ort_logits(source, ids), theirs)
    if not untrained > 100 * TOLERANCE:
        failures.append(f"{name}: the export's logits equal the untrained model's "
                        f"({untrained:.1e}); the trained weights were not used")
    print(f"{name}: logits {error:.1e} from ONNX Runtime, {untrained:.1e} from untrained",
          flush=True)
    return failures


def expect_refusal(tools, checkpoint, output, fragment, what, *flags):
    result = run([tools.tool("sp-export"), checkpoint, "-o", output, *flags], expect=1)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    if len(lines) != 1 or fragment not in lines[0] or not lines[0].startswith("sp-export: error:"):
        return [f"{what}: expected one line with '{fragment}', got {result.stderr!r}"]
    return []


def check_refusals(tools, model, other_model, checkpoint):
    failures = []
    work = tools.work
    good = os.path.join(work, "good.onnx")
    tools.export(checkpoint, good)
    with open(good, "rb") as f:
        good_bytes = f.read()

    failures += expect_refusal(tools, checkpoint, good, "checkpoint of another model",
                               "another model", "--model", other_model)
    failures += expect_refusal(tools, checkpoint, good, "no such file", "a missing model",
                               "--model", os.path.join(work, "missing.onnx"))
    failures += expect_refusal(tools, checkpoint, work, "is a directory", "an output folder")
    failures += expect_refusal(tools, checkpoint, "/dev/null", "--single-file",
                               "external data to a device", "--external-data-threshold", "0")
    # A flipped byte in a parameter file.
    corrupt = os.path.join(work, "corrupt-ckpt")
    shutil.copytree(checkpoint, corrupt)
    step = sorted(glob.glob(os.path.join(corrupt, "step-*")))[-1]
    victim = sorted(glob.glob(os.path.join(step, "param", "*.npy")))[0]
    with open(victim, "r+b") as f:
        f.seek(-3, os.SEEK_END)
        byte = f.read(1)
        f.seek(-3, os.SEEK_END)
        f.write(bytes([byte[0] ^ 0x10]))
    failures += expect_refusal(tools, corrupt, good, "checksum mismatch", "a flipped byte")
    with open(good, "rb") as f:
        if f.read() != good_bytes:
            failures.append("a refused export changed the earlier export at its path")
    # /dev/null stays a device.
    tools.export(checkpoint, "/dev/null")
    if not stat.S_ISCHR(os.stat("/dev/null").st_mode):
        failures.append("exporting to /dev/null replaced the device")
    return failures


def main():
    tools = os.path.abspath(sys.argv[1])
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as error:
        print(f"SKIP: {error}")
        return 77
    failures = []
    with tempfile.TemporaryDirectory() as work:
        tools = Tools(tools, work)
        common = ["--layers", "2", "--heads", "4", "--kv-heads", "2", "--vocab", str(VOCAB)]
        model = os.path.join(work, "llama.onnx")
        other_model = os.path.join(work, "other.onnx")
        run([sys.executable, os.path.join(MODELS, "llama.py"), "-o", model, "--hidden", "32",
             *common])
        run([sys.executable, os.path.join(MODELS, "llama.py"), "-o", other_model, "--hidden",
             "48", *common])
        os.makedirs(os.path.join(work, "external"))
        external_model = os.path.join(work, "external", "llama.onnx")
        run([sys.executable, os.path.join(MODELS, "llama.py"), "-o", external_model,
             "--hidden", "32", "--external-data", *common])

        # One rank; the model is found from the checkpoint.
        one = tools.train(model, "one", 1)
        tools.export(one, os.path.join(work, "one.onnx"))
        failures += check_export(tools, model, one, os.path.join(work, "one.onnx"), "one rank")

        # Two ranks, ring attention; the model named on the command line.
        ring = tools.train(model, "ring", 2, "--sp", "2", "--sp-strategy=ring")
        tools.export(ring, os.path.join(work, "ring.onnx"), "--model", model)
        failures += check_export(tools, model, ring, os.path.join(work, "ring.onnx"),
                                 "2 ranks, ring")

        # External data in and out; frozen parameters (not in the checkpoint)
        # come from the source model's data file.
        external = tools.train(external_model, "external", 1, "--frozen",
                               "model.embed_tokens.weight,model.layers.1.mlp.*")
        exported = os.path.join(work, "out", "external.onnx")
        os.makedirs(os.path.dirname(exported))
        tools.export(external, exported, "--external-data-threshold", "1024")
        if not os.path.getsize(exported + ".data") > 0:
            failures.append("external: no external data file beside the export")
        import onnx
        locations = {entry.value for t in onnx.load(exported, load_external_data=False)
                     .graph.initializer for entry in t.external_data if entry.key == "location"}
        if locations != {"external.onnx.data"}:
            failures.append(f"external: tensors name the data files {locations}")
        failures += check_export(tools, external_model, external, exported, "external data")

        failures += check_refusals(tools, model, other_model, one)

        # A source model whose external data climbs out of its folder.
        evil = os.path.join(work, "evil", "llama.onnx")
        os.makedirs(os.path.dirname(evil))
        hostile = onnx.load(external_model, load_external_data=False)
        for tensor in hostile.graph.initializer:
            for entry in tensor.external_data:
                if entry.key == "location":
                    entry.value = "../external/llama.onnx.data"
        onnx.save(hostile, evil)
        failures += expect_refusal(tools, external, os.path.join(work, "evil.onnx"),
                                   "climbs out of the model's folder",
                                   "external data outside the model's folder", "--model", evil)
    for failure in failures:
        print("FAIL", failure)
    if not failures:
        print("PASS")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
