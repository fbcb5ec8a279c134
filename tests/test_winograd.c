/* winograd: the transform tables the kernels use (src/nn/kernels/winograd_tables.h), read here as exact
 * fractions. For every F(m x m, r x r) the kernels run, the 1-D identity
 *   sum_i AT[o][i] G[i][k] BT[i][j] == 1 if j == o + k, else 0
 * must hold exactly for every output o < m, tap k < r and input j < alpha = m + r - 1: it says that
 * y = A^T [ (G g) (.) (B^T d) ] is the correlation y[o] = sum_k g[k] d[o + k] for all g and d (the 2-D
 * transform is this one applied to rows and columns). One wrong entry anywhere breaks it for some (o, k, j). */
#include "testutil.h"

typedef struct {
    long long n, d; /* d > 0, gcd(n, d) == 1 */
} Rat;

static long long gcd_ll(long long a, long long b)
{
    if (a < 0) a = -a;
    while (b) {
        const long long t = a % b;
        a = b;
        b = t;
    }
    return a ? a : 1;
}

static Rat rat(long long n, long long d)
{
    if (d < 0) n = -n, d = -d;
    const long long g = gcd_ll(n, d);
    return (Rat){n / g, d / g};
}

static Rat rat_add(Rat a, Rat b) { return rat(a.n * b.d + b.n * a.d, a.d * b.d); }
static Rat rat_mul(Rat a, Rat b) { return rat(a.n * b.n, a.d * b.d); }

#define WT_TYPE Rat
#define Q(num, den) {(num), (den)}
#include "../src/nn/kernels/winograd_tables.h"
#undef Q
#undef WT_TYPE

/* checks one F(m, r); the tables are row-major [alpha][alpha], [alpha][r] and [m][alpha] */
static void check_identity(const char *name, int m, int r, const Rat *bt, const Rat *gm, const Rat *at)
{
    const int alpha = m + r - 1;
    for (int o = 0; o < m; o++)
        for (int k = 0; k < r; k++)
            for (int j = 0; j < alpha; j++) {
                Rat s = {0, 1};
                for (int i = 0; i < alpha; i++)
                    s = rat_add(s, rat_mul(rat_mul(rat(at[o * alpha + i].n, at[o * alpha + i].d),
                                                   rat(gm[i * r + k].n, gm[i * r + k].d)),
                                           rat(bt[i * alpha + j].n, bt[i * alpha + j].d)));
                const long long want = j == o + k;
                if (s.n != want || s.d != 1)
                    fail_msg("%s: output %d, tap %d, input %d: %lld/%lld, want %lld", name, o, k, j, s.n, s.d, want);
            }
}

static void test_tables_exact(void **state)
{
    (void)state;
    check_identity("F(2,3)", 2, 3, &BT_a4[0][0], &G_m2r3[0][0], &AT_m2r3[0][0]);
    check_identity("F(4,3)", 4, 3, &BT_a6[0][0], &G_m4r3[0][0], &AT_m4r3[0][0]);
    check_identity("F(6,3)", 6, 3, &BT_a8[0][0], &G_m6r3[0][0], &AT_m6r3[0][0]);
    check_identity("F(2,5)", 2, 5, &BT_a6[0][0], &G_m2r5[0][0], &AT_m2r5[0][0]);
    check_identity("F(4,5)", 4, 5, &BT_a8[0][0], &G_m4r5[0][0], &AT_m4r5[0][0]);
}

/* The check can fail: one entry changed by the smallest step breaks the identity. */
static void test_check_catches_a_wrong_entry(void **state)
{
    (void)state;
    Rat g[6][3];
    memcpy(g, G_m4r3, sizeof g);
    g[3][1] = (Rat){1, 13}; /* was 1/12 */
    const int alpha = 6;
    int broken = 0;
    for (int o = 0; o < 4 && !broken; o++)
        for (int j = 0; j < alpha && !broken; j++) {
            Rat s = {0, 1};
            for (int i = 0; i < alpha; i++)
                s = rat_add(s, rat_mul(rat_mul(AT_m4r3[o][i], g[i][1]), BT_a6[i][j]));
            broken = s.n != (j == o + 1) || s.d != 1;
        }
    assert_true(broken);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tables_exact),
        cmocka_unit_test(test_check_catches_a_wrong_entry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
