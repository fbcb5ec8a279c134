/* image: stb_image (libstb) behind the one function of image.h. */
#include "cnn/io/image.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stb_image.h>

int cnn_image_load(const char *path, int channels, uint8_t **pix, int *h, int *w, CnnErr *err)
{
    *pix = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return cnn_err(err, "%s: %s", path, strerror(errno));
    int file_c = 0;
    unsigned char *p = stbi_load_from_file(f, w, h, &file_c, channels);
    fclose(f);
    if (!p) return cnn_err(err, "%s: not an image cnn-dist can read (stb_image: %s)", path, stbi_failure_reason());
    const size_t n = (size_t)*h * (size_t)*w * (size_t)channels;
    *pix = cnn_malloc(n);
    memcpy(*pix, p, n);
    stbi_image_free(p);
    return 0;
}
