// --sp-strategy=auto predicts each strategy's time in attention per rank and
// step (compute, plus the communication compute does not hide) and picks the
// least. Slow compute: the ring hides its key/value blocks behind each step's
// attention, while allgather and Ulysses wait for their collectives.
// RUN: sp-opt %s --split-input-file '--sp-sequence-parallel=num-ranks=4 strategy=auto flops-per-second=1e8 link-bytes-per-second=1e9 link-latency=1e-6' 2>/dev/null | FileCheck %s --check-prefix=SLOW
// RUN: sp-opt %s --split-input-file '--sp-sequence-parallel=num-ranks=4 strategy=auto flops-per-second=1e8 link-bytes-per-second=1e9 link-latency=1e-6' --mlir-print-op-on-diagnostic=false 2>&1 >/dev/null | FileCheck %s --check-prefix=SLOW-REMARK
// A topology: nodes of 2 ranks on NVLink joined by InfiniBand (the
// h100-cluster profile's links). Every layout's traffic is latency here; the
// hybrid keeps its all-to-all inside a node and crosses nodes only for the
// ring's 2 steps, while Ulysses' exchange and the 4-step ring reach across.
// On one node of 8 the ring's fewest message steps win again.
// RUN: sp-opt %s --split-input-file '--sp-sequence-parallel=num-ranks=4 strategy=auto cost-profile=h100-cluster ranks-per-node=2' 2>/dev/null | FileCheck %s --check-prefix=NODES
// RUN: sp-opt %s --split-input-file '--sp-sequence-parallel=num-ranks=4 strategy=auto cost-profile=h100-cluster ranks-per-node=2' --mlir-print-op-on-diagnostic=false 2>&1 >/dev/null | FileCheck %s --check-prefix=NODES-REMARK
// RUN: sp-opt %s --split-input-file '--sp-sequence-parallel=num-ranks=4 strategy=auto cost-profile=h100-cluster' --mlir-print-op-on-diagnostic=false 2>&1 >/dev/null | FileCheck %s --check-prefix=NODE-REMARK
// Fast compute and no latency: nothing hides, and the fewest bytes win:
// Ulysses with as many key/value heads as query heads, allgather with one.
// RUN: sp-opt %s --split-input-file '--sp-sequence-parallel=num-ranks=4 strategy=auto flops-per-second=1e15 link-bytes-per-second=1e9 link-latency=0' 2>/dev/null | FileCheck %s --check-prefix=FAST
// RUN: sp-opt %s --split-input-file '--sp-sequence-parallel=num-ranks=4 strategy=auto flops-per-second=1e15 link-bytes-per-second=1e9 link-latency=0' --mlir-print-op-on-diagnostic=false 2>&1 >/dev/null | FileCheck %s --check-prefix=FAST-REMARK

// Four query and key/value heads on four ranks: per rank and step, allgather
// sends three times three quarters of K and V (8 KiB whole), Ulysses a quarter
// of q, k, v and the output each way, the ring ten quarters of K and V.
// SLOW-REMARK: remark: strategy auto chose ring for 1 attention; predicted per rank and step, forward and backward (cost profile cpu): allgather 323.2 us (286.7 compute + 36.4 of 36.4 link exposed), 18432 bytes sent, 16384 bytes held; ulysses 316.9 us (286.7 compute + 30.1 of 30.1 link exposed), 6144 bytes sent, 8192 bytes held; hybrid ulysses 2 x ring 2 301.9 us (286.7 compute + 15.1 of 24.3 link exposed), 12288 bytes sent, 16384 bytes held; ring 289.8 us (286.7 compute + 3.0 of 30.5 link exposed), 20480 bytes sent, 8192 bytes held
// SLOW-LABEL: func.func @main
// SLOW: graph.ring_attention
// FAST-REMARK: remark: strategy auto chose ulysses for 1 attention; {{.*}}: allgather 18.4 us (0.0 compute + 18.4 of 18.4 link exposed), 18432 bytes sent, 16384 bytes held; ulysses 6.1 us (0.0 compute + 6.1 of 6.1 link exposed), 6144 bytes sent, 8192 bytes held; hybrid ulysses 2 x ring 2 12.3 us (0.0 compute + 12.3 of 12.3 link exposed), 12288 bytes sent, 16384 bytes held; ring 20.5 us (0.0 compute + 20.5 of 20.5 link exposed), 20480 bytes sent, 8192 bytes held
// FAST-LABEL: func.func @main
// FAST-COUNT-4: graph.all_to_all
// NODES-REMARK: remark: strategy auto chose hybrid ulysses 2 x ring 2 for 1 attention; predicted per rank and step, forward and backward (cost profile h100-cluster, 2 ranks per node): allgather 360.4 us (0.0 compute + 360.4 of 360.4 link exposed), 18432 bytes sent, 16384 bytes held; ulysses 480.1 us (0.0 compute + 480.1 of 480.1 link exposed), 6144 bytes sent, 8192 bytes held; hybrid ulysses 2 x ring 2 144.2 us (0.0 compute + 144.2 of 144.2 link exposed), 12288 bytes sent, 16384 bytes held; ring 200.5 us (0.0 compute + 200.5 of 200.5 link exposed), 20480 bytes sent, 8192 bytes held
// NODES-LABEL: func.func @main
// NODES: graph.all_to_all {{.*}}num_groups = 2 : i64, num_ranks = 2 : i64
// NODES: graph.ring_attention {{.*}}group_size = 2 : i64, num_ranks = 2 : i64
// NODE-REMARK: remark: strategy auto chose ring for 1 attention; predicted per rank and step, forward and backward (cost profile h100-cluster, 8 ranks per node): allgather 144.1 us {{.*}}; ulysses 192.0 us {{.*}}; hybrid ulysses 2 x ring 2 96.1 us {{.*}}; ring 80.1 us
module attributes {graph.token_input = "input_ids"} {
  func.func @main(%ids: tensor<1x16xi64> {graph.onnx_name = "input_ids", graph.dim_names = ["batch", "sequence"]},
                  %q: tensor<1x4x16x16xf32> {graph.dim_names = ["batch", "", "sequence", ""]})
      -> tensor<1x4x16x16xf32> {
    %out, %lse = graph.attention %q, %q, %q {scale = 0.25 : f64, causal = true} : (tensor<1x4x16x16xf32>, tensor<1x4x16x16xf32>, tensor<1x4x16x16xf32>) -> (tensor<1x4x16x16xf32>, tensor<1x4x16xf32>)
    return %out : tensor<1x4x16x16xf32>
  }
}

// -----

// One key/value head: Ulysses would repeat it four times, and allgather moves
// the fewest bytes; the ring still holds the least.
// SLOW-REMARK: remark: strategy auto chose ring for 1 attention; {{.*}}ring {{.*}} 5120 bytes sent, 2048 bytes held
// FAST-REMARK: remark: strategy auto chose allgather for 1 attention; {{.*}}: allgather {{.*}} 4608 bytes sent, 4096 bytes held; ulysses {{.*}} 6144 bytes sent, 8192 bytes held; hybrid ulysses 2 x ring 2 {{.*}} 7168 bytes sent, 10240 bytes held; ring {{.*}} 5120 bytes sent, 2048 bytes held
// FAST-LABEL: func.func @main
// FAST: graph.all_gather
// FAST: graph.block_attention
module attributes {graph.token_input = "input_ids"} {
  func.func @main(%ids: tensor<1x16xi64> {graph.onnx_name = "input_ids", graph.dim_names = ["batch", "sequence"]},
                  %q: tensor<1x4x16x16xf32> {graph.dim_names = ["batch", "", "sequence", ""]},
                  %kv: tensor<1x1x16x16xf32> {graph.dim_names = ["batch", "", "sequence", ""]})
      -> tensor<1x4x16x16xf32> {
    %out, %lse = graph.attention %q, %kv, %kv {scale = 0.25 : f64, causal = true} : (tensor<1x4x16x16xf32>, tensor<1x1x16x16xf32>, tensor<1x1x16x16xf32>) -> (tensor<1x4x16x16xf32>, tensor<1x4x16xf32>)
    return %out : tensor<1x4x16x16xf32>
  }
}

// -----

// Twelve positions do not make the ring's eight zigzag chunks, and three heads
// do not split across four ranks: allgather is what is left.
// SLOW-REMARK: remark: strategy auto chose allgather for 1 attention; {{.*}}ulysses impossible (3 query heads do not split across 4 ranks); hybrid ulysses 2 x ring 2 impossible (the ring's zigzag layout needs the sequence of 12 in 8 equal chunks); ring impossible (the ring's zigzag layout needs the sequence of 12 in 8 equal chunks)
// SLOW-LABEL: func.func @main
// SLOW: graph.all_gather
module attributes {graph.token_input = "input_ids"} {
  func.func @main(%ids: tensor<1x12xi64> {graph.onnx_name = "input_ids", graph.dim_names = ["batch", "sequence"]},
                  %q: tensor<1x3x12x16xf32> {graph.dim_names = ["batch", "", "sequence", ""]})
      -> tensor<1x3x12x16xf32> {
    %out, %lse = graph.attention %q, %q, %q {scale = 0.25 : f64, causal = true} : (tensor<1x3x12x16xf32>, tensor<1x3x12x16xf32>, tensor<1x3x12x16xf32>) -> (tensor<1x3x12x16xf32>, tensor<1x3x12xf32>)
    return %out : tensor<1x3x12x16xf32>
  }
}
