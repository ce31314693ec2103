/*
 * embedding_binary.c: reading and writing the binary form of an embedding
 * (embedding_binary.h).  Byte order is explicit (network order, as
 * PostgreSQL's pq_getmsgint / pq_sendfloat4), whatever the host's.
 */
#include "vector/embedding_binary.h"

#include <string.h>

static uint32_t
be32(const uint8_t *p)
{
	return ((uint32_t) p[0] << 24) | ((uint32_t) p[1] << 16) | ((uint32_t) p[2] << 8) | (uint32_t) p[3];
}

static int
be16s(const uint8_t *p)
{
	return (int16_t) (uint16_t) (((unsigned) p[0] << 8) | (unsigned) p[1]);
}

sp_emb_bin_status
sp_emb_bin_read_header(const uint8_t *buf, size_t len, int max_dim, sp_emb_bin_header *hdr)
{
	memset(hdr, 0, sizeof(*hdr));
	if (len < 4)
		return SP_EMB_BIN_SHORT_HEADER;
	hdr->dim = be16s(buf);
	hdr->reserved = be16s(buf + 2);
	hdr->avail = len - 4;
	if (hdr->dim < 1 || hdr->dim > max_dim)
		return SP_EMB_BIN_BAD_DIM;
	if (hdr->reserved != 0)
		return SP_EMB_BIN_BAD_RESERVED;
	/* refuse before reading dim values that may not even be there */
	if (hdr->avail < (size_t) 4 * (size_t) hdr->dim)
		return SP_EMB_BIN_SHORT_VALUES;
	hdr->size = SP_EMB_BIN_SIZE(hdr->dim);
	return SP_EMB_BIN_OK;
}

void
sp_emb_bin_values(const uint8_t *buf, const sp_emb_bin_header *hdr, float *out)
{
	for (int i = 0; i < hdr->dim; i++)
	{
		uint32_t	u = be32(buf + 4 + (size_t) 4 * (size_t) i);

		memcpy(&out[i], &u, sizeof(float));
	}
}

void
sp_emb_bin_write(const float *x, int dim, uint8_t *out)
{
	out[0] = (uint8_t) ((unsigned) dim >> 8);
	out[1] = (uint8_t) dim;
	out[2] = out[3] = 0;
	for (int i = 0; i < dim; i++)
	{
		uint32_t	u;
		uint8_t    *p = out + 4 + (size_t) 4 * (size_t) i;

		memcpy(&u, &x[i], sizeof(float));
		p[0] = (uint8_t) (u >> 24);
		p[1] = (uint8_t) (u >> 16);
		p[2] = (uint8_t) (u >> 8);
		p[3] = (uint8_t) u;
	}
}
