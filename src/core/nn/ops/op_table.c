/*
 * op_table.c: the one table of ops (nn/op.h).  An op is one row here and its
 * functions in the nn/ops/ file of its family.
 */
#include "nn/op.h"

#include <string.h>

/* elementwise.c */
extern const sp_op_def sp_op_Relu, sp_op_LeakyRelu, sp_op_Elu, sp_op_Sigmoid, sp_op_HardSigmoid,
			sp_op_HardSwish, sp_op_Tanh, sp_op_Erf, sp_op_Gelu, sp_op_Softplus, sp_op_Sqrt, sp_op_Exp,
			sp_op_Log, sp_op_Neg, sp_op_Abs, sp_op_Reciprocal, sp_op_Clip, sp_op_Identity, sp_op_Dropout,
			sp_op_Cast, sp_op_Add, sp_op_Sub, sp_op_Mul, sp_op_Div, sp_op_Pow, sp_op_PRelu, sp_op_Max,
			sp_op_Min, sp_op_Sum, sp_op_Mean, sp_op_Equal, sp_op_Less, sp_op_Greater, sp_op_Where;

/* conv.c, gemm.c, pool.c, direct_chain.c */
extern const sp_op_def sp_op_SiameseDirectChain;
extern const sp_op_def sp_op_Conv, sp_op_Gemm, sp_op_MatMul, sp_op_MaxPool, sp_op_AveragePool,
			sp_op_GlobalAveragePool, sp_op_GlobalMaxPool;

/* shape.c */
extern const sp_op_def sp_op_Shape, sp_op_Size, sp_op_Constant, sp_op_ConstantOfShape, sp_op_Range,
			sp_op_Reshape, sp_op_Flatten, sp_op_Squeeze, sp_op_Unsqueeze, sp_op_Transpose, sp_op_Concat,
			sp_op_Split, sp_op_Slice, sp_op_Gather, sp_op_Pad, sp_op_Expand, sp_op_Tile, sp_op_Not;

/* norm.c */
extern const sp_op_def sp_op_BatchNormalization, sp_op_InstanceNormalization,
			sp_op_LayerNormalization, sp_op_LpNormalization, sp_op_SiameseL2Norm, sp_op_Softmax,
			sp_op_LogSoftmax;

/* reduce.c */
extern const sp_op_def sp_op_ReduceSum, sp_op_ReduceMean, sp_op_ReduceMax, sp_op_ReduceMin,
			sp_op_ReduceProd, sp_op_ReduceL1, sp_op_ReduceL2, sp_op_ReduceSumSquare,
			sp_op_ReduceLogSum, sp_op_ReduceLogSumExp, sp_op_ArgMax, sp_op_ArgMin;

static const sp_op_def *const op_table[] = {
	/* conv.c, gemm.c, pool.c */
	&sp_op_Conv, &sp_op_Gemm, &sp_op_MatMul, &sp_op_MaxPool, &sp_op_AveragePool,
	&sp_op_GlobalAveragePool, &sp_op_GlobalMaxPool, &sp_op_SiameseDirectChain,
	/* elementwise.c */
	&sp_op_Relu, &sp_op_LeakyRelu, &sp_op_Elu, &sp_op_Sigmoid, &sp_op_HardSigmoid, &sp_op_HardSwish,
	&sp_op_Tanh, &sp_op_Erf, &sp_op_Gelu, &sp_op_Softplus, &sp_op_Sqrt, &sp_op_Exp, &sp_op_Log,
	&sp_op_Neg, &sp_op_Abs, &sp_op_Reciprocal, &sp_op_Clip, &sp_op_Identity, &sp_op_Dropout,
	&sp_op_Cast, &sp_op_Add, &sp_op_Sub, &sp_op_Mul, &sp_op_Div, &sp_op_Pow, &sp_op_PRelu,
	&sp_op_Max, &sp_op_Min, &sp_op_Sum, &sp_op_Mean, &sp_op_Equal, &sp_op_Less, &sp_op_Greater, &sp_op_Where,
	/* shape.c */
	&sp_op_Shape, &sp_op_Size, &sp_op_Constant, &sp_op_ConstantOfShape, &sp_op_Range, &sp_op_Reshape,
	&sp_op_Flatten, &sp_op_Squeeze, &sp_op_Unsqueeze, &sp_op_Transpose, &sp_op_Concat, &sp_op_Split,
	&sp_op_Slice, &sp_op_Gather, &sp_op_Pad, &sp_op_Expand, &sp_op_Tile, &sp_op_Not,
	/* norm.c */
	&sp_op_BatchNormalization, &sp_op_InstanceNormalization, &sp_op_LayerNormalization,
	&sp_op_LpNormalization, &sp_op_SiameseL2Norm, &sp_op_Softmax, &sp_op_LogSoftmax,
	/* reduce.c */
	&sp_op_ReduceSum, &sp_op_ReduceMean, &sp_op_ReduceMax, &sp_op_ReduceMin, &sp_op_ReduceProd,
	&sp_op_ReduceL1, &sp_op_ReduceL2, &sp_op_ReduceSumSquare, &sp_op_ReduceLogSum,
	&sp_op_ReduceLogSumExp, &sp_op_ArgMax, &sp_op_ArgMin,
	NULL
};

const sp_op_def *
sp_op_lookup(const char *name)
{
	for (int i = 0; op_table[i]; i++)
		if (strcmp(op_table[i]->name, name) == 0)
			return op_table[i];
	return NULL;
}

const sp_op_def *const *
sp_op_table(void)
{
	return op_table;
}
