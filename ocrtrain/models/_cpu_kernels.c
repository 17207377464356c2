/* Training kernels on the CPU where paddle's are slow (float32), on raw buffer addresses:
 * - depthwise 2-D convolution (NCHW, one 1-channel filter per channel, zero padding, no dilation): the forward, the
 *   input's gradient and the filters' gradient, for ocrtrain/models/depthwise_conv.py;
 * - hard-swish, alone or followed by a learnable scalar affine, forward and backward, for
 *   ocrtrain/models/hardswish.py.
 *
 * A depthwise convolution's (sample, channel) plane is small (a PP-OCRv4 rec plane is at most 24 x 160 floats) and
 * stays in cache, so every kernel tap is one pass of a multiply-add along an output row: a contiguous loop the
 * compiler vectorises when the stride along the width is 1.
 * Single-threaded on purpose: training on the CPU runs one intra-op thread per data-parallel process, and a second
 * runtime of threads beside paddle's would compete with it. The GIL is released while a kernel runs. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* one build, the widest vector unit the CPU has (chosen by the loader at run time) */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define WIDEST_VECTORS __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define WIDEST_VECTORS
#endif

typedef struct {
    long long batch, channels;
    long long height, width, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, out_h, out_w;
} Geometry;

/* The output columns [first, last] whose tap j reads inside the input row; empty when first > last. */
static void tap_columns(const Geometry *g, long long j, long long *first, long long *last) {
    long long before = g->pad_w - j; /* ow * stride_w >= before */
    long long after = g->width - 1 + g->pad_w - j; /* ow * stride_w <= after */
    *first = before > 0 ? (before + g->stride_w - 1) / g->stride_w : 0;
    *last = after < 0 ? -1 : after / g->stride_w;
    if (*last > g->out_w - 1) *last = g->out_w - 1;
}

/* Runs `...` for every run of a tap along an output row that falls inside the input: `tap_at`, the tap's index in
 * its filter; `out_at`, the offset of the run's first output (count of them, adjacent); `in_at`, the offset of the
 * input it reads (count of them, stride_w apart). A macro rather than a callback, so that each kernel's loop over
 * a run stays inline and vectorised. */
#define FOR_EACH_TAP_RUN(g, ...)                                                                              \
    for (long long oh = 0; oh < (g)->out_h; ++oh) {                                                             \
        for (long long i = 0; i < (g)->kernel_h; ++i) {                                                         \
            long long ih = oh * (g)->stride_h + i - (g)->pad_h;                                                 \
            if (ih < 0 || ih >= (g)->height) continue;                                                          \
            for (long long j = 0; j < (g)->kernel_w; ++j) {                                                     \
                long long first, last;                                                                          \
                tap_columns((g), j, &first, &last);                                                             \
                long long count = last - first + 1;                                                             \
                long long out_at = oh * (g)->out_w + first;                                                     \
                long long in_at = ih * (g)->width + first * (g)->stride_w + j - (g)->pad_w;                     \
                long long tap_at = i * (g)->kernel_w + j;                                                       \
                __VA_ARGS__                                                                                     \
            }                                                                                                   \
        }                                                                                                       \
    }

/* The forward (y += tap * x, gathering x stride_w apart) or the input's gradient (dx += tap * dy, scattering into dx
 * stride_w apart) of one plane: the same runs, read and written the other way round. */
WIDEST_VECTORS
static void convolve_plane(const Geometry *g, const float *restrict source, const float *restrict w,
                           float *restrict destination, int forward) {
    long long destination_size = forward ? g->out_h * g->out_w : g->height * g->width;
    memset(destination, 0, sizeof(float) * (size_t)destination_size);
    FOR_EACH_TAP_RUN(g, {
        const float tap = w[tap_at];
        const float *restrict src = source + (forward ? in_at : out_at);
        float *restrict dst = destination + (forward ? out_at : in_at);
        if (g->stride_w == 1) {
            for (long long t = 0; t < count; ++t) dst[t] += tap * src[t];
        } else if (forward) {
            for (long long t = 0; t < count; ++t) dst[t] += tap * src[t * g->stride_w];
        } else {
            for (long long t = 0; t < count; ++t) dst[t * g->stride_w] += tap * src[t];
        }
    })
}

/* Adds each tap's sum of dy * x over the plane to dw_acc (kernel_h x kernel_w, double: summed over the batch). */
WIDEST_VECTORS
static void weight_grad_plane(const Geometry *g, const float *restrict dy, const float *restrict x,
                              double *restrict dw_acc) {
    FOR_EACH_TAP_RUN(g, {
        const float *restrict grad = dy + out_at;
        const float *restrict src = x + in_at;
        float sum = 0.0f;
        if (g->stride_w == 1) {
            _Pragma("omp simd reduction(+ : sum)") for (long long t = 0; t < count; ++t) sum += grad[t] * src[t];
        } else {
            _Pragma("omp simd reduction(+ : sum)") for (long long t = 0; t < count; ++t) sum +=
                grad[t] * src[t * g->stride_w];
        }
        dw_acc[tap_at] += sum;
    })
}

/* Arguments of every entry point: three buffer addresses, then the geometry (see depthwise_conv.py). */
static int parse(PyObject *args, uintptr_t ptr[3], Geometry *g) {
    unsigned long long a, b, c;
    if (!PyArg_ParseTuple(args, "KKKLLLLLLLLLL", &a, &b, &c, &g->batch, &g->channels, &g->height, &g->width,
                          &g->kernel_h, &g->kernel_w, &g->stride_h, &g->stride_w, &g->pad_h, &g->pad_w))
        return 0;
    if (g->batch < 0 || g->channels < 1 || g->height < 1 || g->width < 1 || g->kernel_h < 1 || g->kernel_w < 1 ||
        g->stride_h < 1 || g->stride_w < 1 || g->pad_h < 0 || g->pad_w < 0) {
        PyErr_SetString(PyExc_ValueError, "depthwise conv: invalid geometry");
        return 0;
    }
    g->out_h = (g->height + 2 * g->pad_h - g->kernel_h) / g->stride_h + 1;
    g->out_w = (g->width + 2 * g->pad_w - g->kernel_w) / g->stride_w + 1;
    if (g->out_h < 1 || g->out_w < 1) {
        PyErr_SetString(PyExc_ValueError, "depthwise conv: the kernel is larger than the padded input");
        return 0;
    }
    ptr[0] = (uintptr_t)a, ptr[1] = (uintptr_t)b, ptr[2] = (uintptr_t)c;
    return 1;
}

/* convolve_plane over every (sample, channel) plane; planes of the input are height x width floats, of the output
 * out_h x out_w. */
static PyObject *over_planes(PyObject *args, int forward) {
    uintptr_t p[3];
    Geometry g;
    if (!parse(args, p, &g)) return NULL;
    const float *source = (const float *)p[0], *w = (const float *)p[1];
    float *destination = (float *)p[2];
    long long input_plane = g.height * g.width, output_plane = g.out_h * g.out_w;
    long long source_plane = forward ? input_plane : output_plane;
    long long destination_plane = forward ? output_plane : input_plane;
    Py_BEGIN_ALLOW_THREADS;
    for (long long plane = 0; plane < g.batch * g.channels; ++plane) {
        long long channel = plane % g.channels;
        convolve_plane(&g, source + plane * source_plane, w + channel * g.kernel_h * g.kernel_w,
                       destination + plane * destination_plane, forward);
    }
    Py_END_ALLOW_THREADS;
    Py_RETURN_NONE;
}

/* forward(x, w, y, ...): y = depthwise_conv(x, w) */
static PyObject *forward(PyObject *self, PyObject *args) { return over_planes(args, 1); }

/* input_grad(dy, w, dx, ...): dx = the gradient of the input given the output's dy */
static PyObject *input_grad(PyObject *self, PyObject *args) { return over_planes(args, 0); }

/* weight_grad(dy, x, dw, ...): dw = the gradient of the filters given the output's dy */
static PyObject *weight_grad(PyObject *self, PyObject *args) {
    uintptr_t p[3];
    Geometry g;
    if (!parse(args, p, &g)) return NULL;
    const float *dy = (const float *)p[0], *x = (const float *)p[1];
    float *dw = (float *)p[2];
    long long taps = g.kernel_h * g.kernel_w;
    double *acc = PyMem_RawCalloc((size_t)taps, sizeof(double));
    if (acc == NULL) return PyErr_NoMemory();
    Py_BEGIN_ALLOW_THREADS;
    for (long long channel = 0; channel < g.channels; ++channel) {
        memset(acc, 0, sizeof(double) * (size_t)taps);
        for (long long n = 0; n < g.batch; ++n) {
            long long plane = n * g.channels + channel;
            weight_grad_plane(&g, dy + plane * g.out_h * g.out_w, x + plane * g.height * g.width, acc);
        }
        for (long long t = 0; t < taps; ++t) dw[channel * taps + t] = (float)acc[t];
    }
    Py_END_ALLOW_THREADS;
    PyMem_RawFree(acc);
    Py_RETURN_NONE;
}

/* Hard-swish in paddle's order of operations, min(max(x + 3, 0), 6) * x / 6, and its slope: 0 below -3,
 * (2x + 3) / 6 between, 1 from 3 on. */
static inline float hardswish_of(float v) {
    float clipped = v + 3.0f < 0.0f ? 0.0f : (v + 3.0f > 6.0f ? 6.0f : v + 3.0f);
    return clipped * v / 6.0f;
}

static inline float hardswish_slope(float v) {
    return v + 3.0f < 6.0f ? (v + 3.0f > 0.0f ? (2.0f * v + 3.0f) / 6.0f : 0.0f) : 1.0f;
}

/* y = scale * hardswish(x) + bias, or hardswish(x) alone */
WIDEST_VECTORS
static void hardswish_affine_run(const float *restrict x, float *restrict y, long long n, int affine, float scale,
                                 float bias) {
    if (affine) {
        for (long long i = 0; i < n; ++i) y[i] = scale * hardswish_of(x[i]) + bias;
    } else {
        for (long long i = 0; i < n; ++i) y[i] = hardswish_of(x[i]);
    }
}

/* dx = dy * scale * hardswish'(x); with the affine, also the sums of dy * hardswish(x) (the scale's gradient) and
 * of dy (the bias's), by blocks of float partial sums added up in double. */
WIDEST_VECTORS
static void hardswish_affine_grad_run(const float *restrict x, const float *restrict dy, float *restrict dx,
                                      long long n, int affine, float scale, double *sum_dy_h, double *sum_dy) {
    enum { BLOCK = 4096 };
    double total_h = 0.0, total = 0.0;
    for (long long start = 0; start < n; start += BLOCK) {
        long long stop = start + BLOCK < n ? start + BLOCK : n;
        float part_h = 0.0f, part = 0.0f;
        if (affine) {
#pragma omp simd reduction(+ : part_h, part)
            for (long long i = start; i < stop; ++i) {
                dx[i] = dy[i] * scale * hardswish_slope(x[i]);
                part_h += dy[i] * hardswish_of(x[i]);
                part += dy[i];
            }
        } else {
            for (long long i = start; i < stop; ++i) dx[i] = dy[i] * hardswish_slope(x[i]);
        }
        total_h += part_h, total += part;
    }
    *sum_dy_h = total_h, *sum_dy = total;
}

/* hardswish_affine(x, y, n, affine, scale, bias) */
static PyObject *hardswish_affine(PyObject *self, PyObject *args) {
    unsigned long long x, y;
    long long n;
    int affine;
    float scale, bias;
    if (!PyArg_ParseTuple(args, "KKLpff", &x, &y, &n, &affine, &scale, &bias)) return NULL;
    Py_BEGIN_ALLOW_THREADS;
    hardswish_affine_run((const float *)(uintptr_t)x, (float *)(uintptr_t)y, n, affine, scale, bias);
    Py_END_ALLOW_THREADS;
    Py_RETURN_NONE;
}

/* hardswish_affine_grad(x, dy, dx, n, affine, scale) -> (sum of dy * hardswish(x), sum of dy) */
static PyObject *hardswish_affine_grad(PyObject *self, PyObject *args) {
    unsigned long long x, dy, dx;
    long long n;
    int affine;
    float scale;
    double sum_dy_h, sum_dy;
    if (!PyArg_ParseTuple(args, "KKKLpf", &x, &dy, &dx, &n, &affine, &scale)) return NULL;
    Py_BEGIN_ALLOW_THREADS;
    hardswish_affine_grad_run((const float *)(uintptr_t)x, (const float *)(uintptr_t)dy, (float *)(uintptr_t)dx,
                              n, affine, scale, &sum_dy_h, &sum_dy);
    Py_END_ALLOW_THREADS;
    return Py_BuildValue("dd", sum_dy_h, sum_dy);
}

static PyMethodDef methods[] = {
    {"forward", forward, METH_VARARGS, "forward(x, w, y, n, c, h, w, kh, kw, sh, sw, ph, pw): y = conv(x, w)"},
    {"input_grad", input_grad, METH_VARARGS, "input_grad(dy, w, dx, n, c, h, w, kh, kw, sh, sw, ph, pw)"},
    {"weight_grad", weight_grad, METH_VARARGS, "weight_grad(dy, x, dw, n, c, h, w, kh, kw, sh, sw, ph, pw)"},
    {"hardswish_affine", hardswish_affine, METH_VARARGS,
     "hardswish_affine(x, y, n, affine, scale, bias): y = scale * hardswish(x) + bias (or hardswish(x))"},
    {"hardswish_affine_grad", hardswish_affine_grad, METH_VARARGS,
     "hardswish_affine_grad(x, dy, dx, n, affine, scale) -> (sum(dy * hardswish(x)), sum(dy))"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_cpu_kernels",
    .m_doc = "Training kernels on the CPU (float32) on raw buffer addresses.",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC PyInit__cpu_kernels(void) { return PyModule_Create(&module); }
