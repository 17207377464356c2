/* Training kernels on the CPU where paddle's are slow (float32), on raw buffer addresses:
 * - depthwise 2-D convolution (NCHW, one 1-channel filter per channel, zero padding, no dilation): the forward, the
 *   input's gradient and the filters' gradient, for ocrtrain/models/depthwise_conv.py;
 * - hard-swish, alone or followed by a learnable scalar affine, forward and backward, for
 *   ocrtrain/models/hardswish.py.
 *
 * A depthwise convolution's (sample, channel) plane is small (a PP-OCRv4 rec plane is at most 24 x 160 floats) and
 * stays in cache, so every kernel tap is one pass of a multiply-add along an output row: a contiguous loop the
 * compiler vectorises when the stride along the width is 1.
 * The depthwise kernels split their planes over `threads` POSIX threads (the caller passes paddle's intra-op thread
 * count: one per data-parallel process on a small machine, every core in a single process); each plane, and each
 * channel of the filters' gradient, is summed by one thread in one order, so the result does not depend on the
 * count. The GIL is released while a kernel runs. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
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

/* Share `index` of a kernel's work: items [first, last), run by one thread. */
typedef void (*ShareRun)(const void *job, long long index, long long first, long long last);
typedef struct {
    ShareRun run;
    const void *job;
    long long index, first, last;
} Share;

static void *run_share(void *share) {
    Share *s = share;
    s->run(s->job, s->index, s->first, s->last);
    return NULL;
}

/* The number of shares parallel_for cuts `count` items into. */
static long long share_count(long long count, long long threads) { return threads < count ? threads : count; }

/* run(job, index, first, last) over [0, count) in share_count() contiguous shares, the first on the calling thread;
 * a share whose thread cannot be started runs on the calling thread too. */
static void parallel_for(ShareRun run, const void *job, long long count, long long threads) {
    threads = share_count(count, threads);
    if (threads <= 1) {
        run(job, 0, 0, count);
        return;
    }
    Share *shares = malloc(sizeof(Share) * (size_t)threads);
    pthread_t *ids = malloc(sizeof(pthread_t) * (size_t)threads);
    char *started = calloc((size_t)threads, 1);
    if (shares == NULL || ids == NULL || started == NULL) {
        free(shares), free(ids), free(started);
        run(job, 0, 0, count);
        return;
    }
    for (long long t = 0; t < threads; ++t) {
        shares[t] = (Share){run, job, t, count * t / threads, count * (t + 1) / threads};
        if (t > 0) started[t] = pthread_create(&ids[t], NULL, run_share, &shares[t]) == 0;
    }
    run_share(&shares[0]);
    for (long long t = 1; t < threads; ++t) {
        if (started[t])
            pthread_join(ids[t], NULL);
        else
            run_share(&shares[t]);
    }
    free(shares), free(ids), free(started);
}

/* Arguments of every depthwise entry point: three buffer addresses, the geometry, then the thread count (see
 * depthwise_conv.py). */
static int parse(PyObject *args, uintptr_t ptr[3], Geometry *g, long long *threads) {
    unsigned long long a, b, c;
    if (!PyArg_ParseTuple(args, "KKKLLLLLLLLLLL", &a, &b, &c, &g->batch, &g->channels, &g->height, &g->width,
                          &g->kernel_h, &g->kernel_w, &g->stride_h, &g->stride_w, &g->pad_h, &g->pad_w, threads))
        return 0;
    if (g->batch < 0 || g->channels < 1 || g->height < 1 || g->width < 1 || g->kernel_h < 1 || g->kernel_w < 1 ||
        g->stride_h < 1 || g->stride_w < 1 || g->pad_h < 0 || g->pad_w < 0 || *threads < 1) {
        PyErr_SetString(PyExc_ValueError, "depthwise conv: invalid geometry or thread count");
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

/* One depthwise kernel's call: the geometry, the source and destination buffers, the filters, and for the filters'
 * gradient a double accumulator of kernel_h x kernel_w per share. */
typedef struct {
    Geometry g;
    const float *source, *w;
    float *destination;
    int forward;
    double *accumulators;
} PlaneJob;

/* convolve_plane over the (sample, channel) planes [first, last); planes of the input are height x width floats,
 * of the output out_h x out_w. */
static void convolve_planes(const void *job, long long index, long long first, long long last) {
    const PlaneJob *p = job;
    const Geometry *g = &p->g;
    long long input_plane = g->height * g->width, output_plane = g->out_h * g->out_w;
    long long source_plane = p->forward ? input_plane : output_plane;
    long long destination_plane = p->forward ? output_plane : input_plane;
    for (long long plane = first; plane < last; ++plane) {
        long long channel = plane % g->channels;
        convolve_plane(g, p->source + plane * source_plane, p->w + channel * g->kernel_h * g->kernel_w,
                       p->destination + plane * destination_plane, p->forward);
    }
}

static PyObject *over_planes(PyObject *args, int forward) {
    uintptr_t p[3];
    PlaneJob job = {.forward = forward};
    long long threads;
    if (!parse(args, p, &job.g, &threads)) return NULL;
    job.source = (const float *)p[0], job.w = (const float *)p[1], job.destination = (float *)p[2];
    Py_BEGIN_ALLOW_THREADS;
    parallel_for(convolve_planes, &job, job.g.batch * job.g.channels, threads);
    Py_END_ALLOW_THREADS;
    Py_RETURN_NONE;
}

/* forward(x, w, y, ..., threads): y = depthwise_conv(x, w) */
static PyObject *forward(PyObject *self, PyObject *args) { return over_planes(args, 1); }

/* input_grad(dy, w, dx, ..., threads): dx = the gradient of the input given the output's dy */
static PyObject *input_grad(PyObject *self, PyObject *args) { return over_planes(args, 0); }

/* The filters' gradient of the channels [first, last): each channel's taps summed over the batch in double. */
static void weight_grad_channels(const void *job, long long index, long long first, long long last) {
    const PlaneJob *p = job; /* source: dy, w: x, destination: dw */
    const Geometry *g = &p->g;
    long long taps = g->kernel_h * g->kernel_w;
    double *acc = p->accumulators + index * taps;
    for (long long channel = first; channel < last; ++channel) {
        memset(acc, 0, sizeof(double) * (size_t)taps);
        for (long long n = 0; n < g->batch; ++n) {
            long long plane = n * g->channels + channel;
            weight_grad_plane(g, p->source + plane * g->out_h * g->out_w, p->w + plane * g->height * g->width, acc);
        }
        for (long long t = 0; t < taps; ++t) p->destination[channel * taps + t] = (float)acc[t];
    }
}

/* weight_grad(dy, x, dw, ..., threads): dw = the gradient of the filters given the output's dy */
static PyObject *weight_grad(PyObject *self, PyObject *args) {
    uintptr_t p[3];
    PlaneJob job = {.forward = 0};
    long long threads;
    if (!parse(args, p, &job.g, &threads)) return NULL;
    job.source = (const float *)p[0], job.w = (const float *)p[1], job.destination = (float *)p[2];
    size_t taps = (size_t)(job.g.kernel_h * job.g.kernel_w);
    job.accumulators = PyMem_RawMalloc(sizeof(double) * taps * (size_t)share_count(job.g.channels, threads));
    if (job.accumulators == NULL) return PyErr_NoMemory();
    Py_BEGIN_ALLOW_THREADS;
    parallel_for(weight_grad_channels, &job, job.g.channels, threads);
    Py_END_ALLOW_THREADS;
    PyMem_RawFree(job.accumulators);
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
    {"forward", forward, METH_VARARGS,
     "forward(x, w, y, n, c, h, w, kh, kw, sh, sw, ph, pw, threads): y = conv(x, w)"},
    {"input_grad", input_grad, METH_VARARGS, "input_grad(dy, w, dx, n, c, h, w, kh, kw, sh, sw, ph, pw, threads)"},
    {"weight_grad", weight_grad, METH_VARARGS, "weight_grad(dy, x, dw, n, c, h, w, kh, kw, sh, sw, ph, pw, threads)"},
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
