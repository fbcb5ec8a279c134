/* main: the command line (getopt_long) and the wiring; no numerics here.
 *
 *   cnn-dist [--set SECTION.KEY=VALUE]... [--resume latest|PATH] CONFIG    train
 *   cnn-dist --summary CONFIG                                              layers, shapes, params, FLOPs
 *   cnn-dist --eval CKPT CONFIG                                            test-set loss and accuracy
 *   cnn-dist --bench STEPS [--resume latest|PATH] CONFIG                   time STEPS steps, write nothing
 *   cnn-dist --predict CKPT [--top K] [--json] CONFIG FILE...              classify images */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cnn/comm.h"
#include "cnn/config.h"
#include "cnn/cpu.h"
#include "cnn/io/h5util.h"
#include "cnn/nn/gemm.h"
#include "cnn/nn/model.h"
#include "cnn/nn/plan.h"
#include "cnn/predict.h"
#include "cnn/train.h"
#include "cnn/util.h"
#include "cnn/version.h"

#define MAX_OVERRIDES 256

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: cnn-dist [--set SECTION.KEY=VALUE]... [--resume latest|PATH] CONFIG\n"
            "  or:  cnn-dist [--set ...] --summary CONFIG\n"
            "  or:  cnn-dist [--set ...] --eval CKPT CONFIG\n"
            "  or:  cnn-dist [--set ...] --bench STEPS [--resume latest|PATH] CONFIG\n"
            "  or:  cnn-dist [--set ...] --predict CKPT [--top K] [--json] CONFIG FILE...\n"
            "Trains the network of CONFIG (an INI file) data-parallel over the MPI ranks it runs on\n"
            "(mpirun -np N cnn-dist CONFIG). See README.md.\n\n"
            "  -s, --set S.K=V    override a config key (repeatable)\n"
            "  -r, --resume WHAT  continue from the newest valid checkpoint (latest) or from PATH\n"
            "      --summary      print every layer's output shape, parameters and FLOPs, then exit\n"
            "  -e, --eval CKPT    evaluate checkpoint CKPT on the test set\n"
            "      --bench STEPS  time STEPS training steps (no checkpoints, no metrics); with --resume, from\n"
            "                     that checkpoint (the speed late in training)\n"
            "  -p, --predict CKPT classify each FILE (PNG, JPEG, PPM..., a CIFAR-10 batch .bin, or an IDX\n"
            "                     pair IMAGES,LABELS) with checkpoint CKPT: its top classes, one line each\n"
            "      --top K        how many classes per image (default 3)\n"
            "      --json         one JSON object per image and line, with all the logits\n"
            "      --raw          --eval, --predict: the trained parameters, not the checkpoint's moving\n"
            "                     average (train.ema), which they use when it is there\n"
            "  -V, --version      the version, the instruction set in use and the libraries' versions\n"
            "  -h, --help         this text\n"
            "A CONFIG named without a directory that is not in the current one is looked up in the configs\n"
            "installed beside the binary (PREFIX/share/cnn-dist/configs).\n");
}

/* cnn-dist --version: what a result produced here would say it was produced by (help2man reads the
 * first line). Runs before MPI starts. */
static int version(void)
{
    CnnIsa isa;
    int capped = 0;
    CnnErr err;
    if (cnn_cpu_isa(&isa, &capped, &err)) {
        fprintf(stderr, "cnn-dist: %s\n", err.msg);
        return CNN_EXIT_USAGE;
    }
    CnnLibVersions v;
    cnn_lib_versions(&v);
    printf("cnn-dist %s\n", cnn_version());
    printf("kernels: %s (%s)%s%s\n", cnn_isa_name(isa), cnn_isa_describe(isa), capped ? ", capped by CNN_ISA=" : "",
           capped ? getenv("CNN_ISA") : "");
    printf("%s, core %s\nHDF5 %s\n%s\n", v.blas, cnn_gemm_corename(), v.hdf5, v.mpi);
    return CNN_EXIT_OK;
}

/* A CONFIG without a '/' that is not here: the installed one beside the binary,
 * <bin>/../share/cnn-dist/configs/NAME (works wherever the tree was installed or moved). */
static const char *find_config(const char *arg, char *buf, size_t n)
{
    if (strchr(arg, '/') || access(arg, F_OK) == 0) return arg;
    char exe[CNN_PATH_LEN];
    const ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len <= 0) return arg;
    exe[len] = 0;
    char *slash = strrchr(exe, '/');
    if (!slash) return arg;
    *slash = 0;
    char guess[CNN_PATH_LEN + 64];
    snprintf(guess, sizeof guess, "%s/../share/cnn-dist/configs/%s", exe, arg);
    if (access(guess, F_OK) != 0 || n < PATH_MAX || !realpath(guess, buf)) return arg;
    return buf;
}

static int summary(const CnnConfig *cfg)
{
    CnnModel m;
    CnnErr err;
    CnnModelOpts o = {1, CNN_ISA_GENERIC, 1, 0, 0};
    if (cnn_cpu_isa(&o.isa, NULL, &err) || cnn_model_build(&m, cfg, &o, &err)) {
        fprintf(stderr, "cnn-dist: %s\n", err.msg);
        return CNN_EXIT_ERROR;
    }
    if (cnn_comm_rank() == 0) cnn_model_summary(&m, stdout, cfg->batch, cnn_fma_peak(m.k));
    cnn_model_free(&m);
    /* what a rank of a training run would hold (the data set's files come on top, shared by a node) */
    CnnMemoryEstimate e;
    const int ranks = cnn_comm_size();
    if (cnn_train_memory(cfg, ranks, 1, 0.0, &e, &err)) {
        fprintf(stderr, "cnn-dist: %s\n", err.msg);
        return CNN_EXIT_ERROR;
    }
    char line[512];
    cnn_memory_line(&e, line, sizeof line);
    if (cnn_comm_rank() == 0) printf("memory per rank (%d rank%s, training): %s, plus the data set\n", ranks, ranks > 1 ? "s" : "", line);
    return CNN_EXIT_OK;
}

/* A numeric option, as strict as a config value: digits only, 1..INT_MAX. */
static int positive_arg(const char *opt, const char *arg, int *out)
{
    char *end = NULL;
    errno = 0;
    const long v = strtol(arg, &end, 10);
    if (!isdigit((unsigned char)arg[0]) || *end || errno == ERANGE || v <= 0 || v > INT_MAX) {
        fprintf(stderr, "cnn-dist: %s needs a positive whole number, got '%s'\n", opt, arg);
        return -1;
    }
    *out = (int)v;
    return 0;
}

int main(int argc, char **argv)
{
    /* Before anything else (and before MPI starts): a generic OpenBLAS kernel on a CPU that has
     * better is fixed by re-executing with OPENBLAS_CORETYPE set. */
    cnn_gemm_fix_coretype(argc, argv);

    static const struct option opts[] = {
        {"set", required_argument, NULL, 's'},    {"resume", required_argument, NULL, 'r'},
        {"summary", no_argument, NULL, 'S'},      {"eval", required_argument, NULL, 'e'},
        {"bench", required_argument, NULL, 'b'},  {"help", no_argument, NULL, 'h'},
        {"predict", required_argument, NULL, 'p'}, {"top", required_argument, NULL, 't'},
        {"json", no_argument, NULL, 'j'},       {"version", no_argument, NULL, 'V'},
        {"raw", no_argument, NULL, 'R'},
        {NULL, 0, NULL, 0}};
    const char *overrides[MAX_OVERRIDES];
    int n_overrides = 0, do_summary = 0, bench = 0, top = 3, json = 0, raw = 0;
    const char *resume = NULL, *eval_ckpt = NULL, *predict_ckpt = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "s:r:e:p:hV", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            if (n_overrides == MAX_OVERRIDES) {
                fprintf(stderr, "cnn-dist: more than %d --set options\n", MAX_OVERRIDES);
                return CNN_EXIT_USAGE;
            }
            overrides[n_overrides++] = optarg;
            break;
        case 'r': resume = optarg; break;
        case 'S': do_summary = 1; break;
        case 'e': eval_ckpt = optarg; break;
        case 'p': predict_ckpt = optarg; break;
        case 'j': json = 1; break;
        case 'R': raw = 1; break;
        case 'b':
        case 't':
            if (positive_arg(c == 'b' ? "--bench" : "--top", optarg, c == 'b' ? &bench : &top))
                return CNN_EXIT_USAGE;
            break;
        case 'h': usage(stdout); return CNN_EXIT_OK;
        case 'V': return version();
        default: usage(stderr); return CNN_EXIT_USAGE;
        }
    }
    if (predict_ckpt ? optind > argc - 2 : optind != argc - 1) {
        fprintf(stderr, predict_ckpt ? "cnn-dist: --predict needs a CONFIG and at least one FILE, got %d arguments\n"
                                     : "cnn-dist: expected one CONFIG file, got %d arguments\n",
                argc - optind);
        usage(stderr);
        return CNN_EXIT_USAGE;
    }
    if ((do_summary != 0) + (eval_ckpt != NULL) + (predict_ckpt != NULL) + (bench != 0 || resume != NULL) > 1) {
        fprintf(stderr, "cnn-dist: --summary, --eval, --predict and training (--bench, --resume) exclude each other\n");
        return CNN_EXIT_USAGE;
    }

    cnn_comm_init(&argc, &argv);
    CnnConfig *cfg = cnn_calloc(1, sizeof *cfg);
    CnnErr err;
    int rc;
    char found[PATH_MAX];
    const int bad = cnn_config_load(cfg, find_config(argv[optind], found, sizeof found), overrides, n_overrides, &err);
    /* Every rank parses the same file, so every rank fails (or warns) the same way: print once. */
    if (cnn_comm_rank() == 0 && (bad || cfg->warning[0])) fprintf(stderr, "cnn-dist: %s\n", bad ? err.msg : cfg->warning);
    if (bad) {
        rc = CNN_EXIT_ERROR;
    } else if (do_summary) {
        rc = summary(cfg);
    } else if (eval_ckpt) {
        rc = cnn_eval_run(cfg, eval_ckpt, raw);
    } else if (predict_ckpt) {
        const CnnPredictOpts po = {predict_ckpt, top, json, raw, (const char *const *)argv + optind + 1,
                                   argc - optind - 1};
        rc = cnn_predict_run(cfg, &po);
    } else {
        CnnTrainOpts to = {.resume = resume, .bench = bench};
        rc = cnn_train_run(cfg, &to);
    }
    free(cfg);
    cnn_comm_finalize();
    return rc;
}
