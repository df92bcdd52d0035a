# What the importer cannot spell of the losses, element indexing, Tile and
# Einsum: one line naming the node, exit 1.
# RUN: %python %s %t
# RUN: %exit1 sp-compile %t.diagonal.onnx --emit=mlir | FileCheck %s --check-prefix=DIAGONAL
# DIAGONAL: {{^}}sp-compile: error: {{.*}}.diagonal.onnx: node 'trace' (Einsum, opset 17): equation term 'ii' repeats 'i' (diagonals are not supported){{$}}
# RUN: %exit1 sp-compile %t.einsum_dynamic.onnx --emit=mlir | FileCheck %s --check-prefix=EINSUMDYN
# EINSUMDYN: {{^}}sp-compile: error: {{.*}}.einsum_dynamic.onnx: node 'mm' (Einsum, opset 17): Einsum needs static shapes; operand of shape [?, 4] has a dynamic dim (bind it with --input-shape){{$}}
# RUN: %exit1 sp-compile %t.einsum_sizes.onnx --emit=mlir | FileCheck %s --check-prefix=EINSUMSIZES
# EINSUMSIZES: {{^}}sp-compile: error: {{.*}}.einsum_sizes.onnx: node 'mm' (Einsum, opset 17): Einsum letter 'j' has sizes 4 and 3 (size-1 dims do not broadcast){{$}}
# RUN: %exit1 sp-compile %t.einsum_ellipsis.onnx --emit=mlir | FileCheck %s --check-prefix=EINSUMELLIPSIS
# EINSUMELLIPSIS: {{^}}sp-compile: error: {{.*}}.einsum_ellipsis.onnx: node 'bmm' (Einsum, opset 17): Einsum ellipsis dim has sizes 1 and 2 (size-1 dims do not broadcast){{$}}
# RUN: %exit1 sp-compile %t.einsum_terms.onnx --emit=mlir | FileCheck %s --check-prefix=EINSUMTERMS
# EINSUMTERMS: {{^}}sp-compile: error: {{.*}}.einsum_terms.onnx: node 'mm' (Einsum, opset 17): equation 'ij,jk,kl->il' names 3 operands but the node has 2 inputs{{$}}
# RUN: %exit1 sp-compile %t.tile_input.onnx --emit=mlir | FileCheck %s --check-prefix=TILEINPUT
# TILEINPUT: {{^}}sp-compile: error: {{.*}}.tile_input.onnx: node 'tile' (Tile, opset 17): input 'repeats' must be a compile-time constant{{$}}
# RUN: %exit1 sp-compile %t.tile_count.onnx --emit=mlir | FileCheck %s --check-prefix=TILECOUNT
# TILECOUNT: {{^}}sp-compile: error: {{.*}}.tile_count.onnx: node 'tile' (Tile, opset 17): repeats holds 1 values for an input of rank 2{{$}}
# RUN: %exit1 sp-compile %t.scatter_mul.onnx --emit=mlir | FileCheck %s --check-prefix=SCATTERMUL
# SCATTERMUL: {{^}}sp-compile: error: {{.*}}.scatter_mul.onnx: node 'scatter' (ScatterND, opset 18): reduction 'mul' is not supported (only none and add){{$}}
# RUN: %exit1 sp-compile %t.scatter_shape.onnx --emit=mlir | FileCheck %s --check-prefix=SCATTERSHAPE
# SCATTERSHAPE: {{^}}sp-compile: error: {{.*}}.scatter_shape.onnx: node 'scatter' (ScatterND, opset 18): updates of shape [2, 3] do not fit indices of shape [1, 1] into data of shape [2, 4]{{$}}
# RUN: %exit1 sp-compile %t.gather_rank.onnx --emit=mlir | FileCheck %s --check-prefix=GATHERRANK
# GATHERRANK: {{^}}sp-compile: error: {{.*}}.gather_rank.onnx: node 'ge' (GatherElements, opset 17): indices of rank 1 must have the data's rank 2{{$}}
# RUN: %exit1 sp-compile %t.loss_classes.onnx --emit=mlir | FileCheck %s --check-prefix=LOSSCLASSES
# LOSSCLASSES: {{^}}sp-compile: error: {{.*}}.loss_classes.onnx: node 'sce' (SoftmaxCrossEntropyLoss, opset 17): the class dim (1) of input 'scores' must be static, got [4, ?]{{$}}
# RUN: %exit1 sp-compile %t.loss_target.onnx --emit=mlir | FileCheck %s --check-prefix=LOSSTARGET
# LOSSTARGET: {{^}}sp-compile: error: {{.*}}.loss_target.onnx: node 'nll' (NegativeLogLikelihoodLoss, opset 17): target of shape [4, 2] does not match input of shape [4, 3] (expected [N, d1, ...] = [4]){{$}}
# RUN: %exit1 sp-compile %t.loss_weight.onnx --emit=mlir | FileCheck %s --check-prefix=LOSSWEIGHT
# LOSSWEIGHT: {{^}}sp-compile: error: {{.*}}.loss_weight.onnx: node 'sce' (SoftmaxCrossEntropyLoss, opset 17): weight of shape [2] must be 1-D over the 3 classes, of the input's element type{{$}}
import sys
from onnx_test_builder import *

out = sys.argv[1]
M = [("m", "f32", [4, 4])]
save([node("Einsum", ["m"], ["t"], name="trace", equation="ii")], inputs=M, outputs=["t"],
     path=out + ".diagonal.onnx")
save([node("Einsum", ["a", "m"], ["p"], name="mm", equation="ij,jk")],
     inputs=[("a", "f32", ["n", 4])] + M, outputs=["p"], path=out + ".einsum_dynamic.onnx")
save([node("Einsum", ["m", "b"], ["p"], name="mm", equation="ij,jk")],
     inputs=M + [("b", "f32", [3, 2])], outputs=["p"], path=out + ".einsum_sizes.onnx")
save([node("Einsum", ["c", "e"], ["p"], name="bmm", equation="...ij,...jk->...ik")],
     inputs=[("c", "f32", [1, 4, 4]), ("e", "f32", [2, 4, 4])], outputs=["p"],
     path=out + ".einsum_ellipsis.onnx")
save([node("Einsum", ["m", "m"], ["p"], name="mm", equation="ij,jk,kl->il")],
     inputs=M, outputs=["p"], path=out + ".einsum_terms.onnx")
save([node("Tile", ["m", "r"], ["t"], name="tile")], inputs=M + [("r", "i64", [2])],
     outputs=["t"], path=out + ".tile_input.onnx")
save([node("Tile", ["m", "r"], ["t"], name="tile")], inputs=M, outputs=["t"],
     initializers=[const("r", [2], np.int64)], path=out + ".tile_count.onnx")
D = [("d", "f32", [2, 4]), ("i", "i64", [1, 1])]
save([node("ScatterND", ["d", "i", "u"], ["s"], name="scatter", reduction="mul")],
     inputs=D + [("u", "f32", [1, 4])], outputs=["s"], opset=18, path=out + ".scatter_mul.onnx")
save([node("ScatterND", ["d", "i", "u"], ["s"], name="scatter")],
     inputs=D + [("u", "f32", [2, 3])], outputs=["s"], opset=18,
     path=out + ".scatter_shape.onnx")
save([node("GatherElements", ["m", "gi"], ["g"], name="ge", axis=1)],
     inputs=M + [("gi", "i64", [4])], outputs=["g"], path=out + ".gather_rank.onnx")
save([node("SoftmaxCrossEntropyLoss", ["scores", "labels"], ["l"], name="sce")],
     inputs=[("scores", "f32", [4, "c"]), ("labels", "i64", [4])], outputs=["l"],
     path=out + ".loss_classes.onnx")
save([node("NegativeLogLikelihoodLoss", ["scores", "labels"], ["l"], name="nll")],
     inputs=[("scores", "f32", [4, 3]), ("labels", "i64", [4, 2])], outputs=["l"],
     path=out + ".loss_target.onnx")
save([node("SoftmaxCrossEntropyLoss", ["scores", "labels", "w"], ["l"], name="sce")],
     inputs=[("scores", "f32", [4, 3]), ("labels", "i64", [4])], outputs=["l"],
     initializers=[const("w", [1.0, 2.0], np.float32)], path=out + ".loss_weight.onnx")
