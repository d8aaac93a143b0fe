/* Op list fragment: shape ops — Flatten, Reshape (src/ops/reshape.c), Transpose
 * (src/ops/transpose.c), Concat, Split (src/ops/concat.c), Slice (src/ops/slice.c), Pad
 * (src/ops/pad.c), Resize (src/ops/resize.c); reference kernels in the files of the same names
 * under src/kernels/ref/. Shared argument readers: src/ops/shape.h. */
#define SAL_OPS_SHAPE(X)                 \
  X(FLATTEN, "Flatten", flatten)         \
  X(RESHAPE, "Reshape", reshape)         \
  X(TRANSPOSE, "Transpose", transpose)   \
  X(CONCAT, "Concat", concat)            \
  X(SPLIT, "Split", split)               \
  X(SLICE, "Slice", slice)               \
  X(PAD, "Pad", pad)                     \
  X(RESIZE, "Resize", resize)
