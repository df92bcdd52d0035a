# Reshape infers its -1 dim when the other target dims are read off tensors
# whose dims provably equal the input's: the input's own shape, dims carried
# through element-wise ops and matmuls, or graph inputs' dims of the same name.
# RUN: %python %s %t.onnx
# RUN: sp-compile %t.onnx --emit=mlir | FileCheck %s
# RUN: sp-compile %t.onnx --emit=mlir | sp-opt | FileCheck %s
from onnx_test_builder import *

nodes = [
    node("MatMul", ["x", "w"], ["y"]),
    node("ReduceMean", ["y"], ["mean"], axes=[2]),
    node("Mul", ["y", "mean"], ["z"]),
    # Dims of `mask`, another input with the same dim names.
    node("Shape", ["mask"], ["b"], end=1),
    node("Shape", ["mask"], ["s"], start=1, end=2),
    node("Concat", ["b", "s", "minus1", "sixteen"], ["target"], axis=0),
    node("Reshape", ["z", "target"], ["heads"]),
    # Dims of the input itself, gathered one by one.
    node("Shape", ["y"], ["yshape"]),
    node("Gather", ["yshape", "zero"], ["y0"], axis=0),
    node("Gather", ["yshape", "one"], ["y1"], axis=0),
    node("Unsqueeze", ["y0", "axes0"], ["y0v"]),
    node("Unsqueeze", ["y1", "axes0"], ["y1v"]),
    node("Concat", ["y0v", "y1v", "minus1", "sixteen"], ["own"], axis=0),
    node("Reshape", ["y", "own"], ["own_heads"]),
    # Dims of an input with other names may differ: the -1 stays unknown.
    node("Shape", ["other"], ["o"], end=2),
    node("Concat", ["o", "minus1", "sixteen"], ["foreign"], axis=0),
    node("Reshape", ["y", "foreign"], ["foreign_heads"]),
]
save(nodes,
     inputs=[("x", "f32", ["batch", "seq", 64]), ("mask", "i64", ["batch", "seq"]),
             ("other", "i64", ["n", "m"])],
     outputs=["heads", "own_heads", "foreign_heads"],
     initializers=[const("w", np.zeros((64, 64)), "float32"),
                   const("minus1", [-1], "int64"), const("sixteen", [16], "int64"),
                   const("zero", 0, "int64"), const("one", 1, "int64"),
                   const("axes0", [0], "int64")],
     opset=17)

# CHECK-LABEL: func.func @main(
# CHECK: graph.reshape {{.*}} : (tensor<?x?x64xf32>, tensor<4xi64>) -> tensor<?x?x4x16xf32>
# CHECK: graph.reshape {{.*}} : (tensor<?x?x64xf32>, tensor<4xi64>) -> tensor<?x?x4x16xf32>
# CHECK: graph.reshape {{.*}} : (tensor<?x?x64xf32>, tensor<4xi64>) -> tensor<?x?x?x16xf32>
