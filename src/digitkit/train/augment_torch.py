"""Batched augmentation and input preparation in torch, on the training device.

The same transforms, parameters and distributions as the NumPy augmenter
(:mod:`digitkit.data.augment`), so a recipe's ``augment=`` name means the same on both
paths; only the random stream differs. What changes is where the work happens: a batch of
uint8 images indexed on the GPU is augmented there (one ``affine_grid`` + ``grid_sample`` for
rotation, shift, shear, zoom and elastic distortion together; stroke width by cross-shaped
grey-level dilation/erosion), so the accelerator never waits for a CPU data pipeline.

Coordinates follow the NumPy augmenter: an inverse map ``x_in = inv @ x_out + offset`` in
pixel units about the image centre ``(size - 1) / 2``, sampled bilinearly with zeros outside
(``grid_sample(align_corners=True, padding_mode="zeros")`` is exactly that).
"""

from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F

from digitkit.data.augment import AugmentConfig
from digitkit.data.normalize import InputSpec

# Share of the stroke-width changes that thicken (the rest thin), as in the NumPy augmenter.
THICKEN_SHARE = 0.6
# Guards a division by the RMS of an all-zero displacement field.
RMS_EPS = 1e-8
# Floor of a per-image standard deviation (blank images), as in InputSpec.prepare.
STD_FLOOR = 1e-6


def _uniform(
    n: int, bound: float, g: torch.Generator, device: torch.device, shape: tuple[int, ...] = ()
) -> torch.Tensor:
    """``n`` draws uniform in [-bound, bound] (float32)."""
    u = torch.rand((n, *shape), generator=g, device=device)
    return (2 * u - 1) * bound


def affine_inverse(
    theta_deg: torch.Tensor,
    shear_deg: torch.Tensor,
    zx: torch.Tensor,
    zy: torch.Tensor,
    shift_px: torch.Tensor,
    size: int = 28,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Inverse maps (N, 2, 2) and offsets (N, 2) of explicit affine transforms.

    The forward map is ``R(theta) @ Shear(x += tan(shear) * y) @ diag(zx, zy)`` about the
    image centre, then a shift of ``shift_px`` pixels (x, y): the NumPy augmenter's
    :func:`~digitkit.data.augment.random_affine_inverse` with its random draws given.
    """
    theta, shear = torch.deg2rad(theta_deg), torch.deg2rad(shear_deg)
    c, s, tan = torch.cos(theta), torch.sin(theta), torch.tan(shear)
    a, b = c * zx, (c * tan - s) * zy
    d, e = s * zx, (s * tan + c) * zy
    det = a * e - b * d
    inv = torch.stack([torch.stack([e, -b], -1), torch.stack([-d, a], -1)], -2) / det[:, None, None]
    centre = (size - 1) / 2.0
    offset = centre - torch.einsum("nij,nj->ni", inv, centre + shift_px)
    return inv, offset


def random_affine_inverse(
    n: int, cfg: AugmentConfig, g: torch.Generator, device: torch.device, size: int = 28
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` random affine maps drawn as the NumPy augmenter draws them; samples left
    untransformed (probability ``1 - p``) get the identity."""
    theta = _uniform(n, cfg.rotation, g, device)
    shear = _uniform(n, cfg.shear, g, device)
    zx = 1 + _uniform(n, cfg.zoom, g, device)
    zy = zx if cfg.zoom_uniform else 1 + _uniform(n, cfg.zoom, g, device)
    shift = _uniform(n, cfg.shift, g, device, (2,)) * size
    transformed = torch.rand(n, generator=g, device=device) < cfg.p
    identity = ~transformed
    theta, shear = theta.masked_fill(identity, 0), shear.masked_fill(identity, 0)
    zx, zy = zx.masked_fill(identity, 1), zy.masked_fill(identity, 1)
    shift = shift.masked_fill(identity[:, None], 0)
    return affine_inverse(theta, shear, zx, zy, shift, size)


@functools.cache
def _half_extent(w: int, h: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """``((w - 1) / 2, (h - 1) / 2)`` on ``device``, made once: a host-to-device copy inside
    a CUDA-graph capture (digitkit.train.graphs) is not allowed, a cached tensor is read."""
    return torch.tensor([(w - 1) / 2.0, (h - 1) / 2.0], device=device, dtype=dtype)


def _sampling_grid(
    inv: torch.Tensor, offset: torch.Tensor, h: int, w: int, displacement: torch.Tensor | None
) -> torch.Tensor:
    """The (N, H, W, 2) grid of ``grid_sample`` (normalized, align_corners=True) that reads
    pixel ``inv @ (x, y) + offset (+ displacement)`` for every output pixel (x, y)."""
    # Pixel p <-> normalized u = p / half - 1 with half = (side - 1) / 2, so in normalized
    # units the map is u_in = S^-1 inv S u_out + (inv @ half + offset - half) / half.
    half = _half_extent(w, h, inv.device, inv.dtype)
    matrix = inv * half[None, None, :] / half[None, :, None]
    translation = (torch.einsum("nij,j->ni", inv, half) + offset - half) / half
    theta = torch.cat([matrix, translation[:, :, None]], dim=2)
    grid = F.affine_grid(theta, [len(inv), 1, h, w], align_corners=True)
    if displacement is not None:
        grid = grid + displacement / half
    return grid


def warp(
    images: torch.Tensor,
    inv: torch.Tensor,
    offset: torch.Tensor,
    displacement: torch.Tensor | None = None,
) -> torch.Tensor:
    """Resample (N, H, W) images at ``inv @ (x, y) + offset (+ displacement)`` bilinearly,
    zero outside: the NumPy :func:`~digitkit.data.augment.warp_bilinear` in one
    ``grid_sample``. ``displacement`` is (N, H, W, 2) in pixels."""
    n, h, w = images.shape
    grid = _sampling_grid(inv.float(), offset.float(), h, w, displacement)
    out = F.grid_sample(
        images[:, None].float(), grid, mode="bilinear", padding_mode="zeros", align_corners=True
    )
    return out[:, 0]


def gaussian_kernel(sigma: float, device: torch.device) -> torch.Tensor:
    """The NumPy augmenter's normalized 1-D Gaussian (radius round(3 sigma), at least 1)."""
    radius = max(1, int(round(3 * sigma)))
    k = torch.exp(-0.5 * (torch.arange(-radius, radius + 1, device=device) / sigma) ** 2)
    return k / k.sum()


def smooth(fields: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (N, C, H, W) with reflected borders (NumPy's ``reflect``)."""
    n, c, h, w = fields.shape
    k = gaussian_kernel(sigma, fields.device).to(fields.dtype)
    r = len(k) // 2
    x = fields.reshape(n * c, 1, h, w)
    x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="reflect"), k.view(1, 1, 1, -1))
    x = F.conv2d(F.pad(x, (0, 0, r, r), mode="reflect"), k.view(1, 1, -1, 1))
    return x.reshape(n, c, h, w)


def elastic_displacement(
    n: int, h: int, w: int, alpha: float, sigma: float, g: torch.Generator, device: torch.device
) -> torch.Tensor:
    """Random smooth displacement fields (N, H, W, 2) of RMS ``alpha`` pixels over the batch
    (the NumPy augmenter rescales by the whole batch's RMS too)."""
    noise = _uniform(n, 1.0, g, device, (2, h, w))
    field = smooth(noise, sigma)
    field = field * (alpha / (field.square().mean().sqrt() + RMS_EPS))
    return field.permute(0, 2, 3, 1)


def _cross_extreme(images: torch.Tensor, reduce: str) -> torch.Tensor:
    """Max or min over each pixel's 3x3 cross neighbourhood, zero outside the image."""
    p = F.pad(images, (1, 1, 1, 1))
    views = torch.stack(
        [p[:, 1:-1, 1:-1], p[:, :-2, 1:-1], p[:, 2:, 1:-1], p[:, 1:-1, :-2], p[:, 1:-1, 2:]]
    )
    return views.amax(0) if reduce == "max" else views.amin(0)


def change_stroke(images: torch.Tensor, thicken: torch.Tensor, thin: torch.Tensor) -> torch.Tensor:
    """Dilate (thicken) or half-erode (thin) the selected samples of (N, H, W); as the NumPy
    augmenter, thinning blends halfway so one-pixel strokes survive."""
    dilated = _cross_extreme(images, "max")
    thinned = 0.5 * (images + _cross_extreme(images, "min"))
    out = torch.where(thicken[:, None, None], dilated, images)
    return torch.where(thin[:, None, None], thinned, out)


def augment_batch(images: torch.Tensor, cfg: AugmentConfig, g: torch.Generator) -> torch.Tensor:
    """Randomly transform a batch (N, H, W) in [0, 1] (or uint8) on its own device; returns
    float32 in [0, 1]. The torch twin of :func:`digitkit.data.augment.augment_batch`."""
    x = images.float() / 255.0 if images.dtype == torch.uint8 else images.float()
    if not cfg.enabled or len(x) == 0:
        return x
    n, h, w = x.shape
    device = x.device
    if cfg.stroke_p > 0:
        chosen = torch.rand(n, generator=g, device=device) < cfg.stroke_p * cfg.p
        thicken = chosen & (torch.rand(n, generator=g, device=device) < THICKEN_SHARE)
        x = change_stroke(x, thicken, chosen & ~thicken)
    inv, offset = random_affine_inverse(n, cfg, g, device, size=h)
    displacement = None
    if cfg.elastic_alpha > 0:
        displacement = elastic_displacement(
            n, h, w, cfg.elastic_alpha, cfg.elastic_sigma, g, device
        )
        distorted = torch.rand(n, generator=g, device=device) < cfg.p
        displacement = displacement * distorted[:, None, None, None]
    return warp(x, inv, offset, displacement).clamp_(0.0, 1.0)


def prepare_inputs(images01: torch.Tensor, spec: InputSpec) -> torch.Tensor:
    """(N, 28, 28) in [0, 1] -> float32 (N, 1, S, S) model input, on the images' device: the
    torch twin of :meth:`InputSpec.prepare` (same padding and normalization)."""
    x = images01.float()[:, None]
    if spec.pad:
        x = F.pad(x, (spec.pad,) * 4)
    if spec.kind == "global":
        return (x - spec.mean) / spec.std
    if spec.kind == "per-image":
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        std = x.std(dim=(1, 2, 3), keepdim=True, correction=0)
        return (x - mean) / std.clamp_min(STD_FLOOR)
    if spec.kind == "scale":
        return x
    if spec.kind == "symmetric":
        return (x - 0.5) * 2.0
    raise ValueError(f"unknown normalization kind {spec.kind!r}")


def seed_for_epoch(g: torch.Generator, seed: int, epoch: int) -> torch.Generator:
    """Reseed ``g`` in place for one epoch, by ``(seed, epoch)``, so a resumed run draws what
    the uninterrupted one did (and every DDP rank draws alike). In place because a CUDA graph
    that captured augmentation draws from this very generator object."""
    state = np.random.SeedSequence([seed, epoch, 2]).generate_state(2, np.uint32)
    g.manual_seed(int(state[0]) << 32 | int(state[1]))
    return g


def epoch_generator(seed: int, epoch: int, device: torch.device) -> torch.Generator:
    """A new augmentation generator on ``device`` seeded for one epoch (:func:`seed_for_epoch`)."""
    return seed_for_epoch(torch.Generator(device=device), seed, epoch)


__all__ = [
    "affine_inverse",
    "augment_batch",
    "change_stroke",
    "elastic_displacement",
    "epoch_generator",
    "prepare_inputs",
    "random_affine_inverse",
    "seed_for_epoch",
    "smooth",
    "warp",
]
