/* Term quantization (dse/quant/terms.py, the lookup-table method) as one fused pass per block
 * of groups: read the values (integers, or floats rounded as round(x * prescale)), count the
 * digits per bit plane of each group, find the cut (plane p* and how many of its digits are
 * kept, lowest index first), and write each value with its digits below the cut dropped.
 *
 * The tables come from Python (the torch path's own tables), so both paths read the same
 * numbers: `codes` (n_words, V) packs, per value, a counter field per plane holding 1 where
 * the value has a nonzero digit; `cut` (n_pos + 1, V) holds each value with its digits below
 * plane c dropped, sign restored, already in the output dtype (and divided by the fake-quant
 * scale where the caller asked). V = 2 * vmax + 1, indexed by value + vmax.
 *
 * Floats are rounded as torch does it: x * prescale in the input's precision, then
 * nearbyint (half to even; -ffp-contract=off keeps the product one rounding), then
 * truncation to int (the value is integral by then).
 *
 * No state; term_rows allocates two scratch buffers per call (one block of indices, one
 * group of running counts). Returns 0 on success, 1 when they could not be allocated, 2 when
 * a value lies outside -vmax..vmax or is NaN, 3 for arguments it does not handle (the caller
 * then takes its torch path; nothing it needs has been lost: only `out` may have been partly
 * written). Values are checked block by block before any table is read with them.
 */
#include <stdint.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>

enum { IN_F32 = 0, IN_F64 = 1, IN_I32 = 2, IN_I64 = 3 };

#define BLOCK 4096 /* values per block: the int32 indices stay in L1 */

/* x[0 .. n) -> idx = value + vmax; returns nonzero when a value is out of range. */
static int to_index(const void *x, int32_t dtype, int64_t off, int64_t n, int32_t has_prescale,
                    double prescale, int32_t vmax, int32_t *idx)
{
    const uint32_t span = 2u * (uint32_t)vmax;
    uint32_t bad = 0;
    int64_t i;
    switch (dtype) {
    case IN_F32: {
        const float *p = (const float *)x + off;
        if (has_prescale) {
            const float s = (float)prescale;
            for (i = 0; i < n; i++) {
                float t = nearbyintf(p[i] * s);
                /* range checked on the float: a NaN or a huge value never reaches the cast */
                int ok = t >= -(float)vmax && t <= (float)vmax;
                bad |= !ok;
                idx[i] = (int32_t)(ok ? t : 0.0f) + vmax;
            }
        } else {
            for (i = 0; i < n; i++) {
                float t = p[i];
                int ok = t >= -(float)vmax && t <= (float)vmax;
                bad |= !ok;
                idx[i] = (int32_t)(ok ? t : 0.0f) + vmax;
            }
        }
        break;
    }
    case IN_F64: {
        const double *p = (const double *)x + off;
        for (i = 0; i < n; i++) {
            double t = has_prescale ? nearbyint(p[i] * prescale) : p[i];
            int ok = t >= -(double)vmax && t <= (double)vmax;
            bad |= !ok;
            idx[i] = (int32_t)(ok ? t : 0.0) + vmax;
        }
        break;
    }
    case IN_I32: {
        const int32_t *p = (const int32_t *)x + off;
        for (i = 0; i < n; i++) {
            uint32_t u = (uint32_t)((int64_t)p[i] + vmax);
            bad |= u > span;
            idx[i] = (int32_t)u;
        }
        break;
    }
    case IN_I64: {
        const int64_t *p = (const int64_t *)x + off;
        for (i = 0; i < n; i++) {
            int64_t v = p[i];
            int ok = v >= -(int64_t)vmax && v <= (int64_t)vmax;
            bad |= !ok;
            idx[i] = (int32_t)(ok ? v : 0) + vmax;
        }
        break;
    }
    default:
        return 2;
    }
    return bad ? 2 : 0;
}

/* out[i] = table[idx[i]] for elements of `elsize` bytes. */
static void gather(const void *table, int32_t elsize, const int32_t *idx, int64_t n, void *out, int64_t off)
{
    int64_t i;
    switch (elsize) {
    case 1: {
        const uint8_t *t = table;
        uint8_t *o = (uint8_t *)out + off;
        for (i = 0; i < n; i++)
            o[i] = t[idx[i]];
        break;
    }
    case 2: {
        const uint16_t *t = table;
        uint16_t *o = (uint16_t *)out + off;
        for (i = 0; i < n; i++)
            o[i] = t[idx[i]];
        break;
    }
    case 4: {
        const uint32_t *t = table;
        uint32_t *o = (uint32_t *)out + off;
        for (i = 0; i < n; i++)
            o[i] = t[idx[i]];
        break;
    }
    default: {
        const uint64_t *t = table;
        uint64_t *o = (uint64_t *)out + off;
        for (i = 0; i < n; i++)
            o[i] = t[idx[i]];
        break;
    }
    }
}

/* 1 when every one of the n floats is integral (NaN is not; +-inf is, as torch.round(inf) ==
 * inf), else 0: term_quantize's input check in one pass, without a rounded copy. With range,
 * the smallest and largest value are written there too (the caller then needs no min/max
 * pass of its own; meaningless when 0 is returned). */
int64_t term_integral(const void *x, int32_t dtype, int64_t n, double *range)
{
    int64_t i;
    int bad = 0;
    /* min/max on integer keys ordered as the floats are (sign-magnitude flipped to two's
     * complement): integer reductions vectorize, float ones do not without fast-math */
    if (dtype == IN_F32) {
        const float *p = x;
        int32_t lo = INT32_MAX, hi = INT32_MIN;
        for (i = 0; i < n; i++) {
            uint32_t u;
            memcpy(&u, p + i, sizeof u);
            bad |= nearbyintf(p[i]) != p[i];
            int32_t key = (int32_t)(u ^ ((0u - (u >> 31)) & 0x7fffffffu));
            lo = key < lo ? key : lo;
            hi = key > hi ? key : hi;
        }
        if (range) {
            uint32_t kb[2] = {(uint32_t)lo, (uint32_t)hi};
            for (int j = 0; j < 2; j++) {
                float f;
                kb[j] ^= (0u - (kb[j] >> 31)) & 0x7fffffffu; /* (the same flip undoes itself) */
                memcpy(&f, &kb[j], sizeof f);
                range[j] = f;
            }
        }
    } else if (dtype == IN_F64) {
        const double *p = x;
        int64_t lo = INT64_MAX, hi = INT64_MIN;
        for (i = 0; i < n; i++) {
            uint64_t u;
            memcpy(&u, p + i, sizeof u);
            bad |= nearbyint(p[i]) != p[i];
            int64_t key = (int64_t)(u ^ ((0u - (u >> 63)) & 0x7fffffffffffffffu));
            lo = key < lo ? key : lo;
            hi = key > hi ? key : hi;
        }
        if (range) {
            uint64_t kb[2] = {(uint64_t)lo, (uint64_t)hi};
            for (int j = 0; j < 2; j++) {
                double f;
                kb[j] ^= (0u - (kb[j] >> 63)) & 0x7fffffffffffffffu;
                memcpy(&f, &kb[j], sizeof f);
                range[j] = f;
            }
        }
    }
    return !bad;
}

/* One budget per value (group size 1): out = table[value + vmax], `table` holding each value
 * with only its largest terms. */
int64_t term_values(const void *x, int32_t dtype, int64_t n, int32_t has_prescale, double prescale,
                    int32_t vmax, const void *table, int32_t elsize, void *out)
{
    int32_t idx[BLOCK];
    for (int64_t start = 0; start < n; start += BLOCK) {
        int64_t m = n - start < BLOCK ? n - start : BLOCK;
        if (to_index(x, dtype, start, m, has_prescale, prescale, vmax, idx))
            return 2;
        gather(table, elsize, idx, m, out, start);
    }
    return 0;
}

/* What the branch-free cut needs of a budget k, computed once per row: k clamped to the most
 * digits a group can hold, and the constant that sets field p's guard bit (w - 1) iff the
 * group has more than k digits in planes >= p (s_p + 2**(w-1) - 1 - min(k, most - 1)). */
typedef struct {
    uint64_t hadd;
    int64_t kk;
} swar_budget;

static inline swar_budget swar_prepare(int64_t k, int32_t w, int64_t most, uint64_t ones)
{
    swar_budget b;
    int64_t k1 = k < most - 1 ? k : most - 1;
    b.hadd = (uint64_t)((((int64_t)1 << (w - 1)) - 1 - k1)) * ones;
    b.kk = k < most ? k : most;
    return b;
}

/* The cut of one group whose per-plane digit totals (w-bit fields, one word) are `tot`: sets
 * *pc (p*, >= 0) and returns r, the digits of plane p* still kept (those with an inclusive
 * per-plane count <= r are kept). Same rule as terms._table_groups. */
static inline int64_t cut_swar(uint64_t tot, swar_budget b, int32_t w, int32_t n_pos, uint64_t ones, int32_t *pc)
{
    const uint64_t fm = ((uint64_t)1 << w) - 1;
    uint64_t s = tot;
    for (int32_t step = 1; step < n_pos; step <<= 1) /* field p: digits in planes >= p */
        s += s >> (w * step);
    uint64_t over = ((s + b.hadd) >> (w - 1)) & ones; /* fields 0..p*: the budget runs out there */
    int32_t p = __builtin_popcountll(over) - 1;
    if (p < 0)
        p = 0;
    uint64_t above = (s >> (w * (p + 1))) & fm; /* (w * n_pos <= 63: the shift is defined) */
    *pc = p;
    return b.kk - (int64_t)above;
}

static inline int64_t cut_plain(const uint64_t *tot, int64_t k, int32_t w, int32_t per_word,
                                int32_t n_pos, int64_t most, int32_t *pc)
{
    const uint64_t fm = ((uint64_t)1 << w) - 1;
    int64_t kk = k < most ? k : most;
    int64_t s = 0;
    for (int32_t p = n_pos - 1; p >= 0; p--) {
        int64_t cnt = (int64_t)((tot[p / per_word] >> (w * (p % per_word))) & fm);
        if (s + cnt > kk) {
            *pc = p;
            return kk - s;
        }
        s += cnt;
    }
    *pc = 0; /* every digit fits: nothing is dropped */
    return kk;
}

/* The SWAR method (one word of codes whose w-bit fields hold a group's totals) on n_groups
 * whole groups of G values: idx (value + vmax) becomes the index of the value's result in the
 * cut table (row p*, or p* + 1 for a digit of plane p* past the first r). The running counts
 * go to cbuf (G entries) so that the last loop has no dependency from one value to the next
 * and vectorizes. */
static inline void groups_swar(int32_t *idx, int64_t n_groups, const int64_t G, swar_budget b,
                               const uint64_t *codes, int32_t w, int32_t n_pos, uint64_t ones, int32_t V,
                               uint64_t *cbuf)
{
    const uint64_t fm = ((uint64_t)1 << w) - 1;
    for (int64_t j = 0; j < n_groups; j++) {
        int32_t *gi = idx + j * G;
        uint64_t tot = 0;
        for (int64_t i = 0; i < G; i++) {
            tot += codes[gi[i]];
            cbuf[i] = tot; /* per-plane digit counts up to and including value i */
        }
        int32_t pc;
        const uint64_t r = (uint64_t)cut_swar(tot, b, w, n_pos, ones, &pc);
        const int32_t shift = w * pc, base = pc * V;
        for (int64_t i = 0; i < G; i++) /* cut row p*, or p* + 1 past the first r digits of p* */
            gi[i] += base + (((cbuf[i] >> shift) & fm) > r ? V : 0);
    }
}

#define NB 16
/* The same for groups of G <= 8 values, NB groups at a time as SIMD lanes: every step is
 * elementwise over the lanes, so the compiler vectorizes across groups where a group alone
 * is too short to. The cut is cut_swar's, its prefix steps written out (3 cover 8 planes). */
static inline void groups_swar_lanes(int32_t *idx, int64_t n_groups, const int64_t G, swar_budget sb,
                                     const uint64_t *codes, int32_t w, int32_t n_pos, uint64_t ones, int32_t V)
{
    const uint64_t fm = ((uint64_t)1 << w) - 1;
    const uint64_t hadd = sb.hadd;
    const int64_t kk = sb.kk;
    /* prefix steps over the planes (a shift past the w * n_pos <= 63 bits in use adds 0) */
    const int32_t sh1 = w, sh2 = 2 * w < 63 ? 2 * w : 63, sh4 = 4 * w < 63 ? 4 * w : 63;
    const int32_t sh8 = 8 * w < 63 ? 8 * w : 63, sh16 = 16 * w < 63 ? 16 * w : 63;
    const int big = n_pos > 8;
    int64_t j = 0;
    for (; j + NB <= n_groups; j += NB) {
        int32_t *b = idx + j * G;
        uint64_t cum[8][NB], s[NB];
        int32_t shift[NB], base[NB];
        uint64_t r[NB];
        for (int64_t l = 0; l < NB; l++)
            s[l] = 0;
        for (int64_t i = 0; i < G; i++)
            for (int64_t l = 0; l < NB; l++) {
                s[l] += codes[b[l * G + i]];
                cum[i][l] = s[l];
            }
        for (int64_t l = 0; l < NB; l++) {
            uint64_t t = s[l];
            t += t >> sh1;
            t += t >> sh2;
            t += t >> sh4;
            if (big) { /* more than 8 planes (values of 8 bits and more) */
                t += t >> sh8;
                t += t >> sh16;
            }
            uint64_t over = ((t + hadd) >> (w - 1)) & ones;
            int32_t p = __builtin_popcountll(over) - 1;
            p = p < 0 ? 0 : p;
            r[l] = (uint64_t)(kk - (int64_t)((t >> (w * (p + 1))) & fm));
            shift[l] = w * p;
            base[l] = p * V;
        }
        for (int64_t i = 0; i < G; i++)
            for (int64_t l = 0; l < NB; l++)
                b[l * G + i] += base[l] + (((cum[i][l] >> shift[l]) & fm) > r[l] ? V : 0);
    }
}

/* The general method (counter fields of w bits, per_word planes per word, n_words words):
 * one group of gl values. */
static void group_plain(int32_t *gi, int64_t gl, int64_t k, const uint64_t *codes, int32_t n_words, int32_t w,
                        int32_t per_word, int32_t n_pos, int64_t most, int32_t V, uint64_t *cbuf)
{
    const uint64_t fm = ((uint64_t)1 << w) - 1;
    uint64_t tot[64] = {0};
    if (n_words == 1) { /* one pass: the running counts are the totals at the end */
        uint64_t cum = 0;
        for (int64_t i = 0; i < gl; i++) {
            cum += codes[gi[i]];
            cbuf[i] = cum;
        }
        tot[0] = cum;
    } else {
        for (int64_t i = 0; i < gl; i++)
            for (int32_t j = 0; j < n_words; j++)
                tot[j] += codes[j * (int64_t)V + gi[i]];
    }
    int32_t pc;
    const uint64_t r = (uint64_t)cut_plain(tot, k, w, per_word, n_pos, most, &pc);
    const int32_t shift = w * (pc % per_word), base = pc * V;
    if (n_words > 1) {
        const uint64_t *cw = codes + (pc / per_word) * (int64_t)V;
        uint64_t cum = 0;
        for (int64_t i = 0; i < gl; i++) {
            cum += cw[gi[i]];
            cbuf[i] = cum;
        }
    }
    for (int64_t i = 0; i < gl; i++)
        gi[i] += base + (((cbuf[i] >> shift) & fm) > r ? V : 0);
}

/* Whole groups of g values (nf of them) at idx, SWAR method: up to 8 values per group, 16
 * groups at a time as lanes; larger groups one at a time. */
static void swar_dispatch(int32_t *idx, int64_t nf, int64_t g, swar_budget b, const uint64_t *codes, int32_t w,
                          int32_t n_pos, uint64_t ones, int32_t V, uint64_t *cbuf)
{
    if (g <= 8) {
        const int64_t nl = nf / NB * NB;
        switch (g) { /* (constant group sizes: the loops over a group unroll) */
        case 1: groups_swar_lanes(idx, nl, 1, b, codes, w, n_pos, ones, V); break;
        case 2: groups_swar_lanes(idx, nl, 2, b, codes, w, n_pos, ones, V); break;
        case 3: groups_swar_lanes(idx, nl, 3, b, codes, w, n_pos, ones, V); break;
        case 4: groups_swar_lanes(idx, nl, 4, b, codes, w, n_pos, ones, V); break;
        default: groups_swar_lanes(idx, nl, g, b, codes, w, n_pos, ones, V);
        }
        idx += nl * g;
        nf -= nl;
    }
    groups_swar(idx, nf, g, b, codes, w, n_pos, ones, V, cbuf);
}

/* Rows of `length` values, groups of g along each row (the last one may be short), budget
 * k (or k_rows[row] when k_rows is not NULL). `codes` is (n_words, V) uint64 with fields of
 * w bits, per_word planes per word; swar: one word whose fields also hold a group's digit
 * total (the branch-free cut); `cut` is (n_pos + 1, V) elements of `elsize` bytes. With
 * idx_range, the smallest and largest value + vmax met are written there (the caller sized
 * the tables from a bound and learns the values' real range without a pass of its own). */
int64_t term_rows(const void *x, int32_t dtype, int64_t rows, int64_t length, int32_t has_prescale,
                  double prescale, int64_t g, int64_t k, const int64_t *k_rows, int32_t vmax,
                  const uint64_t *codes, int32_t n_words, int32_t w, int32_t per_word, int32_t swar,
                  int32_t n_pos, int64_t most, const void *cut, int32_t elsize, void *out, int32_t *idx_range)
{
    int32_t lo = 2 * vmax, hi = 0; /* smallest and largest index seen (idx_range, when given) */
    const int32_t V = 2 * vmax + 1;
    uint64_t ones = 0;
    for (int32_t p = 0; p < n_pos && swar; p++)
        ones |= (uint64_t)1 << (w * p);
    if (n_words > 64 || g < 1)
        return 3;
    int64_t cap = g > BLOCK ? g : BLOCK;
    if (cap > length)
        cap = length;
    if (cap < 1)
        cap = 1;
    int32_t *idx = malloc((size_t)cap * sizeof(int32_t));
    uint64_t *cbuf = malloc((size_t)(g < cap ? g : cap) * sizeof(uint64_t));
    if (idx == NULL || cbuf == NULL) {
        free(idx);
        free(cbuf);
        return 1;
    }
    int64_t rc = 0;
    const int64_t per_block = (cap / g > 0 ? cap / g : 1) * g; /* whole groups per block */
    for (int64_t row = 0; row < rows && rc == 0; row++) {
        const int64_t kr = k_rows ? k_rows[row] : k;
        for (int64_t start = 0; start < length; start += per_block) {
            const int64_t m = length - start < per_block ? length - start : per_block;
            const int64_t off = row * length + start;
            if (to_index(x, dtype, off, m, has_prescale, prescale, vmax, idx)) {
                rc = 2;
                break;
            }
            if (idx_range)
                for (int64_t i = 0; i < m; i++) {
                    lo = idx[i] < lo ? idx[i] : lo;
                    hi = idx[i] > hi ? idx[i] : hi;
                }
            const int64_t nf = m / g, tail = m - nf * g; /* a short group only at the row's end */
            if (swar) {
                const swar_budget b = swar_prepare(kr, w, most, ones);
                swar_dispatch(idx, nf, g, b, codes, w, n_pos, ones, V, cbuf);
                if (tail)
                    groups_swar(idx + nf * g, 1, tail, b, codes, w, n_pos, ones, V, cbuf);
            } else {
                for (int64_t j = 0; j < nf; j++)
                    group_plain(idx + j * g, g, kr, codes, n_words, w, per_word, n_pos, most, V, cbuf);
                if (tail)
                    group_plain(idx + nf * g, tail, kr, codes, n_words, w, per_word, n_pos, most, V, cbuf);
            }
            gather(cut, elsize, idx, m, out, off);
        }
    }
    free(idx);
    free(cbuf);
    if (idx_range) {
        idx_range[0] = lo;
        idx_range[1] = hi;
    }
    return rc;
}
