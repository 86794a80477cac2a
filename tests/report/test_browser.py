"""The HTML report in a real headless Chromium: every figure renders, no console errors."""

from __future__ import annotations

import os
import shutil
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest

from stitchbench.report.html import write_report

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


class _Refs(HTMLParser):
    """Every src/href attribute and stylesheet link of the page's tags."""

    def __init__(self) -> None:
        super().__init__()
        self.refs: list[tuple[str, str, str]] = []
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self.scripts += 1
        for name, value in attrs:
            if name in ("src", "href") and value is not None:
                self.refs.append((tag, name, value))


def _external(value: str) -> bool:
    return not value.startswith("#")


@pytest.fixture(scope="module")
def report(real_run: Path, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    out = tmp_path_factory.mktemp("html")
    return write_report(real_run, out / "report.html", n_permutations=200)


def test_html_has_no_external_reference(report) -> None:  # type: ignore[no-untyped-def]
    text = report.html.read_text(encoding="utf-8")
    parser = _Refs()
    parser.feed(text)
    assert [r for r in parser.refs if _external(r[2])] == []
    assert "<link" not in text.split("<script")[0]  # no stylesheet link in the head
    # plotly.js inlined exactly once (its bundle defines the global Plotly once).
    assert text.count("plotly.js v") >= 1 and parser.scripts == 3
    assert len(report.pngs) == len(report.views) and all(
        p.stat().st_size > 5000 for p in report.pngs
    )


@pytest.mark.slow
def test_report_renders_in_headless_chromium(report, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        why = (
            "Debian chromium and chromium-driver are needed: apt-get install -y chromium "
            "chromium-driver (`make test` installs them when run as root)."
        )
        # As root `make test` installed them, so their absence is a failure; a user who
        # cannot install packages was told the command by `make test` and skips.
        if os.geteuid() == 0 or os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.support.ui import Select

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--window-size=1300,1000",
    ):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    try:
        driver.get(report.html.resolve().as_uri())
        n_views = len(report.views)
        deadline = time.monotonic() + 60
        drawn = 0
        while time.monotonic() < deadline:
            drawn = driver.execute_script(
                "return [...document.querySelectorAll('.js-plotly-plot')]"
                ".filter(d => d.querySelector('.cartesianlayer .subplot') !== null"
                " && d.querySelector('.hm image, .scatterlayer .trace') !== null).length;"
            )
            if drawn == n_views:
                break
            time.sleep(0.5)
        assert drawn == n_views, f"{drawn} of {n_views} figures drawn"
        # The pair heatmap drew its cells (plotly paints them as one image).
        heat = driver.execute_script(
            "return document.querySelectorAll('#fig-pairs .hm image').length;"
        )
        assert heat >= 1
        # A selector swaps the figure: choose another metric and the title follows.
        metric = Select(
            driver.find_element("css selector", "select[data-view='pairs']:nth-of-type(1)")
        )
        sels = driver.find_elements("css selector", "select[data-view='pairs']")
        metric = Select(sels[-1])
        other = next(o.get_attribute("value") for o in metric.options if not o.is_selected())
        metric.select_by_value(other)
        time.sleep(0.5)
        title = driver.execute_script(
            "return document.querySelector('#fig-pairs .gtitle').textContent;"
        )
        assert f"· {other} ·" in title
        # Nothing was fetched from anywhere: the page is its own single resource.
        fetched = driver.execute_script(
            "return performance.getEntriesByType('resource').map(e => e.name);"
        )
        assert [u for u in fetched if not u.startswith("file:")] == []
        shot = report.html.with_suffix(".png")
        driver.save_screenshot(str(shot))
        assert shot.stat().st_size > 10_000
        logs = driver.get_log("browser")
        errors = [e for e in logs if e["level"] in ("SEVERE", "ERROR")]
        assert errors == [], errors
    finally:
        driver.quit()
