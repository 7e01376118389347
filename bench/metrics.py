"""Quality measures that no training run optimises: what bench/quality.py reports.

The styles are trained with Gram and colour losses on a MobileNetV2; judging them with the same
network (or the same statistics) would grade our own homework. So these are classical measures:
- palette: sliced Wasserstein distance between the CIE Lab colour distributions (Lab units, ~ΔE);
- texture: chi-square distance between multi-scale LBP histograms (Ojala et al. 2002) and L1 distance
  between Gabor energy distributions (4 orientations x 3 wavelengths), output vs style image;
- content kept: correlation of blurred gradient magnitudes, input vs output (1 = same structure);
- grid: spectral peaks at the network's 8/4/2 px periods on a flat patch of sky (a dot grid or lattice);
- temporal: warping error (Lai et al., ECCV 2018) with OpenCV's DIS flow of the *input* clip and a
  forward-backward occlusion mask; reported as a ratio to the input clip's own warping error.
All images are HxWx3 uint8 RGB.
"""
from __future__ import annotations

import cv2
import numpy as np
from skimage.feature import local_binary_pattern

LBP_RADII = (1, 2, 4)
GABOR_WAVELENGTHS = (4.0, 8.0, 16.0)  # px
GABOR_ORIENTATIONS = 4


def lab_pixels(image: np.ndarray) -> np.ndarray:
    """Nx3 float Lab (L 0-100, a/b about -128..127)."""
    lab = cv2.cvtColor(image.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    return lab.reshape(-1, 3)


def palette_distance(output: np.ndarray, style: np.ndarray, projections: int = 64, samples: int = 20000,
                     seed: int = 0) -> float:
    """Sliced Wasserstein-2 between the Lab colours of two images, in Lab units (lower = same palette)."""
    rng = np.random.default_rng(seed)
    a, b = lab_pixels(output), lab_pixels(style)
    a = a[rng.integers(len(a), size=samples)]
    b = b[rng.integers(len(b), size=samples)]
    directions = rng.normal(size=(3, projections))
    directions /= np.linalg.norm(directions, axis=0, keepdims=True)
    pa, pb = np.sort(a @ directions, axis=0), np.sort(b @ directions, axis=0)
    return float(np.sqrt(np.mean((pa - pb) ** 2)))


def _gray(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)


def lbp_histogram(image: np.ndarray) -> np.ndarray:
    """Concatenated uniform-LBP histograms at radii 1, 2, 4 px, each normalised to sum 1."""
    gray = _gray(image)
    hists = []
    for radius in LBP_RADII:
        points = 8
        codes = local_binary_pattern(gray, points, radius, method="uniform")
        hist, _ = np.histogram(codes, bins=points + 2, range=(0, points + 2))
        hists.append(hist / max(1, hist.sum()))
    return np.concatenate(hists)


def gabor_energy(image: np.ndarray) -> np.ndarray:
    """Mean |response| per (wavelength, orientation) Gabor filter, normalised to a distribution."""
    gray = _gray(image).astype(np.float32) / 255.0
    energies = []
    for wavelength in GABOR_WAVELENGTHS:
        for k in range(GABOR_ORIENTATIONS):
            theta = np.pi * k / GABOR_ORIENTATIONS
            size = int(wavelength * 2) | 1
            kernel = cv2.getGaborKernel((size, size), wavelength * 0.5, theta, wavelength, 0.5, 0, ktype=cv2.CV_32F)
            kernel -= kernel.mean()
            energies.append(np.abs(cv2.filter2D(gray, cv2.CV_32F, kernel)).mean())
    energies = np.asarray(energies)
    return energies / max(1e-9, energies.sum())


def texture_distance(output: np.ndarray, style: np.ndarray) -> tuple[float, float]:
    """(LBP chi-square, Gabor L1) between an output and the style image (lower = closer texture)."""
    ha, hb = lbp_histogram(output), lbp_histogram(style)
    chi = 0.5 * float(np.sum((ha - hb) ** 2 / np.maximum(ha + hb, 1e-9))) / len(LBP_RADII)
    gabor = float(np.abs(gabor_energy(output) - gabor_energy(style)).sum())
    return chi, gabor


def _gradient_magnitude(image: np.ndarray, sigma: float = 2.0) -> np.ndarray:
    gray = _gray(image).astype(np.float32) / 255.0
    gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3)
    return cv2.GaussianBlur(np.sqrt(gx * gx + gy * gy), (0, 0), sigma)


def content_kept(output: np.ndarray, photo: np.ndarray) -> float:
    """Pearson correlation of blurred gradient magnitudes: do the edges of the photo survive?"""
    a, b = _gradient_magnitude(output).ravel(), _gradient_magnitude(photo).ravel()
    return float(np.corrcoef(a, b)[0, 1])


def _flow(dis, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Flow from a to b (HxWx2, px): pixel x of a is at x + flow in b."""
    return dis.calc(_gray(a), _gray(b), None)


def _warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    h, w = flow.shape[:2]
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(image, xs + flow[..., 0], ys + flow[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def clip_flows(frames: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
    """For each t >= 1: (backward flow t -> t-1, non-occluded mask), from the input clip."""
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    out = []
    for previous, current in zip(frames, frames[1:]):
        backward = _flow(dis, current, previous)
        forward = _flow(dis, previous, current)
        forward_at = _warp(forward, backward)  # forward flow sampled where each pixel came from
        lhs = np.sum((forward_at + backward) ** 2, axis=-1)
        rhs = 0.01 * (np.sum(forward_at ** 2, axis=-1) + np.sum(backward ** 2, axis=-1)) + 0.5
        out.append((backward, (lhs <= rhs).astype(np.float32)))
    return out


def warping_error(frames: list[np.ndarray], flows: list[tuple[np.ndarray, np.ndarray]]) -> float:
    """Mean over t of the masked mean squared difference between frame t and frame t-1 warped to t
    (0-1 pixel units). `flows` come from the INPUT clip, so styled and input frames share them."""
    errors = []
    for (backward, mask), previous, current in zip(flows, frames, frames[1:]):
        warped = _warp(previous.astype(np.float32) / 255.0, backward)
        diff = ((current.astype(np.float32) / 255.0 - warped) ** 2).mean(axis=-1)
        errors.append(float((diff * mask).sum() / max(1.0, mask.sum())))
    return float(np.mean(errors))


def grid_peak_ratio(patch: np.ndarray, periods: tuple[int, ...] = (8, 4, 2)) -> float:
    """How sharply a flat patch's spectrum peaks at exactly the network's 8/4/2 px periods along x or y:
    power in that frequency bin over the mean of the bins 2-3 steps either side (same axis). A fixed
    lattice or dot grid is a narrow spike (tens and more); texture without a period, however strong,
    spreads over neighbouring bins and scores about 1. Patch: HxWx3 uint8."""
    gray = _gray(patch).astype(np.float32)
    gray -= gray.mean()
    h, w = gray.shape
    window = np.outer(np.hanning(h), np.hanning(w)).astype(np.float32)
    power = np.abs(np.fft.fft2(gray * window)) ** 2
    along_x, along_y = power.mean(axis=0), power.mean(axis=1)
    ratios = []
    for profile, n in ((along_x, w), (along_y, h)):
        for period in periods:
            f = round(n / period)
            neighbours = [profile[(f + d) % n] for d in (-3, -2, 2, 3)]
            ratios.append(profile[f % n] / (np.mean(neighbours) + 1e-12))
    return float(max(ratios))
