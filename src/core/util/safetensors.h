/*
 * safetensors.h: strict reader and writer of the safetensors format
 * (huggingface/safetensors; see docs/model-format.md).
 *
 * Reader: validates the whole file before using any of it (header length
 * bounds, UTF-8 JSON object, known dtypes, shape x dtype size == byte span
 * with overflow checks, offsets that tile the data area exactly with no gaps
 * or overlaps, no duplicate names, __metadata__ a string->string map).  Any
 * violation is SP_ERR_CORRUPT naming the tensor; a valid file with a dtype
 * other than F32/F16/BF16 is SP_ERR_UNSUPPORTED.  Tensor data is copied out
 * into 64-byte-aligned float buffers (F16 and BF16 converted to F32), so
 * the input buffer may be freed afterwards and has no alignment requirement.
 *
 * Writer: F32 tensors plus optional __metadata__, header padded with spaces
 * to a multiple of 8 bytes (as the reference implementation does).
 */
#ifndef SP_SAFETENSORS_H
#define SP_SAFETENSORS_H

#include "util/sp_common.h"

#define SP_ST_MAX_HEADER ((uint64_t) 100000000)
#define SP_ST_MAX_DIMS 8

typedef enum sp_st_dtype
{
	SP_ST_F32 = 0,
	SP_ST_F16,
	SP_ST_BF16,
	SP_ST_OTHER					/* known to the format, not supported here */
} sp_st_dtype;

typedef struct sp_st_tensor
{
	const char *name;
	sp_st_dtype dtype;			/* dtype in the file (data is always F32 now) */
	int			ndim;
	int64_t		shape[SP_ST_MAX_DIMS];
	size_t		numel;
	float	   *data;			/* numel floats, 64-byte aligned (NULL: skipped dtype) */
	const char *dtype_name;		/* as in the file, e.g. "F32" */
} sp_st_tensor;

typedef struct sp_safetensors
{
	int			n_tensors;
	sp_st_tensor *tensors;		/* in file (data offset) order */
	int			n_meta;
	const char **meta_keys;
	const char **meta_values;
	void	   *storage;		/* internal: one block holding everything */
} sp_safetensors;

extern sp_status sp_st_read(const sp_env *env, const uint8_t *buf, size_t len,
							sp_safetensors **out, sp_error *err);
/*
 * Flags for sp_st_read_ex.  SP_ST_SKIP_UNSUPPORTED: tensors of dtypes other
 * than F32/F16/BF16 are listed (dtype SP_ST_OTHER) with data NULL instead of
 * failing the read (e.g. PyTorch's int64 batch-norm num_batches_tracked).
 */
#define SP_ST_SKIP_UNSUPPORTED 0x1
extern sp_status sp_st_read_ex(const sp_env *env, const uint8_t *buf, size_t len, int flags,
							   sp_safetensors **out, sp_error *err);
extern void sp_st_free(const sp_env *env, sp_safetensors *st);
extern const sp_st_tensor *sp_st_find(const sp_safetensors *st, const char *name);
extern const char *sp_st_meta(const sp_safetensors *st, const char *key);

/* A tensor to write: F32 data in row-major order. */
typedef struct sp_st_out_tensor
{
	const char *name;
	int			ndim;
	int64_t		shape[SP_ST_MAX_DIMS];
	const float *data;
} sp_st_out_tensor;

/*
 * Write tensors (in the given order) and metadata pairs; *out allocated with
 * env (free with sp_free).  Names must be unique and not "__metadata__".
 */
extern sp_status sp_st_write(const sp_env *env, const sp_st_out_tensor *tensors, int n,
							 const char *const *meta_keys, const char *const *meta_values,
							 int n_meta, uint8_t **out, size_t *out_len, sp_error *err);

/* IEEE half / bfloat16 to float (exact, including subnormals, inf, NaN). */
extern float sp_half_to_float(uint16_t h);
extern float sp_bf16_to_float(uint16_t h);

#endif							/* SP_SAFETENSORS_H */
