/* salient saliency maps: one interface (sal_explain) over a registry of methods — gradient,
 * grad_input, smoothgrad, integrated_gradients, gradcam, occlusion, rise, meaningful_perturbation,
 * extremal_perturbation, dm, hdm, reliable, masker — each producing an
 * N×1×H×W map for a target class per image; plus the colour maps and overlays that render maps.
 * The equations, defaults and their sources are in docs/methods.md. */
#ifndef SALIENT_EXPLAIN_H
#define SALIENT_EXPLAIN_H

#include "salient/graph.h"
#include "salient/image.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Target "top1": the class with the largest logit of the unperturbed image. */
#define SAL_TARGET_TOP1 ((int64_t)-1)

/* Most levels (masked activations) of method reliable. */
#define SAL_EXPLAIN_MAX_LEVELS 16

/* Default memory budget of one method call: 2 GiB. */
#define SAL_EXPLAIN_DEFAULT_MEMORY ((int64_t)2 << 30)

typedef enum sal_baseline {
  SAL_BASELINE_ZERO = 0, /* 0 in the model's input space (the dataset mean for normalised inputs) */
  SAL_BASELINE_BLUR = 1, /* the image under a Gaussian blur of blur_sigma pixels */
  SAL_BASELINE_NOISE = 2 /* dm, hdm: standard-normal draws (Philox, keyed by seed), the same for every image */
} sal_baseline;

/* extremal_perturbation's game (Fong, Patrick & Vedaldi 2019; TorchRay's variants). */
typedef enum sal_ep_variant {
  SAL_EP_PRESERVE = 0, /* keep the mask, blur the rest: maximise z_c */
  SAL_EP_DELETE = 1,   /* blur the mask: minimise z_c */
  SAL_EP_DUAL = 2      /* both: maximise z_c(preserved) − z_c(deleted) */
} sal_ep_variant;

/* Most target areas one extremal_perturbation call optimises. */
#define SAL_EP_MAX_AREAS 16

/* Longest grid list of dm / hdm (sal_method_params.grids, aux_grids). */
#define SAL_MAX_GRIDS 8

typedef enum sal_score {
  SAL_SCORE_LOGIT = 0, /* z_c */
  SAL_SCORE_PROB = 1   /* softmax(z)_c */
} sal_score;

typedef enum sal_preserve {
  SAL_PRESERVE_ALL = 0,  /* reliable: keep every logit (μ = 1) */
  SAL_PRESERVE_CLASS = 1 /* reliable: keep z_c only (μ = 0) */
} sal_preserve;

/* A trained masking model (salient/masker.h). */
typedef struct sal_masker sal_masker;

/* Every parameter of every method. Fields a method does not use are ignored by it; defaults come
 * from sal_method_params_default (0 in a size field = "scaled with the input", see docs/methods.md). */
typedef struct sal_method_params {
  const char *method;  /* registry name (borrowed static string) */
  uint64_t seed;       /* keys every random draw (Philox streams): same seed, same maps */
  int64_t max_memory;  /* bytes of activations and gradients one pass may use: batches are sized to it */
  /* smoothgrad, rise */
  int64_t samples;     /* smoothgrad: noisy copies (50); rise: masks (4000) */
  /* smoothgrad */
  float sigma;         /* noise std as a fraction of the image's (max - min) (0.15) */
  const sal_tensor *noise; /* optional (samples, C, H, W) standard-normal draws replacing the Philox
                            * ones (the same for every image): lets other tools reproduce a run */
  /* integrated_gradients */
  int64_t steps;       /* m (50): m + 1 points on the path, trapezoid rule */
  /* integrated_gradients, occlusion */
  sal_baseline baseline; /* zero */
  float blur_sigma;    /* pixels; 0 = 10 · H / 224 */
  /* gradcam */
  const char *layer;   /* a 4-D activation's name; NULL = the last 4-D activation before global pooling */
  /* occlusion */
  int64_t patch;       /* square side in pixels; 0 = 16 · H / 224 (at least 1) */
  int64_t stride;      /* 0 = 8 · H / 224 (at least 1) */
  sal_score score;     /* occlusion: logit */
  /* rise */
  int64_t grid;        /* s (7): masks are s × s binary grids, upsampled */
  float p;             /* keep probability (0.5) */
  /* meaningful_perturbation (baseline defaults to blur for it) */
  int64_t mask_size;   /* side of the optimised mask; 0 = 28 · H / 224 */
  float l1;            /* λ1 of λ1 Σ|1 − m| (sum over the mask) (1e-4) */
  float tv;            /* λ2 of λ2 Σ |∇m|^β (1e-2) */
  float beta;          /* β (3) */
  float lr;            /* Adam learning rate (0.1) */
  int64_t iterations;  /* Adam steps (300) */
  int64_t jitter;      /* largest random shift of the image per step in pixels; -1 = 4 · H / 224;
                        * extremal_perturbation: 0 = off, else flip horizontally on even steps (1) */
  /* extremal_perturbation (lr 0.01, iterations 800 and jitter 1 are its defaults of the fields above) */
  double areas[SAL_EP_MAX_AREAS]; /* target areas a in (0, 1) ({0.1}); the map sums their masks */
  int64_t n_areas;     /* entries of areas used (1) */
  sal_ep_variant variant; /* preserve */
  float momentum;      /* SGD momentum μ, dampening μ (0.9) */
  double area_weight;  /* λ of the area constraint at step 0 (300) */
  double area_growth;  /* λ grows ×area_growth per step (1.0035; double, as TorchRay's Python float) */
  int64_t pyramid_levels; /* blur-pyramid levels L (key "levels") (8) */
  float max_blur;      /* σ of the most blurred level in pixels; 0 = 20 · H / 224 */
  int64_t mask_step;   /* smooth-max generator step in pixels; 0 = 7 · H / 224 */
  float mask_sigma;    /* its kernel σ in pixels; 0 = 21 · H / 224 */
  float tie_tol;       /* mask values within tie_tol of the area boundary's value are ties (1e-5) */
  /* dm, hdm (Peng et al., METHODS.md §B; they also take lr (0.05), iterations (300), baseline (blur),
   * blur_sigma) */
  int64_t grids[SAL_MAX_GRIDS];     /* benchmark mask sides, 0-terminated; {0} = 6, 9, 12, 15 · H / 224 */
  int64_t aux_grids[SAL_MAX_GRIDS]; /* auxiliary mask sides, 0-terminated; {0} = 56, 112 · H / 224 */
  float alpha;         /* α: weight of the activation-preservation term (1e-2) */
  float area;          /* β (key "beta"): weight of the mask-area terms (1) */
  float gamma;         /* γ: weight of TV(M) (1e-2) */
  int64_t patience;    /* a mask stops after this many steps without a lower loss (50); 0 = never */
  int64_t levels;      /* hdm: T, the most DM levels (3) */
  float quantile;      /* hdm: fraction of the image's pixels each level removes (0.15) */
  int64_t fusion_iterations; /* hdm: Adam steps on the fusion weights (100) */
  const char *trace_dir;     /* dm, hdm: every stage's masks and loss curves go here (NULL: none) */
  const char *const *trace_names; /* optional N stems of the trace files (NULL: "image<i>") */
  /* reliable (also takes lr, default 0.05, and iterations) */
  const char *layers;  /* comma-separated value names masked; NULL = automatic (docs/methods.md) */
  sal_preserve preserve; /* all (μ = 1) */
  float lambda;        /* λ of λ Σ_l ‖m_l‖₁ / √(H_l W_l) (0.5) */
  bool per_channel;    /* masks (C_l, H_l, W_l) instead of (1, H_l, W_l) (false) */
  bool input_mask;     /* one more level: a mask on the input image (false) */
  /* masker: the trained masking model (sal_masker_load; borrowed). NULL: the model itself must
   * have a "mask" output (a classifier+masker graph, e.g. re-imported from its ONNX export). */
  const sal_masker *masker;
} sal_method_params;

/* Number of registered methods and their names (registry order), a one-line summary. */
int sal_method_count(void);
const char *sal_method_name(int i);
const char *sal_method_summary(int i);
/* Index of a method by name; -1 if unknown. */
int sal_method_find(const char *name);

/* The documented defaults of `method`. NOT_FOUND for an unknown method (the message lists the
 * valid ones). */
sal_status sal_method_params_default(sal_ctx *ctx, const char *method, sal_method_params *out);

/* The parameters a method takes, for --set and help texts: key, default and a description. */
typedef struct sal_param_info {
  const char *key;     /* "samples" */
  const char *def;     /* the default as text ("50") */
  const char *help;    /* "noisy copies averaged" */
} sal_param_info;
int sal_method_param_count(const char *method);
/* i in 0..sal_method_param_count-1; false when out of range. */
bool sal_method_param(const char *method, int i, sal_param_info *out);
/* Sets parameter `key` of p->method from text ("samples", "20"). Strings (layer) are borrowed:
 * value must outlive p. BAD_INPUT for a value out of range or malformed; NOT_FOUND for a key the
 * method does not take (the message lists the valid ones). */
sal_status sal_method_params_set(sal_ctx *ctx, sal_method_params *p, const char *key, const char *value);
/* Writes "key=value" pairs of the method's parameters as they are in p into buf (for logs and
 * JSON summaries); returns buf. */
char *sal_method_params_str(const sal_method_params *p, char *buf, size_t n);

/* Parses a target: "top1" -> SAL_TARGET_TOP1, a class index in 0..n_classes-1, or a class name
 * from names[0..n_classes) (names may be NULL). BAD_INPUT for an index out of range, NOT_FOUND for
 * an unknown name (the message lists the valid ones, the first 20 if there are more). */
sal_status sal_target_parse(sal_ctx *ctx, const char *s, const char *const *names, int64_t n_classes, int64_t *out);

/* The result of a method on a batch. */
typedef struct sal_explanation {
  sal_tensor *raw;   /* (N, 1, H, W): the method's map as defined in docs/methods.md */
  sal_tensor *norm;  /* (N, 1, H, W): raw min–max normalised per image to [0, 1] (0 when constant) */
  int64_t *targets;  /* N: the class explained (top1 resolved) */
  float *scores;     /* N: logit z_c of the unperturbed image */
  double ms;         /* wall time of the call */
  /* Methods with levels (reliable): each level's final mask (N, C_m, H_l, W_l) and the name of the
   * value it multiplies (borrowed from the graph; the graph input for the input level). */
  int n_levels;
  sal_tensor *levels[SAL_EXPLAIN_MAX_LEVELS];
  const char *level_names[SAL_EXPLAIN_MAX_LEVELS];
} sal_explanation;

/* Explains images (N, C, H, W), already preprocessed, for the model graph g (its first input and
 * first output, the logits (N, K)). targets[i] is a class index or SAL_TARGET_TOP1 (targets NULL:
 * top1 for all). The graph is bound to plans of the batch sizes the memory budget allows, so the
 * caller passes the graph, not a plan; g is not modified. On success the caller clears *out with
 * sal_explanation_clear. Errors: NOT_FOUND (unknown method or layer: the message lists the valid
 * ones), BAD_INPUT (shape, target out of range, non-finite image, bad parameter), OUT_OF_MEMORY,
 * and the engine's errors. */
sal_status sal_explain_run(sal_ctx *ctx, sal_graph *g, const sal_tensor *images, const int64_t *targets,
                           const sal_method_params *params, sal_explanation *out);
void sal_explanation_clear(sal_explanation *e);

/* The DESIGN.md §5 form: the raw maps only (caller frees *maps_out). */
sal_status sal_explain(sal_ctx *ctx, sal_graph *g, const sal_tensor *images, const int64_t *targets,
                       const sal_method_params *params, sal_tensor **maps_out);

/* Min–max normalisation of one map of n values into out (may alias); a constant map gives 0. */
void sal_map_normalize(const float *map, int64_t n, float *out);

/* ---- rendering (src/report) ---- */

typedef enum sal_colormap {
  SAL_COLORMAP_JET = 0,
  SAL_COLORMAP_VIRIDIS = 1,
  SAL_COLORMAP_INFERNO = 2,
  SAL_COLORMAP_GRAY = 3
} sal_colormap;

/* "jet", "viridis", "inferno", "gray" -> *out; NOT_FOUND (listing them) otherwise. */
sal_status sal_colormap_parse(sal_ctx *ctx, const char *name, sal_colormap *out);
/* Colour of v in [0, 1] (clamped; NaN = 0) as 8-bit RGB. */
void sal_colormap_rgb(sal_colormap cm, float v, uint8_t rgb[3]);

/* An 8-bit RGB image (H, W) of a normalised map (h × w values in [0,1]) blended over a background:
 * out = (1 - alpha) · background + alpha · colour(map). background is 8-bit RGB of the same size
 * (NULL: the colour map alone). alpha in [0, 1]. Caller frees *out with sal_image_free. */
sal_status sal_overlay(sal_ctx *ctx, const float *map, int64_t w, int64_t h, const sal_image *background,
                       sal_colormap cm, float alpha, sal_image **out);

/* The model input (C, H, W) of one image back to 8-bit RGB: pixel = clamp(255 · (x · std + mean)),
 * gray replicated (mean/std per channel, C = 1 or 3). */
sal_status sal_denormalize_image(sal_ctx *ctx, const float *x, int64_t c, int64_t h, int64_t w, const float *mean,
                                 const float *std, sal_image **out);

/* Side by side: images[0..n) (8-bit RGB, same height) left to right with a gap of `gap` white
 * pixels. Caller frees *out. */
sal_status sal_panel(sal_ctx *ctx, const sal_image *const *images, int n, int64_t gap, sal_image **out);

#ifdef __cplusplus
}
#endif
#endif
