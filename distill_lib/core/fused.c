/* Fused CPU kernels of the stacked students' training step (distill_lib/core/fused.py loads them).

   The step of S stacked MLP students (stacked_mlp.py) in two calls: mlp_forward runs every
   layer of one student after another, then the next student; mlp_backward_adam runs the
   backward, the gradient-norm clipping and the Adam update the same way. A student's
   weights, activations and gradients (tens of kB) stay in the core's cache from one layer
   to the next, where torch operations would stream all S students through memory once per
   operation. stacked_mlp.StackedMLP's torch path computes the same formulas op by op (the
   reference: tests compare the two, and it runs on CUDA or without a C compiler).

   Layout. Float32 throughout. A student's parameters are row s of the flat (S, P) weights
   (flat.FlatLayout: nn.Linear's weight (out, in), then its bias, LayerNorm's weight and
   bias), at offsets given per layer. Activations are (S, H, B): units before states, so that
   the matmuls and a state's LayerNorm statistics run over vectors of states.

   Network (stacked_mlp.read_layers): blocks i = 0..L-1 of width H_i = dims[i + 1] on inputs
   a_0 = x^T (S, D, B), then a head of A = dims[L + 1] outputs:
       z = W_i a + b_i;  h = dropout(relu(LN(z) * gamma + beta))   (or relu(z), without LayerNorm)
       q = W_head a_L + b_head                                       (S, A, B), the logits
   LayerNorm (Ba, Kiros & Hinton 2016), per state over the H units:
       mean = sum(z) / H,  var = sum((z - mean)^2) / H,  rstd = 1 / sqrt(var + eps),  xhat = (z - mean) rstd
   and its gradient, with dy = dh * scale where h > 0 (kept and open) else 0, g = dy * gamma:
       dz = rstd * (g - mean(g) - xhat * mean(g * xhat)),  dgamma = sum_b dy xhat,  dbeta = sum_b dy.
   Linear gradients: dW = dz a^T, db = sum_b dz, da = W^T dz.

   Dropout stream (streams.py, step 3): output n of student s's stream is SplitMix64's,
       x_n = mix64(key_s + (n + 1) * GAMMA)
   (Steele, Lea & Flood 2014, "Fast splittable pseudorandom number generators"; the mixer is
   Stafford's variant 13, as in Vigna's splitmix64.c and Java's SplittableRandom). Unit u of
   state b in dropout layer l is position first_l + b * H + u; it is kept iff
   (x_n >> 32) >= threshold_s = ceil(p_s * 2^32), and a kept unit is multiplied by
   scale_s = 1 / (1 - p_s).

   Distillation loss (losses.kl_blend_loss; Hinton, Vinyals & Dean 2015), per student over B
   states with the actions first: logits q (A, B), the teacher's p, p log p (A, B) at the
   student's temperature T, its greedy action (B,), the soft term's weight alpha:
       L = alpha T^2 sum(p log p - p log_softmax(q / T)) / B + (1 - alpha) (-sum_b log_softmax(q)[action_b]) / B
       dL/dq = alpha T (softmax(q / T) sum_a p - p) / B + (1 - alpha) softmax(q) / B - (1 - alpha) onehot(action) / B
   (sum_a p is 1 up to rounding; autograd's log_softmax backward keeps it), in the order of
   operations autograd takes. exp and log are computed here (exp_poly, log_poly: vectorisable,
   in double, so correctly rounded to float but for rare near-ties).

   Clipping and Adam (Pascanu et al. 2013; Kingma & Ba 2015), per student with gradient g:
       coef = min(1, max_norm / (||g|| + 1e-6)) if the student clips, else 1;  g <- g coef
       m <- m + w1 (g - m);  v <- b2 v + w2 g^2;  theta <- theta - step_size (m / (sqrt(v) / bc2_sqrt + eps))
   with w1 = 1 - b1, w2 = 1 - b2, step_size = lr / (1 - b1^t), bc2_sqrt = sqrt(1 - b2^t)
   (torch.optim.Adam's single-tensor update).

   Sums over units are taken in unit order, sums over states and the gradient norm in 16
   partial sums folded pairwise (they vectorise without reassociating flags). Every loop
   reads and writes one student's rows only, in the same order whatever S is: a student
   trained among others is bit for bit the student trained alone. */

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define GAMMA 0x9e3779b97f4a7c15ULL
#define LANES 16
#define ROWS 4 /* output rows per matmul tile */

static inline uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* 1 if stream output n (from 0) of `key` keeps its unit: its top 32 bits reach the threshold */
static inline int kept(uint64_t key, uint64_t n, int64_t threshold) {
    return (int64_t)(mix64(key + (n + 1) * GAMMA) >> 32) >= threshold;
}

/* sum of x[0:n]: 16 partial sums over consecutive blocks of 16, folded pairwise, then the tail */
static inline float sum16(const float *x, int64_t n) {
    float acc[LANES] = {0};
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int k = 0; k < LANES; k++) acc[k] += x[i + k];
    for (int w = LANES / 2; w > 0; w /= 2)
        for (int k = 0; k < w; k++) acc[k] += acc[k + w];
    float tail = 0.0f;
    for (; i < n; i++) tail += x[i];
    return acc[0] + tail;
}

/* sum of x[0:n]^2, in sum16's order */
static inline float sumsq16(const float *x, int64_t n) {
    float acc[LANES] = {0};
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int k = 0; k < LANES; k++) acc[k] += x[i + k] * x[i + k];
    for (int w = LANES / 2; w > 0; w /= 2)
        for (int k = 0; k < w; k++) acc[k] += acc[k + w];
    float tail = 0.0f;
    for (; i < n; i++) tail += x[i] * x[i];
    return acc[0] + tail;
}

/* e^x, correctly rounded to float but for rare near-ties: evaluated in double, x = n ln2 + r with
   |r| <= ln2 / 2 (n = x / ln2 rounded), e^r by its Taylor series to r^10 (truncation below 3e-13
   relative), times 2^n built in the exponent bits. x is clamped to [-103, 88]: e^-103 is 0 in float. */
static inline float exp_poly(float x) {
    x = x < -103.0f ? -103.0f : x;
    x = x > 88.0f ? 88.0f : x;
    const double xd = x;
    /* n = x / ln2 rounded, by adding 1.5 * 2^52: n is then also the low bits of kd's pattern */
    const double kd = xd * 1.4426950408889634 + 6755399441055744.0, n = kd - 6755399441055744.0;
    const double r = xd - n * 0.6931471805599453;
    uint64_t ki;
    memcpy(&ki, &kd, sizeof ki);
    double p = 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    const uint64_t bits = (ki + 1023) << 52; /* 2^n: the low bits of ki hold n (mod 2^12) */
    double scale;
    memcpy(&scale, &bits, sizeof scale);
    return (float)(p * scale);
}

/* log(x) for x >= 1 (a sum of exps over actions, the largest being 1), correctly rounded to float but
   for rare near-ties: x = m 2^e with m in [sqrt(1/2), sqrt(2)), log m = 2 atanh(t), t = (m - 1) / (m + 1),
   |t| <= 0.172, by its series to t^13, in double. */
static inline float log_poly(float x) {
    int32_t bits;
    memcpy(&bits, &x, sizeof bits);
    int32_t e = ((bits >> 23) & 0xff) - 127;
    bits = (bits & 0x007fffff) | 0x3f800000; /* m in [1, 2) */
    float mf;
    memcpy(&mf, &bits, sizeof mf);
    double m = mf;
    if (m > 1.4142135623730951) {
        m *= 0.5;
        e += 1;
    }
    const double t = (m - 1.0) / (m + 1.0), t2 = t * t;
    double series = 2.0 / 13.0;
    series = series * t2 + 2.0 / 11.0;
    series = series * t2 + 2.0 / 9.0;
    series = series * t2 + 2.0 / 7.0;
    series = series * t2 + 2.0 / 5.0;
    series = series * t2 + 2.0 / 3.0;
    series = series * t2 + 2.0;
    return (float)((double)e * 0.6931471805599453 + series * t);
}

/* ---- matmul: C (M x N) = bias + A (M x K) Bm (K x N), vectorised over N ----------------
   A[m][k] = A[m * rs + k * cs] (any strides: a weight or its transpose), Bm rows ldb apart,
   C rows ldc apart; bias (M,) or NULL. Tiles of ROWS x W outputs live in registers. */

#define TILE(W)                                                                                               \
    static inline void tile##W(int64_t rows, int64_t K, const float *A, int64_t rs, int64_t cs, const float *Bm, \
                               int64_t ldb, const float *bias, float *C, int64_t ldc) {                       \
        float acc[ROWS][W] = {{0}};                                                                           \
        for (int64_t k = 0; k < K; k++) {                                                                     \
            const float *b = Bm + k * ldb;                                                                    \
            float a[ROWS];                                                                                    \
            for (int i = 0; i < ROWS; i++) a[i] = i < rows ? A[i * rs + k * cs] : 0.0f;                       \
            for (int i = 0; i < ROWS; i++)                                                                    \
                for (int n = 0; n < W; n++) acc[i][n] += a[i] * b[n];                                         \
        }                                                                                                     \
        for (int i = 0; i < rows; i++) /* the bias last, as torch's baddbmm: bias + (A B) */                 \
            for (int n = 0; n < W; n++) C[i * ldc + n] = bias ? bias[i] + acc[i][n] : acc[i][n];            \
    }
TILE(64)
TILE(32)
TILE(16)
TILE(8)
TILE(1)

static void matmul(int64_t M, int64_t K, int64_t N, const float *A, int64_t rs, int64_t cs, const float *Bm,
                   int64_t ldb, const float *bias, float *C, int64_t ldc) {
    for (int64_t m0 = 0; m0 < M; m0 += ROWS) {
        const int64_t rows = M - m0 < ROWS ? M - m0 : ROWS;
        const float *Am = A + m0 * rs, *bm = bias ? bias + m0 : NULL;
        float *Cm = C + m0 * ldc;
        int64_t n0 = 0;
        for (; n0 + 64 <= N; n0 += 64) tile64(rows, K, Am, rs, cs, Bm + n0, ldb, bm, Cm + n0, ldc);
        if (n0 + 32 <= N) tile32(rows, K, Am, rs, cs, Bm + n0, ldb, bm, Cm + n0, ldc), n0 += 32;
        if (n0 + 16 <= N) tile16(rows, K, Am, rs, cs, Bm + n0, ldb, bm, Cm + n0, ldc), n0 += 16;
        if (n0 + 8 <= N) tile8(rows, K, Am, rs, cs, Bm + n0, ldb, bm, Cm + n0, ldc), n0 += 8;
        for (; n0 < N; n0++) tile1(rows, K, Am, rs, cs, Bm + n0, ldb, bm, Cm + n0, ldc);
    }
}

#if defined(__AVX__)
#include <immintrin.h>
/* out = in^T for an 8 x 8 block (rows ldi and ldo apart): unpack pairs, then quads, then halves */
static inline void transpose8x8(const float *in, int64_t ldi, float *out, int64_t ldo) {
    __m256 r[8], t[8], u[8];
    for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(in + i * ldi);
    for (int i = 0; i < 4; i++) {
        t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 2; i++) {
        u[4 * i + 0] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
        u[4 * i + 1] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0xee);
        u[4 * i + 2] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
        u[4 * i + 3] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xee);
    }
    for (int i = 0; i < 4; i++) {
        _mm256_storeu_ps(out + i * ldo, _mm256_permute2f128_ps(u[i], u[i + 4], 0x20));
        _mm256_storeu_ps(out + (i + 4) * ldo, _mm256_permute2f128_ps(u[i], u[i + 4], 0x31));
    }
}
#endif

#if defined(__AVX512F__)
/* r[c] = column c of the 16 x 16 block whose rows are r[0..15]: unpack pairs, then quads, then 128-bit lanes twice */
static inline void transpose16x16(__m512 r[16]) {
    __m512 t[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; i++) {
        const __m512d a = _mm512_castps_pd(t[4 * i]), b = _mm512_castps_pd(t[4 * i + 1]);
        const __m512d c = _mm512_castps_pd(t[4 * i + 2]), d = _mm512_castps_pd(t[4 * i + 3]);
        r[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
        r[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
        r[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
        r[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
    }
    for (int i = 0; i < 4; i++) {
        t[i] = _mm512_shuffle_f32x4(r[i], r[4 + i], 0x88);
        t[4 + i] = _mm512_shuffle_f32x4(r[i], r[4 + i], 0xdd);
        t[8 + i] = _mm512_shuffle_f32x4(r[8 + i], r[12 + i], 0x88);
        t[12 + i] = _mm512_shuffle_f32x4(r[8 + i], r[12 + i], 0xdd);
    }
    for (int i = 0; i < 8; i++) {
        r[i] = _mm512_shuffle_f32x4(t[i], t[8 + i], 0x88);
        r[8 + i] = _mm512_shuffle_f32x4(t[i], t[8 + i], 0xdd);
    }
}

/* out (N x K) = in (K x N)^T in 16 x 16 blocks, the edges by masks (masked-off lanes are neither read nor written) */
static void transpose(int64_t K, int64_t N, const float *in, float *out) {
    for (int64_t k0 = 0; k0 < K; k0 += 16) {
        const int64_t kk = K - k0 < 16 ? K - k0 : 16;
        const __mmask16 kmask = (__mmask16)((1u << kk) - 1u);
        for (int64_t n0 = 0; n0 < N; n0 += 16) {
            const int64_t nn = N - n0 < 16 ? N - n0 : 16;
            const __mmask16 nmask = (__mmask16)((1u << nn) - 1u);
            __m512 r[16];
            for (int64_t i = 0; i < 16; i++)
                r[i] = i < kk ? _mm512_maskz_loadu_ps(nmask, in + (k0 + i) * N + n0) : _mm512_setzero_ps();
            transpose16x16(r);
            for (int64_t c = 0; c < nn; c++) _mm512_mask_storeu_ps(out + (n0 + c) * K + k0, kmask, r[c]);
        }
    }
}
#else
/* out (N x K) = in (K x N)^T (pure data movement: the same bits whichever way it runs) */
static void transpose(int64_t K, int64_t N, const float *in, float *out) {
    int64_t k0 = 0;
#if defined(__AVX__)
    for (; k0 + 8 <= K; k0 += 8) {
        int64_t n0 = 0;
        for (; n0 + 8 <= N; n0 += 8) transpose8x8(in + k0 * N + n0, N, out + n0 * K + k0, K);
        for (; n0 < N; n0++)
            for (int64_t k = k0; k < k0 + 8; k++) out[n0 * K + k] = in[k * N + n0];
    }
#endif
    for (int64_t n = 0; n < N; n++)
        for (int64_t k = k0; k < K; k++) out[n * K + k] = in[k * N + n];
}
#endif

/* ---- one student's LayerNorm -> affine -> ReLU -> dropout, and its gradient (H x B) ---------- */

/* Column sums over the units in unit order for states b0 .. b0 + nb - 1, in registers (a sum kept in
   memory waits on its own store at every unit): out[b] = sum_u z[u B + b], or, with centre,
   sum_u (z[u B + b] - centre[b])^2. */
static inline void column_sums(int64_t H, int64_t B, int64_t b0, int64_t nb, const float *z, const float *centre,
                               float *out) {
    float acc[LANES] = {0};
    if (nb == LANES && centre)
        for (int64_t u = 0; u < H; u++)
            for (int k = 0; k < LANES; k++) {
                const float d = z[u * B + b0 + k] - centre[b0 + k];
                acc[k] += d * d;
            }
    else if (nb == LANES)
        for (int64_t u = 0; u < H; u++)
            for (int k = 0; k < LANES; k++) acc[k] += z[u * B + b0 + k];
    else if (centre) /* the tail: the same expressions, so that they contract alike */
        for (int64_t u = 0; u < H; u++)
            for (int64_t k = 0; k < nb; k++) {
                const float d = z[u * B + b0 + k] - centre[b0 + k];
                acc[k] += d * d;
            }
    else
        for (int64_t u = 0; u < H; u++)
            for (int64_t k = 0; k < nb; k++) acc[k] += z[u * B + b0 + k];
    for (int64_t k = 0; k < nb; k++) out[b0 + k] = acc[k];
}

/* Dropout stream word of unit u, state 0 (position first + u, the module's top); state b's is b H GAMMA further */
static inline uint64_t stream_word(uint64_t key, uint64_t first, int64_t u) {
    return key + (first + (uint64_t)u + 1) * GAMMA;
}

static inline int kept_word(uint64_t word, int64_t threshold) { return (int64_t)(mix64(word) >> 32) >= threshold; }

static void ln_forward(int64_t H, int64_t B, float *z, const float *gamma, const float *beta, float eps, float *h,
                       float *rstd, float *mean, uint64_t key, int64_t threshold, float scale, int dropout,
                       uint64_t first) {
    int64_t b0 = 0;
    for (; b0 + LANES <= B; b0 += LANES) column_sums(H, B, b0, LANES, z, NULL, mean);
    if (b0 < B) column_sums(H, B, b0, B - b0, z, NULL, mean);
    for (int64_t b = 0; b < B; b++) mean[b] /= (float)H;
    for (b0 = 0; b0 + LANES <= B; b0 += LANES) column_sums(H, B, b0, LANES, z, mean, rstd);
    if (b0 < B) column_sums(H, B, b0, B - b0, z, mean, rstd);
    for (int64_t b = 0; b < B; b++) rstd[b] = 1.0f / sqrtf(rstd[b] / (float)H + eps);
    const uint64_t stride = (uint64_t)H * GAMMA;
    for (int64_t u = 0; u < H; u++) {
        float *x = z + u * B, *out = h + u * B;
        for (int64_t b = 0; b < B; b++) {
            const float xhat = (x[b] - mean[b]) * rstd[b];
            const float y = xhat * gamma[u] + beta[u];
            x[b] = xhat;
            out[b] = y > 0.0f ? y : 0.0f;
        }
        if (dropout) {
            uint64_t word = stream_word(key, first, u);
            for (int64_t b = 0; b < B; b++, word += stride) out[b] *= kept_word(word, threshold) ? scale : 0.0f;
        }
    }
}

static void relu_dropout_forward(int64_t H, int64_t B, const float *z, float *h, uint64_t key, int64_t threshold,
                                 float scale, int dropout, uint64_t first) {
    const uint64_t stride = (uint64_t)H * GAMMA;
    for (int64_t u = 0; u < H; u++) {
        for (int64_t b = 0; b < B; b++) h[u * B + b] = z[u * B + b] > 0.0f ? z[u * B + b] : 0.0f;
        if (dropout) {
            uint64_t word = stream_word(key, first, u);
            for (int64_t b = 0; b < B; b++, word += stride) h[u * B + b] *= kept_word(word, threshold) ? scale : 0.0f;
        }
    }
}

/* dh (H x B): in, dL/dh; out, dL/dz. dgamma, dbeta (H,) written when gamma is not NULL; dbias (H,). */
static void block_backward(int64_t H, int64_t B, float *dh, const float *h, const float *xhat, const float *rstd,
                           const float *gamma, float scale, float *dgamma, float *dbeta, float *dbias, float *mean_g,
                           float *mean_gx, float *tmp) {
    for (int64_t u = 0; u < H; u++) { /* dy = dh where the unit passed (h > 0), times the dropout scale */
        float *d = dh + u * B;
        const float *hr = h + u * B;
        for (int64_t b = 0; b < B; b++) d[b] = hr[b] > 0.0f ? d[b] * scale : 0.0f;
    }
    if (gamma) {
        for (int64_t b = 0; b < B; b++) mean_g[b] = mean_gx[b] = 0.0f;
        for (int64_t u = 0; u < H; u++) {
            const float *d = dh + u * B, *xr = xhat + u * B;
            for (int64_t b = 0; b < B; b++) {
                tmp[b] = d[b] * xr[b];
                mean_g[b] += d[b] * gamma[u];
                mean_gx[b] += d[b] * gamma[u] * xr[b];
            }
            dbeta[u] = sum16(d, B);
            dgamma[u] = sum16(tmp, B);
        }
        for (int64_t b = 0; b < B; b++) {
            mean_g[b] /= (float)H;
            mean_gx[b] /= (float)H;
        }
        for (int64_t u = 0; u < H; u++) {
            float *d = dh + u * B;
            const float *xr = xhat + u * B;
            for (int64_t b = 0; b < B; b++) d[b] = rstd[b] * (d[b] * gamma[u] - mean_g[b] - xr[b] * mean_gx[b]);
        }
    }
    for (int64_t u = 0; u < H; u++) dbias[u] = sum16(dh + u * B, B);
}

/* ---- the kernels fused.py calls --------------------------------------------------------- */

/* out[s, f, j] = table[first_row[s] + rows[s, j], f]: rows (S, m) row_stride apart, out (S, F, m). */
void gather_transposed(int64_t S, int64_t m, int64_t F, const float *table, const int64_t *first_row,
                       const int64_t *rows, int64_t row_stride, float *out) {
    for (int64_t s = 0; s < S; s++) {
        float *o = out + s * F * m;
        const int64_t *r = rows + s * row_stride;
        int64_t j = 0;
#if defined(__AVX512F__)
        if (F <= 16) { /* 16 rows at once: each a (masked) load, then one transpose, then F full-width stores */
            const __mmask16 fmask = (__mmask16)((1u << F) - 1u);
            for (; j + 16 <= m; j += 16) {
                __m512 block[16];
                for (int k = 0; k < 16; k++)
                    block[k] = _mm512_maskz_loadu_ps(fmask, table + (first_row[s] + r[j + k]) * F);
                if (j + 32 <= m)
                    for (int k = 0; k < 16; k++) __builtin_prefetch(table + (first_row[s] + r[j + 16 + k]) * F);
                transpose16x16(block);
                for (int64_t f = 0; f < F; f++) _mm512_storeu_ps(o + f * m + j, block[f]);
            }
        }
#endif
        for (; j < m; j++) {
            /* the rows are random: ask for a row well ahead, so that its cache miss overlaps this one's */
            if (j + 8 < m)
                __builtin_prefetch(table + (first_row[s] + r[j + 8]) * F);
            else if (s + 1 < S)
                __builtin_prefetch(table + (first_row[s + 1] + rows[(s + 1) * row_stride + j + 8 - m]) * F);
            const float *src = table + (first_row[s] + r[j]) * F;
            for (int64_t f = 0; f < F; f++) o[f * m + j] = src[f];
        }
    }
}

/* Dropout multipliers out (S, L, n_rows, H), rows then units: unit u of row r of layer l is
   stream position first + l * layer_stride + r * H + u. */
void dropout_multipliers(int64_t S, int64_t L, int64_t n_rows, int64_t H, const uint64_t *keys,
                         const int64_t *thresholds, const float *scales, uint64_t first, uint64_t layer_stride,
                         float *out) {
    for (int64_t s = 0; s < S; s++)
        for (int64_t l = 0; l < L; l++) {
            const uint64_t key = keys[s], n0 = first + (uint64_t)l * layer_stride;
            float *o = out + (s * L + l) * n_rows * H;
            for (int64_t i = 0; i < n_rows * H; i++) o[i] = kept(key, n0 + (uint64_t)i, thresholds[s]) ? scales[s] : 0.0f;
        }
}

/* The distillation loss of S students and its gradient (see the top of the file). Each of q, p,
   plogp, action has its own strides (student, action) and contiguous states; loss (S,) and,
   unless NULL, dq (S, A, B) contiguous are written. */
void kl_blend_loss(int64_t S, int64_t A, int64_t B, const float *q, int64_t q_s, int64_t q_a, const float *p,
                   int64_t p_s, int64_t p_a, const float *plogp, int64_t l_s, int64_t l_a, const int64_t *action,
                   int64_t action_s, const float *alpha, const float *one_minus_alpha, const float *temperature,
                   float *loss, float *dq) {
    float *work = malloc(sizeof(float) * (size_t)(7 * B));
    float *m = work, *m_t = work + B, *z = work + 2 * B, *z_t = work + 3 * B, *z_sum_g = work + 4 * B;
    float *soft = work + 5 * B, *hard = work + 6 * B;
    for (int64_t s = 0; s < S; s++) {
        const float t = temperature[s], w_soft = alpha[s], w_hard = one_minus_alpha[s];
        const float *qs = q + s * q_s, *ps = p + s * p_s, *ls = plogp + s * l_s;
        const int64_t *act = action + s * action_s;
        for (int64_t b = 0; b < B; b++) m[b] = qs[b];
        for (int64_t a = 1; a < A; a++)
            for (int64_t b = 0; b < B; b++) m[b] = qs[a * q_a + b] > m[b] ? qs[a * q_a + b] : m[b];
        for (int64_t b = 0; b < B; b++) {
            m_t[b] = m[b] / t; /* division is monotone: the max of q / T */
            z[b] = z_t[b] = soft[b] = 0.0f;
        }
        for (int64_t a = 0; a < A; a++)
            for (int64_t b = 0; b < B; b++) {
                z[b] += exp_poly(qs[a * q_a + b] - m[b]);
                z_t[b] += exp_poly(qs[a * q_a + b] / t - m_t[b]);
            }
        for (int64_t b = 0; b < B; b++) {
            z[b] = log_poly(z[b]); /* log_softmax(x)_a = x_a - max - log sum exp(x - max) */
            z_t[b] = log_poly(z_t[b]);
        }
        for (int64_t a = 0; a < A; a++) {
            const float *qa = qs + a * q_a, *pa = ps + a * p_a, *la = ls + a * l_a;
            for (int64_t b = 0; b < B; b++) soft[b] += la[b] - pa[b] * (qa[b] / t - m_t[b] - z_t[b]);
        }
        for (int64_t b = 0; b < B; b++) hard[b] = -(qs[act[b] * q_a + b] - m[b] - z[b]); /* at the teacher's action */
        loss[s] = w_soft * (sum16(soft, B) / (float)B * t * t) + w_hard * (sum16(hard, B) / (float)B);
        if (dq) {
            /* the operations autograd does on the formula of losses.kl_blend_loss, in its order, so that
               the two gradients differ by exp and log only: a rounding that is not the same for every
               element (a systematic one, such as a factor rounded otherwise, biases the soft/hard blend) */
            const float k = w_soft * t * t / (float)B, c = w_hard / (float)B;
            for (int64_t b = 0; b < B; b++) z_sum_g[b] = 0.0f;
            for (int64_t a = 0; a < A; a++)
                for (int64_t b = 0; b < B; b++) z_sum_g[b] += -(k * ps[a * p_a + b]);
            for (int64_t b = 0; b < B; b++) hard[b] = (float)act[b]; /* the action, a small integer: exact */
            for (int64_t a = 0; a < A; a++) {
                const float *qa = qs + a * q_a, *pa = ps + a * p_a;
                float *d = dq + (s * A + a) * B;
                for (int64_t b = 0; b < B; b++) /* the soft term's gradient */
                    d[b] = (-(k * pa[b]) - exp_poly(qa[b] / t - m_t[b] - z_t[b]) * z_sum_g[b]) / t;
                for (int64_t b = 0; b < B; b++) { /* plus the hard term's */
                    const float hit = hard[b] == (float)a ? 1.0f : 0.0f; /* at the teacher's action */
                    d[b] += exp_poly(qa[b] - m[b] - z[b]) * c - hit * c;
                }
            }
        }
    }
    free(work);
}

/* The forward pass of S students (see the top of the file). L blocks; dims (L + 2,); per block
   i: offsets[4 i .. 4 i + 3] = W, b, gamma, beta in a row of theta (gamma -1: no LayerNorm),
   then the head's W, b at offsets[4 L], offsets[4 L + 1]; dropout[i]: the block's dropout layer
   (-1: none). xt (S, D, B); per block, z[i] (S, H_i, B) receives xhat (or the pre-activation
   without LayerNorm), h[i] the output, rstd[i] (S, B) the inverse deviations; q (S, A, B).
   keys NULL: eval mode (no dropout); else firsts[l]: dropout layer l's stream position of state 0. */
void mlp_forward(int64_t S, int64_t B, int64_t L, const int64_t *dims, const int64_t *offsets, const int64_t *dropout,
                 const float *theta, int64_t P, float eps, const float *xt, const int64_t *z, const int64_t *h,
                 const int64_t *rstd, float *q, const uint64_t *keys, const int64_t *thresholds, const float *scales,
                 const uint64_t *firsts) {
    float *mean = malloc(sizeof(float) * (size_t)B);
    for (int64_t s = 0; s < S; s++) {
        const float *th = theta + s * P, *a = xt + s * dims[0] * B;
        for (int64_t i = 0; i < L; i++) {
            const int64_t H = dims[i + 1], K = dims[i], *o = offsets + 4 * i;
            float *zs = (float *)(intptr_t)z[i] + s * H * B, *hs = (float *)(intptr_t)h[i] + s * H * B;
            matmul(H, K, B, th + o[0], K, 1, a, B, th + o[1], zs, B);
            const int drop = keys != NULL && dropout[i] >= 0;
            const uint64_t key = keys ? keys[s] : 0, first = drop ? firsts[dropout[i]] : 0;
            const int64_t threshold = keys ? thresholds[s] : 0;
            const float scale = keys ? scales[s] : 1.0f;
            if (o[2] >= 0)
                ln_forward(H, B, zs, th + o[2], th + o[3], eps, hs, (float *)(intptr_t)rstd[i] + s * B, mean, key,
                           threshold, scale, drop, first);
            else
                relu_dropout_forward(H, B, zs, hs, key, threshold, scale, drop, first);
            a = hs;
        }
        const int64_t A = dims[L + 1], K = dims[L];
        matmul(A, K, B, th + offsets[4 * L], K, 1, a, B, th + offsets[4 * L + 1], q + s * A * B, B);
    }
    free(mean);
}

/* The backward pass from dq (S, A, B), then clipping and Adam, of the last mlp_forward (train
   mode; the same arguments). theta, m, v (S, P) are updated in place; scales NULL: no dropout;
   grads (S, P), if not NULL, receives the gradients (before clipping). hyper = (w1, b2, w2, eps,
   step_size, bc2_sqrt); max_norm (S,), clip (S,) 0 or 1. */
void mlp_backward_adam(int64_t S, int64_t B, int64_t L, const int64_t *dims, const int64_t *offsets,
                       const int64_t *dropout, float *theta, int64_t P, const float *xt, const int64_t *z,
                       const int64_t *h, const int64_t *rstd, const float *dq, const float *scales, float *m, float *v,
                       const float *max_norm, const uint8_t *clip, const float *hyper, float *grads) {
    int64_t width = dims[0];
    for (int64_t i = 1; i < L + 2; i++) width = dims[i] > width ? dims[i] : width;
    float *g = malloc(sizeof(float) * (size_t)P), *at = malloc(sizeof(float) * (size_t)(width * B));
    float *dh = malloc(sizeof(float) * (size_t)(width * B)), *da = malloc(sizeof(float) * (size_t)(width * B));
    float *work = malloc(sizeof(float) * (size_t)(3 * B));
    const float w1 = hyper[0], b2 = hyper[1], w2 = hyper[2], eps = hyper[3], step_size = hyper[4], bc2 = hyper[5];
    for (int64_t s = 0; s < S; s++) {
        float *th = theta + s * P;
        const float *dqs = dq + s * dims[L + 1] * B;
        /* the head: dW = dq a^T, db = sum_b dq, da = W^T dq */
        {
            const int64_t A = dims[L + 1], K = dims[L];
            const float *a = (const float *)(intptr_t)h[L - 1] + s * K * B;
            transpose(K, B, a, at);
            matmul(A, B, K, dqs, B, 1, at, K, NULL, g + offsets[4 * L], K);
            for (int64_t j = 0; j < A; j++) g[offsets[4 * L + 1] + j] = sum16(dqs + j * B, B);
            matmul(K, A, B, th + offsets[4 * L], 1, K, dqs, B, NULL, dh, B);
        }
        for (int64_t i = L - 1; i >= 0; i--) {
            const int64_t H = dims[i + 1], K = dims[i], *o = offsets + 4 * i;
            const float *hs = (const float *)(intptr_t)h[i] + s * H * B, *xs = (const float *)(intptr_t)z[i] + s * H * B;
            const float scale = scales != NULL && dropout[i] >= 0 ? scales[s] : 1.0f;
            const int norm = o[2] >= 0;
            block_backward(H, B, dh, hs, xs, norm ? (const float *)(intptr_t)rstd[i] + s * B : NULL,
                           norm ? th + o[2] : NULL, scale, norm ? g + o[2] : NULL, norm ? g + o[3] : NULL, g + o[1],
                           work, work + B, work + 2 * B);
            const float *a = i > 0 ? (const float *)(intptr_t)h[i - 1] + s * K * B : xt + s * K * B;
            transpose(K, B, a, at);
            matmul(H, B, K, dh, B, 1, at, K, NULL, g + o[0], K); /* dW = dz a^T */
            if (i > 0) {
                matmul(K, H, B, th + o[0], 1, K, dh, B, NULL, da, B); /* da = W^T dz */
                float *swap = dh;
                dh = da;
                da = swap;
            }
        }
        if (grads) memcpy(grads + s * P, g, sizeof(float) * (size_t)P);
        float coef = 1.0f;
        if (clip[s]) {
            const float c = max_norm[s] / (sqrtf(sumsq16(g, P)) + 1e-6f);
            coef = c < 1.0f ? c : 1.0f;
        }
        float *ms = m + s * P, *vs = v + s * P;
        for (int64_t j = 0; j < P; j++) {
            const float gj = g[j] * coef;
            ms[j] += w1 * (gj - ms[j]);
            vs[j] = b2 * vs[j] + w2 * (gj * gj);
            th[j] -= step_size * (ms[j] / (sqrtf(vs[j]) / bc2 + eps));
        }
    }
    free(g);
    free(at);
    free(dh);
    free(da);
    free(work);
}
