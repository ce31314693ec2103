/*
 * hash.c: SHA-256 through libcrypto's one-shot SHA256() (not deprecated in
 * OpenSSL 3, unlike the SHA256_Init family), hex, and the model content hash.
 */
#include "util/hash.h"

#include <openssl/sha.h>

void
sp_sha256(const void *data, size_t len, uint8_t out[SP_SHA256_LEN])
{
	static const uint8_t empty = 0;

	/* SHA256() wants a readable pointer even for zero bytes */
	SHA256(len ? (const unsigned char *) data : &empty, len, out);
}

void
sp_hex(const uint8_t *bytes, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++)
	{
		out[2 * i] = digits[bytes[i] >> 4];
		out[2 * i + 1] = digits[bytes[i] & 15];
	}
	out[2 * n] = '\0';
}

void
sp_model_content_hash(const void *config, size_t config_len,
					  const void *weights, size_t weights_len,
					  char out[SP_HASH_HEX_LEN])
{
	uint8_t		both[2 * SP_SHA256_LEN];
	uint8_t		h[SP_SHA256_LEN];

	sp_sha256(config, config_len, both);
	sp_sha256(weights, weights_len, both + SP_SHA256_LEN);
	sp_sha256(both, sizeof both, h);
	sp_hex(h, SP_SHA256_LEN, out);
}
