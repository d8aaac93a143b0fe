/* The salient command-line tool: subcommand dispatch. The only place that parses argv, prints
 * results and turns statuses into exit codes (0 ok, 1 failure, 2 usage error). */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static const cli_command commands[] = {
    {"demo", "the main job: synthetic data, the demo model, every method explained and evaluated, the report", cmd_demo},
    {"engine", "run a built-in model forward and backward and report the kernels and the speed", cmd_engine},
    {"synth", "write a synthetic dataset (shapes, lesions, pairs) with exact masks", cmd_synth},
    {"version", "print the version", cmd_version},
    {"info", "describe a model: inputs, outputs, size, FLOPs, layers, preprocessing", cmd_info},
    {"train", "train a built-in classifier on a dataset (checkpoints, resume, ONNX export)", cmd_train},
    {"train-masker", "train a masking model that predicts a classifier's saliency mask in one pass", cmd_train_masker},
    {"test", "accuracy, per-class accuracy and confusion matrix of a trained checkpoint", cmd_test},
    {"run", "logits (and input gradients) of a model for an .npy batch", cmd_run},
    {"explain", "saliency maps (gradient, gradcam, rise, ...) as PNG overlays, .npy and JSON", cmd_explain},
    {"eval", "evaluation runs: saliency metrics over a labelled dataset, resumable, with a summary", cmd_eval},
    {"report", "rewrite report.html (metrics, charts, curves, gallery, sanity checks) of an eval directory", cmd_report},
    {"detect-adv", "adversarial-input detection from reliable-saliency masks: train / eval a detector", cmd_detect_adv},
};

static void usage(FILE *f) {
  fprintf(f, "usage: salient [--version] [--help] <command> [options]\n\ncommands:\n");
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    fprintf(f, "  %-13s %s\n", commands[i].name, commands[i].summary);
  fprintf(f, "\n'salient <command> --help' describes a command's options.\n");
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
    usage(stdout);
    return 0;
  }
  if (strcmp(argv[1], "--version") == 0) return cmd_version(argc - 1, argv + 1);
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (strcmp(argv[1], commands[i].name) == 0) return commands[i].run(argc - 1, argv + 1);
  fprintf(stderr, "salient: unknown command '%s'\n\n", argv[1]);
  usage(stderr);
  return 2;
}
