# Unsupported ops, domains and opsets; undefined inputs: one line naming the
# file, the node, its op type and opset; exit 1.
# RUN: %python %s %t
# RUN: %exit1 sp-compile %t.foo.onnx --emit=mlir | FileCheck %s --check-prefix=FOO
# FOO: {{^}}sp-compile: error: {{.*}}.foo.onnx: node 'my_foo' (Foo, opset 17): operator is not supported{{$}}
# RUN: %exit1 sp-compile %t.lstm.onnx --emit=mlir | FileCheck %s --check-prefix=LSTM
# LSTM: {{^}}sp-compile: error: {{.*}}.lstm.onnx: node 'rnn' (LSTM, opset 17): operator is not supported{{$}}
# RUN: %exit1 sp-compile %t.unnamed.onnx --emit=mlir | FileCheck %s --check-prefix=UNNAMED
# UNNAMED: {{^}}sp-compile: error: {{.*}}.unnamed.onnx: node '(unnamed)' (Foo, opset 17): operator is not supported{{$}}
# RUN: %exit1 sp-compile %t.domain.onnx --emit=mlir | FileCheck %s --check-prefix=DOMAIN
# DOMAIN: {{^}}sp-compile: error: {{.*}}.domain.onnx: node 'fused' (com.microsoft.FusedGelu, opset 1): operator domain 'com.microsoft' is not supported{{$}}
# RUN: %exit1 sp-compile %t.opset0.onnx --emit=mlir | FileCheck %s --check-prefix=OPSET0
# OPSET0: {{^}}sp-compile: error: {{.*}}.opset0.onnx: opset -1 is not supported (sp knows ONNX opsets 1 to 28){{$}}
# RUN: %exit1 sp-compile %t.opset30.onnx --emit=mlir | FileCheck %s --check-prefix=OPSET30
# OPSET30: {{^}}sp-compile: error: {{.*}}.opset30.onnx: opset 30 is not supported (sp knows ONNX opsets 1 to 28){{$}}
# RUN: %exit1 sp-compile %t.missing.onnx --emit=mlir | FileCheck %s --check-prefix=MISSING
# MISSING: {{^}}sp-compile: error: {{.*}}.missing.onnx: node 'add_w' (Add, opset 17): input 'w' is not defined by any earlier node, graph input or initializer{{$}}
# RUN: %exit1 sp-compile %t.order.onnx --emit=mlir | FileCheck %s --check-prefix=ORDER
# ORDER: {{^}}sp-compile: error: {{.*}}.order.onnx: node 'first' (Relu, opset 17): input 'z' is not defined by any earlier node, graph input or initializer{{$}}
# RUN: %exit1 sp-compile %t.output.onnx --emit=mlir | FileCheck %s --check-prefix=OUTPUT
# OUTPUT: {{^}}sp-compile: error: {{.*}}.output.onnx: graph output 'nowhere' is not produced by any node{{$}}
# RUN: %exit1 sp-compile %t.axes.onnx --emit=mlir | FileCheck %s --check-prefix=AXES
# AXES: {{^}}sp-compile: error: {{.*}}.axes.onnx: node 'unsq' (Unsqueeze, opset 17): input 'axes' must be a compile-time constant{{$}}
# RUN: %exit1 sp-compile %t.train.onnx --emit=mlir | FileCheck %s --check-prefix=TRAIN
# TRAIN: {{^}}sp-compile: error: {{.*}}.train.onnx: node 'drop' (Dropout, opset 17): training_mode must be a constant boolean scalar{{$}}
# RUN: %exit1 sp-compile %t.ratio1.onnx --emit=mlir | FileCheck %s --check-prefix=RATIO1
# RATIO1: {{^}}sp-compile: error: {{.*}}.ratio1.onnx: node 'drop' (Dropout, opset 17): ratio 1 is not in [0, 1){{$}}
# RUN: %exit1 sp-compile %t.ratio-negative.onnx --emit=mlir | FileCheck %s --check-prefix=RATIONEG
# RATIONEG: {{^}}sp-compile: error: {{.*}}.ratio-negative.onnx: node 'drop' (Dropout, opset 17): ratio -0.25 is not in [0, 1){{$}}
# RUN: %exit1 sp-compile %t.ratio-input.onnx --emit=mlir | FileCheck %s --check-prefix=RATIOIN
# RATIOIN: {{^}}sp-compile: error: {{.*}}.ratio-input.onnx: node 'drop' (Dropout, opset 17): ratio must be a constant float scalar{{$}}
# RUN: %exit1 sp-compile %t.string.onnx --emit=mlir | FileCheck %s --check-prefix=STRING
# STRING: {{^}}sp-compile: error: {{.*}}.string.onnx: graph input 's' has unsupported element type STRING (8){{$}}
# RUN: %exit1 sp-compile %t.recursive.onnx --emit=mlir | FileCheck %s --check-prefix=RECURSIVE
# RECURSIVE: {{^}}sp-compile: error: {{.*}}.recursive.onnx: node {{.*}} (local.Loop, opset 1): local functions nest deeper than 16 levels (recursion?){{$}}
import sys
from onnx_test_builder import *

out = sys.argv[1]
X = [("x", "f32", ["batch", 4])]
save([node("Foo", ["x"], ["y"], name="my_foo")], inputs=X, outputs=["y"], path=out + ".foo.onnx")
save([node("LSTM", ["x", "w", "r"], ["y"], name="rnn", hidden_size=2)],
     inputs=[("x", "f32", [1, 2, 4]), ("w", "f32", [1, 8, 4]), ("r", "f32", [1, 8, 2])],
     outputs=["y"], path=out + ".lstm.onnx")
save([helper.make_node("Foo", ["x"], ["y"])], inputs=X, outputs=["y"], path=out + ".unnamed.onnx")
save([node("FusedGelu", ["x"], ["y"], name="fused", domain="com.microsoft")], inputs=X,
     outputs=["y"], extra_opsets=[("com.microsoft", 1)], path=out + ".domain.onnx")
for opset in (-1, 30):
    save([node("Relu", ["x"], ["y"])], inputs=X, outputs=["y"], opset=opset,
         path=out + f".opset{max(opset, 0)}.onnx")
save([node("Add", ["x", "w"], ["y"], name="add_w")], inputs=X, outputs=["y"],
     path=out + ".missing.onnx")
save([node("Relu", ["z"], ["y"], name="first"), node("Neg", ["x"], ["z"])], inputs=X,
     outputs=["y"], path=out + ".order.onnx")
save([node("Relu", ["x"], ["y"])], inputs=X, outputs=["nowhere"], path=out + ".output.onnx")
save([node("Unsqueeze", ["x", "axes"], ["y"], name="unsq")],
     inputs=X + [("axes", "i64", [1])], outputs=["y"], path=out + ".axes.onnx")
save([node("Dropout", ["x", "ratio", "training"], ["y"], name="drop")],
     inputs=X + [("training", "bool", [])], outputs=["y"],
     initializers=[const("ratio", np.float32(0.5))], path=out + ".train.onnx")
for name, ratio in (("ratio1", 1.0), ("ratio-negative", -0.25)):
    save([node("Dropout", ["x", "ratio", "training"], ["y"], name="drop")], inputs=X,
         outputs=["y"], initializers=[const("ratio", np.float32(ratio)), const("training", True)],
         path=out + f".{name}.onnx")
save([node("Dropout", ["x", "ratio", "training"], ["y"], name="drop")],
     inputs=X + [("ratio", "f32", [])], outputs=["y"],
     initializers=[const("training", True)], path=out + ".ratio-input.onnx")
save([node("Identity", ["s"], ["y"])], inputs=[("s", "str", [2])], outputs=["y"],
     path=out + ".string.onnx")
loop = helper.make_function("local", "Loop", ["a"], ["b"],
                            [helper.make_node("Loop", ["a"], ["b"], domain="local")],
                            opset_imports=[helper.make_opsetid("", 17),
                                           helper.make_opsetid("local", 1)])
save([node("Loop", ["x"], ["y"], domain="local")], inputs=X, outputs=["y"],
     extra_opsets=[("local", 1)], functions=[loop], path=out + ".recursive.onnx")
