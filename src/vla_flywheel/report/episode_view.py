"""Look at an episode: a contact-sheet PNG and an animated GIF, with its instruction written on them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

SCALE = 3  # 64 px frames are shown at 192 px


def _caption(width: int, lines: list[str]) -> Image.Image:
    strip = Image.new("RGB", (width, 14 * len(lines) + 6), (255, 255, 255))
    draw = ImageDraw.Draw(strip)
    for i, line in enumerate(lines):
        draw.text((4, 3 + 14 * i), line, fill=(0, 0, 0))
    return strip


def _wrap(text: str, width_chars: int) -> list[str]:
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width_chars:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return [*lines, line] if line else lines


def contact_sheet(
    frames: np.ndarray, title: str, subtitle: str = "", columns: int = 8, max_frames: int = 24
) -> Image.Image:
    """Frames [T, H, W, 3] uint8 → one image: a grid of evenly spaced frames under the instruction."""
    t = len(frames)
    picks = np.unique(np.linspace(0, t - 1, min(t, max_frames)).round().astype(int))
    h, w = frames.shape[1] * SCALE, frames.shape[2] * SCALE
    cols = min(columns, len(picks))
    rows = -(-len(picks) // cols)
    grid = Image.new("RGB", (cols * w, rows * (h + 14)), (255, 255, 255))
    draw = ImageDraw.Draw(grid)
    for n, i in enumerate(picks):
        r, c = divmod(n, cols)
        grid.paste(Image.fromarray(frames[i]).resize((w, h), Image.NEAREST), (c * w, r * (h + 14)))
        draw.text((c * w + 4, r * (h + 14) + h + 1), f"t={i}", fill=(0, 0, 0))
    header = _caption(
        grid.width, _wrap(title, grid.width // 7) + (_wrap(subtitle, grid.width // 7) if subtitle else [])
    )
    sheet = Image.new("RGB", (grid.width, header.height + grid.height), (255, 255, 255))
    sheet.paste(header, (0, 0))
    sheet.paste(grid, (0, header.height))
    return sheet


def write_gif(frames: np.ndarray, title: str, path: Path, fps: int = 10) -> None:
    """Animated GIF of frames [T, H, W, 3] with the instruction drawn above every frame."""
    w = frames.shape[2] * SCALE
    caption = _caption(w, _wrap(title, w // 7))
    images = []
    for frame in frames:
        im = Image.new("RGB", (w, caption.height + frames.shape[1] * SCALE))
        im.paste(caption, (0, 0))
        im.paste(Image.fromarray(frame).resize((w, frames.shape[1] * SCALE), Image.NEAREST), (0, caption.height))
        images.append(im)
    images[0].save(path, save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0)
