// Rates fixed here (100 GFLOP/s, 10 GB/s memory, 5 GB/s link, 5 us per ring
// step) so that the expected orders do not move when the built-in profiles
// are recalibrated; no gradient buckets unless a RUN line asks for them.
// RUN: sp-opt %s --split-input-file --verify-diagnostics --pass-pipeline='builtin.module(func.func(sp-schedule-collectives{flops-per-second=1e11 memory-bytes-per-second=1e10 link-bytes-per-second=5e9 link-latency=5e-6 bucket-bytes=0}))' | FileCheck %s
// RUN: sp-opt %s --split-input-file --verify-diagnostics --pass-pipeline='builtin.module(func.func(sp-schedule-collectives{flops-per-second=1e11 memory-bytes-per-second=1e10 link-bytes-per-second=5e9 link-latency=5e-6 bucket-bytes=0 max-in-flight=1}))' | FileCheck %s --check-prefix=ONE
// The same limit through the memory budget: each ring_shift of 4x8xf32 holds
// 256 bytes (input and result), each all_gather 4x8 -> 8x8 holds 384.
// RUN: sp-opt %s --split-input-file --verify-diagnostics --pass-pipeline='builtin.module(func.func(sp-schedule-collectives{flops-per-second=1e11 memory-bytes-per-second=1e10 link-bytes-per-second=5e9 link-latency=5e-6 bucket-bytes=0 max-in-flight-bytes=384}))' | FileCheck %s --check-prefix=BUDGET
// RUN: sp-opt %s --split-input-file --verify-diagnostics --pass-pipeline='builtin.module(func.func(sp-schedule-collectives{flops-per-second=1e11 memory-bytes-per-second=1e10 link-bytes-per-second=5e9 link-latency=5e-6 bucket-bytes=0 max-in-flight=2}))' | FileCheck %s --check-prefix=TWO
// Gradient buckets of 256 bytes: two 4x8xf32 gradients each.
// RUN: sp-opt %s --split-input-file --verify-diagnostics --pass-pipeline='builtin.module(func.func(sp-schedule-collectives{flops-per-second=1e11 memory-bytes-per-second=1e10 link-bytes-per-second=5e9 link-latency=5e-6 bucket-bytes=256}))' | FileCheck %s --check-prefix=BUCKET
// A measured profile times the first ring shift of @arrived at 1 s.
// RUN: sp-opt %s --split-input-file --verify-diagnostics --pass-pipeline='builtin.module(func.func(sp-schedule-collectives{cost-profile=%S/Inputs/measured-profile.json flops-per-second=1e11 memory-bytes-per-second=1e10 link-bytes-per-second=5e9 link-latency=5e-6 bucket-bytes=0 max-in-flight=1}))' | FileCheck %s --check-prefix=MEASURED
// RUN: not sp-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(sp-schedule-collectives{max-in-flight=0}))' 2>&1 | FileCheck %s --check-prefix=ZERO
// RUN: not sp-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(sp-schedule-collectives{cost-profile=%S/Inputs/bad-version.json}))' 2>&1 | FileCheck %s --check-prefix=BADPROFILE

// ZERO: error: max-in-flight must be at least 1, got 0
// BADPROFILE: error: cost profile '{{.*}}bad-version.json': "version" is 2; this compiler reads version 1

// The start goes as soon as its input is defined, ahead of the compute that
// does not need it; the wait after all the compute that came before its
// first reader in program order, and after later compute too (the tanh)
// while the cost model says the collective has not arrived.
// CHECK-LABEL: func.func @hoist_and_sink
// CHECK-NEXT: %[[A:.*]] = graph.matmul
// CHECK-NEXT: %[[F:.*]] = graph.all_gather_start %[[A]] {axis = 0 : i64, num_ranks = 2 : i64} : (tensor<4x8xf32>) -> !graph.future<tensor<8x8xf32>>
// CHECK-NEXT: graph.exp
// CHECK-NEXT: graph.tanh
// CHECK-NEXT: %[[G:.*]] = graph.wait %[[F]] : !graph.future<tensor<8x8xf32>> -> tensor<8x8xf32>
// CHECK-NEXT: graph.add %[[G]], %[[G]]
// CHECK-NOT: graph.all_gather
func.func @hoist_and_sink(%x: tensor<4x8xf32>, %w: tensor<8x8xf32>) -> (tensor<8x8xf32>, tensor<4x8xf32>) {
  %b = graph.exp %x : tensor<4x8xf32>
  %a = graph.matmul %x, %w : (tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32>
  %g = graph.all_gather %a {axis = 0 : i64, num_ranks = 2 : i64} : (tensor<4x8xf32>) -> tensor<8x8xf32>
  %d = graph.add %g, %g : (tensor<8x8xf32>, tensor<8x8xf32>) -> tensor<8x8xf32>
  %c = graph.tanh %b : tensor<4x8xf32>
  return %d, %c : tensor<8x8xf32>, tensor<4x8xf32>
}

// Allgather attention as exported: the query projection (and its rotary
// stand-in) first, then the key and value projections and their gathers.
// The key and value projections move ahead of the query projection so that
// both gathers start before it and overlap it; each wait goes right before
// its reader. Under a memory budget of one gather's bytes, the value gather
// cannot start until the key gather is waited for.
// CHECK-LABEL: func.func @gather_before_query_projection
// CHECK-NEXT: %[[K:.*]] = graph.matmul %arg0, %arg2
// CHECK-NEXT: %[[FK:.*]] = graph.all_gather_start %[[K]]
// CHECK-NEXT: %[[V:.*]] = graph.matmul %arg0, %arg3
// CHECK-NEXT: %[[FV:.*]] = graph.all_gather_start %[[V]]
// CHECK-NEXT: %[[Q:.*]] = graph.matmul %arg0, %arg1
// CHECK-NEXT: %[[QR:.*]] = graph.exp %[[Q]]
// CHECK-NEXT: %[[KG:.*]] = graph.wait %[[FK]]
// CHECK-NEXT: %[[S:.*]] = graph.matmul %[[QR]], %[[KG]]
// CHECK-NEXT: %[[VG:.*]] = graph.wait %[[FV]]
// CHECK-NEXT: graph.matmul %[[S]], %[[VG]]
// BUDGET-LABEL: func.func @gather_before_query_projection
// BUDGET-NEXT: %[[K:.*]] = graph.matmul %arg0, %arg2
// BUDGET-NEXT: %[[FK:.*]] = graph.all_gather_start %[[K]]
// BUDGET-NEXT: %[[V:.*]] = graph.matmul %arg0, %arg3
// BUDGET-NEXT: %[[Q:.*]] = graph.matmul %arg0, %arg1
// BUDGET-NEXT: %[[QR:.*]] = graph.exp %[[Q]]
// BUDGET-NEXT: %[[KG:.*]] = graph.wait %[[FK]]
// BUDGET-NEXT: %[[FV:.*]] = graph.all_gather_start %[[V]]
// BUDGET-NEXT: %[[S:.*]] = graph.matmul %[[QR]], %[[KG]]
// BUDGET-NEXT: %[[VG:.*]] = graph.wait %[[FV]]
// BUDGET-NEXT: graph.matmul %[[S]], %[[VG]]
func.func @gather_before_query_projection(%x: tensor<4x8xf32>, %wq: tensor<8x8xf32>, %wk: tensor<8x8xf32>, %wv: tensor<8x8xf32>) -> tensor<4x8xf32> {
  %q = graph.matmul %x, %wq : (tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32>
  %qr = graph.exp %q : tensor<4x8xf32>
  %k = graph.matmul %x, %wk : (tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32>
  %v = graph.matmul %x, %wv : (tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32>
  %kg = graph.all_gather %k {axis = 0 : i64, num_ranks = 2 : i64} : (tensor<4x8xf32>) -> tensor<8x8xf32>
  %vg = graph.all_gather %v {axis = 0 : i64, num_ranks = 2 : i64} : (tensor<4x8xf32>) -> tensor<8x8xf32>
  %s = graph.matmul %qr, %kg : (tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32>
  %o = graph.matmul %s, %vg : (tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32>
  return %o : tensor<4x8xf32>
}

// Starts keep their program order, the same on every rank: the second
// all_reduce's input is computed first, yet the first starts first. These
// are gradient reductions (no collective depends on them): waited for once
// arrived, here when the compute runs out.
// CHECK-LABEL: func.func @start_order
// CHECK-NEXT: %[[A:.*]] = graph.exp
// CHECK-NEXT: %[[B:.*]] = graph.tanh
// CHECK-NEXT: %[[F1:.*]] = graph.all_reduce_start %[[B]]
// CHECK-NEXT: %[[F2:.*]] = graph.all_reduce_start %[[A]]
// CHECK-NEXT: %[[C:.*]] = graph.neg
// CHECK-NEXT: %[[R2:.*]] = graph.wait %[[F2]]
// CHECK-NEXT: %[[R1:.*]] = graph.wait %[[F1]]
// CHECK-NEXT: %[[D:.*]] = graph.add %[[R2]], %[[C]]
// CHECK-NEXT: graph.add %[[R1]], %[[D]]
func.func @start_order(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %a = graph.exp %x : tensor<4x8xf32>
  %b = graph.tanh %x : tensor<4x8xf32>
  %r1 = graph.all_reduce %b {num_ranks = 2 : i64} : (tensor<4x8xf32>) -> tensor<4x8xf32>
  %r2 = graph.all_reduce %a {num_ranks = 2 : i64} : (tensor<4x8xf32>) -> tensor<4x8xf32>
  %c = graph.neg %x : tensor<4x8xf32>
  %d = graph.add %r2, %c : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  %e = graph.add %r1, %d : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  return %e : tensor<4x8xf32>
}

// Three ring shifts ready at once, read one after another. Up to 4 in
// flight, all three are; with one at a time, each next start follows the
// previous wait; with two, the third starts once the first is waited for.
// (Gradient all_reduces would not count: see @gradient_buckets.)
// CHECK-LABEL: func.func @in_flight
// CHECK-NEXT: %[[F1:.*]] = graph.ring_shift_start
// CHECK-NEXT: %[[F2:.*]] = graph.ring_shift_start
// CHECK-NEXT: %[[F3:.*]] = graph.ring_shift_start
// CHECK-NEXT: graph.tanh
// CHECK-NEXT: graph.wait %[[F1]]
// CHECK-NEXT: graph.add
// CHECK-NEXT: graph.exp
// CHECK-NEXT: graph.wait %[[F2]]
// CHECK-NEXT: graph.add
// CHECK-NEXT: graph.neg
// CHECK-NEXT: graph.wait %[[F3]]
// CHECK-NEXT: graph.add
// ONE-LABEL: func.func @in_flight
// ONE-NEXT: %[[F1:.*]] = graph.ring_shift_start
// ONE-NEXT: graph.tanh
// ONE-NEXT: graph.wait %[[F1]]
// ONE-NEXT: %[[F2:.*]] = graph.ring_shift_start
// ONE-NEXT: graph.add
// ONE-NEXT: graph.exp
// ONE-NEXT: graph.wait %[[F2]]
// ONE-NEXT: %[[F3:.*]] = graph.ring_shift_start
// ONE-NEXT: graph.add
// ONE-NEXT: graph.neg
// ONE-NEXT: graph.wait %[[F3]]
// ONE-NEXT: graph.add
// BUDGET-LABEL: func.func @in_flight
// BUDGET-NEXT: %[[F1:.*]] = graph.ring_shift_start
// BUDGET-NEXT: graph.tanh
// BUDGET-NEXT: graph.wait %[[F1]]
// BUDGET-NEXT: %[[F2:.*]] = graph.ring_shift_start
// TWO-LABEL: func.func @in_flight
// TWO-NEXT: %[[F1:.*]] = graph.ring_shift_start
// TWO-NEXT: %[[F2:.*]] = graph.ring_shift_start
// TWO-NEXT: graph.tanh
// TWO-NEXT: graph.wait %[[F1]]
// TWO-NEXT: %[[F3:.*]] = graph.ring_shift_start
// TWO-NEXT: graph.add
// TWO-NEXT: graph.exp
// TWO-NEXT: graph.wait %[[F2]]
// TWO-NEXT: graph.add
// TWO-NEXT: graph.neg
// TWO-NEXT: graph.wait %[[F3]]
// TWO-NEXT: graph.add
func.func @in_flight(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %r1 = graph.ring_shift %x {offset = 1 : i64, num_ranks = 2 : i64} : (tensor<4x8xf32>) -> tensor<4x8xf32>
  %r2 = graph.ring_shift %x {offset = 1 : i64, num_ranks = 2 : i64} : (tensor<4x8xf32>) -> tensor<4x8xf32>
  %r3 = graph.ring_shift %x {offset = 1 : i64, num_ranks = 2 : i64} : (tensor<4x8xf32>) -> tensor<4x8xf32>
  %c1 = graph.tanh %x : tensor<4x8xf32>
  %u1 = graph.add %r1, %c1 : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  %c2 = graph.exp %u1 : tensor<4x8xf32>
  %u2 = graph.add %r2, %c2 : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  %c3 = graph.neg %u2 : tensor<4x8xf32>
  %u3 = graph.add %r3, %c3 : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  return %u3 : tensor<4x8xf32>
}

// A collective of a collective's result starts right after that wait; the
// tanh, independent of both, hides the first.
// CHECK-LABEL: func.func @chain
// CHECK-NEXT: %[[A:.*]] = graph.exp
// CHECK-NEXT: %[[F1:.*]] = graph.ring_shift_start %[[A]]
// CHECK-NEXT: graph.tanh
// CHECK-NEXT: %[[S1:.*]] = graph.wait %[[F1]]
// CHECK-NEXT: %[[F2:.*]] = graph.ring_shift_start %[[S1]]
// CHECK-NEXT: graph.add %[[S1]]
// CHECK-NEXT: graph.neg
// CHECK-NEXT: %[[S2:.*]] = graph.wait %[[F2]]
// CHECK-NEXT: graph.add %[[S2]]
func.func @chain(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %a = graph.exp %x : tensor<4x8xf32>
  %f = graph.ring_shift_start %a {offset = 1 : i64, num_ranks = 2 : i64} : (tensor<4x8xf32>) -> !graph.future<tensor<4x8xf32>>
  %s1 = graph.wait %f : !graph.future<tensor<4x8xf32>> -> tensor<4x8xf32>
  %s2 = graph.ring_shift %s1 {offset = 1 : i64, num_ranks = 2 : i64} : (tensor<4x8xf32>) -> tensor<4x8xf32>
  %b = graph.tanh %x : tensor<4x8xf32>
  %c = graph.add %s1, %b : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  %d = graph.neg %c : tensor<4x8xf32>
  %e = graph.add %s2, %d : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  return %e : tensor<4x8xf32>
}

// An op with unknown side effects (a call) keeps its place among all ops.
// CHECK-LABEL: func.func @effect_barrier
// CHECK-NEXT: graph.exp
// CHECK-NEXT: call @side_effect()
// CHECK-NEXT: %[[F:.*]] = graph.all_reduce_start
// CHECK-NEXT: graph.tanh
// CHECK-NEXT: %[[R:.*]] = graph.wait %[[F]]
// CHECK-NEXT: call @side_effect()
// CHECK-NEXT: graph.add %[[R]]
func.func private @side_effect()

func.func @effect_barrier(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %a = graph.exp %x : tensor<4x8xf32>
  func.call @side_effect() : () -> ()
  %r = graph.all_reduce %a {num_ranks = 2 : i64} : (tensor<4x8xf32>) -> tensor<4x8xf32>
  %b = graph.tanh %x : tensor<4x8xf32>
  func.call @side_effect() : () -> ()
  %c = graph.add %r, %b : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  return %c : tensor<4x8xf32>
}

// The cost model: a 256^3 matmul (34 MFLOP, about 340 us at 100 GFLOP/s)
// hides a 128-byte all_gather (1 step of 5 us) twice over, so the start goes
// right before it rather than up to its input, and holds its bytes no
// longer than needed (the memory budget in time). A gradient's all_reduce
// would start at once instead, see @gradient_buckets.
// CHECK-LABEL: func.func @enough_compute
// CHECK-NEXT: %[[A:.*]] = graph.exp
// CHECK-NEXT: graph.tanh
// CHECK-NEXT: graph.neg
// CHECK-NEXT: %[[F:.*]] = graph.all_gather_start %[[A]]
// CHECK-NEXT: graph.matmul
// CHECK-NEXT: graph.wait %[[F]]
func.func @enough_compute(%x: tensor<4x8xf32>, %m: tensor<256x256xf32>) -> (tensor<8x8xf32>, tensor<4x8xf32>, tensor<256x256xf32>) {
  %a = graph.exp %x : tensor<4x8xf32>
  %b = graph.tanh %a : tensor<4x8xf32>
  %r = graph.all_gather %a {axis = 0 : i64, num_ranks = 2 : i64} : (tensor<4x8xf32>) -> tensor<8x8xf32>
  %c = graph.neg %b : tensor<4x8xf32>
  %p = graph.matmul %m, %m : (tensor<256x256xf32>, tensor<256x256xf32>) -> tensor<256x256xf32>
  %d = graph.add %r, %r : (tensor<8x8xf32>, tensor<8x8xf32>) -> tensor<8x8xf32>
  return %d, %c, %p : tensor<8x8xf32>, tensor<4x8xf32>, tensor<256x256xf32>
}

// One in flight at a time. The cost model says the 256^3 matmul (34 MFLOP,
// about 340 us) gives the first ring shift (one step of 5 us) time to
// arrive, so the second need not wait for the compute to run out: it takes
// the slot at once and overlaps the tanh. A measured profile that times the
// first shift at 1 s (instruction id "r1:ring_shift") changes that decision:
// the first has not arrived after the matmul, so the tanh runs first and the
// second starts only when nothing is left to compute.
// ONE-LABEL: func.func @arrived
// ONE-NEXT: %[[F1:.*]] = graph.ring_shift_start
// ONE-NEXT: graph.matmul
// ONE-NEXT: %[[R1:.*]] = graph.wait %[[F1]]
// ONE-NEXT: %[[F2:.*]] = graph.ring_shift_start
// ONE-NEXT: graph.tanh
// ONE-NEXT: %[[R2:.*]] = graph.wait %[[F2]]
// ONE-NEXT: %[[U2:.*]] = graph.add %[[R2]]
// ONE-NEXT: graph.add %[[R1]], %[[U2]]
// MEASURED-LABEL: func.func @arrived
// MEASURED-NEXT: %[[F1:.*]] = graph.ring_shift_start {{.*}}plan.id = "r1:ring_shift"
// MEASURED-NEXT: graph.matmul
// MEASURED-NEXT: graph.tanh
// MEASURED-NEXT: %[[R1:.*]] = graph.wait %[[F1]] {plan.id = "r1:ring_shift/wait"}
// MEASURED-NEXT: %[[F2:.*]] = graph.ring_shift_start
// MEASURED-NEXT: %[[R2:.*]] = graph.wait %[[F2]]
func.func @arrived(%x: tensor<4x8xf32>, %m: tensor<256x256xf32>) -> (tensor<4x8xf32>, tensor<256x256xf32>) {
  %r1 = graph.ring_shift %x {offset = 1 : i64, num_ranks = 2 : i64, plan.id = "r1:ring_shift"} : (tensor<4x8xf32>) -> tensor<4x8xf32>
  %r2 = graph.ring_shift %x {offset = 1 : i64, num_ranks = 2 : i64} : (tensor<4x8xf32>) -> tensor<4x8xf32>
  %p = graph.matmul %m, %m : (tensor<256x256xf32>, tensor<256x256xf32>) -> tensor<256x256xf32>
  %c = graph.tanh %x : tensor<4x8xf32>
  %u2 = graph.add %r2, %c : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  %u1 = graph.add %r1, %u2 : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  return %u1, %p : tensor<4x8xf32>, tensor<256x256xf32>
}

// A backward pass as sp-reduce-gradients and the optimizer leave it: each
// gradient's all_reduce right where it is complete, the update right after.
// The updates move after the rest of the backward pass (the matmul), so
// that the reductions hide behind it; the waits come once the reductions
// have arrived. With buckets of two gradients, a bucket's starts go
// together, right after its last gradient.
// CHECK-LABEL: func.func @gradient_buckets
// CHECK-NEXT: %[[G1:.*]] = graph.exp
// CHECK-NEXT: %[[F1:.*]] = graph.all_reduce_start %[[G1]]
// CHECK-NEXT: %[[G2:.*]] = graph.tanh %[[G1]]
// CHECK-NEXT: %[[F2:.*]] = graph.all_reduce_start %[[G2]]
// CHECK-NEXT: %[[G3:.*]] = graph.neg %[[G2]]
// CHECK-NEXT: %[[F3:.*]] = graph.all_reduce_start %[[G3]]
// CHECK-NEXT: %[[G4:.*]] = graph.abs %[[G3]]
// CHECK-NEXT: %[[F4:.*]] = graph.all_reduce_start %[[G4]]
// CHECK-NEXT: graph.matmul
// CHECK-NEXT: %[[R1:.*]] = graph.wait %[[F1]]
// CHECK-NEXT: %[[R2:.*]] = graph.wait %[[F2]]
// CHECK-NEXT: %[[R3:.*]] = graph.wait %[[F3]]
// CHECK-NEXT: %[[R4:.*]] = graph.wait %[[F4]]
// CHECK-NEXT: graph.sgd_update %arg1, %[[R1]]
// CHECK-NEXT: graph.sgd_update %arg2, %[[R2]]
// CHECK-NEXT: graph.sgd_update %arg3, %[[R3]]
// CHECK-NEXT: graph.sgd_update %arg4, %[[R4]]
// BUCKET-LABEL: func.func @gradient_buckets
// BUCKET-NEXT: %[[G1:.*]] = graph.exp
// BUCKET-NEXT: %[[G2:.*]] = graph.tanh %[[G1]]
// BUCKET-NEXT: %[[F1:.*]] = graph.all_reduce_start %[[G1]]
// BUCKET-NEXT: %[[F2:.*]] = graph.all_reduce_start %[[G2]]
// BUCKET-NEXT: %[[G3:.*]] = graph.neg %[[G2]]
// BUCKET-NEXT: %[[G4:.*]] = graph.abs %[[G3]]
// BUCKET-NEXT: %[[F3:.*]] = graph.all_reduce_start %[[G3]]
// BUCKET-NEXT: %[[F4:.*]] = graph.all_reduce_start %[[G4]]
// BUCKET-NEXT: graph.matmul
// BUCKET-NEXT: %[[R1:.*]] = graph.wait %[[F1]]
func.func @gradient_buckets(%x: tensor<4x8xf32>, %w1: tensor<4x8xf32>, %w2: tensor<4x8xf32>, %w3: tensor<4x8xf32>, %w4: tensor<4x8xf32>, %m: tensor<256x256xf32>) -> (tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<256x256xf32>) {
  %g1 = graph.exp %x : tensor<4x8xf32>
  %r1 = graph.all_reduce %g1 {num_ranks = 2 : i64} : (tensor<4x8xf32>) -> tensor<4x8xf32>
  %u1 = graph.sgd_update %w1, %r1 {learning_rate = 0.1 : f64, weight_decay = 0.0 : f64} : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  %g2 = graph.tanh %g1 : tensor<4x8xf32>
  %r2 = graph.all_reduce %g2 {num_ranks = 2 : i64} : (tensor<4x8xf32>) -> tensor<4x8xf32>
  %u2 = graph.sgd_update %w2, %r2 {learning_rate = 0.1 : f64, weight_decay = 0.0 : f64} : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  %g3 = graph.neg %g2 : tensor<4x8xf32>
  %r3 = graph.all_reduce %g3 {num_ranks = 2 : i64} : (tensor<4x8xf32>) -> tensor<4x8xf32>
  %u3 = graph.sgd_update %w3, %r3 {learning_rate = 0.1 : f64, weight_decay = 0.0 : f64} : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  %g4 = graph.abs %g3 : tensor<4x8xf32>
  %r4 = graph.all_reduce %g4 {num_ranks = 2 : i64} : (tensor<4x8xf32>) -> tensor<4x8xf32>
  %u4 = graph.sgd_update %w4, %r4 {learning_rate = 0.1 : f64, weight_decay = 0.0 : f64} : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  %p = graph.matmul %m, %m : (tensor<256x256xf32>, tensor<256x256xf32>) -> tensor<256x256xf32>
  return %u1, %u2, %u3, %u4, %p : tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<256x256xf32>
}

// A ring attention communicates inside its kernel, which hides its own
// traffic: what feeds it gains nothing from running early, so ops keep
// program order around it. Here the exp (micro-batch 0's backward, say)
// stays ahead of the tanh that feeds the next ring (micro-batch 1's
// forward), which would otherwise keep micro-batch 0's tensors alive.
// CHECK-LABEL: func.func @ring_kernels_in_program_order
// CHECK-NEXT: %[[O0:.*]], %{{.*}} = graph.ring_attention %arg0
// CHECK-NEXT: graph.exp %[[O0]]
// CHECK-NEXT: %[[T:.*]] = graph.tanh %arg1
// CHECK-NEXT: graph.ring_attention %[[T]]
func.func @ring_kernels_in_program_order(%q0: tensor<1x1x4x8xf32>, %q1: tensor<1x1x4x8xf32>, %g: tensor<4x8xf32>) -> (tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<4x8xf32>) {
  %o0, %l0 = graph.ring_attention %q0, %q0, %q0 {num_ranks = 2 : i64, scale = 0.5 : f64} : (tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>) -> (tensor<1x1x4x8xf32>, tensor<1x1x4xf32>)
  %b = graph.exp %o0 : tensor<1x1x4x8xf32>
  %c = graph.tanh %q1 : tensor<1x1x4x8xf32>
  %o1, %l1 = graph.ring_attention %c, %c, %c {num_ranks = 2 : i64, scale = 0.5 : f64} : (tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>) -> (tensor<1x1x4x8xf32>, tensor<1x1x4xf32>)
  %r = graph.all_reduce %g {num_ranks = 2 : i64} : (tensor<4x8xf32>) -> tensor<4x8xf32>
  return %b, %o1, %r : tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<4x8xf32>
}

// -----

// A collective reads a parameter's bytes until its wait, so the wait stays
// ahead of the update that the planner runs in place into those bytes (and
// its store); a global nothing writes does not hold a wait back. Loads and
// stores of one global keep their order.
// CHECK-LABEL: func.func @global_writes
// CHECK-NEXT: %[[W:.*]] = ml_program.global_load @w
// CHECK-NEXT: %[[FW:.*]] = graph.all_reduce_start %[[W]]
// CHECK-NEXT: %[[V:.*]] = ml_program.global_load @v
// CHECK-NEXT: %[[FV:.*]] = graph.all_reduce_start %[[V]]
// CHECK-NEXT: %[[N:.*]] = graph.neg
// CHECK-NEXT: %[[E:.*]] = graph.exp %[[N]]
// CHECK-NEXT: %[[RW:.*]] = graph.wait %[[FW]]
// CHECK-NEXT: %[[NW:.*]] = graph.sgd_update %[[W]]
// CHECK-NEXT: ml_program.global_store @w = %[[NW]]
// CHECK-NEXT: graph.add %[[RW]], %[[E]]
// CHECK-NEXT: %[[RV:.*]] = graph.wait %[[FV]]
// CHECK-NEXT: graph.add %[[RV]], %[[E]]
module {
  ml_program.global private mutable @w(dense<1.0> : tensor<4xf32>) : tensor<4xf32>
  ml_program.global private mutable @v(dense<1.0> : tensor<4xf32>) : tensor<4xf32>
  func.func @global_writes(%x: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>) {
    %w = ml_program.global_load @w : tensor<4xf32>
    %v = ml_program.global_load @v : tensor<4xf32>
    %rw = graph.all_reduce %w {num_ranks = 2 : i64} : (tensor<4xf32>) -> tensor<4xf32>
    %rv = graph.all_reduce %v {num_ranks = 2 : i64} : (tensor<4xf32>) -> tensor<4xf32>
    %n = graph.neg %x : tensor<4xf32>
    %nw = graph.sgd_update %w, %x {learning_rate = 0.1 : f64, weight_decay = 0.0 : f64} : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
    ml_program.global_store @w = %nw : tensor<4xf32>
    %e = graph.exp %n : tensor<4xf32>
    %uw = graph.add %rw, %e : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
    %uv = graph.add %rv, %e : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
    return %uw, %uv : tensor<4xf32>, tensor<4xf32>
  }
}

// -----

// A future must be started and waited for exactly once in one block.
func.func @never_waited(%x: tensor<4xf32>) {
  // expected-error @below {{gives a future that is not a collective's, waited for once in its block; the schedule cannot place it}}
  %f = graph.all_reduce_start %x {num_ranks = 2 : i64} : (tensor<4xf32>) -> !graph.future<tensor<4xf32>>
  return
}

// -----

func.func @foreign_future(%f: !graph.future<tensor<4xf32>>) -> tensor<4xf32> {
  // expected-error @below {{waits for a future not started in its block; the schedule cannot place it}}
  %r = graph.wait %f : !graph.future<tensor<4xf32>> -> tensor<4xf32>
  return %r : tensor<4xf32>
}
