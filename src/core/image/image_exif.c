/*
 * image_exif.c: the EXIF orientation of a JPEG APP1 segment.
 *
 * Layout read (TIFF 6.0 / Exif 2.3): "Exif\0\0", then a TIFF header ("II"
 * little-endian or "MM" big-endian, the number 42, the 32-bit offset of
 * IFD0 from the start of the TIFF header), then IFD0: a 16-bit entry count
 * and 12-byte entries (tag 16, type 16, count 32, value or offset 32).
 * Orientation is tag 0x0112, type SHORT (3; LONG 4 is accepted too), count
 * 1, value inline.
 *
 * The data is hostile: every read is bounds-checked against len before it
 * happens, the whole IFD0 must lie inside the segment or it is ignored, and
 * only IFD0 is read (no next-IFD or sub-IFD pointers are followed, so
 * pointer loops cannot arise).  Anything unexpected gives 1.  Like PIL, the
 * last Orientation entry of IFD0 counts.
 */
#include "image/image.h"

#include <string.h>

#define EXIF_TAG_ORIENTATION 0x0112
#define TIFF_SHORT 3
#define TIFF_LONG 4

static uint32_t
rd16(const uint8_t *p, int le)
{
	return le ? (uint32_t) p[0] | (uint32_t) p[1] << 8 : (uint32_t) p[0] << 8 | (uint32_t) p[1];
}

static uint32_t
rd32(const uint8_t *p, int le)
{
	return le ? (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24
		: (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | (uint32_t) p[3];
}

int
sp_exif_orientation(const uint8_t *data, size_t len)
{
	const uint8_t *t;
	size_t		n;
	int			le;
	uint32_t	ifd,
				count;
	int			orientation = 1;

	if (!data || len < 6 || memcmp(data, "Exif\0\0", 6) != 0)
		return 1;
	t = data + 6;				/* offsets are relative to the TIFF header */
	n = len - 6;
	if (n < 8)
		return 1;
	if (t[0] == 'I' && t[1] == 'I')
		le = 1;
	else if (t[0] == 'M' && t[1] == 'M')
		le = 0;
	else
		return 1;
	if (rd16(t + 2, le) != 42)
		return 1;
	ifd = rd32(t + 4, le);
	/* IFD0 after the header, its count and all its entries inside the data */
	if (ifd < 8 || (size_t) ifd > n - 2)
		return 1;
	count = rd16(t + ifd, le);
	if ((size_t) count * 12 > n - 2 - ifd)
		return 1;
	for (uint32_t i = 0; i < count; i++)
	{
		const uint8_t *e = t + ifd + 2 + (size_t) i * 12;
		uint32_t	type,
					v;

		if (rd16(e, le) != EXIF_TAG_ORIENTATION)
			continue;
		type = rd16(e + 2, le);
		if (rd32(e + 4, le) != 1)
			v = 0;
		else if (type == TIFF_SHORT)
			v = rd16(e + 8, le);
		else if (type == TIFF_LONG)
			v = rd32(e + 8, le);
		else
			v = 0;
		orientation = (v >= 1 && v <= 8) ? (int) v : 1;
	}
	return orientation;
}
