/* winograd_tables: the Winograd / Toom-Cook matrices of F(m x m, r x r) as exact fractions Q(num, den).
 * The includer defines WT_TYPE and Q: winograd.c makes floats ((float)num / den, correctly rounded: the
 * same bits as writing 21.0f / 4), tests/test_winograd.c exact rationals, so the test checks the very
 * tables the kernels use: sum_i AT[o][i] G[i][k] BT[i][j] == (j == o + k) for every output o, tap k and
 * input j, which is the whole of what makes Y = A^T [ (G g G^T) (.) (B^T d B) ] A a correlation.
 *
 * A tile size alpha = m + r - 1 fixes the points: alpha = 4: 0, 1, -1, infinity; alpha = 6: 0, 1, -1, 2,
 * -2, infinity; alpha = 8: 0, 1, -1, 2, -2, 1/2, -1/2, infinity. B^T (the input transform: the transposed
 * interpolation at those points) depends on alpha only, so F(4x4, 3x3) shares F(2x2, 5x5)'s and
 * F(6x6, 3x3) shares F(4x4, 5x5)'s. A^T's row o holds the points to the power o (and 1 at infinity on
 * the last row); G's row i holds the point to the powers 0..r-1 times the interpolation factor of that
 * point (and 1 at infinity in the last column). The sign of the point-0 row of alpha = 8 is flipped in
 * both B^T and G (the product is unchanged; kept as the F(4x4, 5x5) tables always were). */

/* ---- alpha = 4 ---- */
static const WT_TYPE BT_a4[4][4] = {
    {Q(1, 1), Q(0, 1), Q(-1, 1), Q(0, 1)},
    {Q(0, 1), Q(1, 1), Q(1, 1), Q(0, 1)},
    {Q(0, 1), Q(-1, 1), Q(1, 1), Q(0, 1)},
    {Q(0, 1), Q(1, 1), Q(0, 1), Q(-1, 1)},
};
static const WT_TYPE G_m2r3[4][3] = {
    {Q(1, 1), Q(0, 1), Q(0, 1)},
    {Q(1, 2), Q(1, 2), Q(1, 2)},
    {Q(1, 2), Q(-1, 2), Q(1, 2)},
    {Q(0, 1), Q(0, 1), Q(1, 1)},
};
static const WT_TYPE AT_m2r3[2][4] = {
    {Q(1, 1), Q(1, 1), Q(1, 1), Q(0, 1)},
    {Q(0, 1), Q(1, 1), Q(-1, 1), Q(-1, 1)},
};

/* ---- alpha = 6 ---- */
static const WT_TYPE BT_a6[6][6] = {
    {Q(4, 1), Q(0, 1), Q(-5, 1), Q(0, 1), Q(1, 1), Q(0, 1)},
    {Q(0, 1), Q(-4, 1), Q(-4, 1), Q(1, 1), Q(1, 1), Q(0, 1)},
    {Q(0, 1), Q(4, 1), Q(-4, 1), Q(-1, 1), Q(1, 1), Q(0, 1)},
    {Q(0, 1), Q(-2, 1), Q(-1, 1), Q(2, 1), Q(1, 1), Q(0, 1)},
    {Q(0, 1), Q(2, 1), Q(-1, 1), Q(-2, 1), Q(1, 1), Q(0, 1)},
    {Q(0, 1), Q(4, 1), Q(0, 1), Q(-5, 1), Q(0, 1), Q(1, 1)},
};
static const WT_TYPE G_m2r5[6][5] = {
    {Q(1, 4), Q(0, 1), Q(0, 1), Q(0, 1), Q(0, 1)},
    {Q(-1, 6), Q(-1, 6), Q(-1, 6), Q(-1, 6), Q(-1, 6)},
    {Q(-1, 6), Q(1, 6), Q(-1, 6), Q(1, 6), Q(-1, 6)},
    {Q(1, 24), Q(1, 12), Q(1, 6), Q(1, 3), Q(2, 3)},
    {Q(1, 24), Q(-1, 12), Q(1, 6), Q(-1, 3), Q(2, 3)},
    {Q(0, 1), Q(0, 1), Q(0, 1), Q(0, 1), Q(1, 1)},
};
static const WT_TYPE AT_m2r5[2][6] = {
    {Q(1, 1), Q(1, 1), Q(1, 1), Q(1, 1), Q(1, 1), Q(0, 1)},
    {Q(0, 1), Q(1, 1), Q(-1, 1), Q(2, 1), Q(-2, 1), Q(1, 1)},
};
static const WT_TYPE G_m4r3[6][3] = {
    {Q(1, 4), Q(0, 1), Q(0, 1)},
    {Q(-1, 6), Q(-1, 6), Q(-1, 6)},
    {Q(-1, 6), Q(1, 6), Q(-1, 6)},
    {Q(1, 24), Q(1, 12), Q(1, 6)},
    {Q(1, 24), Q(-1, 12), Q(1, 6)},
    {Q(0, 1), Q(0, 1), Q(1, 1)},
};
static const WT_TYPE AT_m4r3[4][6] = {
    {Q(1, 1), Q(1, 1), Q(1, 1), Q(1, 1), Q(1, 1), Q(0, 1)},
    {Q(0, 1), Q(1, 1), Q(-1, 1), Q(2, 1), Q(-2, 1), Q(0, 1)},
    {Q(0, 1), Q(1, 1), Q(1, 1), Q(4, 1), Q(4, 1), Q(0, 1)},
    {Q(0, 1), Q(1, 1), Q(-1, 1), Q(8, 1), Q(-8, 1), Q(1, 1)},
};

/* ---- alpha = 8 ---- */
static const WT_TYPE BT_a8[8][8] = {
    {Q(-1, 1), Q(0, 1), Q(21, 4), Q(0, 1), Q(-21, 4), Q(0, 1), Q(1, 1), Q(0, 1)},
    {Q(0, 1), Q(1, 1), Q(1, 1), Q(-17, 4), Q(-17, 4), Q(1, 1), Q(1, 1), Q(0, 1)},
    {Q(0, 1), Q(-1, 1), Q(1, 1), Q(17, 4), Q(-17, 4), Q(-1, 1), Q(1, 1), Q(0, 1)},
    {Q(0, 1), Q(1, 2), Q(1, 4), Q(-5, 2), Q(-5, 4), Q(2, 1), Q(1, 1), Q(0, 1)},
    {Q(0, 1), Q(-1, 2), Q(1, 4), Q(5, 2), Q(-5, 4), Q(-2, 1), Q(1, 1), Q(0, 1)},
    {Q(0, 1), Q(2, 1), Q(4, 1), Q(-5, 2), Q(-5, 1), Q(1, 2), Q(1, 1), Q(0, 1)},
    {Q(0, 1), Q(-2, 1), Q(4, 1), Q(5, 2), Q(-5, 1), Q(-1, 2), Q(1, 1), Q(0, 1)},
    {Q(0, 1), Q(-1, 1), Q(0, 1), Q(21, 4), Q(0, 1), Q(-21, 4), Q(0, 1), Q(1, 1)},
};
static const WT_TYPE G_m4r5[8][5] = {
    {Q(-1, 1), Q(0, 1), Q(0, 1), Q(0, 1), Q(0, 1)},
    {Q(-2, 9), Q(-2, 9), Q(-2, 9), Q(-2, 9), Q(-2, 9)},
    {Q(-2, 9), Q(2, 9), Q(-2, 9), Q(2, 9), Q(-2, 9)},
    {Q(1, 90), Q(1, 45), Q(2, 45), Q(4, 45), Q(8, 45)},
    {Q(1, 90), Q(-1, 45), Q(2, 45), Q(-4, 45), Q(8, 45)},
    {Q(32, 45), Q(16, 45), Q(8, 45), Q(4, 45), Q(2, 45)},
    {Q(32, 45), Q(-16, 45), Q(8, 45), Q(-4, 45), Q(2, 45)},
    {Q(0, 1), Q(0, 1), Q(0, 1), Q(0, 1), Q(1, 1)},
};
static const WT_TYPE AT_m4r5[4][8] = {
    {Q(1, 1), Q(1, 1), Q(1, 1), Q(1, 1), Q(1, 1), Q(1, 1), Q(1, 1), Q(0, 1)},
    {Q(0, 1), Q(1, 1), Q(-1, 1), Q(2, 1), Q(-2, 1), Q(1, 2), Q(-1, 2), Q(0, 1)},
    {Q(0, 1), Q(1, 1), Q(1, 1), Q(4, 1), Q(4, 1), Q(1, 4), Q(1, 4), Q(0, 1)},
    {Q(0, 1), Q(1, 1), Q(-1, 1), Q(8, 1), Q(-8, 1), Q(1, 8), Q(-1, 8), Q(1, 1)},
};
static const WT_TYPE G_m6r3[8][3] = {
    {Q(-1, 1), Q(0, 1), Q(0, 1)},
    {Q(-2, 9), Q(-2, 9), Q(-2, 9)},
    {Q(-2, 9), Q(2, 9), Q(-2, 9)},
    {Q(1, 90), Q(1, 45), Q(2, 45)},
    {Q(1, 90), Q(-1, 45), Q(2, 45)},
    {Q(32, 45), Q(16, 45), Q(8, 45)},
    {Q(32, 45), Q(-16, 45), Q(8, 45)},
    {Q(0, 1), Q(0, 1), Q(1, 1)},
};
static const WT_TYPE AT_m6r3[6][8] = {
    {Q(1, 1), Q(1, 1), Q(1, 1), Q(1, 1), Q(1, 1), Q(1, 1), Q(1, 1), Q(0, 1)},
    {Q(0, 1), Q(1, 1), Q(-1, 1), Q(2, 1), Q(-2, 1), Q(1, 2), Q(-1, 2), Q(0, 1)},
    {Q(0, 1), Q(1, 1), Q(1, 1), Q(4, 1), Q(4, 1), Q(1, 4), Q(1, 4), Q(0, 1)},
    {Q(0, 1), Q(1, 1), Q(-1, 1), Q(8, 1), Q(-8, 1), Q(1, 8), Q(-1, 8), Q(0, 1)},
    {Q(0, 1), Q(1, 1), Q(1, 1), Q(16, 1), Q(16, 1), Q(1, 16), Q(1, 16), Q(0, 1)},
    {Q(0, 1), Q(1, 1), Q(-1, 1), Q(32, 1), Q(-32, 1), Q(1, 32), Q(-1, 32), Q(1, 1)},
};
