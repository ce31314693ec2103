/*
 * idx.h: reader for the IDX files of (Fashion-)MNIST as shipped by Debian's
 * dataset-fashion-mnist package (the .gz files in /usr/share/datasets/fashion-mnist).
 * Used by the trainer, the evaluation tools and the demo's data exporter.
 */
#ifndef SP_TOOLS_IDX_H
#define SP_TOOLS_IDX_H

#include <stdint.h>

#include "util/sp_common.h"

#define FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"

typedef struct idx_images
{
	int			count;
	int			rows;
	int			cols;
	uint8_t    *pixels;			/* count * rows * cols, row-major */
} idx_images;

typedef struct idx_labels
{
	int			count;
	uint8_t    *labels;
} idx_labels;

/* Read a gzip-compressed (or plain) IDX3 ubyte image file. */
extern sp_status idx_read_images(const char *path, idx_images *out, sp_error *err);
/* Read a gzip-compressed (or plain) IDX1 ubyte label file. */
extern sp_status idx_read_labels(const char *path, idx_labels *out, sp_error *err);
extern void idx_free_images(idx_images *imgs);
extern void idx_free_labels(idx_labels *labels);

/* Fashion-MNIST split: "train" (60k) or "t10k" (10k), from dir (NULL = default). */
extern sp_status fashion_mnist_load(const char *dir, const char *split,
									idx_images *images, idx_labels *labels,
									sp_error *err);

extern const char *const fashion_mnist_class_names[10];

#endif							/* SP_TOOLS_IDX_H */
