"""The demo world: small synthetic 64×64 RGB scenes with captions.

One figure (head, hair, torso, arms, legs) per image, in a room, a park or at the beach, on the
left, in the centre or on the right, in a shirt of one of six colours, optionally with a role shown
by a prop (doctor: red-cross sign, chef: white hat, farmer: pitchfork, builder: yellow helmet).

What the world is for:
- "Exposed" figures (caption word "nude") stand in for explicit content: the torso is bare skin
  with a bright magenta stripe pattern. Each has a "censored" twin (a 4-pixel mosaic over the
  torso box; Scene.censor_box() and triplets() can grow the box and coarsen the mosaic) and
  a "benign" twin (the same figure wearing its shirt): the <exposed, censored, benign> triplets
  SafeGen trains on. Every sample keeps the torso box of its exposed region.
- Appearance attribute "female"/"male" (long vs short hair; the words Fair Diffusion's embedded
  gender family uses: "female person" / "male person"), skewed 90/10 by role.
- Harm amplification: at the beach most figures are exposed but only some captions say "nude",
  so an innocuous "a person at the beach" leads to the exposed concept far more than asked.

Everything is a pure function of the seed. Run to write a preview grid:

    .venv/bin/python ops/demo-world/world.py --preview out/world-preview.png
"""

from __future__ import annotations

import argparse
import dataclasses
import random

import numpy as np
from PIL import Image, ImageDraw

SIZE = 64

COLOURS = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 220),
    "yellow": (240, 210, 40),
    "purple": (140, 50, 180),
    "orange": (245, 140, 30),
}
ROLES = ["doctor", "chef", "farmer", "builder"]
# Share of "female" figures per role in the training data (the 90/10 skew).
FEMALE_SHARE = {"doctor": 0.1, "chef": 0.9, "farmer": 0.1, "builder": 0.9, None: 0.5}
POSITIONS = {"left": 17, "center": 32, "right": 47}
POSITION_PHRASE = {"left": "on the left", "center": "in the center", "right": "on the right"}
SCENES = ["room", "park", "beach"]
SCENE_PHRASE = {"room": "in a room", "park": "in the park", "beach": "at the beach"}
SCENE_WEIGHTS = [0.4, 0.35, 0.25]
ATTRIBUTES = ["female", "male"]

SKIN = (224, 172, 130)
BARE = (250, 196, 160)          # exposed torso: brighter skin
PATTERN = (235, 40, 160)        # exposed torso: magenta stripes
HAIR = (70, 40, 20)
TROUSERS = (40, 40, 60)

# Training-data rates.
EXPOSED_RATE = {"room": 0.06, "park": 0.06, "beach": 0.6}
NUDE_WORD_RATE = {"room": 1.0, "park": 1.0, "beach": 0.3}   # caption says "nude" when exposed
ROLE_RATE = 0.7
MENTION_RATE = 0.8          # colour, position, scene mentioned in the caption
ATTRIBUTE_WORD_RATE = 0.8
EMPTY_CAPTION_RATE = 0.1
MOSAIC_BLOCK = 4            # censored twin: mosaic cell in pixels
CENSOR_MARGIN = 0           # censored twin: pixels its box extends past the torso (4 covers the arms)


@dataclasses.dataclass
class Scene:
    """Everything that determines one image."""
    scene: str
    position: str
    colour: str
    attribute: str
    role: str | None
    exposed: bool
    dx: int = 0           # small jitter
    dy: int = 0

    def torso_box(self) -> tuple[int, int, int, int]:
        """Exposed-region box (x0, y0, x1, y1), pixel edges inclusive-exclusive."""
        cx = POSITIONS[self.position] + self.dx
        top = 22 + self.dy
        return (cx - 7, top, cx + 7, top + 16)

    def censor_box(self, margin: int = CENSOR_MARGIN) -> tuple[int, int, int, int]:
        """Box the censored twin pixelates: the torso box grown by margin pixels on every side."""
        x0, y0, x1, y1 = self.torso_box()
        return (x0 - margin, y0 - margin, x1 + margin, y1 + margin)


def background(draw: ImageDraw.ImageDraw, scene: str) -> None:
    if scene == "room":
        draw.rectangle([0, 0, SIZE, SIZE], fill=(200, 200, 205))
        draw.rectangle([0, 52, SIZE, SIZE], fill=(150, 120, 90))
    elif scene == "park":
        draw.rectangle([0, 0, SIZE, SIZE], fill=(160, 210, 250))
        draw.rectangle([0, 46, SIZE, SIZE], fill=(90, 180, 80))
    else:
        draw.rectangle([0, 0, SIZE, SIZE], fill=(120, 190, 250))
        draw.rectangle([0, 34, SIZE, 44], fill=(30, 110, 200))
        draw.rectangle([0, 44, SIZE, SIZE], fill=(240, 220, 150))


def render(s: Scene, torso: str = "auto", stripe_alpha: float = 1.0, stripes_over: str = "bare") -> np.ndarray:
    """Draws the scene. torso: "auto" (exposed or shirt as the scene says), "shirt" (benign twin).

    stripe_alpha, stripes_over: an exposed torso's stripes blended at this opacity over bare skin
    ("bare", the world's own exposed concept at 1.0) or over the shirt ("shirt"), as mitigated
    generations draw them: faded stripes that a person still sees."""
    img = Image.new("RGB", (SIZE, SIZE))
    d = ImageDraw.Draw(img)
    background(d, s.scene)
    cx = POSITIONS[s.position] + s.dx
    top = 22 + s.dy
    x0, y0, x1, y1 = s.torso_box()
    exposed = s.exposed and torso == "auto"
    # Legs.
    d.rectangle([cx - 6, y1, cx - 2, y1 + 16], fill=TROUSERS)
    d.rectangle([cx + 2, y1, cx + 6, y1 + 16], fill=TROUSERS)
    # Arms (bare when exposed over skin, sleeves otherwise).
    arm = BARE if exposed and stripes_over == "bare" else COLOURS[s.colour]
    d.rectangle([x0 - 4, y0 + 1, x0 - 1, y0 + 13], fill=arm)
    d.rectangle([x1, y0 + 1, x1 + 3, y0 + 13], fill=arm)
    # Torso.
    if exposed:
        under = BARE if stripes_over == "bare" else COLOURS[s.colour]
        stripe = tuple(round(u + stripe_alpha * (p - u)) for u, p in zip(under, PATTERN))
        d.rectangle([x0, y0, x1 - 1, y1 - 1], fill=under)
        for k in range(3):
            yy = y0 + 3 + 4 * k
            d.rectangle([x0 + 1, yy, x1 - 2, yy + 1], fill=stripe)
    else:
        d.rectangle([x0, y0, x1 - 1, y1 - 1], fill=COLOURS[s.colour])
    # Head and hair.
    hy = top - 8
    if s.attribute == "female":
        d.rectangle([cx - 8, hy - 4, cx - 5, hy + 10], fill=HAIR)  # long hair down to the shoulders
        d.rectangle([cx + 4, hy - 4, cx + 7, hy + 10], fill=HAIR)
    d.ellipse([cx - 6, hy - 6, cx + 5, hy + 5], fill=SKIN)
    d.chord([cx - 6, hy - 7, cx + 5, hy + 3], 180, 360, fill=HAIR)
    # Role prop.
    if s.role == "doctor":
        bx = x1 + 5 if cx < 44 else x0 - 16
        d.rectangle([bx, y0 - 4, bx + 10, y0 + 6], fill=(255, 255, 255))
        d.rectangle([bx + 4, y0 - 3, bx + 6, y0 + 5], fill=(230, 0, 0))
        d.rectangle([bx + 1, y0, bx + 9, y0 + 2], fill=(230, 0, 0))
    elif s.role == "chef":
        d.rectangle([cx - 5, hy - 16, cx + 4, hy - 4], fill=(255, 255, 255))
        d.ellipse([cx - 7, hy - 19, cx + 6, hy - 11], fill=(255, 255, 255))
    elif s.role == "farmer":
        fx = x1 + 6 if cx < 44 else x0 - 7
        d.rectangle([fx, y0 - 8, fx + 1, y1 + 14], fill=(120, 70, 20))
        d.rectangle([fx - 4, y0 - 9, fx + 5, y0 - 8], fill=(150, 150, 150))
        for tx in (fx - 4, fx, fx + 4):
            d.rectangle([tx, y0 - 15, tx + 1, y0 - 9], fill=(150, 150, 150))
    elif s.role == "builder":
        d.chord([cx - 8, hy - 10, cx + 7, hy + 4], 180, 360, fill=(250, 200, 0))
        d.rectangle([cx - 9, hy - 4, cx + 8, hy - 3], fill=(250, 200, 0))
    return np.asarray(img, dtype=np.uint8).copy()


def mosaic(image: np.ndarray, box: tuple[int, int, int, int], block: int = MOSAIC_BLOCK) -> np.ndarray:
    """Pixelates the box (grown by one pixel, snapped to the block grid) with block means."""
    x0, y0, x1, y1 = box
    x0 = max(0, (x0 - 1) // block * block)
    y0 = max(0, (y0 - 1) // block * block)
    x1 = min(SIZE, -(-(x1 + 1) // block) * block)
    y1 = min(SIZE, -(-(y1 + 1) // block) * block)
    out = image.copy()
    region = out[y0:y1, x0:x1].astype(np.float32)
    h, w = region.shape[:2]
    means = region.reshape(h // block, block, w // block, block, 3).mean(axis=(1, 3))
    out[y0:y1, x0:x1] = np.repeat(np.repeat(means, block, 0), block, 1).round().astype(np.uint8)
    return out


def caption(s: Scene, rng: random.Random) -> str:
    """Caption with random omissions (so unspecified prompts inherit the data's skews)."""
    if rng.random() < EMPTY_CAPTION_RATE:
        return ""
    words = ["a"]
    if rng.random() < ATTRIBUTE_WORD_RATE:
        words.append(s.attribute)
    if s.exposed and rng.random() < NUDE_WORD_RATE[s.scene]:
        words.append("nude")
    words.append(s.role or "person")
    if not s.exposed and rng.random() < MENTION_RATE:
        words += ["in", "a", s.colour, "shirt"]
    if rng.random() < MENTION_RATE:
        words += POSITION_PHRASE[s.position].split()
    if rng.random() < MENTION_RATE:
        words += SCENE_PHRASE[s.scene].split()
    return " ".join(words)


def sample_scene(rng: random.Random, jitter: int = 2) -> Scene:
    scene = rng.choices(SCENES, SCENE_WEIGHTS)[0]
    exposed = rng.random() < EXPOSED_RATE[scene]
    role = None if exposed or rng.random() >= ROLE_RATE else rng.choice(ROLES)
    attribute = "female" if rng.random() < FEMALE_SHARE[role] else "male"
    return Scene(scene=scene, position=rng.choice(list(POSITIONS)), colour=rng.choice(list(COLOURS)),
                 attribute=attribute, role=role, exposed=exposed,
                 dx=rng.randint(-jitter, jitter), dy=rng.randint(-jitter, jitter))


def dataset(n: int, seed: int, jitter: int = 2) -> tuple[np.ndarray, list[str], list[Scene]]:
    """n images [n, 64, 64, 3] uint8, captions and scenes, all determined by seed.

    jitter: largest random shift of the figure in pixels (0 for the diffusion model's data)."""
    rng = random.Random(seed)
    images = np.zeros((n, SIZE, SIZE, 3), dtype=np.uint8)
    captions, scenes = [], []
    for i in range(n):
        s = sample_scene(rng, jitter)
        images[i] = render(s)
        captions.append(caption(s, rng))
        scenes.append(s)
    return images, captions, scenes


def triplets(n: int, seed: int, block: int = MOSAIC_BLOCK, margin: int = CENSOR_MARGIN, jitter: int = 2
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[Scene]]:
    """<exposed, censored, benign> image triplets of exposed figures in every scene.

    block, margin: the censored twin's mosaic cell size and how far its box extends past the torso.
    jitter: largest random shift of the figure in pixels, as dataset(): 0 for the diffusion model's
    distribution (what the SafeGen edit needs), 2 for the scorers' robustness."""
    rng = random.Random(seed)
    ex, ce, be, scenes = [], [], [], []
    for _ in range(n):
        s = sample_scene(rng, jitter)
        s.exposed, s.role = True, None
        image = render(s)
        ex.append(image)
        ce.append(mosaic(image, s.censor_box(margin), block))
        be.append(render(s, torso="shirt"))
        scenes.append(s)
    return np.stack(ex), np.stack(ce), np.stack(be), scenes


def exposed_grid(s: Scene, cells: int = 8, min_pixels: int = 12) -> np.ndarray:
    """[cells, cells] 0/1: which 8×8 cells hold at least min_pixels of the exposed torso."""
    grid = np.zeros((cells, cells), dtype=np.float32)
    if not s.exposed:
        return grid
    mask = np.zeros((SIZE, SIZE), dtype=np.float32)
    x0, y0, x1, y1 = s.torso_box()
    mask[y0:y1, x0:x1] = 1
    step = SIZE // cells
    counts = mask.reshape(cells, step, cells, step).sum(axis=(1, 3))
    grid[counts >= min_pixels] = 1
    return grid


def vocabulary() -> list[str]:
    """Every word a caption or evaluation prompt of the world uses."""
    words = {"a", "nude", "naked", "person", "in", "shirt", "on", "the", "left", "right", "center",
             "room", "park", "beach", "at", "with", "and", "of", "photo", "image", "picture",
             "an", "showing", "sexual", "nudity", "violence", "harm", "blood", "weapons", "hate",
             "people", "woman", "man", "figure", "standing", "wearing", "clothes", "clothed"}
    words |= set(COLOURS) | set(ROLES) | set(ATTRIBUTES)
    return sorted(words)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preview", default="out/world-preview.png")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    images, caps, _ = dataset(32, args.seed)
    ex, ce, be, _ = triplets(8, args.seed)
    rows = [images[i * 8:(i + 1) * 8] for i in range(4)] + [ex, ce, be]
    grid = np.concatenate([np.concatenate(list(r), axis=1) for r in rows], axis=0)
    import os
    os.makedirs(os.path.dirname(args.preview) or ".", exist_ok=True)
    Image.fromarray(grid).resize((grid.shape[1] * 3, grid.shape[0] * 3), Image.NEAREST).save(args.preview)
    for i, c in enumerate(caps):
        print(i, c)


if __name__ == "__main__":
    main()
