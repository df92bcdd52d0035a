# Sequences, as torch.onnx writes torch.split/chunk/unbind: SplitToSequence
# (sizes, one size, unbind with keepdims=0), SequenceAt with negative
# positions, SequenceConstruct, SequenceLength, ConcatFromSequence (with and
# without new_axis). They resolve at import into the tensors they hold.
# RUN: %python %s %t.onnx
# RUN: sp-compile %t.onnx --emit=mlir | FileCheck %s
# RUN: sp-compile %t.onnx --emit=mlir | sp-opt | FileCheck %s
# RUN: %python %s %t.bad.onnx bad
# RUN: %exit1 sp-compile %t.bad.onnx | FileCheck %s --check-prefix=BAD
import sys

from onnx_test_builder import *

if len(sys.argv) > 2:
    save([
        node("SplitToSequence", ["x", "three"], ["parts"], axis=1),
        node("SequenceAt", ["parts", "five"], ["p"]),
    ],
        inputs=[("x", "f32", [2, 9])], outputs=["p"],
        initializers=[const("three", 3, np.int64), const("five", 5, np.int64)], opset=18)
    sys.exit(0)

save([
    node("SplitToSequence", ["x", "sizes"], ["parts"], axis=2),
    node("SequenceAt", ["parts", "zero"], ["q"]),
    node("SequenceAt", ["parts", "minus_one"], ["v"]),
    node("SplitToSequence", ["x", "three"], ["thirds"], axis=2),
    node("SequenceAt", ["thirds", "one"], ["k"]),
    node("SplitToSequence", ["x"], ["rows"], axis=0, keepdims=0),
    node("SequenceAt", ["rows", "one"], ["row"]),
    node("SequenceConstruct", ["q", "k"], ["pair"]),
    node("SequenceLength", ["pair"], ["count"]),
    node("ConcatFromSequence", ["pair"], ["joined"], axis=-1),
    node("ConcatFromSequence", ["pair"], ["stacked"], axis=0, new_axis=1),
],
    inputs=[("x", "f32", [2, "seq", 9])],
    outputs=["q", "v", "k", "row", "count", "joined", "stacked"],
    initializers=[const("sizes", [3, 3, 3], np.int64), const("three", 3, np.int64),
                  const("zero", 0, np.int64), const("one", 1, np.int64),
                  const("minus_one", -1, np.int64)], opset=18)

# The two equal splits are one after CSE.
# CHECK-LABEL: func.func @main(
# CHECK-SAME: %[[X:[a-z0-9]+]]: tensor<2x?x9xf32>
# CHECK: %[[COUNT:.*]] = graph.constant dense<2> : tensor<i64>
# CHECK: %[[P:.*]]:3 = graph.split %[[X]] {axis = 2 : i64, sizes = array<i64: 3, 3, 3>}
# CHECK: %[[R:.*]]:2 = graph.split %[[X]] {axis = 0 : i64, sizes = array<i64: 1, 1>}
# CHECK: %[[ROW:.*]] = graph.squeeze %[[R]]#1 {axes = array<i64: 0>} : (tensor<1x?x9xf32>) -> tensor<?x9xf32>
# CHECK: %[[JOINED:.*]] = graph.concat %[[P]]#0, %[[P]]#1 {axis = -1 : i64}
# CHECK: %[[A:.*]] = graph.unsqueeze %[[P]]#0 {axes = array<i64: 0>}
# CHECK: %[[B:.*]] = graph.unsqueeze %[[P]]#1 {axes = array<i64: 0>}
# CHECK: %[[STACKED:.*]] = graph.concat %[[A]], %[[B]] {axis = 0 : i64} : {{.*}} -> tensor<2x2x?x3xf32>
# CHECK: return %[[P]]#0, %[[P]]#2, %[[P]]#1, %[[ROW]], %[[COUNT]], %[[JOINED]], %[[STACKED]]

# BAD: {{^}}sp-compile: error: {{.*}}.bad.onnx: node '{{.*}}' (SequenceAt, opset 18): position 5 is out of range for a sequence of 3 tensors{{$}}
