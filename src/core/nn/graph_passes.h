/*
 * graph_passes.h: the rewrites sp_graph_prepare runs after constant folding
 * and pruning: batch normalisation folded into the convolution before it,
 * and activations fused into the convolution or GEMM that feeds them.
 */
#ifndef SP_NN_GRAPH_PASSES_H
#define SP_NN_GRAPH_PASSES_H

#include "nn/graph.h"

extern sp_status sp_graph_optimise(sp_graph *g, sp_error *err);

#endif							/* SP_NN_GRAPH_PASSES_H */
