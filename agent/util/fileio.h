/* agent/util/fileio.h - reading a whole file under a size cap: configs, rules, keys, anchors,
 * proofs and bundles all come in this way. */
#pragma once
#include <stddef.h>

#include "hale/diag.h"

/* Read all of path (a regular file, or anything read(2) ends, like /proc files), at most
 * max_bytes. On success *ret is malloc'd and NUL-terminated (caller frees) and *ret_len (may be
 * NULL) its length. Returns 0; -errno with reterr "cannot read 'PATH': reason"; -EISDIR for a
 * directory; HALE_ELIMIT with reterr "PATH: larger than N bytes"; -ENOMEM. */
int hale_file_read(const char *path, size_t max_bytes, char **ret, size_t *ret_len,
                   hale_diag *reterr);
