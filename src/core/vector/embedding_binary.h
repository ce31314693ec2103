/*
 * embedding_binary.h: the binary form of an embedding (COPY ... BINARY, the
 * extended protocol's binary parameters and results): a big-endian int16
 * dimension count, an int16 reserved field that must be 0, then that many
 * big-endian IEEE float32 values.  The SQL type's receive and send functions
 * (src/pg/embedding/embedding_type.c) turn the statuses into their errors;
 * the fuzzer test/fuzz/fuzz_embedding_binary.c attacks the reader here.
 */
#ifndef SP_EMBEDDING_BINARY_H
#define SP_EMBEDDING_BINARY_H

#include <stddef.h>
#include <stdint.h>

typedef enum sp_emb_bin_status
{
	SP_EMB_BIN_OK = 0,
	SP_EMB_BIN_SHORT_HEADER,	/* fewer than 4 bytes */
	SP_EMB_BIN_BAD_DIM,			/* dimension count outside 1..max_dim (res->dim) */
	SP_EMB_BIN_BAD_RESERVED,	/* reserved field not 0 (res->reserved) */
	SP_EMB_BIN_SHORT_VALUES		/* fewer than 4 * dim bytes after the header (res->avail) */
} sp_emb_bin_status;

typedef struct sp_emb_bin_header
{
	int			dim;
	int			reserved;
	size_t		avail;			/* bytes after the header */
	size_t		size;			/* bytes the whole embedding takes: 4 + 4 * dim */
} sp_emb_bin_header;

/* The bytes of an embedding of dim values. */
#define SP_EMB_BIN_SIZE(dim) ((size_t) 4 + (size_t) 4 * (size_t) (dim))

/*
 * Read and check the header of buf[0..len): on SP_EMB_BIN_OK every value is
 * there and sp_emb_bin_values may read them.  Nothing beyond hdr->size is
 * read; the caller decides whether trailing bytes are an error.
 */
extern sp_emb_bin_status sp_emb_bin_read_header(const uint8_t *buf, size_t len, int max_dim,
												sp_emb_bin_header *hdr);
/* The hdr->dim values of a checked buffer into out (NaN and infinities as they are). */
extern void sp_emb_bin_values(const uint8_t *buf, const sp_emb_bin_header *hdr, float *out);
/* Write dim values as SP_EMB_BIN_SIZE(dim) bytes into out. */
extern void sp_emb_bin_write(const float *x, int dim, uint8_t *out);

#endif							/* SP_EMBEDDING_BINARY_H */
