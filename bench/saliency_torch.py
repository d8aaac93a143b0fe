#!/usr/bin/python3
"""PyTorch counterpart of bench/saliency.c: the same saliency algorithms written as plain PyTorch
loops, timed the same way (median ms per image over --reps after --warm repetitions).

  gradient, grad_input   one forward + backward to the input (Captum Saliency / InputXGradient style)
  smoothgrad             noisy copies in chunks of --chunk, grads by torch.autograd.grad, mean of
                         max_c |grad| (Captum NoiseTunnel-style loop)
  integrated_gradients   m + 1 path points in chunks of --chunk, trapezoid weights (Captum style)
  gradcam                forward hook on the last conv stage, backward, weighted ReLU, upsampling
  occlusion              occluded copies in chunks under no_grad (Captum Occlusion-style)
  rise                   TorchRay-style: masks made with torch (rand grid < p, bilinear upsampling,
                         random shift), chunks under no_grad, sum of softmax_c x mask / (N p)
  meaningful_perturbation  torch.optim.Adam on a coarse mask, blur baseline, jitter (rolled), L1 + TV
  extremal_perturbation  TorchRay-style: zero-padded blur pyramid, smooth-max mask generator (unfold,
                         nearest upsampling, weights, softmax(20 v) pooling), sorted-mask area constraint with
                         growing weight, torch.optim.SGD (momentum = dampening = 0.9), flips on even
                         steps; --ep-iterations (800) iterations, area 0.1
Models: torchvision resnet18 / resnet50 / vgg16 with random weights in eval mode (timing only).
Prints  RESULT impl=torch method=smoothgrad ms=123.4
Run with Debian's /usr/bin/python3; exits 3 when torch cannot be imported.
"""
import argparse
import statistics
import sys
import time

try:
    import torch
    import torch.nn.functional as F
    import torchvision
except ImportError:
    sys.stderr.write("PyTorch not installed\n")
    sys.exit(3)


def scaled(base, h):
    return max(1, (base * h + 112) // 224)


def grads(model, x, c):
    x = x.detach().requires_grad_(True)
    z = model(x)
    (g,) = torch.autograd.grad(z[:, c].sum(), x)
    return z, g


def m_gradient(model, x, c, a):
    _, g = grads(model, x, c)
    return g.abs().amax(1)


def m_grad_input(model, x, c, a):
    _, g = grads(model, x, c)
    return (x * g).sum(1)


def m_smoothgrad(model, x, c, a):
    sig = 0.15 * (x.max() - x.min())
    acc = torch.zeros(x.shape[2:])
    for s0 in range(0, a.samples, a.chunk):
        b = min(a.chunk, a.samples - s0)
        xs = x + sig * torch.randn(b, *x.shape[1:])
        _, g = grads(model, xs, c)
        acc += g.abs().amax(1).sum(0)
    return acc / a.samples


def m_integrated_gradients(model, x, c, a):
    m = a.steps
    alphas = torch.arange(m + 1, dtype=torch.float32) / m
    w = torch.full((m + 1,), 1.0 / m)
    w[0] = w[-1] = 0.5 / m
    avg = torch.zeros_like(x)
    for k0 in range(0, m + 1, a.chunk):
        al = alphas[k0:k0 + a.chunk]
        xs = al.view(-1, 1, 1, 1) * x
        _, g = grads(model, xs, c)
        avg += (w[k0:k0 + a.chunk].view(-1, 1, 1, 1) * g).sum(0, keepdim=True)
    return (x * avg).sum(1)


def m_gradcam(model, x, c, a):
    store = {}
    layer = model.layer4 if hasattr(model, "layer4") else model.features
    h = layer.register_forward_hook(lambda mod, i, o: store.__setitem__("A", o))
    z = model(x.detach().requires_grad_(True))  # parameters are frozen: the input carries the graph
    h.remove()
    A = store["A"]
    (g,) = torch.autograd.grad(z[:, c].sum(), A)
    cam = F.relu((g.mean((2, 3), keepdim=True) * A).sum(1, keepdim=True))
    return F.interpolate(cam, size=x.shape[2:], mode="bilinear", align_corners=False)


def m_occlusion(model, x, c, a):
    H, W = x.shape[2:]
    patch, stride = scaled(16, H), scaled(8, H)

    def origins(n):
        o = list(range(0, n - patch + 1, stride))
        if o[-1] != n - patch:
            o.append(n - patch)
        return o
    wins = [(y, xx) for y in origins(H) for xx in origins(W)]
    with torch.no_grad():
        s0 = model(x)[0, c]
        acc = torch.zeros(H, W)
        cnt = torch.zeros(H, W)
        for w0 in range(0, len(wins), a.chunk):
            chunk = wins[w0:w0 + a.chunk]
            xs = x.repeat(len(chunk), 1, 1, 1)
            for j, (y, xx) in enumerate(chunk):
                xs[j, :, y:y + patch, xx:xx + patch] = 0
            d = s0 - model(xs)[:, c]
            for j, (y, xx) in enumerate(chunk):
                acc[y:y + patch, xx:xx + patch] += d[j]
                cnt[y:y + patch, xx:xx + patch] += 1
    return acc / cnt


def m_rise(model, x, c, a):
    H, W = x.shape[2:]
    s, p, n = 7, 0.5, a.rise_samples
    ch, cw = (H + s - 1) // s, (W + s - 1) // s
    acc = torch.zeros(H, W)
    with torch.no_grad():
        for i0 in range(0, n, a.chunk):
            b = min(a.chunk, n - i0)
            grid = (torch.rand(b, 1, s, s) < p).float()
            up = F.interpolate(grid, size=((s + 1) * ch, (s + 1) * cw), mode="bilinear", align_corners=False)
            masks = torch.empty(b, 1, H, W)
            dy = torch.randint(0, ch, (b,))
            dx = torch.randint(0, cw, (b,))
            for j in range(b):
                masks[j] = up[j, :, dy[j]:dy[j] + H, dx[j]:dx[j] + W]
            prob = F.softmax(model(x * masks), 1)[:, c]
            acc += (prob.view(b, 1, 1) * masks[:, 0]).sum(0)
    return acc / (n * p)


def m_meaningful_perturbation(model, x, c, a):
    H, W = x.shape[2:]
    s, J = scaled(28, H), scaled(4, H)
    sigma = 10.0 * H / 224
    r = int(4 * sigma + 0.999)
    k = torch.exp(-0.5 * (torch.arange(-r, r + 1, dtype=torch.float32) / sigma) ** 2)
    k = k / k.sum()
    b = F.conv2d(F.pad(x, (r, r, 0, 0), mode="reflect"), k.view(1, 1, 1, -1).repeat(3, 1, 1, 1), groups=3)
    b = F.conv2d(F.pad(b, (0, 0, r, r), mode="reflect"), k.view(1, 1, -1, 1).repeat(3, 1, 1, 1), groups=3)
    m = torch.ones(1, 1, s, s, requires_grad=True)
    opt = torch.optim.Adam([m], lr=0.1)
    for t in range(a.iterations):
        dy, dx = [int(v) for v in torch.randint(-J, J + 1, (2,))]
        xj, bj = torch.roll(x, (dy, dx), (2, 3)), torch.roll(b, (dy, dx), (2, 3))
        M = F.interpolate(m, size=(H, W), mode="bilinear", align_corners=False)
        prob = F.softmax(model(M * xj + (1 - M) * bj), 1)[0, c]
        tv = (m[..., :, 1:] - m[..., :, :-1]).abs().pow(3).sum() + (m[..., 1:, :] - m[..., :-1, :]).abs().pow(3).sum()
        loss = 1e-4 * (1 - m).abs().sum() + 1e-2 * tv + prob
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            m.clamp_(0, 1)
    return 1 - F.interpolate(m.detach(), size=(H, W), mode="bilinear", align_corners=False)


def m_extremal_perturbation(model, x, c, a):
    import math
    H, W = x.shape[2:]
    s, sig, L, area = scaled(7, H), float(scaled(21, H)), 8, 0.1
    max_blur = 20.0 * H / 224

    def blur_zero(img, sigma):
        if sigma <= 0:
            return img
        r = math.ceil(4 * sigma)
        k = torch.exp(-0.5 * (torch.arange(-r, r + 1, dtype=torch.float32) / sigma) ** 2)
        k = k / k.sum()
        y = F.conv2d(img, k.view(1, 1, -1, 1).repeat(3, 1, 1, 1), padding=(r, 0), groups=3)
        return F.conv2d(y, k.view(1, 1, 1, -1).repeat(3, 1, 1, 1), padding=(0, r), groups=3)
    with torch.no_grad():
        pyr = torch.cat([blur_zero(x, max_blur * (1 - l / (L - 1))) for l in range(L)]).permute(0, 2, 3, 1)
    # generator geometry and the (candidate, pixel) weights; candidates by unfold + nearest upsampling
    pad, rad = 1 + math.ceil(2 * sig / s), 1 + math.ceil(sig / s)
    kw, hin, win = 2 * rad + 1, -(-H // s), -(-W // s)
    hmid, wmid = hin + 2 * pad - 2 * rad, win + 2 * pad - 2 * rad
    hout, wout = s * hmid - s + 1, s * wmid - s + 1
    m0 = round(sig)
    uy, ux = torch.arange(hout).view(1, 1, -1, 1), torch.arange(wout).view(1, 1, 1, -1)
    ky, kx = torch.arange(kw).view(-1, 1, 1, 1), torch.arange(kw).view(1, -1, 1, 1)
    cy, cx = uy // s + ky - pad, ux // s + kx - pad
    d = torch.sqrt(((uy - sig - s * cy) ** 2 + (ux - sig - s * cx) ** 2).float())
    wt = torch.exp(-2 * (d / sig - 0.5).clamp(min=0) ** 2).reshape(1, kw * kw, hout, wout)

    def generate(pm):
        u = F.unfold(pm.view(1, 1, hin, win), (kw, kw), padding=pad).view(1, kw * kw, hmid, wmid)
        v = wt * F.interpolate(u, size=(s * hmid, s * wmid), mode="nearest")[:, :, :hout, :wout]
        return (v * F.softmax(20 * v, dim=1)).sum(1).clamp(0, 1).view(hout, wout)
    yy, xx = torch.arange(H).view(-1, 1), torch.arange(W).view(1, -1)
    n = hout * wout
    ref = torch.ones(n)
    ref[:int(n * (1 - area))] = 0
    pm = torch.ones(hin, win, requires_grad=True)
    opt = torch.optim.SGD([pm], lr=0.01, momentum=0.9, dampening=0.9)
    lam = 300.0
    for t in range(a.ep_iterations - 1):
        full = generate(pm)
        w = full[m0:m0 + H, m0:m0 + W] * (L - 1)
        k = torch.floor(w).detach().clamp(max=L - 1).long()
        f = (w - k).unsqueeze(-1)
        xs = ((1 - f) * pyr[k, yy, xx] + f * pyr[(k + 1).clamp(max=L - 1), yy, xx]).permute(2, 0, 1).unsqueeze(0)
        if t % 2 == 0:
            xs = torch.flip(xs, dims=(3,))
        z = model(xs)[0, c]
        regul = lam * ((torch.sort(full.reshape(-1))[0] - ref) ** 2).mean()
        opt.zero_grad()
        (regul - z).backward()
        opt.step()
        with torch.no_grad():
            pm.clamp_(0, 1)
        lam *= 1.0035
    with torch.no_grad():
        return generate(pm)[m0:m0 + H, m0:m0 + W]


METHODS = {k[2:]: v for k, v in globals().items() if k.startswith("m_")}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="resnet50")
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--method", required=True)
    ap.add_argument("--chunk", type=int, default=16)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--warm", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--samples", type=int, default=50)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--rise-samples", type=int, default=4000)
    ap.add_argument("--iterations", type=int, default=300)
    ap.add_argument("--ep-iterations", type=int, default=800)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = getattr(torchvision.models, a.model)(weights=None).eval()
    for q in model.parameters():
        q.requires_grad_(False)
    x = torch.randn(1, 3, a.size, a.size)
    with torch.no_grad():
        c = int(model(x).argmax(1)[0])  # the top-1 pass, as salient's target resolution does
    fn = METHODS[a.method]
    times = []
    for r in range(a.warm + a.reps):
        t0 = time.perf_counter()
        if a.method not in ("gradient", "grad_input", "gradcam"):
            with torch.no_grad():
                c = int(model(x).argmax(1)[0])
        fn(model, x, c, a)
        dt = (time.perf_counter() - t0) * 1e3
        sys.stderr.write(f"  torch {a.method} rep {r}: {dt:.1f} ms/image\n")
        if r >= a.warm:
            times.append(dt)
    print(f"RESULT impl=torch method={a.method} ms={statistics.median(times):.3f}", flush=True)


if __name__ == "__main__":
    main()
