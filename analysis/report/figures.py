"""The report's figures as files for a journal or a slide: each SVG drawing of the rendered report (CONSORT
flow, forest plot, trajectories) as a standalone SVG, a PDF (vector, via WeasyPrint) and a PNG (300 dpi,
rasterised from that PDF by PDFium), named after the figure's title.

The figures are taken from the rendered HTML rather than drawn again, so a file is exactly the figure the
report shows.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

FORMATS = ("svg", "pdf", "png")
PNG_DPI = 300
CSS_PX_PER_INCH = 96

_SVG = re.compile(r"<svg\b[^>]*>.*?</svg>", re.DOTALL)
_TITLE = re.compile(r"<title>(.*?)</title>", re.DOTALL)
_SIZE = re.compile(r'\bwidth="([\d.]+)"[^>]*?\bheight="([\d.]+)"')


@dataclass(frozen=True)
class Figure:
    name: str  # file stem: number and slug of the title
    title: str
    svg: str  # standalone (with the SVG namespace)
    width: float  # CSS px
    height: float


def _slug(text: str) -> str:
    words = re.sub(r"&[#\w]+;", " ", text).lower()
    slug = re.sub(r"[^a-z0-9]+", "-", words).strip("-")
    return slug[:60].rstrip("-") or "figure"


def figures(html: str) -> list[Figure]:
    """Every SVG figure of a rendered report, in page order."""
    found = []
    for index, match in enumerate(_SVG.finditer(html), start=1):
        svg = match.group(0)
        title_match = _TITLE.search(svg)
        title = title_match.group(1) if title_match else f"Figure {index}"
        size = _SIZE.search(svg[: svg.index(">")])
        if size is None:
            raise ValueError(f"figure {index} ({title}) has no width and height")
        standalone = svg.replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', 1)
        found.append(
            Figure(f"{index:02d}-{_slug(title)}", title, standalone, float(size.group(1)), float(size.group(2)))
        )
    return found


def _pdf(figure: Figure) -> bytes:
    from weasyprint import HTML

    page = (
        f"<!DOCTYPE html><html><head><style>@page {{ size: {figure.width}px {figure.height}px; margin: 0 }} "
        "html, body { margin: 0 } svg { display: block }</style></head>"
        f"<body>{figure.svg}</body></html>"
    )
    return bytes(HTML(string=page).write_pdf())


def _png(pdf: bytes) -> bytes:
    import pypdfium2  # type: ignore[import-untyped]

    document = pypdfium2.PdfDocument(pdf)
    try:
        image = document[0].render(scale=PNG_DPI / 72).to_pil()
        out = io.BytesIO()
        image.save(out, format="PNG", dpi=(PNG_DPI, PNG_DPI))
        return out.getvalue()
    finally:
        document.close()


def export_figures(html: str, directory: Path, formats: Sequence[str] = FORMATS) -> list[Path]:
    """Write every figure of ``html`` to ``directory`` in ``formats``; returns the files written."""
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ValueError(f"figure format(s) {', '.join(unknown)} not one of {', '.join(FORMATS)}")
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for figure in figures(html):
        if "svg" in formats:
            path = directory / f"{figure.name}.svg"
            path.write_text('<?xml version="1.0" encoding="UTF-8"?>\n' + figure.svg + "\n", encoding="utf-8")
            written.append(path)
        if "pdf" in formats or "png" in formats:
            pdf = _pdf(figure)
            if "pdf" in formats:
                path = directory / f"{figure.name}.pdf"
                path.write_bytes(pdf)
                written.append(path)
            if "png" in formats:
                path = directory / f"{figure.name}.png"
                path.write_bytes(_png(pdf))
                written.append(path)
    return written
