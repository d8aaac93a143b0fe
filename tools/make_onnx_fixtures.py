#!/usr/bin/python3
"""Generates the ONNX importer fixtures under tests/fixtures/onnx/ (read by tests/test_onnx_load.c).

ops/<name>_o<opset>/: small PyTorch modules exported with torch.onnx.export at every opset 9-17
(where the op exists), plus hand-built onnx.helper models (typed float_data, f16/f64 weights,
external data, opset-18 forms, Dropout). Each directory holds model.onnx, input.npy (batch 2),
output.npy (the module's output on it) and grad.npy (d sum(output * W) / d input for a fixed random
W of the output's shape, from torch autograd), and, for a fixed-batch file, that batch in the model.
bad/<case>.onnx: malformed models the importer must reject with a specific error.

Regenerate (deterministic: fixed seeds):  /usr/bin/python3 tools/make_onnx_fixtures.py
"""
import io
import os
import shutil
import sys
import warnings

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
from onnx import TensorProto, helper, numpy_helper

warnings.filterwarnings("ignore")
ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "onnx"))
OPS = os.path.join(ROOT, "ops")
BAD = os.path.join(ROOT, "bad")


def save_refs(d, fn, x):
    """Writes input.npy, output.npy and grad.npy for torch function fn at input x (float64 math on
    float32 parameters would differ from an f32 engine by more than rounding; keep f32)."""
    x = torch.tensor(x, requires_grad=True)
    y = fn(x)
    g = torch.Generator().manual_seed(7)
    w = torch.randn(y.shape, generator=g)
    (y * w).sum().backward()
    np.save(os.path.join(d, "input.npy"), x.detach().numpy().astype(np.float32))
    np.save(os.path.join(d, "output.npy"), y.detach().numpy().astype(np.float32))
    np.save(os.path.join(d, "grad.npy"), x.grad.numpy().astype(np.float32))
    np.save(os.path.join(d, "weight.npy"), w.numpy().astype(np.float32))


# Ops whose outputs the importer must keep as graph values under their ONNX names (the rest may be
# folded into constants or rewritten).
KEPT_OPS = {"Conv", "Relu", "BatchNormalization", "MaxPool", "AveragePool", "GlobalAveragePool", "Gemm", "MatMul",
            "Concat", "Transpose", "Softmax", "LogSoftmax", "ReduceMean", "Sigmoid", "Tanh", "HardSigmoid",
            "HardSwish", "LeakyRelu", "Clip", "Resize", "Pad", "Split", "Flatten"}


def write_meta(d, batch=None):
    """values.txt: outputs of engine-op nodes (must survive import by name); batch.txt: the file's
    fixed batch (absent when symbolic)."""
    m = onnx.shape_inference.infer_shapes(onnx.load(os.path.join(d, "model.onnx")))
    floats = {v.name for v in list(m.graph.value_info) + list(m.graph.output)
              if v.type.tensor_type.elem_type == TensorProto.FLOAT}
    names = [o for n in m.graph.node if n.op_type in KEPT_OPS for o in n.output if o in floats]
    with open(os.path.join(d, "values.txt"), "w") as f:
        f.write("".join(n + "\n" for n in names))
    if batch:
        with open(os.path.join(d, "batch.txt"), "w") as f:
            f.write("%d\n" % batch)


def export(name, mod, shape, opsets, dynamic=True, export_batch=2):
    mod.eval()
    torch.manual_seed(1)
    x = torch.randn((2,) + tuple(shape[1:]))
    for o in opsets:
        d = os.path.join(OPS, "%s_o%d" % (name, o))
        os.makedirs(d, exist_ok=True)
        xe = x[:export_batch].clone()
        kw = dict(input_names=["input"], output_names=["output"], opset_version=o, do_constant_folding=True)
        if dynamic:
            kw["dynamic_axes"] = {"input": {0: "N"}, "output": {0: "N"}}
        buf = io.BytesIO()
        torch.onnx.export(mod, xe, buf, **kw)
        with open(os.path.join(d, "model.onnx"), "wb") as f:
            f.write(buf.getvalue())
        save_refs(d, mod, x.numpy())
        write_meta(d, None if dynamic else export_batch)


class ConvNet(nn.Module):
    """Conv/BN/ReLU, MaxPool ceil_mode, flatten via x.view(x.size(0), -1), Linear (Gemm)."""

    def __init__(s):
        super().__init__()
        s.c = nn.Conv2d(3, 4, 3, stride=2, padding=1)
        s.bn = nn.BatchNorm2d(4)
        s.fc = nn.Linear(4 * 2 * 2, 5)
        with torch.no_grad():
            s.bn.running_mean.uniform_(-0.5, 0.5)
            s.bn.running_var.uniform_(0.5, 1.5)
            s.bn.weight.uniform_(0.5, 1.5)
            s.bn.bias.uniform_(-0.5, 0.5)

    def forward(s, x):
        x = F.relu(s.bn(s.c(x)))
        x = F.max_pool2d(x, 3, 2, ceil_mode=True)
        return s.fc(x.view(x.size(0), -1))


class Shuffle(nn.Module):
    """ShuffleNet-style: chunk (Split), channel shuffle view/transpose/view, cat."""

    def __init__(s):
        super().__init__()
        s.c = nn.Conv2d(2, 2, 1)

    def forward(s, x):
        a, b = x.chunk(2, dim=1)
        x = torch.cat((a, F.relu(s.c(b))), dim=1)
        n, c, h, w = x.size()
        x = x.view(n, 2, c // 2, h, w).transpose(1, 2).contiguous().view(n, -1, h, w)
        p, q = torch.split(x, [1, 3], dim=1)
        return torch.cat((q, p * 2.0), dim=1)


class Interp(nn.Module):
    def __init__(s, mode, **kw):
        super().__init__()
        s.mode, s.kw = mode, kw

    def forward(s, x):
        return F.interpolate(x, mode=s.mode, **s.kw)


class Acts(nn.Module):
    """hardswish, hardsigmoid, relu6, clamp, leaky_relu, sigmoid, tanh, sub/div by constants."""

    def forward(s, x):
        a = F.hardswish(x) + F.hardsigmoid(x * 2.0)
        b = F.relu6(x * 4.0) - torch.clamp(x, -0.5, 0.5)
        c = F.leaky_relu(x, 0.1) * torch.sigmoid(x) + torch.tanh(x) / 3.0
        return a + b - c


class Pools(nn.Module):
    """avg pool with and without count_include_pad, ceil_mode, adaptive avg pool to 1x1."""

    def forward(s, x):
        a = F.avg_pool2d(x, 3, 2, padding=1, count_include_pad=True)
        b = F.avg_pool2d(x, 3, 2, padding=1, count_include_pad=False)
        c = F.avg_pool2d(x, 2, 2, ceil_mode=True)
        g = F.adaptive_avg_pool2d(x, 1)
        return torch.cat((a * b, c + g), dim=1)  # all (N, 2, 4, 4) for a 7x7 input


class Pads(nn.Module):
    def forward(s, x):
        return F.pad(x, (1, 2, 0, 1), value=0.5) + F.pad(x, (1, 2, 0, 1), mode="reflect")


class Heads(nn.Module):
    """mean over H,W (ReduceMean), Linear on 2-D (Gemm), softmax and log_softmax."""

    def __init__(s):
        super().__init__()
        s.fc = nn.Linear(3, 4)

    def forward(s, x):
        z = s.fc(x.mean([2, 3]))
        return torch.cat((F.softmax(z, dim=1), F.log_softmax(z, dim=-1)), dim=1)


class Seq(nn.Module):
    """Linear on 3-D input (MatMul + Add), permute (Transpose), slicing with steps, flatten."""

    def __init__(s):
        super().__init__()
        s.fc = nn.Linear(5, 3)

    def forward(s, x):
        y = s.fc(x.permute(0, 2, 3, 1).reshape(x.size(0), -1, 5))  # (N, HW, 5)
        y = y[:, 1::2, :] - y[:, :1, :]
        return torch.flatten(y, 1)


ALL = list(range(9, 18))  # every opset torch 1.13 exports


def torch_exports():
    torch.manual_seed(0)
    export("convnet", ConvNet(), (2, 3, 7, 7), ALL)
    torch.manual_seed(0)
    export("convnet_fixed", ConvNet(), (2, 3, 7, 7), [11, 17], dynamic=False, export_batch=1)
    torch.manual_seed(0)
    export("shuffle", Shuffle(), (2, 4, 3, 3), ALL)
    torch.manual_seed(0)
    export("shuffle_fixed", Shuffle(), (2, 4, 3, 3), [13], dynamic=False, export_batch=2)
    export("upsample_nearest", Interp("nearest", scale_factor=2), (2, 2, 3, 4), ALL)
    export("resize_bilinear", Interp("bilinear", scale_factor=2, align_corners=False), (2, 2, 3, 4), [11, 13, 17])
    export("resize_size", Interp("bilinear", size=(5, 7), align_corners=True), (2, 2, 3, 4), [11, 13, 17])
    export("acts", Acts(), (2, 3, 4, 4), ALL)
    export("pools", Pools(), (2, 2, 7, 7), ALL)
    export("pads", Pads(), (2, 2, 3, 4), ALL)
    torch.manual_seed(0)
    export("heads", Heads(), (2, 3, 4, 4), ALL)
    torch.manual_seed(0)
    export("seq", Seq(), (2, 5, 2, 3), ALL[1:])  # slice steps need opset 10


# ------------------------------------------------------------------ hand-built models

def rnd(*shape, seed=3):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def hand(name, nodes, inits, in_shape, out_shape, opset, fn, ext=None, fixed=False):
    """Writes a model built with onnx.helper; fn is the same computation in torch (references)."""
    d = os.path.join(OPS, name)
    os.makedirs(d, exist_ok=True)
    bdim = 2 if fixed else "N"
    g = helper.make_graph(nodes, name, [helper.make_tensor_value_info("input", TensorProto.FLOAT, [bdim] + in_shape)],
                          [helper.make_tensor_value_info("output", TensorProto.FLOAT, [bdim] + out_shape)],
                          initializer=inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], producer_name="make_onnx_fixtures")
    m.ir_version = 8
    if ext:
        ext(m, d)
    onnx.save(m, os.path.join(d, "model.onnx"))
    torch.manual_seed(1)
    save_refs(d, fn, torch.randn([2] + in_shape).numpy())
    write_meta(d, 2 if fixed else None)


def hand_models():
    w = rnd(4, 3, 3, 3)
    b = rnd(4, seed=4)
    wt, bt = torch.tensor(w), torch.tensor(b)

    def conv_ref(x):
        return F.relu(F.conv2d(x, wt, bt, padding=1))

    conv = [helper.make_node("Conv", ["input", "w", "b"], ["c"], name="conv", pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
            helper.make_node("Relu", ["c"], ["output"], name="relu")]
    # Typed float_data initialisers (not raw_data).
    hand("typed_float_data_o13", conv,
         [helper.make_tensor("w", TensorProto.FLOAT, w.shape, w.flatten().tolist()),
          helper.make_tensor("b", TensorProto.FLOAT, b.shape, b.tolist())],
         [3, 5, 5], [4, 5, 5], 13, conv_ref)
    # Weights in double and half precision (converted to f32: references use the rounded values).
    w16 = w.astype(np.float16)
    hand("f16_f64_weights_o13", conv,
         [numpy_helper.from_array(w16, "w"), numpy_helper.from_array(b.astype(np.float64), "b")],
         [3, 5, 5], [4, 5, 5], 13,
         lambda x: F.relu(F.conv2d(x, torch.tensor(w16.astype(np.float32)), bt, padding=1)))
    # f16 in int32_data (the typed form: make_tensor stores the half bit patterns there).
    b16 = b.astype(np.float16)
    hand("f16_typed_o11", conv,
         [numpy_helper.from_array(w, "w"),
          helper.make_tensor("b", TensorProto.FLOAT16, b16.shape, b16.astype(np.float32).tolist())],
         [3, 5, 5], [4, 5, 5], 11,
         lambda x: F.relu(F.conv2d(x, wt, torch.tensor(b16.astype(np.float32)), padding=1)))

    # External data: the weight lives in weights.bin beside the model (offset 16).
    def ext_w(m, d):
        t = m.graph.initializer[0]
        blob = b"\0" * 16 + w.tobytes()
        with open(os.path.join(d, "weights.bin"), "wb") as f:
            f.write(blob)
        t.ClearField("raw_data")
        t.data_location = TensorProto.EXTERNAL
        for k, v in (("location", "weights.bin"), ("offset", "16"), ("length", str(w.nbytes))):
            e = t.external_data.add()
            e.key, e.value = k, v

    hand("external_data_o13", conv, [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")],
         [3, 5, 5], [4, 5, 5], 13, conv_ref, ext=ext_w)
    # Old exporters list initialisers among the graph inputs too.
    d = os.path.join(OPS, "init_as_input_o9")
    hand("init_as_input_o9", conv, [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")],
         [3, 5, 5], [4, 5, 5], 9, conv_ref)
    m = onnx.load(os.path.join(d, "model.onnx"))
    m.graph.input.extend([helper.make_tensor_value_info("w", TensorProto.FLOAT, list(w.shape)),
                          helper.make_tensor_value_info("b", TensorProto.FLOAT, list(b.shape))])
    onnx.save(m, os.path.join(d, "model.onnx"))

    # Dropout in its three forms (inference: identity).
    for o, extra, attrs in ((9, [], {"ratio": 0.3}), (12, ["ratio"], {}), (13, ["ratio", ""], {})):
        nodes = [helper.make_node("Dropout", ["input"] + extra, ["output"], name="drop", **attrs)]
        inits = [numpy_helper.from_array(np.array(0.3, np.float32), "ratio")] if extra else []
        hand("dropout_o%d" % o, nodes, inits, [3, 4], [3, 4], o, lambda x: x * 1.0)
    # Clip with attributes (opset 9) and with a missing min input (opset 13).
    hand("clip_attr_o9", [helper.make_node("Clip", ["input"], ["output"], min=-0.5, max=0.7)], [], [3, 4], [3, 4], 9,
         lambda x: torch.clamp(x, -0.5, 0.7))
    hand("clip_max_only_o13", [helper.make_node("Clip", ["input", "", "mx"], ["output"])],
         [numpy_helper.from_array(np.array(0.2, np.float32), "mx")], [3, 4], [3, 4], 13, lambda x: torch.clamp(x, max=0.2))
    # Opset 18: ReduceMean axes input, Split num_outputs, Pad with axes, Resize with axes.
    hand("reducemean_o18", [helper.make_node("ReduceMean", ["input", "ax"], ["output"], keepdims=0)],
         [numpy_helper.from_array(np.array([2, 3], np.int64), "ax")], [3, 4, 5], [3], 18, lambda x: x.mean([2, 3]))
    hand("split_o18",
         [helper.make_node("Split", ["input"], ["s0", "s1"], axis=1, num_outputs=2),
          helper.make_node("Mul", ["s0", "s1"], ["output"])], [], [4, 3], [2, 3], 18,
         lambda x: x[:, :2] * x[:, 2:])
    hand("split_attr_o11",
         [helper.make_node("Split", ["input"], ["s0", "s1"], axis=1, split=[1, 3]),
          helper.make_node("Sub", ["s1", "s0"], ["output"])], [], [4, 3], [3, 3], 11,
         lambda x: x[:, 1:] - x[:, :1])
    hand("pad_axes_o18",
         [helper.make_node("Pad", ["input", "p", "v", "ax"], ["output"], mode="constant")],
         [numpy_helper.from_array(np.array([1, 0, 2, 1], np.int64), "p"),
          numpy_helper.from_array(np.array(0.25, np.float32), "v"),
          numpy_helper.from_array(np.array([1, 3], np.int64), "ax")], [2, 3, 3], [5, 3, 4], 18,
         lambda x: F.pad(x, (0, 1, 0, 0, 1, 2), value=0.25))
    hand("slice_attr_o9", [helper.make_node("Slice", ["input"], ["output"], starts=[1, 0], ends=[1000, -1], axes=[1, 2])],
         [], [3, 4], [2, 3], 9, lambda x: x[:, 1:, :-1])
    hand("unsqueeze_act_o13",
         [helper.make_node("Unsqueeze", ["input", "a"], ["u"]), helper.make_node("Squeeze", ["u", "s"], ["output"])],
         [numpy_helper.from_array(np.array([1, 3], np.int64), "a"), numpy_helper.from_array(np.array([3], np.int64), "s")],
         [3, 4], [1, 3, 4], 13, lambda x: x.unsqueeze(1))
    hand("unsqueeze_act_o11",
         [helper.make_node("Unsqueeze", ["input"], ["output"], axes=[2])], [], [3, 4], [3, 1, 4], 11,
         lambda x: x.unsqueeze(2))
    # Batch-dependent Reshapes from Shape arithmetic: (N, 3, 4) → (N*3, 4) → Relu → (N, 12).
    hand("reshape_rows_o13",
         [helper.make_node("Shape", ["input"], ["sh"]),
          helper.make_node("Gather", ["sh", "i0"], ["n"], axis=0),
          helper.make_node("Mul", ["n", "k3"], ["n3"]),
          helper.make_node("Unsqueeze", ["n3", "ax0"], ["n3u"]),
          helper.make_node("Concat", ["n3u", "m1"], ["shp"], axis=0),
          helper.make_node("Reshape", ["input", "shp"], ["rows"]),
          helper.make_node("Relu", ["rows"], ["r"]),
          helper.make_node("Unsqueeze", ["n", "ax0"], ["nu"]),
          helper.make_node("Concat", ["nu", "m1"], ["shp2"], axis=0),
          helper.make_node("Reshape", ["r", "shp2"], ["output"])],
         [numpy_helper.from_array(np.array(0, np.int64), "i0"), numpy_helper.from_array(np.array(3, np.int64), "k3"),
          numpy_helper.from_array(np.array([0], np.int64), "ax0"), numpy_helper.from_array(np.array([-1], np.int64), "m1")],
         [3, 4], [12], 13, lambda x: F.relu(x.reshape(-1, 4)).reshape(x.shape[0], -1))
    # Softmax before opset 13 on the last axis of a 3-D input.
    hand("softmax_last_o11", [helper.make_node("Softmax", ["input"], ["output"], axis=2)], [], [3, 4], [3, 4], 11,
         lambda x: F.softmax(x, dim=2))
    # Resize at opset 10: (X, scales).
    hand("resize_o10", [helper.make_node("Resize", ["input", "sc"], ["output"], mode="nearest")],
         [numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "sc")], [2, 2, 3], [2, 4, 6], 10,
         lambda x: F.interpolate(x, scale_factor=2, mode="nearest"))
    # Nodes listed out of topological order (the importer sorts them).
    hand("unordered_o13",
         [helper.make_node("Relu", ["t"], ["output"], name="second"),
          helper.make_node("Mul", ["input", "input"], ["t"], name="first")], [], [3], [3], 13,
         lambda x: F.relu(x * x))


# ------------------------------------------------------------------ bad models

def bad_models():
    os.makedirs(BAD, exist_ok=True)

    def model(nodes, inits, opset=13, inputs=None, outputs=None, domain=""):
        g = helper.make_graph(nodes, "bad",
                              inputs if inputs is not None else
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 5, 5])],
                              outputs if outputs is not None else
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, None)],
                              initializer=inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid(domain, opset)])
        m.ir_version = 8
        return m

    w = numpy_helper.from_array(rnd(4, 3, 3, 3), "w")
    conv = lambda **kw: helper.make_node("Conv", ["input", "w"], ["output"], name="Conv_12", kernel_shape=[3, 3], **kw)
    out = {}
    big = TensorProto()
    big.name, big.data_type = "w", TensorProto.FLOAT
    big.dims.extend([1 << 40])
    big.raw_data = b"\0" * 16
    out["dims_2e40"] = model([conv()], [big])
    out["missing_init"] = model([conv()], [])
    out["cycle"] = model([helper.make_node("Relu", ["b"], ["a"], name="r1"), helper.make_node("Relu", ["a"], ["b"], name="r2"),
                          helper.make_node("Add", ["input", "b"], ["output"], name="add")], [])
    out["unknown_op"] = model([helper.make_node("FancyOp", ["input"], ["output"], name="fancy")], [])
    bad_conv = conv()
    bad_conv.attribute.append(helper.make_attribute("strides", 2.0))
    out["wrong_attr_type"] = model([bad_conv], [w])
    out["opset_8"] = model([conv()], [w], opset=8)
    out["opset_19"] = model([conv()], [w], opset=19)
    out["int8_weight"] = model([conv()], [numpy_helper.from_array(np.ones((4, 3, 3, 3), np.int8), "w")])
    esc = numpy_helper.from_array(rnd(4, 3, 3, 3), "w")
    esc.ClearField("raw_data")
    esc.data_location = TensorProto.EXTERNAL
    e = esc.external_data.add()
    e.key, e.value = "location", "../escape.bin"
    out["external_escape"] = model([conv()], [esc])
    cd = helper.make_node("Relu", ["input"], ["output"], name="custom", domain="com.example")
    out["custom_domain"] = model([cd], [])
    out["dup_names"] = model([helper.make_node("Relu", ["input"], ["t"], name="a"),
                              helper.make_node("Relu", ["input"], ["t"], name="b"),
                              helper.make_node("Relu", ["t"], ["output"], name="c")], [])
    out["no_outputs"] = model([conv()], [w], outputs=[])
    short = TensorProto()
    short.name, short.data_type = "w", TensorProto.FLOAT
    short.dims.extend([4, 3, 3, 3])
    short.raw_data = b"\0" * 8
    out["short_raw_data"] = model([conv()], [short])
    no_graph = onnx.ModelProto()
    no_graph.ir_version = 8
    no_graph.opset_import.extend([helper.make_opsetid("", 13)])
    out["no_graph"] = no_graph
    for k, m in out.items():
        with open(os.path.join(BAD, k + ".onnx"), "wb") as f:
            f.write(m.SerializeToString())


def main():
    for d in (OPS, BAD):
        if os.path.isdir(d):
            shutil.rmtree(d)
        os.makedirs(d)
    torch_exports()
    hand_models()
    bad_models()
    total = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(ROOT) for f in fs)
    print("wrote %s (%d bytes)" % (ROOT, total))


if __name__ == "__main__":
    sys.exit(main())
