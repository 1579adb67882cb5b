"""PNG and SVG export: one headless Chrome-family browser per process, driven by kaleido.

Started on first use and stopped at exit. ``export_available()`` says whether a browser
was found; without one, ``to_png``/``to_svg`` raise ``ExportUnavailableError`` with a
message saying how to enable it.
"""

from __future__ import annotations

import asyncio
import atexit
import base64
import os
import re
import shutil
import threading
import xml.etree.ElementTree as ET

import plotly.graph_objects as go

from attnviz.errors import ExportUnavailableError

# ------------------------------------------------------------------ export
#: Seconds to wait for the browser to start, and for one image.
START_TIMEOUT = 60
RENDER_TIMEOUT = 60
#: Longest side of an exported PNG in px; a larger image is exported at a smaller scale
#: (Chromium cannot draw a canvas much beyond this).
MAX_PNG_SIDE = 16_000

ENABLE_EXPORT_HELP = (
    "Server-side image export needs a Chrome-family browser (Chromium or Chrome), and none "
    "was found. To enable it, install Debian's chromium package (`apt-get install chromium`; "
    "on Streamlit Community Cloud, add a line `chromium` to packages.txt) or set BROWSER_PATH "
    "to a Chrome/Chromium executable. Meanwhile, the camera button in a chart's toolbar "
    "downloads a PNG from your own browser."
)



def _find_browser() -> str | None:
    """The Chrome-family executable kaleido would use, or None."""
    if path := os.environ.get("BROWSER_PATH"):
        return path if os.path.isfile(path) and os.access(path, os.X_OK) else None
    try:
        from choreographer.browsers.chromium import Chromium

        if path := Chromium.find_browser(skip_local=False):
            return path
    except Exception:  # noqa: BLE001 - best effort; fall back to PATH
        pass
    names = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome", "msedge")
    return next((p for name in names if (p := shutil.which(name))), None)


def export_available() -> tuple[bool, str]:
    """(True, "Images are rendered with <path>") or (False, how to enable export)."""
    if path := _find_browser():
        return True, f"Images are rendered with {path}."
    if bad := os.environ.get("BROWSER_PATH"):
        return False, f"BROWSER_PATH={bad!r} is not an executable file. " + ENABLE_EXPORT_HELP
    return False, ENABLE_EXPORT_HELP


class ExportBrowser:
    """One headless browser (a ``kaleido.Kaleido``) on its own event loop thread.

    Started on first use under a lock, reused by every export in the process (a cold
    export costs ~3 s, a warm one ~0.2 s) and closed at exit. kaleido's own
    ``start_sync_server`` is not used: when the browser fails to start, its calls wait
    forever, whereas here the failure (or a crash later) surfaces as an exception, and
    the next export starts a fresh browser.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._kaleido = None
        self._atexit = False

    def _start(self) -> None:
        import kaleido

        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="attnviz-export", daemon=True)
        thread.start()

        async def open_browser():
            k = kaleido.Kaleido(n=1, timeout=RENDER_TIMEOUT, mathjax=False)  # no MathJax: no CDN fetch
            await k.open()
            return k

        future = asyncio.run_coroutine_threadsafe(open_browser(), loop)
        try:
            k = future.result(START_TIMEOUT)
        except BaseException as e:
            future.cancel()
            loop.call_soon_threadsafe(loop.stop)
            thread.join(5)
            raise ExportUnavailableError(f"The export browser did not start ({type(e).__name__}: {e}). "
                                         + ENABLE_EXPORT_HELP) from e
        self._loop, self._thread, self._kaleido = loop, thread, k
        if not self._atexit:
            atexit.register(self.stop)
            self._atexit = True

    def stop(self) -> None:
        """Close the browser (the next export starts a new one)."""
        with self._lock:
            loop, thread, k = self._loop, self._thread, self._kaleido
            self._loop = self._thread = self._kaleido = None
        if loop is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(k.close(), loop).result(10)
        except Exception:  # noqa: BLE001 - already dead: nothing to close
            pass
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)

    @property
    def kaleido(self):
        """The running ``kaleido.Kaleido`` (one per browser process), or None when stopped."""
        return self._kaleido

    @property
    def running(self) -> bool:
        return self._kaleido is not None

    def render(self, fig: dict, opts: dict) -> bytes:
        ok, message = export_available()
        if not ok:
            raise ExportUnavailableError(message)
        with self._lock:
            if self._kaleido is None or not self._thread.is_alive():
                self._start()
            loop, k = self._loop, self._kaleido
        from kaleido.errors import JavascriptError, KaleidoError

        try:  # kaleido queues concurrent renders on its tab itself
            return asyncio.run_coroutine_threadsafe(k.calc_fig(fig, opts=opts), loop).result(RENDER_TIMEOUT + 10)
        except (KaleidoError, JavascriptError):
            raise  # the figure is at fault, the browser is fine
        except Exception as e:
            self.stop()
            raise ExportUnavailableError(f"The export browser failed ({type(e).__name__}: {e}); "
                                         "the next export starts a new one.") from e


_browser = ExportBrowser()


def export_browser() -> ExportBrowser:
    """The process's one export browser (``running``, ``stop()``); every export uses it."""
    return _browser


def _svg_size(svg: str) -> tuple[float, float]:
    """(width, height) of an SVG document from its root attributes or viewBox."""
    root = ET.fromstring(svg)
    number = lambda v: float(re.match(r"[\d.]+", v).group()) if v and re.match(r"[\d.]+", v) else None  # noqa: E731
    w, h = number(root.get("width")), number(root.get("height"))
    if (w is None or h is None) and root.get("viewBox"):
        _, _, vw, vh = (float(x) for x in root.get("viewBox").replace(",", " ").split())
        w, h = w or vw, h or vh
    return w or 800.0, h or 400.0


def _svg_figure(svg: str, width: float, height: float) -> dict:
    """An empty plotly figure showing ``svg`` as a full-size layout image (data URI).

    Chromium draws the SVG as an image: scripts and external resources inside it are
    never run or fetched, and it is rasterised at the export scale (crisp text).
    """
    uri = "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")
    hidden = dict(visible=False, range=[0, 1], fixedrange=True)
    return {"data": [], "layout": {
        "width": width, "height": height, "margin": dict(l=0, r=0, t=0, b=0, pad=0),
        "xaxis": hidden, "yaxis": hidden, "paper_bgcolor": "white", "plot_bgcolor": "white",
        "images": [dict(source=uri, xref="paper", yref="paper", x=0, y=1, sizex=1, sizey=1,
                        xanchor="left", yanchor="top", sizing="stretch", layer="above")],
    }}


def _figure_size(fig: go.Figure, width: float | None, height: float | None) -> tuple[float, float]:
    layout = fig.layout
    return float(width or layout.width or 700), float(height or layout.height or 500)


def _capped_scale(width: float, height: float, scale: float) -> float:
    return min(float(scale), MAX_PNG_SIDE / max(width, height, 1.0))


def to_png(fig_or_svg: go.Figure | str | bytes, *, width: int | None = None, height: int | None = None,
           scale: float = 2) -> bytes:
    """PNG bytes of a plotly figure or an SVG string (e.g. from ``arcs_svg``).

    The image is ``width*scale`` x ``height*scale`` px; width/height default to the
    figure's layout (or 700 x 500) or the SVG's own size (given only one, an SVG keeps
    its aspect ratio). When the longest side would exceed MAX_PNG_SIDE the scale is
    reduced to fit. Raises ExportUnavailableError without a usable browser.
    """
    if isinstance(fig_or_svg, (str, bytes)):
        svg = fig_or_svg.decode("utf-8") if isinstance(fig_or_svg, bytes) else fig_or_svg
        w0, h0 = _svg_size(svg)
        if width and not height:
            width, height = width, h0 * width / w0
        elif height and not width:
            width, height = w0 * height / h0, height
        w, h = float(width or w0), float(height or h0)
        fig = _svg_figure(svg, w, h)
    else:
        w, h = _figure_size(fig_or_svg, width, height)
        fig = fig_or_svg.to_dict()
    opts = dict(format="png", width=round(w), height=round(h), scale=_capped_scale(w, h, scale))
    return _browser.render(fig, opts)


def to_svg(fig: go.Figure | str, *, width: int | None = None, height: int | None = None) -> bytes:
    """SVG bytes of a plotly figure (rendered by the export browser); an SVG string as is."""
    if isinstance(fig, str):
        return fig.encode("utf-8")
    w, h = _figure_size(fig, width, height)
    return _browser.render(fig.to_dict(), dict(format="svg", width=round(w), height=round(h), scale=1))
