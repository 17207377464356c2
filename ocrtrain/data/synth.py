"""``python -m ocrtrain.data synth``: word crops rendered from a dataset's own words, fonts and backgrounds.

A recogniser fine-tuned on a few thousand real crops sees each rare character a handful of times (ICDAR 2015's
training split: 39 words with ``$``, 40 with ``!``). This writes as many crops as asked of the training labels'
words, drawn so that words holding rare characters come up more often, each in a font that has a glyph for every
one of its characters, over a patch of a training image that no labelled box touches, slightly turned and
sheared, shrunk to a scene word's height, blurred and JPEG-compressed. The crops and ``labels.txt`` go under
``output``; the label lines' image paths are relative to ``root``, so the file mixes into the same dataset
(``data.train.label_files=[train.txt, <output>/labels.txt]``, weighted by ``data.train.ratio_list``).
"""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont
from tqdm import tqdm

from ocrtrain.data.common import LabelError, SkipLog, load_image
from ocrtrain.data.readers import read_labels
from ocrtrain.data.readers.base import DetSample, RecSample

FONT_SUFFIXES = (".ttf", ".otf", ".ttc")
RENDER_SIZE = 64  # font size the words are drawn at before shrinking to a scene word's height
PATCH_TRIES = 20  # random places tried for a text-free background patch before a flat colour is used
CROPS_PER_IMAGE = 8  # background patches cut from one decoded training image before the next is read


@dataclass
class SynthOptions:
    count: int = 10000
    seed: int = 0
    fonts: list[str] | None = None  # font files or folders; None: the fonts matplotlib ships
    min_height: int = 12  # crop heights, drawn log-uniformly between the two (pixels)
    max_height: int = 64
    # a word's weight: (1 / count of its rarest character) ** char_balance; 0 draws words as often as labelled
    char_balance: float = 0.5
    max_angle: float = 4.0  # degrees either way
    blur_prob: float = 0.3
    jpeg_quality: tuple[int, int] = (40, 95)

    def __post_init__(self) -> None:
        if self.count < 1 or not 1 <= self.min_height <= self.max_height:
            raise ValueError(
                f"synth needs count >= 1 and 1 <= min_height <= max_height; got count={self.count}, "
                f"min_height={self.min_height}, max_height={self.max_height}"
            )
        if not 0 <= self.jpeg_quality[0] <= self.jpeg_quality[1] <= 100:
            raise ValueError(
                f"synth.jpeg_quality must be [low, high] within 0-100, got {list(self.jpeg_quality)}"
            )


@dataclass(frozen=True)
class Font:
    path: Path
    index: int  # face index inside a .ttc collection
    chars: frozenset[str]

    def covers(self, text: str) -> bool:
        return all(c in self.chars for c in text if not c.isspace())


def default_font_paths() -> list[Path]:
    """The 16 DejaVu and STIX text faces matplotlib ships: present wherever ocrtrain is installed (its
    ``Display`` faces hold a few dozen glyphs for maths layout and are left out)."""
    import matplotlib

    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    faces = folder.glob("*.ttf")
    return sorted(
        p
        for p in faces
        if p.name.startswith(("DejaVuSans", "DejaVuSerif", "STIXGeneral")) and "Display" not in p.name
    )


def font_files(entries: Iterable[str | Path]) -> list[Path]:
    """Font files named directly or found (recursively) in the folders named."""
    files = []
    for entry in map(Path, entries):
        if entry.is_dir():
            files += sorted(p for p in entry.rglob("*") if p.suffix.lower() in FONT_SUFFIXES)
        elif entry.is_file():
            files.append(entry)
        else:
            raise FileNotFoundError(f"synth font not found: {entry}")
    return files


def load_fonts(paths: Iterable[Path]) -> list[Font]:
    """Every face of the files with its character map (read with fontTools: a font file runs no code)."""
    from fontTools.ttLib import TTCollection, TTFont, TTLibError

    fonts = []
    for path in paths:
        try:
            if path.suffix.lower() == ".ttc":
                faces = TTCollection(str(path), lazy=True).fonts
            else:
                faces = [TTFont(str(path), lazy=True)]
        except (TTLibError, OSError, ValueError) as error:
            raise ValueError(f"{path}: not a readable font: {error}") from error
        for index, face in enumerate(faces):
            cmap = face.getBestCmap() or {}
            fonts.append(Font(path, index, frozenset(chr(code) for code in cmap)))
    if not fonts:
        raise ValueError("synth needs at least one font (synth.fonts=[<file or folder>, ...])")
    return fonts


def word_weights(words: list[str], char_balance: float) -> np.ndarray:
    """Sampling probabilities: a word's weight grows as its rarest character gets rarer (``char_balance`` > 0)."""
    counts = Counter(c for word in words for c in word)
    weights = np.array([min(counts[c] for c in word) ** -char_balance for word in words], dtype=np.float64)
    return weights / weights.sum()


def _text_mask(sample: DetSample, shape: tuple[int, int]) -> np.ndarray:
    """Pixels inside any labelled box, don't-care ones included: no background patch may hold text."""
    mask = np.zeros(shape, dtype=np.uint8)
    cv2.fillPoly(mask, [np.round(p).astype(np.int32) for p in sample.polys], 1)
    return mask


def background_patch(
    img: np.ndarray, text_mask: np.ndarray, size: tuple[int, int], rng: np.random.Generator
) -> np.ndarray | None:
    """A ``size`` (h, w) region of the image at a random scale and place with no labelled text in it, or None."""
    height, width = size
    for _ in range(PATCH_TRIES):
        scale = rng.uniform(0.3, 1.5)
        ph, pw = max(int(height * scale), 4), max(int(width * scale), 4)
        if ph >= img.shape[0] or pw >= img.shape[1]:
            continue
        y, x = int(rng.integers(0, img.shape[0] - ph)), int(rng.integers(0, img.shape[1] - pw))
        if not text_mask[y : y + ph, x : x + pw].any():
            return cv2.resize(img[y : y + ph, x : x + pw], (width, height), interpolation=cv2.INTER_LINEAR)
    return None


def _ink_colour(background: np.ndarray, rng: np.random.Generator) -> tuple[int, int, int]:
    """A colour that stands out from the background's mean luminance (dark on light, light on dark)."""
    luminance = float(cv2.cvtColor(background, cv2.COLOR_BGR2GRAY).mean())
    level = rng.uniform(0, 90) if luminance > 127 else rng.uniform(165, 255)
    tint = rng.uniform(-40, 40, size=3)
    return tuple(int(np.clip(level + t, 0, 255)) for t in tint)


def render_word(
    text: str,
    font: ImageFont.FreeTypeFont,
    background: np.ndarray | None,
    rng: np.random.Generator,
    opts: SynthOptions,
) -> np.ndarray:
    """One BGR crop of ``text``: drawn, turned and sheared, laid on the background, shrunk, maybe blurred."""
    stroke = int(rng.random() < 0.2) * int(rng.integers(1, 3))  # an outline on one word in five
    left, top, right, bottom = font.getbbox(text, stroke_width=stroke)
    margin = int(RENDER_SIZE * rng.uniform(0.05, 0.25))
    width, height = right - left + 2 * margin, bottom - top + 2 * margin
    ink = Image.new("L", (width, height), 0)
    ImageDraw.Draw(ink).text((margin - left, margin - top), text, font=font, fill=255, stroke_width=stroke)
    alpha = np.asarray(ink, dtype=np.float32) / 255.0
    # a small turn and shear, the crop grown to keep the whole word
    angle = math.radians(rng.uniform(-opts.max_angle, opts.max_angle))
    shear = rng.uniform(-0.25, 0.25)
    warp = np.array([[1.0, shear, 0.0], [0.0, 1.0, 0.0]]) @ np.array(
        [[math.cos(angle), -math.sin(angle), 0.0], [math.sin(angle), math.cos(angle), 0.0], [0.0, 0.0, 1.0]]
    )
    corners = np.array([[0, 0, 1], [width, 0, 1], [width, height, 1], [0, height, 1]], dtype=np.float64)
    moved = corners @ warp.T
    warp[:, 2] -= moved.min(axis=0)
    out_w, out_h = (np.ceil(moved.max(axis=0) - moved.min(axis=0))).astype(int)
    alpha = cv2.warpAffine(alpha, warp, (int(out_w), int(out_h)), flags=cv2.INTER_LINEAR)
    if background is None:
        background = np.full((int(out_h), int(out_w), 3), rng.integers(0, 256, size=3), dtype=np.uint8)
    else:
        background = cv2.resize(background, (int(out_w), int(out_h)), interpolation=cv2.INTER_LINEAR)
    colour = np.array(_ink_colour(background, rng), dtype=np.float32)
    crop = background.astype(np.float32) * (1 - alpha[..., None]) + colour * alpha[..., None]
    target_h = int(round(math.exp(rng.uniform(math.log(opts.min_height), math.log(opts.max_height)))))
    target_w = max(int(round(crop.shape[1] * target_h / crop.shape[0])), 1)
    crop = cv2.resize(
        np.clip(crop, 0, 255).astype(np.uint8), (target_w, target_h), interpolation=cv2.INTER_AREA
    )
    if rng.random() < opts.blur_prob:
        crop = cv2.GaussianBlur(crop, (3, 3), rng.uniform(0.3, 1.2))
    return crop


def _backgrounds(
    samples: list[DetSample], rng: np.random.Generator, skipped: SkipLog | None
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Training images with their text masks, in a random order, over and over. An unreadable image raises its
    ``file:line`` error, or with ``skipped`` (``skip_bad=true``) is recorded once and left out."""
    usable = list(range(len(samples)))
    while usable:
        for i in rng.permutation(usable):
            sample = samples[i]
            try:
                img = load_image(sample.image_path, sample.file, sample.line_no)
            except LabelError as error:
                if skipped is None:
                    raise
                skipped.add(error)
                usable.remove(i)
                continue
            yield img, _text_mask(sample, img.shape[:2])
    raise ValueError(f"none of the {len(samples)} images of the det labels is readable:\n{skipped.summary()}")


def synthesize(
    label_files: list[str | Path],
    root: str | Path,
    output: str | Path,
    opts: SynthOptions | None = None,
    skip_bad: bool = False,
) -> Path:
    """Render ``opts.count`` crops of the label files' words (det boxes but ``###``, or rec texts) over their det
    images' text-free patches (flat colours for rec-only input); returns the written ``labels.txt``. A bad label
    line or unreadable image stops with its ``file:line``, or with ``skip_bad`` is reported and left out."""
    opts = opts or SynthOptions()
    root, output = Path(root), Path(output)
    words, det_samples, skipped = [], [], SkipLog()
    for label_file in label_files:
        samples, bad_lines = read_labels(Path(label_file).resolve(), root, skip_bad)
        skipped.problems += bad_lines.problems
        for sample in samples:
            if isinstance(sample, RecSample):
                words.append(sample.text)
            else:
                det_samples.append(sample)
                words += [text for _, _, text in sample.text_boxes()]
    words = [w for w in words if w.strip()]
    if not words:
        raise ValueError(f"no words to render in {[str(f) for f in label_files]}")
    fonts = load_fonts(font_files(opts.fonts) if opts.fonts else default_font_paths())
    covering = [[f for f in fonts if f.covers(w)] for w in words]
    uncovered = sorted({w for w, fs in zip(words, covering, strict=True) if not fs})
    kept = [(w, fs) for w, fs in zip(words, covering, strict=True) if fs]
    if not kept:
        raise ValueError(f"none of the fonts has glyphs for any of the words (e.g. {uncovered[:5]})")
    rng = np.random.default_rng(opts.seed)
    probabilities = word_weights([w for w, _ in kept], opts.char_balance)
    backgrounds = _backgrounds(det_samples, rng, skipped if skip_bad else None) if det_samples else None
    faces: dict[Font, ImageFont.FreeTypeFont] = {}
    (output / "crops").mkdir(parents=True, exist_ok=True)
    lines = []
    for n in tqdm(range(opts.count), desc="synth", unit="crop"):
        word, candidates = kept[int(rng.choice(len(kept), p=probabilities))]
        font = candidates[int(rng.integers(len(candidates)))]
        if font not in faces:
            faces[font] = ImageFont.truetype(str(font.path), RENDER_SIZE, index=font.index)
        patch = None
        if backgrounds is not None:
            if n % CROPS_PER_IMAGE == 0:
                img, mask = next(backgrounds)
            left, top, right, bottom = faces[font].getbbox(word)
            patch = background_patch(
                img, mask, (bottom - top + RENDER_SIZE // 2, right - left + RENDER_SIZE // 2), rng
            )
        crop = render_word(word, faces[font], patch, rng, opts)
        path = output / "crops" / f"{n:07d}.jpg"
        quality = int(rng.integers(opts.jpeg_quality[0], opts.jpeg_quality[1] + 1))
        cv2.imwrite(str(path), crop, [cv2.IMWRITE_JPEG_QUALITY, quality])
        lines.append(f"{Path(os.path.relpath(path.resolve(), root.resolve())).as_posix()}\t{word}")
    labels = output / "labels.txt"
    labels.write_text("\n".join(lines) + "\n", encoding="utf-8")
    if skipped.problems:
        print(skipped.summary())
    if uncovered:
        print(
            f"synth: {len(uncovered)} distinct words have a character no font draws, not rendered: {uncovered[:10]}"
        )
    return labels
