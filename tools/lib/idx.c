/*
 * idx.c: IDX (MNIST format) reader over zlib's gzread, which reads both
 * gzip-compressed and plain files.  Validates magic numbers and that the
 * declared sizes match the data present.
 */
#include "idx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

const char *const fashion_mnist_class_names[10] = {
	"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
	"Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"
};

static int
read_be32(gzFile f, uint32_t *v)
{
	unsigned char b[4];

	if (gzread(f, b, 4) != 4)
		return 0;
	*v = ((uint32_t) b[0] << 24) | ((uint32_t) b[1] << 16) | ((uint32_t) b[2] << 8) | b[3];
	return 1;
}

static sp_status
read_exact(gzFile f, void *buf, size_t len, const char *path, sp_error *err)
{
	size_t		done = 0;

	while (done < len)
	{
		unsigned	chunk = (len - done) > (1u << 30) ? (1u << 30) : (unsigned) (len - done);
		int			n = gzread(f, (char *) buf + done, chunk);

		if (n <= 0)
			return sp_set_error(err, SP_ERR_CORRUPT, "IDX file \"%s\" is truncated", path);
		done += (size_t) n;
	}
	return SP_OK;
}

sp_status
idx_read_images(const char *path, idx_images *out, sp_error *err)
{
	gzFile		f = gzopen(path, "rb");
	uint32_t	magic, n, rows, cols;
	size_t		total;
	sp_status	st;

	memset(out, 0, sizeof(*out));
	if (!f)
		return sp_set_error(err, SP_ERR_IO, "could not open IDX file \"%s\"", path);
	if (!read_be32(f, &magic) || magic != 0x00000803 ||
		!read_be32(f, &n) || !read_be32(f, &rows) || !read_be32(f, &cols))
	{
		gzclose(f);
		return sp_set_error(err, SP_ERR_CORRUPT, "\"%s\" is not an IDX3 ubyte image file", path);
	}
	if (n == 0 || n > 10000000 || rows == 0 || rows > 4096 || cols == 0 || cols > 4096 ||
		!sp_mul_size((size_t) n, (size_t) rows * cols, &total))
	{
		gzclose(f);
		return sp_set_error(err, SP_ERR_CORRUPT, "IDX file \"%s\" declares implausible sizes %ux%ux%u",
							path, n, rows, cols);
	}
	out->pixels = malloc(total);
	if (!out->pixels)
	{
		gzclose(f);
		return sp_set_error(err, SP_ERR_NOMEM, "out of memory reading \"%s\"", path);
	}
	st = read_exact(f, out->pixels, total, path, err);
	gzclose(f);
	if (st != SP_OK)
	{
		idx_free_images(out);
		return st;
	}
	out->count = (int) n;
	out->rows = (int) rows;
	out->cols = (int) cols;
	return SP_OK;
}

sp_status
idx_read_labels(const char *path, idx_labels *out, sp_error *err)
{
	gzFile		f = gzopen(path, "rb");
	uint32_t	magic, n;
	sp_status	st;

	memset(out, 0, sizeof(*out));
	if (!f)
		return sp_set_error(err, SP_ERR_IO, "could not open IDX file \"%s\"", path);
	if (!read_be32(f, &magic) || magic != 0x00000801 || !read_be32(f, &n) ||
		n == 0 || n > 10000000)
	{
		gzclose(f);
		return sp_set_error(err, SP_ERR_CORRUPT, "\"%s\" is not an IDX1 ubyte label file", path);
	}
	out->labels = malloc(n);
	if (!out->labels)
	{
		gzclose(f);
		return sp_set_error(err, SP_ERR_NOMEM, "out of memory reading \"%s\"", path);
	}
	st = read_exact(f, out->labels, n, path, err);
	gzclose(f);
	if (st != SP_OK)
	{
		idx_free_labels(out);
		return st;
	}
	out->count = (int) n;
	return SP_OK;
}

void
idx_free_images(idx_images *imgs)
{
	free(imgs->pixels);
	memset(imgs, 0, sizeof(*imgs));
}

void
idx_free_labels(idx_labels *labels)
{
	free(labels->labels);
	memset(labels, 0, sizeof(*labels));
}

sp_status
fashion_mnist_load(const char *dir, const char *split, idx_images *images,
				   idx_labels *labels, sp_error *err)
{
	char		ipath[1024], lpath[1024];
	sp_status	st;

	if (!dir)
		dir = FASHION_MNIST_DIR;
	if (strcmp(split, "train") != 0 && strcmp(split, "t10k") != 0)
		return sp_set_error(err, SP_ERR_INVALID_ARG, "unknown Fashion-MNIST split \"%s\"", split);
	snprintf(ipath, sizeof(ipath), "%s/%s-images-idx3-ubyte.gz", dir, split);
	snprintf(lpath, sizeof(lpath), "%s/%s-labels-idx1-ubyte.gz", dir, split);
	if ((st = idx_read_images(ipath, images, err)) != SP_OK)
		return st;
	if ((st = idx_read_labels(lpath, labels, err)) != SP_OK)
	{
		idx_free_images(images);
		return st;
	}
	if (images->count != labels->count)
	{
		idx_free_images(images);
		idx_free_labels(labels);
		return sp_set_error(err, SP_ERR_CORRUPT, "Fashion-MNIST %s has %d images but %d labels",
							split, images->count, labels->count);
	}
	return SP_OK;
}
