"""Template previews: an image drawn with half blocks where the terminal has colour and Pillow is
installed, else a clear placeholder saying what the image is and where it lives."""

from __future__ import annotations

from pathlib import Path

from rich.console import Group
from rich.panel import Panel
from rich.segment import Segment
from rich.color import Color
from rich.style import Style
from rich.text import Text


class HalfBlockImage:
    """An RGB image as rows of '▀' (top pixel foreground, bottom pixel background)."""

    def __init__(self, pixels, width: int, height: int) -> None:
        self.pixels = pixels
        self.width = width
        self.height = height

    def __rich_console__(self, console, options):
        px = self.pixels
        for y in range(0, self.height - 1, 2):
            for x in range(self.width):
                top, bottom = px[x, y][:3], px[x, y + 1][:3]
                yield Segment("▀", Style(color=Color.from_rgb(*top), bgcolor=Color.from_rgb(*bottom)))
            yield Segment.line()

    def __rich_measure__(self, console, options):
        from rich.measure import Measurement

        return Measurement(self.width, self.width)


def preview_renderable(path: Path | str | None, image_url: str | None, *, width: int = 40,
                       can_draw: bool = True):
    """Runs on a thread worker (reads the file)."""
    reason = hint = None
    if path is None:
        reason = "preview not downloaded yet"
    elif not Path(path).exists():
        reason = "stored, but not reachable from this machine"
        hint = "is PIPEDECK_MEDIA_DIR the team's shared media dir here?"
    elif not can_draw:
        reason = "this terminal cannot show images"
    else:
        try:
            from PIL import Image
        except ImportError:
            reason = "image previews need Pillow (pip install pillow)"
        else:
            try:
                with Image.open(path) as img:
                    img = img.convert("RGB")
                    w = min(width, 60)
                    h = max(2, int(img.height * w / img.width / 2) * 2)
                    img = img.resize((w, min(h, 60)))
                    return HalfBlockImage(img.load(), img.width, img.height)
            except OSError as exc:
                reason = f"preview unreadable ({exc.__class__.__name__})"
    lines = [Text("▒ image preview ▒", style="bold"), Text(reason or "", style="yellow")]
    if hint:
        lines.append(Text(hint, style="dim"))
    if image_url:
        lines.append(Text(image_url, style="dim", overflow="fold"))
    if path:
        lines.append(Text(str(path), style="dim", overflow="fold"))
    return Panel(Group(*lines), border_style="bright_black", width=min(width, 60))
