/*
 * contact_sheet.h: one PNG-ready image showing an input under every
 * corruption (rows) and severity (columns, 0 = clean), labelled.
 */
#ifndef SP_CONTACT_SHEET_H
#define SP_CONTACT_SHEET_H

#include "robust/corrupt.h"

/*
 * Render the sheet for the corruptions in names[0..n_names) (NULL / 0 = all
 * 19 in registry order).  Small images are scaled up by an integer factor
 * so each cell is at least ~96 px wide.  out is an RGB image from env.
 */
extern sp_status sp_contact_sheet(const sp_env *env, const sp_image *in,
								  const char *const *names, int n_names, uint64_t seed,
								  sp_corrupt_profile profile, sp_image *out, sp_error *err);

#endif							/* SP_CONTACT_SHEET_H */
