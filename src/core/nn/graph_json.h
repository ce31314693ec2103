/*
 * graph_json.h: the "graph" object of a format-2 model config (graph_json.c
 * and docs/model-format.md): write a graph, read one back.
 */
#ifndef SP_NN_GRAPH_JSON_H
#define SP_NN_GRAPH_JSON_H

#include "nn/graph.h"
#include "util/json.h"
#include "util/safetensors.h"

/*
 * Write the live nodes of g (prepared with SP_GRAPH_PREPARE_PORTABLE) as a
 * "graph" object into w.  *tensors (allocated with g->env; the data points
 * into g) receives the float constants to store in the safetensors file.
 */
extern sp_status sp_graph_write_json(const sp_graph *g, sp_jsonw *w, sp_st_out_tensor **tensors,
									 int *n_tensors, sp_error *err);

/* Build an unprepared graph from a "graph" object and the model's tensors. */
extern sp_status sp_graph_read_json(const sp_env *env, const sp_json *obj, const sp_safetensors *st,
									sp_graph **out, sp_error *err);

#endif							/* SP_NN_GRAPH_JSON_H */
