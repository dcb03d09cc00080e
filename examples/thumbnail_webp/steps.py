"""A user's own processing step, timed by imgbench under every strategy: make a thumbnail,
stamp a watermark on it and save it as WebP (the README shows it; `config.yaml` runs it).

The contract (imgbench.measure.tasks.user): the function receives one image's path and an
empty output directory of its own; it writes there and returns something picklable.
"""

from pathlib import Path

from PIL import Image, ImageDraw

BOX = (256, 256)


def thumbnail_webp(path: str, out_dir: str) -> dict:
    """Thumbnail within 256x256, a watermark, saved as WebP (quality 80)."""
    with Image.open(path) as im:
        im = im.convert("RGB")
        im.thumbnail(BOX)
    draw = ImageDraw.Draw(im)
    draw.text((4, im.height - 14), "imgbench", fill=(255, 255, 255))
    out = Path(out_dir) / (Path(path).stem + ".webp")
    im.save(out, format="WEBP", quality=80, method=4)
    return {"file": str(out), "size": im.size}


def check(path: str, value: dict, out_dir: str) -> None:
    """imgbench's own check compares with the plain loop; this one says what right is."""
    with Image.open(value["file"]) as im:
        if im.format != "WEBP" or max(im.size) > max(BOX):
            raise ValueError(f"{value['file']}: {im.format} {im.size}, expected a WebP thumbnail")


thumbnail_webp.verify = check
