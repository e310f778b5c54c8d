/* Fused LSQ fake quantization (dse.quant.fake.lsq_fake_quant) on float32 buffers.

   Layout: R rows (one clip value each; R = 1 for a per-tensor clip) of `inner` contiguous
   values. Every value is computed with the same IEEE float operations, in the same order, as
   the torch ops it replaces (compiled with -ffp-contract=off, no fast-math):

     clip     pf = alpha * f;  e = (alpha - pf) + pf;  a = max(|e|, 1e-8)   (NaN propagates)
     forward  t = x / a;  c = clamp(t, lo, 1);  q = round(c * n) / n  or the nearest level
              (torch.bucketize on the midpoints: first midpoint >= c);  out = q * a
     backward gm = (lo' < t < 1') ? g * a : 0  (hardtanh_backward on the bounds' neighbours)
              gx = gm / a;  sums over each row of g * q and (t / a) * gm, added in the order
              of torch's CPU sum kernel (aten/src/ATen/native/cpu/SumKernel.cpp:
              vectorized_inner_sum / row_sum / multi_row_sum, V lanes per vector)
              ga = S1 - S2;  galpha = ((|e| >= 1e-8 ? ga : 0) * sign(e)) * f

   The reduction order depends on the lanes V of the vectors torch's sum kernel was built with
   (8 on the AVX512 machine this was written on); the Python side (dse/quant/fused.py) finds V
   by comparing fq_rowsum with torch.sum once per process, and uses the product outputs
   (p1, p2; torch sums them) when no width matches. */

#include <math.h>
#include <stdint.h>
#include <string.h>

#define LEVELS 4
#define ILP 4
#define MAXV 16
#define CHUNK 256

static inline void clip_value(int64_t R, const float *alpha, const float *fac, float fs, float *e, float *a) {
    for (int64_t r = 0; r < R; ++r) {
        float f = fac ? fac[r] : fs;
        float al = alpha[r];
        float pf = al * f;
        float ev = (al - pf) + pf;
        float ab = fabsf(ev);
        e[r] = ev;
        a[r] = (isnan(ab) || ab >= 1e-8f) ? ab : 1e-8f;
    }
}

/* torch.clamp(t, lo, 1.0): NaN stays NaN */
static inline float clampf(float t, float lo) {
    if (isnan(t)) return t;
    float c = t < lo ? lo : t;
    return c > 1.0f ? 1.0f : c;
}

/* torch.bucketize(c, mid) (right=False): first index whose midpoint is >= c (cus_lower_bound) */
static inline int64_t lower_bound(const float *mid, int64_t nmid, float c) {
    int64_t lo = 0, hi = nmid;
    while (lo < hi) {
        int64_t m = lo + ((hi - lo) >> 1);
        if (!(mid[m] >= c)) lo = m + 1;
        else hi = m;
    }
    return lo;
}

/* clip value, t = x / a and c = clamp(t, lo, 1) (for a quantizer applied outside) */
void fq_clip(int64_t R, int64_t inner, const float *x, const float *alpha, const float *fac, float fs, float lo,
             float *e, float *a, float *t, float *c) {
    clip_value(R, alpha, fac, fs, e, a);
    for (int64_t r = 0; r < R; ++r) {
        const float ar = a[r];
        const int64_t o = r * inner;
        for (int64_t i = 0; i < inner; ++i) {
            float tv = x[o + i] / ar;
            t[o + i] = tv;
            c[o + i] = clampf(tv, lo);
        }
    }
}

/* out = q * a (per row) */
void fq_scale(int64_t R, int64_t inner, const float *q, const float *a, float *out) {
    for (int64_t r = 0; r < R; ++r) {
        const float ar = a[r];
        const int64_t o = r * inner;
        for (int64_t i = 0; i < inner; ++i) out[o + i] = q[o + i] * ar;
    }
}

/* The whole forward: clip value, t, levels q and out, for x as `rows` rows of `inner` values
   (R == rows: one clip per row; R == 1: one for all). Row r rounds to the uniform grid
   round(c * n) / n (n = n_rows[r], or n_all when n_rows is NULL) unless all_levels or
   level_rows[r] (level_rows may be NULL), where it takes the nearest of the sorted levels
   lv[0..nmid] (midpoints mid[0..nmid-1]). */
void fq_forward(int64_t R, int64_t rows, int64_t inner, const float *x, const float *alpha, const float *fac,
                float fs, float lo, float n_all, const float *n_rows, int64_t all_levels, const uint8_t *level_rows,
                const float *lv, const float *mid, int64_t nmid, float *e, float *a, float *t, float *q, float *out) {
    clip_value(R, alpha, fac, fs, e, a);
    for (int64_t r = 0; r < rows; ++r) {
        const float ar = a[R == 1 ? 0 : r];
        const int64_t o = r * inner;
        if (all_levels || (level_rows && level_rows[r])) {
            for (int64_t i0 = 0; i0 < inner; i0 += CHUNK) {
                const int64_t cnt = inner - i0 < CHUNK ? inner - i0 : CHUNK;
                float cb[CHUNK];
                int32_t kb[CHUNK];
                for (int64_t j = 0; j < cnt; ++j) {
                    float tv = x[o + i0 + j] / ar;
                    t[o + i0 + j] = tv;
                    cb[j] = clampf(tv, lo);
                    kb[j] = 0;
                }
                if (nmid <= 64) { /* count the midpoints below c (= the lower bound for sorted,
                                     finite midpoints), vectorised over values */
                    for (int64_t m = 0; m < nmid; ++m) {
                        const float mm = mid[m];
                        for (int64_t j = 0; j < cnt; ++j) kb[j] += mm < cb[j];
                    }
                    for (int64_t j = 0; j < cnt; ++j)
                        if (isnan(cb[j])) kb[j] = (int32_t)nmid;
                } else {
                    for (int64_t j = 0; j < cnt; ++j) kb[j] = (int32_t)lower_bound(mid, nmid, cb[j]);
                }
                for (int64_t j = 0; j < cnt; ++j) {
                    float qv = lv[kb[j]];
                    q[o + i0 + j] = qv;
                    out[o + i0 + j] = qv * ar;
                }
            }
        } else {
            const float nr = n_rows ? n_rows[r] : n_all;
            for (int64_t i = 0; i < inner; ++i) {
                float tv = x[o + i] / ar;
                float qv = rintf(clampf(tv, lo) * nr) / nr;
                t[o + i] = tv;
                q[o + i] = qv;
                out[o + i] = qv * ar;
            }
        }
    }
}

static inline int64_t ceil_log2(int64_t x) {
    if (x <= 2) return 1;
    uint64_t v = (uint64_t)x - 1;
    int64_t b = 0;
    while (v) { ++b; v >>= 1; }
    return b;
}

/* Where a row's summed terms come from: the backward's per-element products (mode 1: also
   writes gx), or a plain array (mode 0, for fq_rowsum). */
typedef struct {
    const float *t, *q, *g, *p;
    float *gx;
    float a, lo_o, hi_o;
} src_t;

#define INLINE static inline __attribute__((always_inline))

/* p1, p2 for `cnt` elements from i0 (gx written for them in mode 1, or into `sink`) */
INLINE void produce(const src_t *s, int mode, int64_t i0, int64_t cnt, float *p1, float *p2, float *sink) {
    if (mode == 0) {
        for (int64_t j = 0; j < cnt; ++j) {
            p1[j] = s->p[i0 + j];
            p2[j] = 0.0f;
        }
        return;
    }
    const float *t = s->t + i0, *q = s->q + i0, *g = s->g + i0;
    float *gx = s->gx ? s->gx + i0 : sink;
    const float a = s->a, lo = s->lo_o, hi = s->hi_o;
    for (int64_t j = 0; j < cnt; ++j) {
        const float tv = t[j], gv = g[j];
        const float gm = (tv <= lo || tv >= hi) ? 0.0f : gv * a;
        gx[j] = gm / a;
        p1[j] = gv * q[j];
        p2[j] = (tv / a) * gm;
    }
}

/* One row's two sums in torch's order: row_sum over n / V vectors of V lanes (ILP 4 vectors
   per block, multi_row_sum's 4 levels), then (V > 1) the scalar tail and the lanes in order.
   V == 1 is torch's scalar row_sum (rows shorter than one vector). Lane l of vector k of a
   block is flat index k * V + l, as in memory. */
INLINE void cascade(const src_t *s, int mode, int64_t n, const int V, float *o1, float *o2) {
    const int BL = ILP * V;
    float A1[LEVELS][ILP * MAXV], A2[LEVELS][ILP * MAXV];
    float p1[ILP * MAXV], p2[ILP * MAXV], sink[ILP * MAXV];
    for (int lev = 0; lev < LEVELS; ++lev)
        for (int j = 0; j < BL; ++j) A1[lev][j] = A2[lev][j] = 0.0f;
    const int64_t nvec = n / V;
    const int64_t size = nvec / ILP;
    int64_t lp = ceil_log2(size) / LEVELS;
    if (lp < 4) lp = 4;
    const int64_t step = (int64_t)1 << lp, lmask = step - 1;
    int64_t blk = 0;
    for (; blk + step <= size;) {
        for (int64_t j = 0; j < step; ++j, ++blk) {
            produce(s, mode, blk * BL, BL, p1, p2, sink);
            for (int k = 0; k < BL; ++k) {
                A1[0][k] += p1[k];
                A2[0][k] += p2[k];
            }
        }
        for (int lev = 1; lev < LEVELS; ++lev) {
            for (int k = 0; k < BL; ++k) {
                A1[lev][k] += A1[lev - 1][k];
                A1[lev - 1][k] = 0.0f;
                A2[lev][k] += A2[lev - 1][k];
                A2[lev - 1][k] = 0.0f;
            }
            if ((blk & (lmask << (lev * lp))) != 0) break;
        }
    }
    for (; blk < size; ++blk) {
        produce(s, mode, blk * BL, BL, p1, p2, sink);
        for (int k = 0; k < BL; ++k) {
            A1[0][k] += p1[k];
            A2[0][k] += p2[k];
        }
    }
    for (int lev = 1; lev < LEVELS; ++lev)
        for (int k = 0; k < BL; ++k) {
            A1[0][k] += A1[lev][k];
            A2[0][k] += A2[lev][k];
        }
    for (int64_t vi = size * ILP; vi < nvec; ++vi) {
        produce(s, mode, vi * V, V, p1, p2, sink);
        for (int l = 0; l < V; ++l) {
            A1[0][l] += p1[l];
            A2[0][l] += p2[l];
        }
    }
    for (int k = 1; k < ILP; ++k)
        for (int l = 0; l < V; ++l) {
            A1[0][l] += A1[0][k * V + l];
            A2[0][l] += A2[0][k * V + l];
        }
    if (V == 1) {
        *o1 = A1[0][0];
        *o2 = A2[0][0];
        return;
    }
    float s1 = 0.0f, s2 = 0.0f;
    const int64_t tail = n - nvec * V;
    produce(s, mode, nvec * V, tail, p1, p2, sink);
    for (int64_t i = 0; i < tail; ++i) {
        s1 += p1[i];
        s2 += p2[i];
    }
    for (int l = 0; l < V; ++l) {
        s1 += A1[0][l];
        s2 += A2[0][l];
    }
    *o1 = s1;
    *o2 = s2;
}

static void sums_v16(const src_t *s, int mode, int64_t n, float *o1, float *o2) { cascade(s, mode, n, 16, o1, o2); }
static void sums_v8(const src_t *s, int mode, int64_t n, float *o1, float *o2) { cascade(s, mode, n, 8, o1, o2); }
static void sums_v4(const src_t *s, int mode, int64_t n, float *o1, float *o2) { cascade(s, mode, n, 4, o1, o2); }
static void sums_v1(const src_t *s, int mode, int64_t n, float *o1, float *o2) { cascade(s, mode, n, 1, o1, o2); }

static void row_sums(const src_t *s, int mode, int64_t n, int64_t V, float *o1, float *o2) {
    if (n >= V && V == 16) sums_v16(s, mode, n, o1, o2);
    else if (n >= V && V == 8) sums_v8(s, mode, n, o1, o2);
    else if (n >= V && V == 4) sums_v4(s, mode, n, o1, o2);
    else sums_v1(s, mode, n, o1, o2);
}

static float sum_row(int64_t n, const float *p, int64_t V) {
    src_t s = {0};
    s.p = p;
    float s1, s2;
    row_sums(&s, 0, n, V, &s1, &s2);
    return s1;
}

/* torch.sum over each of R rows of `inner` contiguous values, for vector width V (checks the
   reduction order against torch's once per process). */
void fq_rowsum(int64_t R, int64_t inner, const float *p, int64_t V, float *out) {
    for (int64_t r = 0; r < R; ++r) out[r] = 0.0f + sum_row(inner, p + r * inner, V);
}

/* The whole backward. gx may be NULL (input needs no gradient); galpha NULL: no clip
   gradient. V in {16, 8, 4}: sums in torch's order, galpha written; V == 0: the products
   g * q and (t / a) * gm are written to p1, p2 instead (torch sums them). */
void fq_backward(int64_t R, int64_t inner, const float *t, const float *q, const float *g, const float *a,
                 float lo_o, float hi_o, float *gx, int64_t V, const float *e, const float *fac, float fs,
                 float *galpha, float *p1, float *p2) {
    for (int64_t r = 0; r < R; ++r) {
        const float ar = a[r];
        const int64_t o = r * inner;
        const float *tr = t + o, *qr = q + o, *gr = g + o;
        float *gxr = gx ? gx + o : NULL;
        if (!galpha && !p1) {
            for (int64_t i = 0; i < inner; ++i) {
                float gm = gr[i] * ar;
                if (tr[i] <= lo_o || tr[i] >= hi_o) gm = 0.0f;
                gxr[i] = gm / ar;
            }
            continue;
        }
        if (V == 0) {
            float *p1r = p1 + o, *p2r = p2 + o;
            for (int64_t i = 0; i < inner; ++i) {
                const float tv = tr[i], gv = gr[i];
                float gm = gv * ar;
                if (tv <= lo_o || tv >= hi_o) gm = 0.0f;
                if (gxr) gxr[i] = gm / ar;
                p1r[i] = gv * qr[i];
                p2r[i] = (tv / ar) * gm;
            }
            continue;
        }
        src_t src = {tr, qr, gr, NULL, gxr, ar, lo_o, hi_o};
        float s1, s2;
        row_sums(&src, 1, inner, V, &s1, &s2);
        s1 = 0.0f + s1; /* the sum's output starts at 0 (CastStoreAccumulate) */
        s2 = 0.0f + s2;
        float ga = s1 - s2;
        float ev = e[r];
        float f = fac ? fac[r] : fs;
        float gv = fabsf(ev) >= 1e-8f ? ga : 0.0f;
        float sg = ev > 0.0f ? 1.0f : (ev < 0.0f ? -1.0f : (isnan(ev) ? ev : 0.0f));
        galpha[r] = (gv * sg) * f;
    }
}
