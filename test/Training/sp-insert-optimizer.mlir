// RUN: sp-opt %s --sp-insert-optimizer | FileCheck %s --check-prefix=ADAMW
// RUN: sp-opt %s --sp-insert-optimizer="kind=sgd lr=0.5" | FileCheck %s --check-prefix=SGD
// RUN: sp-opt %s --sp-insert-optimizer="lr-schedule=cosine warmup-steps=2 total-steps=10 min-lr=1e-4" | FileCheck %s --check-prefix=COSINE
// RUN: sp-opt %s --sp-insert-optimizer="kind=sgd lr=0.5 lr-schedule=linear total-steps=4" | FileCheck %s --check-prefix=LINEAR

// AdamW: zero-initialized moments per parameter, one step counter, updates
// stored back after everything else.
// ADAMW-LABEL: module attributes {graph.optimizer = {beta1 = 9.000000e-01 : f64, beta2 = {{.*}} : f64, epsilon = 1.000000e-08 : f64, kind = "adamw", learning_rate = 1.000000e-03 : f64, weight_decay = 1.000000e-02 : f64}}
// ADAMW: ml_program.global private mutable @w(
// ADAMW-NEXT: ml_program.global private mutable @w.exp_avg(dense<0.000000e+00> : tensor<2x2xf32>) : tensor<2x2xf32> {graph.state_of = @w}
// ADAMW-NEXT: ml_program.global private mutable @w.exp_avg_sq(dense<0.000000e+00> : tensor<2x2xf32>) : tensor<2x2xf32> {graph.state_of = @w}
// ADAMW-LABEL: func.func @main
// ADAMW: graph.reduce_sum
// ADAMW: %[[STEP0:.*]] = ml_program.global_load @sp.step
// ADAMW: %[[STEP:.*]] = graph.add %[[STEP0]], %{{.*}}
// ADAMW: ml_program.global_store @sp.step = %[[STEP]]
// ADAMW: %[[P:.*]] = ml_program.global_load @w
// ADAMW: %[[M:.*]] = ml_program.global_load @w.exp_avg :
// ADAMW: %[[V:.*]] = ml_program.global_load @w.exp_avg_sq
// ADAMW: %[[NP:.*]], %[[NM:.*]], %[[NV:.*]] = graph.adamw_update %[[P]], %[[G:.*]], %[[M]], %[[V]], %[[STEP]] {beta1 = 9.000000e-01 : f64, beta2 = {{.*}} : f64, epsilon = 1.000000e-08 : f64, learning_rate = 1.000000e-03 : f64, weight_decay = 1.000000e-02 : f64}
// ADAMW: ml_program.global_store @w = %[[NP]]
// ADAMW: ml_program.global_store @w.exp_avg = %[[NM]]
// ADAMW: ml_program.global_store @w.exp_avg_sq = %[[NV]]
// ADAMW: return
// ADAMW: ml_program.global private mutable @sp.step(dense<0> : tensor<i64>) : tensor<i64> {graph.step_counter}

// SGD-LABEL: module attributes {graph.optimizer = {kind = "sgd", learning_rate = 5.000000e-01 : f64, weight_decay = 0.000000e+00 : f64}}
// SGD-NOT: exp_avg
// SGD-NOT: sp.step
// SGD-LABEL: func.func @main
// SGD: graph.reduce_sum
// SGD: %[[P:.*]] = ml_program.global_load @w
// SGD: %[[NEW:.*]] = graph.sgd_update %[[P]], %{{.*}} {learning_rate = 5.000000e-01 : f64, weight_decay = 0.000000e+00 : f64}
// SGD: ml_program.global_store @w = %[[NEW]]
// A schedule reads the step count before this update and feeds every
// update; the rate is returned, marked graph.learning_rate, and the settings
// are recorded with the optimizer's.
// COSINE-LABEL: module attributes {graph.optimizer = {{{.*}}kind = "adamw", learning_rate = 1.000000e-03 : f64, lr_schedule = "cosine", min_learning_rate = 1.000000e-04 : f64, total_steps = 10 : i64, warmup_steps = 2 : i64, weight_decay = {{.*}}}}
// COSINE-LABEL: func.func @main
// COSINE-SAME: -> (tensor<f32> {graph.loss}, tensor<2x2xf32> {graph.gradient_of = @w}, tensor<f64> {graph.learning_rate})
// COSINE: %[[DONE:.*]] = ml_program.global_load @sp.step
// COSINE: %[[STEP:.*]] = graph.add %[[DONE]], %{{.*}}
// COSINE: %[[LR:.*]] = graph.lr_schedule %[[DONE]] {kind = "cosine", learning_rate = 1.000000e-03 : f64, min_learning_rate = 1.000000e-04 : f64, total_steps = 10 : i64, warmup_steps = 2 : i64} : (tensor<i64>) -> tensor<f64>
// COSINE: ml_program.global_store @sp.step = %[[STEP]]
// COSINE: graph.adamw_update %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[STEP]] lr %[[LR]] {
// COSINE: return %{{.*}}, %{{.*}}, %[[LR]] :

// SGD gets a step counter for the schedule.
// LINEAR-LABEL: func.func @main
// LINEAR: %[[DONE:.*]] = ml_program.global_load @sp.step
// LINEAR: %[[LR:.*]] = graph.lr_schedule %[[DONE]] {kind = "linear", learning_rate = 5.000000e-01 : f64, min_learning_rate = 0.000000e+00 : f64, total_steps = 4 : i64, warmup_steps = 0 : i64}
// LINEAR: graph.sgd_update %{{.*}}, %{{.*}} lr %[[LR]] {learning_rate = 5.000000e-01 : f64
// LINEAR: ml_program.global private mutable @sp.step(dense<0> : tensor<i64>) : tensor<i64> {graph.step_counter}
module {
  ml_program.global private mutable @w(dense<1.0> : tensor<2x2xf32>) : tensor<2x2xf32>
  func.func @main(%x: tensor<2x2xf32>) -> (tensor<f32> {graph.loss}, tensor<2x2xf32> {graph.gradient_of = @w}) {
    %w = ml_program.global_load @w : tensor<2x2xf32>
    %y = graph.mul %x, %w : (tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x2xf32>
    %l = graph.reduce_sum %y {axes = array<i64>, keep_dims = false} : (tensor<2x2xf32>) -> tensor<f32>
    return %l, %x : tensor<f32>, tensor<2x2xf32>
  }
}
