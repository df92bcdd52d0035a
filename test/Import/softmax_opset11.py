# Softmax and LogSoftmax before opset 13 normalize the input flattened to 2-D
# at `axis` (default 1): a reshape around the softmax, except where `axis` is
# the last dim, where the two meanings agree.
# RUN: %python %s %t.onnx
# RUN: sp-compile %t.onnx --emit=mlir | FileCheck %s
# RUN: sp-compile %t.onnx --emit=mlir | sp-opt | FileCheck %s
# RUN: sp-compile %t.onnx -o %t.spplan
# RUN: %python -c "import numpy as np; np.save('%t.x.npy', np.random.default_rng(0).normal(size=(2, 3, 4)).astype(np.float32))"
# RUN: sp-run %t.spplan --input x=%t.x.npy --dump %t.dump
# RUN: %python %s --check %t.x.npy %t.dump | FileCheck %s --check-prefix=VALUES
# VALUES: rows ok
# VALUES: log_rows ok
# VALUES: last ok
import sys

from onnx_test_builder import *

if sys.argv[1] == "--check":
    # NumPy's reading of the pre-13 definition against sp-run's dump.
    x = np.load(sys.argv[2]).astype(np.float64)
    rows = x.reshape(2, 12)
    rows = np.exp(rows - rows.max(axis=1, keepdims=True))
    rows = (rows / rows.sum(axis=1, keepdims=True)).reshape(2, 3, 4)
    last = np.exp(x - x.max(axis=2, keepdims=True))
    last /= last.sum(axis=2, keepdims=True)
    for name, expected in [("rows", rows), ("log_rows", np.log(rows)), ("last", last)]:
        actual = np.load(f"{sys.argv[3]}/{name}.npy")
        print(name, "ok" if np.allclose(actual, expected, rtol=1e-5, atol=1e-6) else "differs")
    sys.exit(0)

save([node("Softmax", ["x"], ["rows"]),
      node("LogSoftmax", ["x"], ["log_rows"], axis=-2),
      node("Softmax", ["x"], ["last"], axis=2)],
     inputs=[("x", "f32", [2, 3, 4])], outputs=["rows", "log_rows", "last"], opset=11)

# CHECK-LABEL: func.func @main(
# CHECK-SAME: %[[X:[a-z0-9]+]]: tensor<2x3x4xf32>
# CHECK-DAG: %[[SHAPE:.*]] = graph.constant dense<[2, 3, 4]> : tensor<3xi64>
# CHECK-DAG: %[[ROWS12:.*]] = graph.constant dense<[2, 12]> : tensor<2xi64>
# CHECK: %[[FLAT:.*]] = graph.reshape %[[X]], %[[ROWS12]] {allow_zero = true} : (tensor<2x3x4xf32>, tensor<2xi64>) -> tensor<2x12xf32>
# CHECK: %[[SM:.*]] = graph.softmax %[[FLAT]] {axis = 1 : i64} : tensor<2x12xf32>
# CHECK: %[[ROWS:.*]] = graph.reshape %[[SM]], %[[SHAPE]] {allow_zero = true} : (tensor<2x12xf32>, tensor<3xi64>) -> tensor<2x3x4xf32>
# axis -2 of rank 3 is 1 here too: the same rows.
# CHECK: graph.reduce_max %[[FLAT]] {axes = array<i64: 1>}
# CHECK: graph.log
# CHECK: %[[LOGSM:.*]] = graph.sub
# CHECK: %[[LOGROWS:.*]] = graph.reshape %[[LOGSM]], %[[SHAPE]]
# CHECK: %[[LAST:.*]] = graph.softmax %[[X]] {axis = 2 : i64} : tensor<2x3x4xf32>
# CHECK: return %[[ROWS]], %[[LOGROWS]], %[[LAST]] :
