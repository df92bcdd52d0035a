# GatherElements and ScatterElements whose indices span the data's other dims
# are gather_nd / gather_nd_grad over those dims as batch dims (`axis` moved
# last); otherwise (smaller indices, dynamic dims) every element is addressed
# by a coordinate tuple: the other dims' positions (constants once shapes are
# static) and the index along `axis`. ScatterND
# scatter-adds with gather_nd_grad and replaces where an update lands; on
# constants gather_nd folds. Tile
# repeats by unsqueeze, expand and reshape.
# RUN: %python %s %t.onnx
# RUN: sp-compile %t.onnx --emit=mlir | FileCheck %s
# RUN: sp-compile %t.onnx --emit=mlir | sp-opt | FileCheck %s
from onnx_test_builder import *

save([node("GatherElements", ["data", "idx"], ["gathered"], axis=1),
      node("GatherElements", ["data", "first_row"], ["corner"], axis=-1),
      node("ScatterElements", ["data", "idx", "upd"], ["scattered"], axis=-1),
      node("ScatterND", ["data", "nd_idx", "rows"], ["replaced"]),
      node("ScatterND", ["data", "nd_idx", "rows"], ["added"], reduction="add"),
      node("Tile", ["x", "repeats"], ["tiled"]),
      node("GatherElements", ["x", "x_idx"], ["x_gathered"], axis=1),
      node("ScatterElements", ["x", "x_idx", "x_upd"], ["x_scattered"], axis=1),
      node("GatherElements", ["types", "type_idx"], ["folded"], axis=1)],
     inputs=[("data", "f32", [2, 3]), ("idx", "i32", [2, 2]), ("upd", "f32", [2, 2]),
             ("nd_idx", "i64", [1, 1]), ("rows", "f32", [1, 3]), ("x", "f32", ["n", 3]),
             ("first_row", "i64", [1, 2]), ("x_idx", "i64", ["n", 2]),
             ("x_upd", "f32", ["n", 2])],
     outputs=["gathered", "corner", "scattered", "replaced", "added", "tiled", "x_gathered",
              "x_scattered", ("folded", "i64", [1, 3])],
     initializers=[const("repeats", [2, 1], np.int64),
                   const("types", [[10, 11, 12, 13]], np.int64),
                   const("type_idx", [[3, -4, 1]], np.int64)], opset=18)

# CHECK-LABEL: func.func @main(
# CHECK-SAME: %[[DATA:[a-z0-9]+]]: tensor<2x3xf32>
# CHECK-SAME: %[[IDX:[a-z0-9]+]]: tensor<2x2xi32>
# CHECK-SAME: %[[UPD:[a-z0-9]+]]: tensor<2x2xf32>
# CHECK-SAME: %[[NDIDX:[a-z0-9]+]]: tensor<1x1xi64>
# CHECK-SAME: %[[ROWS:[a-z0-9]+]]: tensor<1x3xf32>
# CHECK-SAME: %[[X:[a-z0-9]+]]: tensor<?x3xf32>
# CHECK-SAME: %[[FIRST:[a-z0-9]+]]: tensor<1x2xi64>
# CHECK-SAME: %[[XIDX:[a-z0-9]+]]: tensor<?x2xi64>
# CHECK-SAME: %[[XUPD:[a-z0-9]+]]: tensor<?x2xf32>
# CHECK-DAG: %[[ROWONES:.*]] = graph.constant dense<1> : tensor<1x3xi64>
# CHECK-DAG: %[[ZERO:.*]] = graph.constant dense<0> : tensor<i64>
# CHECK-DAG: %[[ONES:.*]] = graph.constant dense<1> : tensor<2x2xi64>
# CHECK-DAG: %[[ROWZERO:.*]] = graph.constant dense<0> : tensor<1x2x1xi64>
# GatherElements of constants folds.
# CHECK-DAG: %[[FOLDED:.*]] = graph.constant dense<{{\[\[}}13, 10, 11]]> : tensor<1x3xi64>
# Along the last axis, batch dim 0.
# CHECK: %[[WIDE:.*]] = graph.cast %[[IDX]] : tensor<2x2xi32> -> tensor<2x2xi64>
# CHECK: %[[TUPLES:.*]] = graph.unsqueeze %[[WIDE]] {axes = array<i64: 2>} : (tensor<2x2xi64>) -> tensor<2x2x1xi64>
# CHECK: %[[GATHERED:.*]] = graph.gather_nd %[[DATA]], %[[TUPLES]] {batch_dims = 1 : i64} : (tensor<2x3xf32>, tensor<2x2x1xi64>) -> tensor<2x2xf32>
# Indices of one row: coordinates (row 0, then the index).
# CHECK: %[[COL:.*]] = graph.unsqueeze %[[FIRST]] {axes = array<i64: 2>}
# CHECK: %[[COORDS:.*]] = graph.concat %[[ROWZERO]], %[[COL]] {axis = 2 : i64} : (tensor<1x2x1xi64>, tensor<1x2x1xi64>) -> tensor<1x2x2xi64>
# CHECK: %[[CORNER:.*]] = graph.gather_nd %[[DATA]], %[[COORDS]] : (tensor<2x3xf32>, tensor<1x2x2xi64>) -> tensor<1x2xf32>
# ScatterElements along the last axis, replacing.
# CHECK: %[[SUMS:.*]] = graph.gather_nd_grad %[[UPD]], %[[TUPLES]] {batch_dims = 1 : i64} : (tensor<2x2xf32>, tensor<2x2x1xi64>) -> tensor<2x3xf32>
# CHECK: %[[HITS:.*]] = graph.gather_nd_grad %[[ONES]], %[[TUPLES]] {batch_dims = 1 : i64} : (tensor<2x2xi64>, tensor<2x2x1xi64>) -> tensor<2x3xi64>
# CHECK: %[[WRITTEN:.*]] = graph.greater %[[HITS]], %[[ZERO]]
# CHECK: %[[SCATTERED:.*]] = graph.where %[[WRITTEN]], %[[SUMS]], %[[DATA]]
# ScatterND: replacing, then adding.
# CHECK: %[[NDSUMS:.*]] = graph.gather_nd_grad %[[ROWS]], %[[NDIDX]] : (tensor<1x3xf32>, tensor<1x1xi64>) -> tensor<2x3xf32>
# CHECK: %[[NDHITS:.*]] = graph.gather_nd_grad %[[ROWONES]], %[[NDIDX]]
# CHECK: %[[NDWRITTEN:.*]] = graph.greater %[[NDHITS]], %[[ZERO]]
# CHECK: %[[REPLACED:.*]] = graph.where %[[NDWRITTEN]], %[[NDSUMS]], %[[DATA]]
# CHECK: %[[ADDED:.*]] = graph.add %[[DATA]], %[[NDSUMS]]
# Tile [2, 1] of [n, 3]: [1, n, 1, 3] -> [2, n, 1, 3] -> [2n, 3].
# CHECK: %[[UNIT:.*]] = graph.unsqueeze %[[X]] {axes = array<i64: 0, 2>} : (tensor<?x3xf32>) -> tensor<1x?x1x3xf32>
# CHECK: %[[SPREAD:.*]] = graph.expand %[[UNIT]], %{{.*}} : (tensor<1x?x1x3xf32>, tensor<4xi64>) -> tensor<2x?x1x3xf32>
# CHECK: %[[N:.*]] = graph.shape %[[X]] {end = 1 : i64}
# CHECK: %[[TWON:.*]] = graph.mul %[[N]]
# CHECK: %[[SHAPE:.*]] = graph.concat %[[TWON]]
# CHECK: %[[TILED:.*]] = graph.reshape %[[SPREAD]], %[[SHAPE]] {allow_zero = true} : (tensor<2x?x1x3xf32>, tensor<2xi64>) -> tensor<?x3xf32>
# Dynamic rows: the row positions from a range over the indices' dim 0.
# CHECK: %[[ISHAPE:.*]] = graph.shape %[[XIDX]] : (tensor<?x2xi64>) -> tensor<2xi64>
# CHECK: %[[ROWCOUNT:.*]] = graph.shape %[[XIDX]] {end = 1 : i64}
# CHECK: %[[ROWCOUNT0:.*]] = graph.reshape %[[ROWCOUNT]]
# CHECK: %[[IOTA:.*]] = graph.range %{{.*}}, %[[ROWCOUNT0]], %{{.*}} : (tensor<i64>, tensor<i64>, tensor<i64>) -> tensor<?xi64>
# CHECK: %[[IOTACOL:.*]] = graph.reshape %[[IOTA]], %{{.*}} -> tensor<?x1xi64>
# CHECK: %[[ROWPOS:.*]] = graph.expand %[[IOTACOL]], %[[ISHAPE]] : (tensor<?x1xi64>, tensor<2xi64>) -> tensor<?x2xi64>
# CHECK: %[[ROWPOS1:.*]] = graph.unsqueeze %[[ROWPOS]] {axes = array<i64: 2>}
# CHECK: %[[XCOL:.*]] = graph.unsqueeze %[[XIDX]] {axes = array<i64: 2>}
# CHECK: %[[XCOORDS:.*]] = graph.concat %[[ROWPOS1]], %[[XCOL]] {axis = 2 : i64} : (tensor<?x2x1xi64>, tensor<?x2x1xi64>) -> tensor<?x2x2xi64>
# CHECK: %[[XGATHERED:.*]] = graph.gather_nd %[[X]], %[[XCOORDS]] : (tensor<?x3xf32>, tensor<?x2x2xi64>) -> tensor<?x2xf32>
# CHECK: %[[XSUMS:.*]] = graph.gather_nd_grad %[[XUPD]], %[[XCOORDS]] : (tensor<?x2xf32>, tensor<?x2x2xi64>) -> tensor<?x3xf32>
# CHECK: %[[USHAPE:.*]] = graph.shape %[[XUPD]]
# CHECK: %[[XONES:.*]] = graph.constant_of_shape %[[USHAPE]] {value = dense<1> : tensor<1xi64>} : (tensor<2xi64>) -> tensor<?x2xi64>
# CHECK: %[[XHITS:.*]] = graph.gather_nd_grad %[[XONES]], %[[XCOORDS]]
# CHECK: %[[XWRITTEN:.*]] = graph.greater %[[XHITS]]
# CHECK: %[[XSCATTERED:.*]] = graph.where %[[XWRITTEN]], %[[XSUMS]], %[[X]]
# CHECK: return %[[GATHERED]], %[[CORNER]], %[[SCATTERED]], %[[REPLACED]], %[[ADDED]], %[[TILED]], %[[XGATHERED]], %[[XSCATTERED]], %[[FOLDED]] :
