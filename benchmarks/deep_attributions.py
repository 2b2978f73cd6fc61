"""Gradient and perturbation attributions of CNNs: speed against captum and shap, peak memory,
and deletion / insertion quality with every method's defaults.

Three sections (``--sections``, all by default), one JSON report (``--out``) and markdown tables
on stdout; progress goes to stderr. Nothing is downloaded: the digits are sklearn's, resnet18 has
random weights.

speed
    rows/s of every method on two models, each against captum 0.9 on the same module, rows and
    targets (each row's predicted class), and shap's ``GradientExplainer`` and ``DeepExplainer``
    where they run: the digits CNN of ``benchmarks.attribution_digits`` (trained; its raw
    logits) and torchvision's ``resnet18`` (random weights, 10 outputs) on 64 x 64 images. The
    methods do the same work on both sides: ``n_steps=50`` Gauss-Legendre points (IG), 200
    samples (GradientSHAP), 50 noisy copies with a standard deviation of 0.15 of the rows' range
    (SmoothGrad over Saliency), the same occlusion windows, DeepLIFT from a black reference and
    DeepSHAP over ``--background`` rows, Grad-CAM at the layer sklxai picks, upsampled to the
    image. sklxai is timed as ``fit`` + ``explain``, captum as the predicted class plus
    ``attribute`` (Grad-CAM: plus its ``interpolate``), shap as the explainer's constructor plus
    ``shap_values``, each after an untimed warm-up on one row. sklxai and its peers are
    timed in turns (one call of each per round, so that the machine's drift falls on all of
    them), for ``--repeats`` rounds or as many as last 2 s in all (at most 50); the fastest
    call of each is kept. The ratio is the peer's seconds over sklxai's (above 1: sklxai is
    faster). Where both are deterministic and compute the same numbers, the largest
    difference relative to the peer's largest value is reported too.
memory
    resnet18, GradientSHAP with its default 200 samples on ``--memory-rows`` rows, in a fresh
    process per library: the peak resident memory (``VmHWM``) and the peak before the call,
    against a 24 GiB limit. sklxai runs at most 4,096 points per pass, on the CPU as many as
    keep the model's largest layer output within 16 MiB (64 points of resnet18 at 64 x 64), so
    its peak does not grow with the rows; captum runs all rows x samples in one batch.
quality
    two CNNs trained on digits (``--epochs``, AdamW, seed ``--seed``): the two-convolution,
    two-linear-layer CNN of ``benchmarks.attribution_digits`` and a CNN of two convolutions,
    adaptive average pooling and one linear layer. On ``--images`` held-out images, every image
    method with **its defaults** (only ``device`` and ``random_state`` given; SmoothGrad wraps a
    default ``Saliency``) and a seeded uniform random map, scored by ``deletion_auc`` and
    ``insertion_auc`` with **the metrics' defaults** (each row's predicted class, a black
    baseline, one pixel per step): mean and standard error, and whether the method beats the
    random map on both curves. Two more rows show the cause of I-GOS's former default: I-GOS
    and iGOS++ with ``baseline="blur"`` (the papers' choice), scored with the metrics' default
    black baseline and with the same blurred images as the metrics' baseline (against the random
    map under that baseline).

::

    python -m benchmarks.deep_attributions --out results/deep_attributions.json
    python -m benchmarks.deep_attributions --sections quality --images 200
    python -m benchmarks.deep_attributions --sections speed --resnet-scale 4 --repeats 3
    python -m benchmarks.deep_attributions --sections speed --device cuda --threads 0

``--device`` (``cpu`` by default) is where the speed section runs both sides: the module,
sklxai's explainers (``device=``) and captum's and shap's tensors, with
``torch.cuda.synchronize()`` before and after each timed call on CUDA. Both sides start from
the rows on the host and end with the attributions there: sklxai takes numpy rows and returns
numpy values, captum's timed call moves the rows to the device and its result back. The
digits CNN is trained on the CPU either way; the memory section measures the CPU's resident
memory and the quality section runs on the CPU.
"""

import argparse
import copy
import functools
import json
import math
import os
import resource
import subprocess
import sys
import time

import numpy as np

from benchmarks.kernel_speed import _loadavg, _machine, _write_json

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # idle OpenMP threads sleep (tree_speed.py)

IMAGE_SHAPE = (1, 8, 8)
RESNET_SHAPE = (3, 64, 64)
MEMORY_LIMIT_GIB = 24.0
#: speed: a method and its peers are timed in turns for at least this many seconds in all (more
#: rounds than --repeats where one round is shorter), the fastest of each kept
MIN_TIMED_SECONDS = 2.0
MAX_ROUNDS = 50

#: methods of the speed section, in table order
SPEED_METHODS = ("saliency", "input_x_gradient", "integrated_gradients", "gradient_shap",
                 "smoothgrad", "occlusion", "deeplift", "deepshap", "gradcam", "samp", "igos",
                 "igos++")
#: resnet18 rows per method at --resnet-scale 1 (the costly ones explain fewer rows); methods
#: left out run only when named in --resnet-methods (each takes minutes a row on one thread)
RESNET_ROWS = {"saliency": 16, "input_x_gradient": 16, "integrated_gradients": 4,
               "gradient_shap": 2, "smoothgrad": 4, "occlusion": 4, "deeplift": 16,
               "deepshap": 4, "gradcam": 16, "samp": 2}
#: methods of the quality section (registered names), in table order
QUALITY_METHODS = ("integrated_gradients", "samp", "igos", "igos++", "saliency",
                   "input_x_gradient", "gradient_shap", "smoothgrad", "occlusion", "deeplift",
                   "gradcam")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------ models


def make_pooled_cnn():
    """Two convolutions, adaptive average pooling, one linear layer; takes (n, 1, 8, 8)."""
    import torch

    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 32, 3, padding=1), torch.nn.ReLU(),
        torch.nn.Conv2d(32, 64, 3, padding=1), torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(2), torch.nn.Flatten(), torch.nn.Linear(64 * 4, 10))


def train_cnn(make_module, Xtr, ytr, *, seed, epochs):
    """A skorch classifier (probabilities) around ``make_module()``, as attribution_digits
    trains; the seed is set before the module's weights are drawn."""
    import torch
    from skorch import NeuralNetClassifier

    torch.manual_seed(seed)
    net = NeuralNetClassifier(
        make_module(), criterion=torch.nn.CrossEntropyLoss, optimizer=torch.optim.AdamW, lr=3e-3,
        max_epochs=epochs, batch_size=64, train_split=None, device="cpu", verbose=0,
        iterator_train__shuffle=True)
    t0 = time.perf_counter()
    net.fit(Xtr, ytr.astype(np.int64))
    return net, time.perf_counter() - t0


def digits_models(seed, epochs, which=("cnn", "pooled")):
    """The trained digits CNNs (skorch nets) by label, their reports, and the data split."""
    from benchmarks.attribution_digits import digits, make_cnn

    Xtr, Xte, ytr, yte = digits(seed)
    makers = {"cnn": make_cnn, "pooled": make_pooled_cnn}
    nets, report = {}, {}
    for label in which:
        log(f"training the {label} digits CNN ...")
        net, seconds = train_cnn(makers[label], Xtr, ytr, seed=seed, epochs=epochs)
        nets[label] = net
        report[label] = {"train_seconds": seconds,
                         "test_accuracy": float((net.predict(Xte) == yte).mean()),
                         "parameters": int(sum(p.numel() for p in net.module_.parameters()))}
    return nets, report, (Xtr, Xte, ytr, yte)


# ------------------------------------------------------------------------------ speed


def _ours(name, module, *, seed, occlusion_window, device="cpu"):
    """An unfitted sklxai explainer for a speed-section method."""
    import sklxai

    kw = {"device": device, "random_state": seed}
    if name == "smoothgrad":
        return sklxai.SmoothGrad(sklxai.Saliency(module, **kw), random_state=seed)
    if name == "deepshap":
        return sklxai.DeepLIFT(module, baseline="background", **kw)
    if name == "integrated_gradients":  # captum's black baseline, so the values compare
        kw["baseline"] = "zeros"
    if name == "occlusion":
        kw.update(window=occlusion_window, stride=occlusion_window)
    return sklxai.get_explainer(name)(module, **kw)


def _captum(name, module, X, bg, *, cam_layer, occlusion_window, noise, device="cpu"):
    """captum's attributions for a speed-section method (None: no captum peer), for host rows
    ``X`` and background ``bg`` moved to ``device`` and the values moved back."""
    values = _captum_on_device(name, module, X.to(device), bg.to(device),
                               cam_layer=cam_layer, occlusion_window=occlusion_window,
                               noise=noise)
    return None if values is None else values.cpu()


def _captum_on_device(name, module, X, bg, *, cam_layer, occlusion_window, noise):
    """captum's attributions for a speed-section method, where ``X`` and ``bg`` already are."""
    import torch
    from captum import attr

    with torch.no_grad():
        target = module(X).argmax(dim=1)
    if name == "saliency":
        return attr.Saliency(module).attribute(X, target=target)
    if name == "input_x_gradient":
        return attr.InputXGradient(module).attribute(X, target=target)
    if name == "integrated_gradients":
        return attr.IntegratedGradients(module).attribute(X, target=target, n_steps=50,
                                                          method="gausslegendre")
    if name == "gradient_shap":
        return attr.GradientShap(module).attribute(X, baselines=bg, target=target,
                                                   n_samples=200, stdevs=0.0)
    if name == "smoothgrad":
        return attr.NoiseTunnel(attr.Saliency(module)).attribute(
            X, nt_type="smoothgrad", nt_samples=50, stdevs=noise, target=target)
    if name == "occlusion":
        return attr.Occlusion(module).attribute(
            X, sliding_window_shapes=occlusion_window, strides=occlusion_window, baselines=0.0,
            target=target, perturbations_per_eval=64)
    if name == "deeplift":
        return attr.DeepLift(module).attribute(X, target=target)
    if name == "deepshap":
        return attr.DeepLiftShap(module).attribute(X, baselines=bg, target=target)
    if name == "gradcam":
        layer = module.get_submodule(cam_layer)
        cam = attr.LayerGradCam(module, layer).attribute(X, target=target,
                                                         relu_attributions=True)
        return attr.LayerAttribution.interpolate(cam, tuple(X.shape[-2:]), "bilinear")
    return None


def _shap(name, module, X, bg, *, device="cpu"):
    """shap's attributions for a speed-section method (None: no shap peer), for host rows
    ``X`` and background ``bg`` moved to ``device`` (shap returns numpy values)."""
    import shap

    X, bg = X.to(device), bg.to(device)

    if name == "gradient_shap":
        values, _ = shap.GradientExplainer(module, bg).shap_values(X, nsamples=200,
                                                                   ranked_outputs=1)
        return values
    if name == "deepshap":
        values, _ = shap.DeepExplainer(module, bg).shap_values(X, ranked_outputs=1,
                                                               check_additivity=False)
        return values
    return None


def _sync(device):
    """Wait for the work queued on ``device`` (CUDA); nothing on the CPU."""
    import torch

    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def _timed_together(calls, repeats, device="cpu", min_seconds=MIN_TIMED_SECONDS):
    """{name: (fastest seconds, result of that call)} of the callables ``calls``, timed in
    turns (one call of each per round, the device synchronized before and after each), so
    that the machine's drift during the runs falls on every method alike. ``repeats`` rounds,
    more where a round is short: as many as make ``min_seconds`` (at most
    :data:`MAX_ROUNDS`)."""
    best = {name: (np.inf, None) for name in calls}
    rounds, done, spent = max(1, repeats), 0, 0.0
    while done < rounds:
        for name, fn in calls.items():
            _sync(device)
            t0 = time.perf_counter()
            out = fn()
            _sync(device)
            sec = time.perf_counter() - t0
            spent += sec
            if sec < best[name][0]:
                best[name] = (sec, out)
        done += 1
        if done == 1:  # short rounds: more of them
            rounds = max(rounds, min(MAX_ROUNDS, math.ceil(min_seconds / max(spent, 1e-9))))
    return best


def _fit_explain(est, bg, X, device="cpu"):
    """(fit seconds, explanation) of ``est.fit(bg).explain(X)``."""
    t0 = time.perf_counter()
    est.fit(bg)
    _sync(device)
    fit_s = time.perf_counter() - t0
    return fit_s, est.explain(X)


def _as_array(values):
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    return np.asarray(values, dtype=np.float64)


def _rel_diff(ours, peer, n, target):
    """max |ours - peer| / max |peer| over the first n rows, both read as (n, ...) maps; values
    of every output (Occlusion's default) are compared on each row's ``target``."""
    a = _as_array(ours)
    b = _as_array(peer).reshape(n, -1)
    if a.size != b.size and a.size % b.size == 0:
        a = a.reshape(n, b.shape[1], -1)[np.arange(n), :, target[:n]]
    a = a.reshape(n, -1)
    if a.shape != b.shape:
        return None
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-300))


def speed_model(label, module, X, bg, methods, *, seed, repeats, occlusion_window,
                rows_of=None, device="cpu"):
    """Speed rows of one model: per method sklxai's, captum's and shap's seconds and ratios,
    all on ``device``."""
    import torch

    module = module.eval().to(device)
    for p in module.parameters():
        p.requires_grad_(False)
    Xt = torch.as_tensor(X)
    bgt = torch.as_tensor(bg)
    with torch.no_grad():
        target = module(Xt.to(device)).argmax(dim=1).cpu().numpy()
    noise = float(0.15 * (X.max() - X.min()))
    out = {}
    for name in methods:
        n = len(X) if rows_of is None else min(len(X), rows_of(name))
        entry = {"rows": n}
        try:
            est = _ours(name, module, seed=seed, occlusion_window=occlusion_window,
                        device=device)
            est.fit(bg).explain(X[:1])  # warm-up
        except Exception as exc:  # noqa: BLE001 - reported, the benchmark goes on
            entry["error"] = f"{type(exc).__name__}: {exc}"[:400]
            log(f"  {label} {name}: sklxai failed: {entry['error']}")
            out[name] = entry
            continue
        calls = {"sklxai": functools.partial(_fit_explain, est, bg, X[:n], device)}
        captum_kw = {"cam_layer": getattr(est, "cam_layer_", None),
                     "occlusion_window": occlusion_window, "noise": noise, "device": device}
        for peer, call in (("captum", functools.partial(_captum, **captum_kw)),
                           ("shap", functools.partial(_shap, device=device))):
            # a copy per peer: a peer that fails may leave its hooks on the module it was given
            peer_module = copy.deepcopy(module)
            try:
                if call(name, peer_module, Xt[:1], bgt) is None:  # also the peer's warm-up
                    continue
            except Exception as exc:  # noqa: BLE001 - the peer's failure is reported
                entry[peer] = {"error": f"{type(exc).__name__}: {exc}"[:400]}
                log(f"  {label} {name}: {peer} failed: {entry[peer]['error']}")
                continue
            calls[peer] = functools.partial(call, name, peer_module, Xt[:n], bgt)
        try:
            timed = _timed_together(calls, repeats, device)
        except Exception as exc:  # noqa: BLE001 - reported, the benchmark goes on
            entry["error"] = f"{type(exc).__name__}: {exc}"[:400]
            log(f"  {label} {name}: timing failed: {entry['error']}")
            out[name] = entry
            continue
        seconds, (fit_s, exp) = timed.pop("sklxai")
        ours = exp.values
        entry.update(seconds=seconds, rows_per_s=n / seconds, fit_seconds=fit_s,
                     explain_seconds=seconds - fit_s)
        for peer, (peer_seconds, values) in timed.items():
            peer_entry = {"seconds": peer_seconds, "rows_per_s": n / peer_seconds,
                          "ratio": peer_seconds / entry["seconds"],
                          "ratio_explain_only": peer_seconds / entry["explain_seconds"]}
            if name in ("saliency", "input_x_gradient", "integrated_gradients", "deeplift",
                        "deepshap", "occlusion", "gradcam"):
                peer_entry["max_rel_diff"] = _rel_diff(ours, values, n, target)
            entry[peer] = peer_entry
        out[name] = entry
        msg = ", ".join(f"{p} {entry[p]['ratio']:.2f}x" for p in ("captum", "shap")
                        if "ratio" in entry.get(p, {}))
        log(f"  {label} {name}: {n} rows, {entry['seconds']:.2f} s ({msg or 'no peer'})")
    return out


def run_speed(nets, data, *, seed, repeats, n_rows, background, resnet_scale, resnet_methods,
              digits_methods, device="cpu"):
    import torch

    Xtr, Xte, _, _ = data
    rng = np.random.default_rng(seed)
    res = {}
    if "cnn" in nets:
        log(f"speed, digits CNN, {n_rows} rows ...")
        module = copy.deepcopy(nets["cnn"].module_)  # moved to the device, the net kept
        res["digits_cnn"] = speed_model(
            "digits", module, Xte[:n_rows], Xtr[:background], digits_methods, seed=seed,
            repeats=repeats, occlusion_window=(1, 2, 2), device=device)
    if resnet_methods and resnet_scale > 0:
        from benchmarks._torchvision import resnet18

        log("speed, resnet18 (random weights) at 64 x 64 ...")
        model = resnet18(seed=seed)
        X = rng.random((max(RESNET_ROWS.values()) * resnet_scale, *RESNET_SHAPE)).astype(
            np.float32)
        bg = rng.random((background, *RESNET_SHAPE)).astype(np.float32)
        res["resnet18_64"] = speed_model(
            "resnet18", model, X, bg, resnet_methods, seed=seed, repeats=repeats,
            occlusion_window=(3, 8, 8),
            rows_of=lambda name: RESNET_ROWS.get(name, 1) * resnet_scale, device=device)
        del model
    torch.set_grad_enabled(True)
    return res


# ------------------------------------------------------------------------------ memory


def _memory_child(library, n_rows, threads, seed):
    """Run in a fresh process: resnet18 GradientSHAP (200 samples) on n_rows rows; JSON out."""
    import torch

    torch.set_num_threads(threads)
    from benchmarks._torchvision import resnet18

    model = resnet18(seed=seed)
    for p in model.parameters():
        p.requires_grad_(False)
    rng = np.random.default_rng(seed)
    X = rng.random((n_rows, *RESNET_SHAPE)).astype(np.float32)
    bg = rng.random((20, *RESNET_SHAPE)).astype(np.float32)
    before = _peak_rss_gib()
    t0 = time.perf_counter()
    if library == "sklxai":
        import sklxai

        sklxai.GradientSHAP(model, n_samples=200, device="cpu", random_state=seed).fit(
            bg).explain(X)
    else:
        from captum.attr import GradientShap

        with torch.no_grad():
            target = model(torch.as_tensor(X)).argmax(dim=1)
        GradientShap(model).attribute(torch.as_tensor(X), baselines=torch.as_tensor(bg),
                                      target=target, n_samples=200)
    seconds = time.perf_counter() - t0
    print(json.dumps({"before_gib": before, "peak_gib": _peak_rss_gib(), "seconds": seconds}))


def _peak_rss_gib():
    """This process's peak resident memory in GiB: ``VmHWM`` of /proc/self/status where there
    is one (it starts afresh at exec; ``ru_maxrss`` keeps the peak of the parent that forked
    this process), else ``ru_maxrss``."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 2**20  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def run_memory(n_rows, threads, seed, libraries=("sklxai", "captum")):
    out = {"rows": n_rows, "n_samples": 200, "limit_gib": MEMORY_LIMIT_GIB}
    for lib in libraries:
        log(f"memory, resnet18 GradientSHAP 200 samples, {n_rows} rows, {lib} ...")
        cmd = [sys.executable, "-m", "benchmarks.deep_attributions", "--memory-child", lib,
               "--memory-rows", str(n_rows), "--threads", str(threads), "--seed", str(seed)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            out[lib] = {"error": proc.stderr.strip().splitlines()[-1:] or
                        [f"exit status {proc.returncode}"]}
            log(f"  {lib}: failed ({out[lib]['error']})")
            continue
        entry = json.loads(proc.stdout.strip().splitlines()[-1])
        entry["within_limit"] = bool(entry["peak_gib"] < MEMORY_LIMIT_GIB)
        out[lib] = entry
        log(f"  {lib}: peak {entry['peak_gib']:.2f} GiB, {entry['seconds']:.1f} s")
    return out


# ------------------------------------------------------------------------------ quality


def _mean_sem(a):
    a = np.asarray(a, dtype=np.float64)
    return {"mean": float(a.mean()), "sem": float(a.std(ddof=1) / np.sqrt(len(a)))}


def _blurred(X):
    """Each image blurred as I-GOS's ``baseline="blur"`` does (sigma: a tenth of the side)."""
    from scipy.ndimage import gaussian_filter

    sigma = max(X.shape[-2:]) / 10.0
    radius = max(1, int(np.ceil(3.0 * sigma)))  # I-GOS's kernel radius, edges replicated
    out = np.stack([gaussian_filter(x.astype(np.float64), sigma=(0, sigma, sigma),
                                    mode="nearest", truncate=radius / sigma) for x in X])
    return out.astype(X.dtype)


def quality_model(label, net, Xfit, Xev, methods, *, seed):
    """Deletion and insertion AUC of every method (defaults) and a random map on one model."""
    import sklxai
    from sklxai.metrics import deletion_auc, insertion_auc

    out = {}

    def score(name, values, seconds, **metric_kw):
        entry = {"seconds": seconds,
                 "deletion_auc": _mean_sem(deletion_auc(net, Xev, values, **metric_kw)),
                 "insertion_auc": _mean_sem(insertion_auc(net, Xev, values, **metric_kw))}
        out[name] = entry
        log(f"  {label} {name}: {seconds:.1f} s, deletion {entry['deletion_auc']['mean']:.3f}, "
            f"insertion {entry['insertion_auc']['mean']:.3f}")

    kw = {"device": "cpu", "random_state": seed}
    for name in methods:
        try:
            if name == "smoothgrad":
                est = sklxai.SmoothGrad(sklxai.Saliency(net, **kw), random_state=seed)
            else:
                est = sklxai.get_explainer(name)(net, **kw)
        except (ValueError, sklxai.registry.PluginError) as exc:  # plugin not installed
            log(f"  {name}: not available ({exc})")
            continue
        t0 = time.perf_counter()
        exp = est.fit(Xfit).explain(Xev)
        score(name, exp, time.perf_counter() - t0)
    # the papers' blur baseline: scored under the metrics' black default, then under the blur
    for name in ("igos", "igos++"):
        if name not in out:
            continue
        est = sklxai.get_explainer(name)(net, baseline="blur", **kw)
        t0 = time.perf_counter()
        exp = est.fit(Xfit).explain(Xev)
        seconds = time.perf_counter() - t0
        score(f"{name} (baseline='blur')", exp, seconds)
        score(f"{name} (baseline='blur'), metrics on the blur", exp, seconds,
              baseline=_blurred(Xev))
    rnd = np.random.default_rng(seed).random(Xev.shape)
    score("random", rnd, 0.0)
    blur_rows = [name for name in out if name.endswith("metrics on the blur")]
    if blur_rows:
        score("random, metrics on the blur", rnd, 0.0, baseline=_blurred(Xev))
    for name, entry in out.items():
        if name.startswith("random"):
            continue
        ref = out["random, metrics on the blur" if name in blur_rows else "random"]
        entry["beats_random"] = bool(
            entry["deletion_auc"]["mean"] < ref["deletion_auc"]["mean"]
            and entry["insertion_auc"]["mean"] > ref["insertion_auc"]["mean"])
    return out


def run_quality(nets, data, *, n_images, seed, methods):
    Xtr, Xte, _, _ = data
    res = {}
    for label, net in nets.items():
        log(f"quality, {label} CNN, {n_images} images ...")
        res[label] = quality_model(label, net, Xtr, Xte[:n_images], methods, seed=seed)
    return res


# ------------------------------------------------------------------------------ report


def run(*, sections=("speed", "memory", "quality"), n_images=100, epochs=30, seed=0,
        repeats=1, threads=1, speed_rows=64, background=20, resnet_scale=1,
        resnet_methods=tuple(RESNET_ROWS), digits_methods=SPEED_METHODS,
        quality_methods=QUALITY_METHODS, memory_rows=4, device="cpu"):
    import torch

    from sklxai.utils.validation import resolve_device

    device = str(resolve_device(device))  # a clear error where CUDA is asked for but absent
    if threads:
        torch.set_num_threads(threads)
    load_before = _loadavg()
    t_start = time.perf_counter()
    report = {"benchmark": "deep_attributions", "machine": _machine(device),
              "settings": {"device": device, "sections": list(sections), "images": n_images,
                           "epochs": epochs,
                           "seed": seed, "repeats": repeats, "threads": threads,
                           "speed_rows": speed_rows, "background": background,
                           "resnet_scale": resnet_scale, "resnet_methods": list(resnet_methods),
                           "memory_rows": memory_rows}}
    try:
        import captum

        report["machine"]["captum"] = captum.__version__
    except ImportError:
        pass
    need = [] if not {"speed", "quality"} & set(sections) else (
        ["cnn", "pooled"] if "quality" in sections else ["cnn"])
    nets, models, data = digits_models(seed, epochs, need) if need else ({}, {}, None)
    report["models"] = models
    if "speed" in sections:
        report["speed"] = run_speed(nets, data, seed=seed, repeats=repeats, n_rows=speed_rows,
                                    background=background, resnet_scale=resnet_scale,
                                    resnet_methods=resnet_methods,
                                    digits_methods=digits_methods, device=device)
    if "memory" in sections:
        report["memory"] = run_memory(memory_rows, threads or 1, seed)
    if "quality" in sections:
        report["quality"] = run_quality(nets, data, n_images=n_images, seed=seed,
                                        methods=quality_methods)
    report["machine"]["load_before"] = load_before
    report["machine"]["load_after"] = _loadavg()
    report["seconds"] = time.perf_counter() - t_start
    return report


def _fmt(v, spec=".3f"):
    return "-" if v is None else format(v, spec)


def markdown(report):
    m = report["machine"]
    before, after = (_fmt(m[k][0] if m.get(k) else None, ".2f")
                     for k in ("load_before", "load_after"))
    lines = [(f"Machine: {m['device_name']} ({m['device']}), {m['cpu_count']} CPUs, torch threads "
              f"{report['settings']['threads']}, load {before} before, {after} after; torch "
              f"{m['torch']}, captum {m.get('captum', '-')}, shap {m.get('shap', '-')}"), ""]
    for label, res in report.get("speed", {}).items():
        lines += [f"Speed, {label}:", "",
                  ("| method | rows | sklxai rows/s | captum rows/s | captum / sklxai time | "
                   "the same, sklxai's explain only | shap rows/s | shap / sklxai time | "
                   "max rel. diff (captum) |"),
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for name, e in res.items():
            if "error" in e:
                lines.append(f"| {name} | {e['rows']} | failed: {e['error'][:80]} | | | | | | |")
                continue
            cells = [name, str(e["rows"]), f"{e['rows_per_s']:.3g}"]
            for peer in ("captum", "shap"):
                p = e.get(peer)
                extra = peer == "captum"
                if p is None:
                    cells += ["-", "-"] + ["-"] * extra
                elif "error" in p:
                    cells += ["failed", "-"] + ["-"] * extra
                else:
                    cells += [f"{p['rows_per_s']:.3g}", f"{p['ratio']:.2f}x"]
                    cells += [f"{p['ratio_explain_only']:.2f}x"] * extra
            cells.append(_fmt(e.get("captum", {}).get("max_rel_diff"), ".1e"))
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    mem = report.get("memory")
    if mem:
        lines += [(f"Memory, resnet18 GradientSHAP {mem['n_samples']} samples, {mem['rows']} "
                   f"rows (limit {mem['limit_gib']:.0f} GiB):"), "",
                  "| library | before GiB | peak GiB | seconds | within limit |",
                  "|---|---:|---:|---:|---|"]
        for lib in ("sklxai", "captum"):
            e = mem.get(lib)
            if e is None:
                continue
            if "error" in e:
                lines.append(f"| {lib} | failed: {e['error']} | | | |")
            else:
                lines.append(f"| {lib} | {e['before_gib']:.2f} | {e['peak_gib']:.2f} | "
                             f"{e['seconds']:.1f} | {e['within_limit']} |")
        lines.append("")
    for label, res in report.get("quality", {}).items():
        acc = report["models"][label]["test_accuracy"]
        lines += [(f"Quality, {label} CNN (test accuracy {acc:.4f}), "
                   f"{report['settings']['images']} images, defaults everywhere:"), "",
                  ("| method | deletion AUC (lower better) | insertion AUC (higher better) | "
                   "beats random on both | seconds |"), "|---|---:|---:|---|---:|"]
        for name, e in res.items():
            d, i = e["deletion_auc"], e["insertion_auc"]
            lines.append(f"| {name} | {d['mean']:.3f} ± {d['sem']:.3f} | {i['mean']:.3f} ± "
                         f"{i['sem']:.3f} | {e.get('beats_random', '')} | {e['seconds']:.1f} |")
        lines.append("")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sections", default="speed,memory,quality",
                        help="comma-separated: speed, memory, quality")
    parser.add_argument("--images", type=int, default=100, help="quality: test images")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (0: default)")
    parser.add_argument("--speed-rows", type=int, default=64, help="digits rows timed")
    parser.add_argument("--background", type=int, default=20,
                        help="GradientSHAP / DeepSHAP background rows")
    parser.add_argument("--resnet-scale", type=int, default=1,
                        help="resnet18 rows per method times this (0: no resnet18)")
    parser.add_argument("--resnet-methods", nargs="*", default=list(RESNET_ROWS),
                        choices=list(SPEED_METHODS))
    parser.add_argument("--digits-methods", nargs="*", default=list(SPEED_METHODS),
                        choices=list(SPEED_METHODS))
    parser.add_argument("--quality-methods", nargs="*", default=list(QUALITY_METHODS),
                        choices=list(QUALITY_METHODS))
    parser.add_argument("--memory-rows", type=int, default=4)
    parser.add_argument("--memory-child", choices=["sklxai", "captum"], help=argparse.SUPPRESS)
    parser.add_argument("--device", default="cpu",
                        help="where the speed section runs: cpu (default) or cuda")
    parser.add_argument("--out", default="results/deep_attributions.json")
    args = parser.parse_args(argv)
    if args.memory_child:
        _memory_child(args.memory_child, args.memory_rows, args.threads or 1, args.seed)
        return 0
    sections = tuple(s.strip() for s in args.sections.split(",") if s.strip())
    unknown = set(sections) - {"speed", "memory", "quality"}
    if unknown:
        parser.error(f"--sections: unknown {sorted(unknown)}; use speed, memory, quality")
    from sklxai.utils.validation import resolve_device

    try:
        resolve_device(args.device)
    except ValueError as exc:  # before minutes of training, not after
        parser.error(f"--device: {exc}")
    report = run(sections=sections, n_images=args.images, epochs=args.epochs, seed=args.seed,
                 repeats=args.repeats, threads=args.threads, speed_rows=args.speed_rows,
                 background=args.background, resnet_scale=args.resnet_scale,
                 resnet_methods=tuple(args.resnet_methods),
                 digits_methods=tuple(args.digits_methods),
                 quality_methods=tuple(args.quality_methods), memory_rows=args.memory_rows,
                 device=args.device)
    _write_json(report, args.out)
    print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
