/* image: one picture file (PNG, JPEG, PPM/PGM, BMP, ... : whatever Debian's stb_image reads) decoded into
 * HWC bytes with the channel count a network takes (grey is repeated into RGB, RGB is turned into grey
 * by stb_image's luminance weights). No hand-written decoder. */
#ifndef CNN_IMAGE_H
#define CNN_IMAGE_H

#include <stdint.h>

#include "cnn/util.h"

/* Decodes path into *pix (malloc'd, h*w*channels bytes, rows top to bottom); a file that is missing,
 * not an image, truncated or damaged is an error naming the file and stb_image's reason. */
int cnn_image_load(const char *path, int channels, uint8_t **pix, int *h, int *w, CnnErr *err);

#endif
