"""The report's figures as files (analyze --figures): each SVG of the rendered report as a standalone SVG, a
vector PDF of the figure's size and a 300 dpi PNG."""

from __future__ import annotations

import struct
import xml.etree.ElementTree as ET
from pathlib import Path

import pypdfium2  # type: ignore[import-untyped]
import pytest

from analysis.report import render_report
from analysis.report.figures import PNG_DPI, export_figures, figures
from tests.analysis.test_report import build_report


def test_every_figure_of_the_report_is_written_in_each_format(tmp_path: Path) -> None:
    html = render_report(build_report())
    found = figures(html)
    assert len(found) == html.count("<svg ") >= 3  # CONSORT, forest plot, a trajectory per outcome
    assert len({f.name for f in found}) == len(found) and found[0].name.startswith("01-consort")
    written = export_figures(html, tmp_path / "figures")
    assert len(written) == 3 * len(found)
    for figure in found:
        svg = ET.parse(tmp_path / "figures" / f"{figure.name}.svg").getroot()  # noqa: S314 - our own file
        assert svg.tag == "{http://www.w3.org/2000/svg}svg" and float(svg.get("width") or 0) == figure.width
        pdf = (tmp_path / "figures" / f"{figure.name}.pdf").read_bytes()
        assert pdf.startswith(b"%PDF-")
        document = pypdfium2.PdfDocument(pdf)
        assert len(document) == 1  # the figure on one page of its own size (1 CSS px = 0.75 pt)
        assert document[0].get_size() == pytest.approx((figure.width * 0.75, figure.height * 0.75), abs=0.5)
        document.close()
        png = (tmp_path / "figures" / f"{figure.name}.png").read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        width, height = struct.unpack(">II", png[16:24])
        # one page of the figure's size (CSS px at 96 per inch), rasterised at 300 dpi
        assert width == pytest.approx(figure.width * PNG_DPI / 96, abs=2)
        assert height == pytest.approx(figure.height * PNG_DPI / 96, abs=2)


def test_only_the_formats_asked_for_and_a_bad_one_is_named(tmp_path: Path) -> None:
    html = render_report(build_report())
    written = export_figures(html, tmp_path, formats=("svg",))
    assert written and {p.suffix for p in written} == {".svg"}
    with pytest.raises(ValueError, match=r"figure format.*tiff"):
        export_figures(html, tmp_path, formats=("tiff",))
