//===- GradientOpInterface.h - per-op gradient rules ------------*- C++ -*-===//

#ifndef SP_AUTODIFF_GRADIENTOPINTERFACE_H
#define SP_AUTODIFF_GRADIENTOPINTERFACE_H

#include "sp/Autodiff/GradientBuilder.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/OpDefinition.h"

#include "sp/Autodiff/GradientOpInterface.h.inc"

namespace sp::autodiff {

/// Attaches a GradientOpInterface model to every graph op that the importer
/// produces (a rule, or an explicit "no gradient" for ops of integer or
/// boolean values).
void registerGradientOpInterfaceExternalModels(mlir::DialectRegistry &registry);
/// The models of the fused ops sp-fuse creates (attention, rms_norm).
void registerFusedGradientModels(mlir::DialectRegistry &registry);
/// The models of the sequence-parallel ops: collectives (by their transposes)
/// and block_attention.
void registerCollectiveGradientModels(mlir::DialectRegistry &registry);
/// The model of ring_attention: its own backward ring, ring_attention_grad.
void registerRingAttentionGradientModels(mlir::DialectRegistry &registry);

} // namespace sp::autodiff

#endif // SP_AUTODIFF_GRADIENTOPINTERFACE_H
