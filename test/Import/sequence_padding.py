# sp-compile --sp N binds a symbolic sequence dim that the ranks' chunks (N,
# 2N for ring) do not divide to the next length they do, and records the
# length given (graph.unpadded_sequence_length); a length they divide is
# bound as given.
# RUN: %python %s %t.onnx
# RUN: sp-compile %t.onnx --emit=mlir --input-shape ids=2x6 --sp 4 | FileCheck %s --check-prefix=PAD4
# RUN: sp-compile %t.onnx --emit=mlir --input-shape ids=2x6 --sp 2 --sp-strategy=ring | FileCheck %s --check-prefix=RING
# RUN: sp-compile %t.onnx --emit=mlir --input-shape ids=2x6 --sp 2 | FileCheck %s --check-prefix=EVEN
from onnx_test_builder import *

save([node("Gather", ["emb", "ids"], ["h"])],
     inputs=[("ids", "i64", ["batch", "seq"])],
     outputs=["h"],
     initializers=[const("emb", np.arange(80, dtype=np.float32).reshape(10, 8))])

# 6 positions padded to 8, 2 on each of 4 ranks.
# PAD4: module attributes {{.*}}graph.unpadded_sequence_length = 6 : i64
# PAD4: func.func @main(%{{.*}}: tensor<2x2xi64> {{.*}}graph.shard_axis = 1
# Ring's zigzag needs 4 chunks of 2 ranks: 8 again.
# RING: module attributes {{.*}}graph.unpadded_sequence_length = 6 : i64
# RING: func.func @main(%{{.*}}: tensor<2x4xi64>
# EVEN-NOT: unpadded_sequence_length
# EVEN: func.func @main(%{{.*}}: tensor<2x3xi64>
