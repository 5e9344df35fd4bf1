/* Fused CPU kernels of the stacked students' training step (distill_lib/core/fused.py loads them).

   Each function is the elementwise work between two batched matmuls of S students, done
   in one pass over memory instead of one pass per torch operation; fused.py holds the
   torch reference of each (the same formula, op by op), which the tests compare with.
   All tensors are float32, contiguous, the student axis first; a student's parameters
   are rows `param_stride` floats apart (rows of the flat (S, P) buffer). Activations are
   laid out (S, H, B), units before rows, so that a row's statistics over its H units are
   vertical sums over vectors of rows: every loop below runs over rows, contiguous.

   Dropout stream (streams.py, step 3): output n of student s's stream is SplitMix64's,
       x_n = mix64(key_s + (n + 1) * GAMMA)
   (Steele, Lea & Flood 2014, "Fast splittable pseudorandom number generators"; the
   mixer is Stafford's variant 13, as in Vigna's splitmix64.c and Java's SplittableRandom);
   a unit is kept iff (x_n >> 32) >= threshold_s = ceil(p_s * 2^32), and a kept unit is
   multiplied by scale_s = 1 / (1 - p_s).

   LayerNorm (Ba, Kiros & Hinton 2016), per row (state) of H units, with the student's gamma, beta:
       mean = sum(z) / H,  var = sum((z - mean)^2) / H,  rstd = 1 / sqrt(var + eps),
       xhat = (z - mean) * rstd,  y = xhat * gamma + beta,
       h = y * scale if y > 0 and the unit is kept, else 0           (ReLU, then dropout)
   and its gradient (dh -> dz), with g = dy * gamma, dy = dh * scale where h > 0 else 0:
       dz = rstd * (g - mean(g) - xhat * mean(g * xhat)),
       dgamma = sum_rows dy * xhat,  dbeta = sum_rows dy,  dbias = sum_rows dz
   (dbias: the gradient of the Linear layer's bias that produced z).

   A sum over units is taken in unit order; a sum over rows (dgamma, dbeta, dbias, the
   gradient norm) in 16 partial sums folded pairwise, so that it vectorises without
   reassociating flags. Nothing depends on S or on the other students. */

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#define GAMMA 0x9e3779b97f4a7c15ULL
#define LANES 16
#define CHUNK 256 /* rows per pass: the per-row statistics live on the stack */

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

/* sum of x[0:n] * y[0:n], in sum16's order */
static inline float dot16(const float *x, const float *y, int64_t n) {
    float acc[LANES] = {0};
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int k = 0; k < LANES; k++) acc[k] += x[i + k] * y[i + k];
    for (int w = LANES / 2; w > 0; w /= 2)
        for (int k = 0; k < w; k++) acc[k] += acc[k + w];
    float tail = 0.0f;
    for (; i < n; i++) tail += x[i] * y[i];
    return acc[0] + tail;
}

/* Dropout multipliers out (S, L, n_rows, H), rows then units: unit u of row r of layer l is
   stream position first + l * layer_stride + r * H + u. */
void dropout_multipliers(int64_t S, int64_t L, int64_t n_rows, int64_t H, const uint64_t *keys,
                         const int64_t *thresholds, const float *scales, uint64_t first, uint64_t layer_stride,
                         float *out) {
    for (int64_t s = 0; s < S; s++)
        for (int64_t l = 0; l < L; l++) {
            const uint64_t key = keys[s], n0 = first + (uint64_t)l * layer_stride;
            const int64_t t = thresholds[s];
            const float scale = scales[s];
            float *o = out + (s * L + l) * n_rows * H;
            for (int64_t i = 0; i < n_rows * H; i++) o[i] = kept(key, n0 + (uint64_t)i, t) ? scale : 0.0f;
        }
}

/* LayerNorm -> affine -> ReLU -> dropout of S students' B rows of H units.
   z (S, H, B): in, the pre-activations; out, xhat. h (S, H, B): out. rstd (S, B): out, or NULL.
   keys NULL: no dropout (eval mode); else unit u of row b of student s is stream position first + b * H + u. */
void ln_relu_dropout_forward(int64_t S, int64_t H, int64_t B, float *z, const float *gamma, const float *beta,
                             int64_t param_stride, float eps, float *h, float *rstd, const uint64_t *keys,
                             const int64_t *thresholds, const float *scales, uint64_t first) {
    float mean[CHUNK], var[CHUNK], r[CHUNK];
    for (int64_t s = 0; s < S; s++) {
        const float *g = gamma + s * param_stride, *bt = beta + s * param_stride;
        float *zs = z + s * H * B, *hs = h + s * H * B;
        for (int64_t b0 = 0; b0 < B; b0 += CHUNK) {
            const int64_t nb = B - b0 < CHUNK ? B - b0 : CHUNK;
            for (int64_t b = 0; b < nb; b++) mean[b] = var[b] = 0.0f;
            for (int64_t u = 0; u < H; u++) {
                const float *x = zs + u * B + b0;
                for (int64_t b = 0; b < nb; b++) mean[b] += x[b];
            }
            for (int64_t b = 0; b < nb; b++) mean[b] /= (float)H;
            for (int64_t u = 0; u < H; u++) {
                const float *x = zs + u * B + b0;
                for (int64_t b = 0; b < nb; b++) var[b] += (x[b] - mean[b]) * (x[b] - mean[b]);
            }
            for (int64_t b = 0; b < nb; b++) r[b] = 1.0f / sqrtf(var[b] / (float)H + eps);
            for (int64_t u = 0; u < H; u++) {
                float *x = zs + u * B + b0, *out = hs + u * B + b0;
                const float gu = g[u], bu = bt[u];
                for (int64_t b = 0; b < nb; b++) {
                    const float xhat = (x[b] - mean[b]) * r[b];
                    const float y = xhat * gu + bu;
                    x[b] = xhat;
                    out[b] = y > 0.0f ? y : 0.0f;
                }
                if (keys) {
                    const uint64_t key = keys[s], n0 = first + (uint64_t)(b0 * H + u);
                    const int64_t t = thresholds[s];
                    const float scale = scales[s];
                    for (int64_t b = 0; b < nb; b++) out[b] *= kept(key, n0 + (uint64_t)(b * H), t) ? scale : 0.0f;
                }
            }
            if (rstd)
                for (int64_t b = 0; b < nb; b++) rstd[s * B + b0 + b] = r[b];
        }
    }
}

/* The gradient of ln_relu_dropout_forward. dh (S, H, B): in, dL/dh; out, dL/dz. h, xhat (S, H, B)
   and rstd (S, B) from the forward. scales NULL: no dropout. dgamma, dbeta, dbias: (S, H) rows
   grad_stride apart, overwritten. */
void ln_relu_dropout_backward(int64_t S, int64_t H, int64_t B, float *dh, const float *h, const float *xhat,
                              const float *rstd, const float *gamma, int64_t param_stride, const float *scales,
                              float *dgamma, float *dbeta, float *dbias, int64_t grad_stride) {
    float mean_g[CHUNK], mean_gx[CHUNK], tmp[CHUNK];
    for (int64_t s = 0; s < S; s++) {
        const float *gm = gamma + s * param_stride;
        float *dg = dgamma + s * grad_stride, *db = dbeta + s * grad_stride, *dbi = dbias + s * grad_stride;
        const float scale = scales ? scales[s] : 1.0f;
        for (int64_t u = 0; u < H; u++) dg[u] = db[u] = dbi[u] = 0.0f;
        for (int64_t b0 = 0; b0 < B; b0 += CHUNK) {
            const int64_t nb = B - b0 < CHUNK ? B - b0 : CHUNK;
            for (int64_t b = 0; b < nb; b++) mean_g[b] = mean_gx[b] = 0.0f;
            for (int64_t u = 0; u < H; u++) {  /* dy (kept in dh), the affine's gradients, the row sums */
                const int64_t o = (s * H + u) * B + b0;
                float *d = dh + o;
                const float *hr = h + o, *xr = xhat + o;
                const float gu = gm[u];
                for (int64_t b = 0; b < nb; b++) {
                    d[b] = hr[b] > 0.0f ? d[b] * scale : 0.0f;
                    tmp[b] = d[b] * xr[b];
                    mean_g[b] += d[b] * gu;
                    mean_gx[b] += d[b] * gu * xr[b];
                }
                db[u] += sum16(d, nb);
                dg[u] += sum16(tmp, nb);
            }
            for (int64_t b = 0; b < nb; b++) {
                mean_g[b] /= (float)H;
                mean_gx[b] /= (float)H;
            }
            const float *r = rstd + s * B + b0;
            for (int64_t u = 0; u < H; u++) {
                const int64_t o = (s * H + u) * B + b0;
                float *d = dh + o;
                const float *xr = xhat + o;
                const float gu = gm[u];
                for (int64_t b = 0; b < nb; b++) d[b] = r[b] * (d[b] * gu - mean_g[b] - xr[b] * mean_gx[b]);
                dbi[u] += sum16(d, nb);
            }
        }
    }
}

/* Per-student gradient-norm clipping (Pascanu et al. 2013) and Adam (Kingma & Ba 2015) on the
   flat (S, P) weights theta with moments m, v. The gradient is in parameter-major blocks: block k
   holds (S, sizes[k]) at grads + S * offsets[k], and is row offsets[k]:offsets[k] + sizes[k] of P.
   coef_s = min(1, max_norm_s / (||g_s|| + 1e-6)) where clip_s, else 1; then, elementwise,
   m <- m + w1 (g - m); v <- b2 v + w2 g^2; theta <- theta - step_size * (m / (sqrt(v) / bc2_sqrt + eps)),
   with w1 = 1 - b1, w2 = 1 - b2 rounded once from double, as torch.optim.Adam's single-tensor update. */
void clip_adam(int64_t S, int64_t P, int64_t n_blocks, const int64_t *offsets, const int64_t *sizes,
               const float *grads, float *theta, float *m, float *v, const float *max_norm, const uint8_t *clip,
               float w1, float beta2, float w2, float eps, float step_size, float bc2_sqrt) {
    for (int64_t s = 0; s < S; s++) {
        float coef = 1.0f;
        if (clip[s]) {
            float sumsq = 0.0f;
            for (int64_t k = 0; k < n_blocks; k++) {
                const float *gk = grads + S * offsets[k] + s * sizes[k];
                sumsq += dot16(gk, gk, sizes[k]);
            }
            const float c = max_norm[s] / (sqrtf(sumsq) + 1e-6f);
            coef = c < 1.0f ? c : 1.0f;
        }
        for (int64_t k = 0; k < n_blocks; k++) {
            const float *gk = grads + S * offsets[k] + s * sizes[k];
            const int64_t o = s * P + offsets[k];
            float *th = theta + o, *mk = m + o, *vk = v + o;
            for (int64_t i = 0; i < sizes[k]; i++) {
                const float gi = gk[i] * coef;
                mk[i] += w1 * (gi - mk[i]);
                vk[i] = beta2 * vk[i] + w2 * (gi * gi);
                th[i] -= step_size * (mk[i] / (sqrtf(vk[i]) / bc2_sqrt + eps));
            }
        }
    }
}
