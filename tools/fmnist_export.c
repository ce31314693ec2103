/*
 * fmnist_export.c: write Fashion-MNIST images as PostgreSQL COPY text rows,
 * so demos and tests can load real images into a table as PNG bytea.
 *
 *   fmnist_export [--split t10k|train] [--limit N] [--offset N] [--pixels] [--dir DIR]
 *
 * Columns: id (0-based index in the split), label (0-9), class name,
 * image (bytea, PNG), and with --pixels the raw pixels as an embedding
 * literal '[p0,...,p783]' scaled to 0..1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/image.h"
#include "idx.h"

static void
die(const sp_error *err)
{
	fprintf(stderr, "fmnist_export: %s\n", err->message);
	if (err->detail[0])
		fprintf(stderr, "DETAIL: %s\n", err->detail);
	exit(1);
}

int
main(int argc, char **argv)
{
	const char *split = "t10k";
	const char *dir = NULL;
	long		limit = -1, offset = 0;
	int			pixels = 0;
	idx_images	imgs;
	idx_labels	labels;
	sp_error	err;
	static const char hex[] = "0123456789abcdef";

	for (int i = 1; i < argc; i++)
	{
		if (strcmp(argv[i], "--split") == 0 && i + 1 < argc)
			split = argv[++i];
		else if (strcmp(argv[i], "--limit") == 0 && i + 1 < argc)
			limit = atol(argv[++i]);
		else if (strcmp(argv[i], "--offset") == 0 && i + 1 < argc)
			offset = atol(argv[++i]);
		else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
			dir = argv[++i];
		else if (strcmp(argv[i], "--pixels") == 0)
			pixels = 1;
		else
		{
			fprintf(stderr, "usage: %s [--split t10k|train] [--limit N] [--offset N] [--pixels] [--dir DIR]\n", argv[0]);
			return 2;
		}
	}

	if (fashion_mnist_load(dir, split, &imgs, &labels, &err) != SP_OK)
		die(&err);

	for (long n = offset; n < imgs.count && (limit < 0 || n < offset + limit); n++)
	{
		sp_image	img = {imgs.cols, imgs.rows, 1, imgs.pixels + (size_t) n * imgs.rows * imgs.cols};
		uint8_t    *png;
		size_t		png_len;

		if (sp_png_encode(sp_env_default(), &img, &png, &png_len, &err) != SP_OK)
			die(&err);
		printf("%ld\t%d\t%s\t\\\\x", n, labels.labels[n], fashion_mnist_class_names[labels.labels[n]]);
		for (size_t i = 0; i < png_len; i++)
		{
			putchar(hex[png[i] >> 4]);
			putchar(hex[png[i] & 15]);
		}
		sp_free(sp_env_default(), png);
		if (pixels)
		{
			size_t		npix = (size_t) imgs.rows * imgs.cols;

			putchar('\t');
			putchar('[');
			for (size_t i = 0; i < npix; i++)
				printf(i ? ",%.6g" : "%.6g", img.pixels[i] / 255.0);
			putchar(']');
		}
		putchar('\n');
	}
	idx_free_images(&imgs);
	idx_free_labels(&labels);
	return 0;
}
