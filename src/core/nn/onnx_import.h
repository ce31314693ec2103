/*
 * onnx_import.h: an ONNX ModelProto (opsets 11-18 of the default domain)
 * into an operator graph (graph.h).
 *
 * The protobuf is parsed by protobuf-c with code generated at build time
 * from Debian's onnx.proto; allocations go through the caller's sp_env and
 * are capped at a budget proportional to the file, so a hostile file cannot
 * ask for unbounded memory.  Only the nodes the chosen output needs are
 * imported, so a classifier head after the features, or an op we lack in a
 * branch the output does not use, does not matter.  Everything that cannot
 * run is refused here, at import, with the op, the node and the opset in
 * the message: unknown ops, other domains, external-data tensors, element
 * types other than float32 / int64 / bool (int32 and int8/uint8 constants
 * are widened to int64), sparse initializers, subgraphs.
 */
#ifndef SP_NN_ONNX_IMPORT_H
#define SP_NN_ONNX_IMPORT_H

#include "nn/graph.h"

/* Largest ONNX file accepted (protobuf's own limit is 2 GiB). */
#define SP_ONNX_MAX_BYTES ((size_t) 1 << 31)

typedef struct sp_onnx_info
{
	int64_t		ir_version;
	int64_t		opset;			/* of the default domain */
	char		producer[64];	/* "pytorch 1.13.0" */
	int			n_nodes_file;	/* nodes in the file */
	int			n_nodes_used;	/* imported (needed by the chosen outputs) */
} sp_onnx_info;

/*
 * Import buf.  outputs: names of the graph outputs wanted (any tensor of the
 * graph, e.g. the pooled features before a classifier head); n_outputs 0
 * takes every output the file declares.  Every graph input that is not an
 * initializer becomes a graph input of the result, in file order.  info may
 * be NULL.  The graph is not prepared.
 */
extern sp_status sp_onnx_import(const sp_env *env, const uint8_t *buf, size_t len,
								const char *const *outputs, int n_outputs,
								sp_graph **out, sp_onnx_info *info, sp_error *err);

/*
 * A TensorProto (the conformance suite's input_N.pb / output_N.pb files)
 * into a newly allocated buffer (sp_free with env) of dtype and shape.
 */
extern sp_status sp_onnx_read_tensor(const sp_env *env, const uint8_t *buf, size_t len,
									 sp_dtype *dtype, sp_shape *shape, void **data,
									 sp_error *err);

#endif							/* SP_NN_ONNX_IMPORT_H */
