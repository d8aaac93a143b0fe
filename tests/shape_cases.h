/* Input macros of the shape-op tests (tests/test_ops_shape.c, tests/test_ops_resize.c): constant
 * shape/pad/scale inputs and inputs with listed values. Their checks (th_check_values,
 * th_try_node, th_check_shape, th_check_accumulate) are in tests/harness.h. */
#ifndef SAL_TEST_SHAPE_CASES_H
#define SAL_TEST_SHAPE_CASES_H

#include "harness.h"

/* A constant 1-D input holding the listed values (shape tensors, pads, scales). */
#define TH_CONST(nm, cnt, ...) \
  {nm, 1, {cnt}, .constant = true, .fill = TH_FILL_DATA, .data = (const float[]){__VA_ARGS__}}
/* Fill of an input holding the listed values: {"x", 2, {2, 3}, TH_VALS(1, 2, 3, 4, 5, 6)}. */
#define TH_VALS(...) .fill = TH_FILL_DATA, .data = (const float[]){__VA_ARGS__}

#endif
