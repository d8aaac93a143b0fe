/* salient: explain CNN image classifiers with saliency maps. One include for the whole API. */
#ifndef SALIENT_H
#define SALIENT_H
#include "salient/core.h"
#include "salient/tensor.h"
#include "salient/graph.h"
#include "salient/plan.h"
#include "salient/models.h"
#include "salient/image.h"
#include "salient/onnx.h"
#include "salient/meta.h"
#include "salient/data.h"
#include "salient/dataset.h"
#include "salient/loader.h"
#include "salient/optim.h"
#include "salient/checkpoint.h"
#include "salient/train.h"
#include "salient/explain.h"
#include "salient/synth.h"
#include "salient/metrics.h"
#include "salient/eval.h"
#include "salient/report.h"
#include "salient/masker.h"
#endif
