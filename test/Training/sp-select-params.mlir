// RUN: sp-opt %s --sp-select-params | FileCheck %s --check-prefix=ALL
// RUN: sp-opt %s --sp-select-params="params=*.weight frozen=embed.*" | FileCheck %s --check-prefix=GLOB
// RUN: not sp-opt %s --sp-select-params="params=nothing.*" 2>&1 | FileCheck %s --check-prefix=NOMATCH
// RUN: not sp-opt %s --sp-select-params="frozen=*" 2>&1 | FileCheck %s --check-prefix=NONE

// Float initializers of rank >= 1 are candidates; integer tables and scalars
// stay constants whatever the globs say.
// ALL-LABEL: module
// ALL-DAG: ml_program.global private mutable @embed.weight
// ALL-DAG: ml_program.global private mutable @proj.weight
// ALL-DAG: ml_program.global private mutable @proj.bias
// ALL-DAG: ml_program.global private @positions(
// ALL-DAG: ml_program.global private @scale(
// ALL-LABEL: func.func @main
// ALL: ml_program.global_load @embed.weight
// ALL: ml_program.global_load @proj.weight
// ALL: ml_program.global_load @proj.bias
// ALL: ml_program.global_load_const @positions
// ALL: ml_program.global_load_const @scale

// GLOB-DAG: ml_program.global private @embed.weight(
// GLOB-DAG: ml_program.global private mutable @proj.weight
// GLOB-DAG: ml_program.global private @proj.bias(
// GLOB-LABEL: func.func @main
// GLOB: ml_program.global_load_const @embed.weight
// GLOB: ml_program.global_load @proj.weight
// GLOB: ml_program.global_load_const @proj.bias

// NOMATCH: error: --params 'nothing.*' matches no float initializer of rank >= 1

// NONE: error: no trainable parameters

module {
  ml_program.global private @embed.weight(dense<1.0> : tensor<4x2xf32>) : tensor<4x2xf32>
  ml_program.global private @proj.weight(dense<1.0> : tensor<2x2xf32>) : tensor<2x2xf32>
  ml_program.global private @proj.bias(dense<0.5> : tensor<2xf32>) : tensor<2xf32>
  ml_program.global private @positions(dense<[0, 1, 2]> : tensor<3xi64>) : tensor<3xi64>
  ml_program.global private @scale(dense<2.0> : tensor<f32>) : tensor<f32>
  func.func @main(%ids: tensor<1x3xi64>) -> (tensor<1x3x2xf32>, tensor<3xi64>) {
    %e = ml_program.global_load_const @embed.weight : tensor<4x2xf32>
    %w = ml_program.global_load_const @proj.weight : tensor<2x2xf32>
    %b = ml_program.global_load_const @proj.bias : tensor<2xf32>
    %p = ml_program.global_load_const @positions : tensor<3xi64>
    %s = ml_program.global_load_const @scale : tensor<f32>
    %x = graph.gather %e, %ids {axis = 0 : i64} : (tensor<4x2xf32>, tensor<1x3xi64>) -> tensor<1x3x2xf32>
    %h = graph.matmul %x, %w : (tensor<1x3x2xf32>, tensor<2x2xf32>) -> tensor<1x3x2xf32>
    %y = graph.add %h, %b : (tensor<1x3x2xf32>, tensor<2xf32>) -> tensor<1x3x2xf32>
    %z = graph.mul %y, %s : (tensor<1x3x2xf32>, tensor<f32>) -> tensor<1x3x2xf32>
    return %z, %p : tensor<1x3x2xf32>, tensor<3xi64>
  }
}
