# Model-local functions (FunctionProto) are inlined at each call, with
# attribute references resolved to the caller's values; nested calls too.
# RUN: %python %s %t.onnx
# RUN: sp-compile %t.onnx --emit=mlir | FileCheck %s
# RUN: sp-compile %t.onnx --emit=mlir | sp-opt | FileCheck %s
from onnx_test_builder import *

axis_ref = helper.make_attribute_ref("axis", onnx.AttributeProto.INT)
softmax = helper.make_node("Softmax", ["t"], ["out"])
softmax.attribute.append(axis_ref)
scaled_softmax = helper.make_function(
    "local", "ScaledSoftmax", ["in", "scale"], ["out"],
    [helper.make_node("Mul", ["in", "scale"], ["t"]), softmax],
    opset_imports=[helper.make_opsetid("", 17)], attributes=["axis"])
twice = helper.make_function(
    "local", "AddTwice", ["a"], ["b"],
    [helper.make_node("ScaledSoftmax", ["a", "a"], ["s"], domain="local", axis=0),
     helper.make_node("Add", ["s", "s"], ["b"])],
    opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("local", 1)])

save([
    node("ScaledSoftmax", ["x", "half"], ["y"], domain="local", axis=-1),
    node("ScaledSoftmax", ["y", "half"], ["z"], domain="local", axis=1),
    node("AddTwice", ["z"], ["w"], domain="local"),
],
    inputs=[("x", "f32", ["batch", 8])], outputs=["y", "z", "w"],
    initializers=[const("half", np.float32(0.5))],
    extra_opsets=[("local", 1)], functions=[scaled_softmax, twice])

# CHECK-LABEL: func.func @main(
# CHECK-SAME: %[[X:[a-z0-9]+]]: tensor<?x8xf32>
# CHECK-NOT: call
# CHECK: %[[HALF:.*]] = graph.constant dense<5.000000e-01> : tensor<f32>
# CHECK: %[[T1:.*]] = graph.mul %[[X]], %[[HALF]] : (tensor<?x8xf32>, tensor<f32>) -> tensor<?x8xf32>
# CHECK: %[[Y:.*]] = graph.softmax %[[T1]] {axis = -1 : i64} : tensor<?x8xf32>
# CHECK: %[[T2:.*]] = graph.mul %[[Y]], %[[HALF]]
# CHECK: %[[Z:.*]] = graph.softmax %[[T2]] {axis = 1 : i64} : tensor<?x8xf32>
# CHECK: %[[T3:.*]] = graph.mul %[[Z]], %[[Z]] : (tensor<?x8xf32>, tensor<?x8xf32>) -> tensor<?x8xf32>
# CHECK: %[[S:.*]] = graph.softmax %[[T3]] {axis = 0 : i64} : tensor<?x8xf32>
# CHECK: %[[W:.*]] = graph.add %[[S]], %[[S]] : (tensor<?x8xf32>, tensor<?x8xf32>) -> tensor<?x8xf32>
# CHECK: return %[[Y]], %[[Z]], %[[W]] : tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x8xf32>
# CHECK-NOT: func.func
