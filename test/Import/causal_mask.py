# A causal attention mask computed from the sequence length folds into one
# graph.constant once --input-shape binds the length: both the
# Range/Unsqueeze/Less form and the Trilu form, each feeding a Where.
# RUN: %python %s %t.onnx
# RUN: sp-compile %t.onnx --emit=mlir | FileCheck %s --check-prefix=DYN
# RUN: sp-compile %t.onnx --emit=mlir --input-shape scores=1x4x4 | FileCheck %s
# RUN: sp-compile %t.onnx --emit=mlir --input-shape scores=1x4x4 | sp-opt | FileCheck %s
from onnx_test_builder import *

I = lambda name, v: const(name, v, np.int64)
save([
    node("Shape", ["scores"], ["seq_1d"], start=-1),             # [seq]
    node("Squeeze", ["seq_1d", "zero_1d"], ["seq"]),
    node("Range", ["zero", "seq", "one"], ["pos"]),               # [0..seq)
    node("Unsqueeze", ["pos", "zero_1d"], ["row"]),               # 1 x seq
    node("Unsqueeze", ["pos", "one_1d"], ["col"]),                # seq x 1
    node("Less", ["col", "row"], ["future"]),                     # j > i
    node("Where", ["future", "neg_inf", "scores"], ["masked"]),
    # The same mask as Trilu of a ConstantOfShape of ones.
    node("Concat", ["seq_1d", "seq_1d"], ["square"], axis=0),
    node("ConstantOfShape", ["square"], ["ones"],
         value=numpy_helper.from_array(np.array([1], np.int64))),
    node("Trilu", ["ones", "one"], ["upper"], upper=1),
    node("Cast", ["upper"], ["upper_bool"], to=TensorProto.BOOL),
    node("Where", ["upper_bool", "neg_inf", "scores"], ["masked2"]),
],
    inputs=[("scores", "f32", ["batch", "seq", "seq"])],
    outputs=["masked", "masked2", "future"],
    initializers=[I("zero", 0), I("one", 1), I("zero_1d", [0]), I("one_1d", [1]),
                  const("neg_inf", np.float32(-np.inf))])

# DYN-LABEL: func.func @main(
# DYN: graph.range
# DYN: graph.less {{.*}} -> tensor<?x?xi1>
# DYN: graph.where
# DYN: graph.trilu
# DYN: graph.where

# CHECK-LABEL: func.func @main(
# CHECK-SAME: %[[S:[a-z0-9]+]]: tensor<1x4x4xf32>
# CHECK-SAME: -> (tensor<1x4x4xf32> {graph.onnx_name = "masked"}, tensor<1x4x4xf32> {graph.onnx_name = "masked2"}, tensor<4x4xi1> {graph.onnx_name = "future"})
# CHECK-NOT: graph.shape
# CHECK-NOT: graph.range
# CHECK-NOT: graph.less
# CHECK-NOT: graph.trilu
# CHECK-NOT: graph.cast
# CHECK-NOT: graph.constant_of_shape
# CHECK-DAG: %[[MASK:.*]] = graph.constant dense<{{\[\[}}false, true, true, true], [false, false, true, true], [false, false, false, true], [false, false, false, false]]> : tensor<4x4xi1>
# CHECK-DAG: %[[NEGINF:.*]] = graph.constant dense<0xFF800000> : tensor<f32>
# Both forms fold to the same mask, so the two Wheres are one op.
# CHECK: %[[M:.*]] = graph.where %[[MASK]], %[[NEGINF]], %[[S]] : (tensor<4x4xi1>, tensor<f32>, tensor<1x4x4xf32>) -> tensor<1x4x4xf32>
# CHECK-NOT: graph.where
# CHECK: return %[[M]], %[[M]], %[[MASK]] :
