# Softmax (axis default -1, explicit, negative) and LayerNormalization
# (axis, epsilon, optional bias).
# RUN: %python %s %t.onnx
# RUN: sp-compile %t.onnx --emit=mlir | FileCheck %s
# RUN: sp-compile %t.onnx --emit=mlir | sp-opt | FileCheck %s
from onnx_test_builder import *

save([
    node("Softmax", ["x"], ["sm"]),
    node("Softmax", ["x"], ["sm1"], axis=1),
    node("Softmax", ["x"], ["sm_neg"], axis=-2),
    node("LayerNormalization", ["x", "gamma", "beta"], ["ln"], epsilon=1e-6),
    node("LayerNormalization", ["x", "gamma2"], ["ln2"], axis=1),
],
    inputs=[("x", "f32", ["batch", "seq", 16])],
    outputs=["sm", "sm1", "sm_neg", "ln", "ln2"],
    initializers=[const("gamma", np.ones(16, np.float32)),
                  const("beta", np.zeros(16, np.float32)),
                  const("gamma2", np.ones((1, 16), np.float32))])

# CHECK-LABEL: func.func @main(
# CHECK-SAME: %[[X:[a-z0-9]+]]: tensor<?x?x16xf32>
# CHECK-DAG: %[[GAMMA2:.*]] = ml_program.global_load_const @gamma2 : tensor<1x16xf32>
# CHECK-DAG: %[[BETA:.*]] = ml_program.global_load_const @beta : tensor<16xf32>
# CHECK-DAG: %[[GAMMA:.*]] = ml_program.global_load_const @gamma : tensor<16xf32>
# CHECK: %[[SM:.*]] = graph.softmax %[[X]] {axis = -1 : i64} : tensor<?x?x16xf32>
# CHECK: %[[SM1:.*]] = graph.softmax %[[X]] {axis = 1 : i64} : tensor<?x?x16xf32>
# CHECK: %[[SMN:.*]] = graph.softmax %[[X]] {axis = -2 : i64} : tensor<?x?x16xf32>
# epsilon is an ONNX float attribute: 1e-6 as f32, widened to f64.
# CHECK: %[[LN:.*]] = graph.layer_norm %[[X]], %[[GAMMA]], %[[BETA]] {axis = -1 : i64, epsilon = 9.9999999747524271E-7 : f64} : (tensor<?x?x16xf32>, tensor<16xf32>, tensor<16xf32>) -> tensor<?x?x16xf32>
# CHECK: %[[LN2:.*]] = graph.layer_norm %[[X]], %[[GAMMA2]] {axis = 1 : i64, epsilon = 1.000000e-05 : f64} : (tensor<?x?x16xf32>, tensor<1x16xf32>) -> tensor<?x?x16xf32>
# CHECK: return %[[SM]], %[[SM1]], %[[SMN]], %[[LN]], %[[LN2]] :
