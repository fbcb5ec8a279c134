/* fuzz_config: an INI text through the whole path to a trained step: parse (with the file:line errors),
 * the canonical text's round trip, the model's plan and memory estimate, and, where it is small, the
 * built model's forward and backward over two samples on this CPU's kernels. Any crash, sanitizer report,
 * exit or broken round trip is a finding. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cnn/config.h"
#include "cnn/nn/model.h"
#include "cnn/train.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1 << 16) return 0;
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = 0;
    static CnnConfig cfg, again;
    CnnErr err;
    if (cnn_config_parse(&cfg, text, "fuzz.ini", NULL, 0, &err) == 0) {
        /* what a checkpoint stores parses back to the same training config */
        char *ini = cnn_config_to_ini(&cfg);
        if (cnn_config_parse(&again, ini, "fuzz.ini", NULL, 0, &err) != 0 ||
            cnn_config_train_hash(&again) != cnn_config_train_hash(&cfg))
            abort();
        free(ini);
        CnnMemoryEstimate e;
        if (cnn_train_memory(&cfg, 1, 1, 0.0, &e, &err) == 0 && e.total - e.base < 64e6) {
            CnnModel m;
            CnnModelOpts o = cnn_model_opts_local(2);
            if (cnn_model_build(&m, &cfg, &o, &err) == 0) {
                cnn_model_init_params(&m, 1);
                const size_t per = (size_t)m.in_h * m.in_w * m.in_c;
                float *x = calloc(2 * per, sizeof *x);
                for (size_t i = 0; i < 2 * per; i++) x[i] = (float)(i % 7) * 0.25f - 0.75f;
                int y[2] = {0, m.num_classes - 1}, pos[2] = {0, 1};
                float *g = calloc(m.n_params, sizeof *g);
                cnn_model_forward(&m, x, 2, 1, 0, pos);
                cnn_model_backward(&m, g, CNN_GRAD_OVERWRITE, y, 2, 0.5f, NULL, NULL);
                free(x);
                free(g);
                cnn_model_free(&m);
            }
        }
    }
    free(text);
    return 0;
}
