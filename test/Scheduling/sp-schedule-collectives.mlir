// RUN: sp-opt %s --split-input-file --verify-diagnostics --pass-pipeline='builtin.module(func.func(sp-schedule-collectives))' | FileCheck %s
// RUN: sp-opt %s --split-input-file --verify-diagnostics --pass-pipeline='builtin.module(func.func(sp-schedule-collectives{max-in-flight=1}))' | FileCheck %s --check-prefix=ONE
// The same limit through bytes: each all_reduce of 4x8xf32 holds 256 (input and result).
// RUN: sp-opt %s --split-input-file --verify-diagnostics --pass-pipeline='builtin.module(func.func(sp-schedule-collectives{max-in-flight-bytes=256}))' | FileCheck %s --check-prefix=ONE
// RUN: sp-opt %s --split-input-file --verify-diagnostics --pass-pipeline='builtin.module(func.func(sp-schedule-collectives{max-in-flight=2}))' | FileCheck %s --check-prefix=TWO
// RUN: sp-opt %s --split-input-file --verify-diagnostics --pass-pipeline='builtin.module(func.func(sp-schedule-collectives{overlap-margin=0}))' | FileCheck %s --check-prefix=LATE
// RUN: not sp-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(sp-schedule-collectives{max-in-flight=0}))' 2>&1 | FileCheck %s --check-prefix=ZERO

// ZERO: error: max-in-flight must be at least 1, got 0

// The start goes right after its input's definition, ahead of the compute
// that does not need it; the wait goes right before the first reader. With
// no compute required before a wait (overlap-margin=0), the start stays by
// its wait.
// CHECK-LABEL: func.func @hoist_and_sink
// CHECK-NEXT: %[[A:.*]] = graph.matmul
// CHECK-NEXT: %[[F:.*]] = graph.all_gather_start %[[A]] {axis = 0 : i64, num_ranks = 2 : i64} : (tensor<4x8xf32>) -> !graph.future<tensor<8x8xf32>>
// CHECK-NEXT: graph.exp
// CHECK-NEXT: graph.tanh
// CHECK-NEXT: %[[G:.*]] = graph.wait %[[F]] : !graph.future<tensor<8x8xf32>> -> tensor<8x8xf32>
// CHECK-NEXT: graph.add %[[G]], %[[G]]
// CHECK-NOT: graph.all_gather
// LATE-LABEL: func.func @hoist_and_sink
// LATE-NEXT: graph.matmul
// LATE-NEXT: graph.exp
// LATE-NEXT: graph.tanh
// LATE-NEXT: graph.all_gather_start
// LATE-NEXT: graph.wait
// LATE-NEXT: graph.add
func.func @hoist_and_sink(%x: tensor<4x8xf32>, %w: tensor<8x8xf32>) -> (tensor<8x8xf32>, tensor<4x8xf32>) {
  %a = graph.matmul %x, %w : (tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32>
  %b = graph.exp %x : tensor<4x8xf32>
  %g = graph.all_gather %a {axis = 0 : i64, num_ranks = 2 : i64} : (tensor<4x8xf32>) -> tensor<8x8xf32>
  %c = graph.tanh %b : tensor<4x8xf32>
  %d = graph.add %g, %g : (tensor<8x8xf32>, tensor<8x8xf32>) -> tensor<8x8xf32>
  return %d, %c : tensor<8x8xf32>, tensor<4x8xf32>
}

// Starts keep their program order, the same on every rank: the second
// all_reduce's input is ready first, yet it starts after the first. Waits
// follow their readers.
// CHECK-LABEL: func.func @start_order
// CHECK-NEXT: %[[A:.*]] = graph.exp
// CHECK-NEXT: %[[B:.*]] = graph.tanh
// CHECK-NEXT: %[[F1:.*]] = graph.all_reduce_start %[[B]]
// CHECK-NEXT: %[[F2:.*]] = graph.all_reduce_start %[[A]]
// CHECK-NEXT: %[[C:.*]] = graph.neg
// CHECK-NEXT: %[[R2:.*]] = graph.wait %[[F2]]
// CHECK-NEXT: %[[D:.*]] = graph.add %[[R2]], %[[C]]
// CHECK-NEXT: %[[R1:.*]] = graph.wait %[[F1]]
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

// Three all_reduces ready at once, read one after another. Unbounded (4),
// all three are in flight together; with one at a time, each next start
// follows the previous wait; with two, the third starts once the first is
// waited for.
// CHECK-LABEL: func.func @in_flight
// CHECK-NEXT: %[[F1:.*]] = graph.all_reduce_start
// CHECK-NEXT: %[[F2:.*]] = graph.all_reduce_start
// CHECK-NEXT: %[[F3:.*]] = graph.all_reduce_start
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
// ONE-NEXT: %[[F1:.*]] = graph.all_reduce_start
// ONE-NEXT: graph.tanh
// ONE-NEXT: graph.wait %[[F1]]
// ONE-NEXT: %[[F2:.*]] = graph.all_reduce_start
// ONE-NEXT: graph.add
// ONE-NEXT: graph.exp
// ONE-NEXT: graph.wait %[[F2]]
// ONE-NEXT: %[[F3:.*]] = graph.all_reduce_start
// ONE-NEXT: graph.add
// ONE-NEXT: graph.neg
// ONE-NEXT: graph.wait %[[F3]]
// ONE-NEXT: graph.add
// TWO-LABEL: func.func @in_flight
// TWO-NEXT: %[[F1:.*]] = graph.all_reduce_start
// TWO-NEXT: %[[F2:.*]] = graph.all_reduce_start
// TWO-NEXT: graph.tanh
// TWO-NEXT: graph.wait %[[F1]]
// TWO-NEXT: %[[F3:.*]] = graph.all_reduce_start
// TWO-NEXT: graph.add
// TWO-NEXT: graph.exp
// TWO-NEXT: graph.wait %[[F2]]
// TWO-NEXT: graph.add
// TWO-NEXT: graph.neg
// TWO-NEXT: graph.wait %[[F3]]
// TWO-NEXT: graph.add
func.func @in_flight(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %r1 = graph.all_reduce %x {num_ranks = 2 : i64} : (tensor<4x8xf32>) -> tensor<4x8xf32>
  %r2 = graph.all_reduce %x {num_ranks = 2 : i64} : (tensor<4x8xf32>) -> tensor<4x8xf32>
  %r3 = graph.all_reduce %x {num_ranks = 2 : i64} : (tensor<4x8xf32>) -> tensor<4x8xf32>
  %c1 = graph.tanh %x : tensor<4x8xf32>
  %u1 = graph.add %r1, %c1 : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  %c2 = graph.exp %u1 : tensor<4x8xf32>
  %u2 = graph.add %r2, %c2 : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  %c3 = graph.neg %u2 : tensor<4x8xf32>
  %u3 = graph.add %r3, %c3 : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  return %u3 : tensor<4x8xf32>
}

// A collective of a collective's result (here already started and waited
// at once) starts right after that wait, which stays at its first reader.
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

// An op with unknown side effects (a call) bounds both moves.
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
// hides a 128-byte all_reduce (2 steps of 5 us) twice over, so the start
// goes right before it rather than up to its input, and holds its bytes
// no longer than needed.
// CHECK-LABEL: func.func @enough_compute
// CHECK-NEXT: %[[A:.*]] = graph.exp
// CHECK-NEXT: graph.tanh
// CHECK-NEXT: graph.neg
// CHECK-NEXT: %[[F:.*]] = graph.all_reduce_start %[[A]]
// CHECK-NEXT: graph.matmul
// CHECK-NEXT: graph.wait %[[F]]
func.func @enough_compute(%x: tensor<4x8xf32>, %m: tensor<256x256xf32>) -> (tensor<4x8xf32>, tensor<256x256xf32>) {
  %a = graph.exp %x : tensor<4x8xf32>
  %b = graph.tanh %a : tensor<4x8xf32>
  %r = graph.all_reduce %a {num_ranks = 2 : i64} : (tensor<4x8xf32>) -> tensor<4x8xf32>
  %c = graph.neg %b : tensor<4x8xf32>
  %p = graph.matmul %m, %m : (tensor<256x256xf32>, tensor<256x256xf32>) -> tensor<256x256xf32>
  %d = graph.add %r, %c : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  return %d, %p : tensor<4x8xf32>, tensor<256x256xf32>
}

// One in flight at a time: the second all_reduce need not wait for the
// first one's reader, since the 340 us matmul has given the first time to
// arrive; it takes the slot at once and overlaps the tanh.
// ONE-LABEL: func.func @arrived
// ONE-NEXT: %[[F1:.*]] = graph.all_reduce_start
// ONE-NEXT: graph.matmul
// ONE-NEXT: %[[R1:.*]] = graph.wait %[[F1]]
// ONE-NEXT: %[[F2:.*]] = graph.all_reduce_start
// ONE-NEXT: graph.tanh
// ONE-NEXT: %[[R2:.*]] = graph.wait %[[F2]]
// ONE-NEXT: %[[U2:.*]] = graph.add %[[R2]]
// ONE-NEXT: graph.add %[[R1]], %[[U2]]
func.func @arrived(%x: tensor<4x8xf32>, %m: tensor<256x256xf32>) -> (tensor<4x8xf32>, tensor<256x256xf32>) {
  %r1 = graph.all_reduce %x {num_ranks = 2 : i64} : (tensor<4x8xf32>) -> tensor<4x8xf32>
  %r2 = graph.all_reduce %x {num_ranks = 2 : i64} : (tensor<4x8xf32>) -> tensor<4x8xf32>
  %p = graph.matmul %m, %m : (tensor<256x256xf32>, tensor<256x256xf32>) -> tensor<256x256xf32>
  %c = graph.tanh %x : tensor<4x8xf32>
  %u2 = graph.add %r2, %c : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  %u1 = graph.add %r1, %u2 : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  return %u1, %p : tensor<4x8xf32>, tensor<256x256xf32>
}

// -----

// A collective reads a parameter's bytes until its wait, so the wait stays
// ahead of the update that the planner runs in place into those bytes (and
// its store); a global nothing writes does not hold a wait back. Loads and
// stores keep their order.
// CHECK-LABEL: func.func @global_writes
// CHECK-NEXT: %[[W:.*]] = ml_program.global_load @w
// CHECK-NEXT: %[[FW:.*]] = graph.all_reduce_start %[[W]]
// CHECK-NEXT: %[[V:.*]] = ml_program.global_load @v
// CHECK-NEXT: %[[FV:.*]] = graph.all_reduce_start %[[V]]
// CHECK-NEXT: graph.neg
// CHECK-NEXT: %[[RW:.*]] = graph.wait %[[FW]]
// CHECK-NEXT: %[[NW:.*]] = graph.sgd_update %[[W]]
// CHECK-NEXT: ml_program.global_store @w = %[[NW]]
// CHECK-NEXT: graph.exp
// CHECK-NEXT: graph.add %[[RW]]
// CHECK-NEXT: %[[RV:.*]] = graph.wait %[[FV]]
// CHECK-NEXT: graph.add %[[RV]]
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
