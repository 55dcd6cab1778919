"""The picture a receiving room sees: the camera, or a shared screen large with the camera
small in its corner, and the "● Tallennetaan" badge while the session is recorded.

As the kiosk page lays it out (``web/static/js/stage.js``, ``kohtaamo.css``): a screen share
fills the picture and the camera sits bottom right at about a quarter of the width with a
white border; the recording badge is white on red, top right. A screen share counts as
arriving while its last frame is under ``SCREEN_IDLE_SECONDS`` old (the server's screen
m-line simply goes quiet when the presenter stops sharing).

Cheap by design, for a small room PC: frames stay in YUV 4:2:0 (what the decoders give) and
are combined with numpy slices; each camera frame is scaled once (to the small size, or to
the canvas if it differs), each screen frame once (to the canvas, kept until the next one);
a camera frame that needs nothing is passed on untouched. One output picture per camera
frame; while no camera arrives the screen frames drive the output instead.
"""

from __future__ import annotations

import logging

import av
import numpy as np

logger = logging.getLogger(__name__)

SCREEN_IDLE_SECONDS = 2.0
CAMERA_IDLE_SECONDS = 2.0
PIP_WIDTH = 0.24  # of the canvas width, as the page's small camera tile
RED = (176, 0, 32)  # the page's badge colour #b00020
WHITE = (255, 255, 255)
BLACK_YUV = (16, 128, 128)

Planes = tuple[np.ndarray, np.ndarray, np.ndarray]

# A 5x7 bitmap font holding the characters of the badge texts (messages.py); others draw blank.
_GLYPHS = {
    "●": [".....", ".###.", "#####", "#####", "#####", ".###.", "....."],
    "T": ["#####", "..#..", "..#..", "..#..", "..#..", "..#..", "..#.."],
    "R": ["####.", "#...#", "#...#", "####.", "#.#..", "#..#.", "#...#"],
    "a": [".....", ".....", ".###.", "....#", ".####", "#...#", ".####"],
    "c": [".....", ".....", ".###.", "#....", "#....", "#...#", ".###."],
    "d": ["....#", "....#", ".##.#", "#..##", "#...#", "#...#", ".####"],
    "e": [".....", ".....", ".###.", "#...#", "#####", "#....", ".###."],
    "g": [".....", ".####", "#...#", "#...#", ".####", "....#", ".###."],
    "i": ["..#..", ".....", ".##..", "..#..", "..#..", "..#..", ".###."],
    "l": [".##..", "..#..", "..#..", "..#..", "..#..", "..#..", ".###."],
    "n": [".....", ".....", "#.##.", "##..#", "#...#", "#...#", "#...#"],
    "o": [".....", ".....", ".###.", "#...#", "#...#", "#...#", ".###."],
    "r": [".....", ".....", "#.##.", "##..#", "#....", "#....", "#...."],
    "t": [".#...", ".#...", "###..", ".#...", ".#...", ".#..#", "..##."],
}
_GLYPH_W, _GLYPH_H = 5, 7


def has_glyphs(text: str) -> bool:
    """Whether the badge font can draw every character of ``text``."""
    return all(c == " " or c in _GLYPHS for c in text)


def _even(value: float) -> int:
    return max(2, int(value) // 2 * 2)


def planes(frame: av.VideoFrame) -> Planes:
    """Views (no copy) of a yuv420p frame's Y, U and V planes, without line padding."""
    views = []
    for plane in frame.planes:
        data = np.frombuffer(memoryview(plane), np.uint8, count=plane.line_size * plane.height)
        views.append(data.reshape(plane.height, plane.line_size)[:, : plane.width])
    return views[0], views[1], views[2]


def blank(width: int, height: int) -> av.VideoFrame:
    """A new black yuv420p frame (its planes are filled here, not left undefined)."""
    frame = av.VideoFrame(width, height, "yuv420p")
    for view, value in zip(planes(frame), BLACK_YUV, strict=True):
        view[:] = value
    return frame


def paste(target: Planes, source: Planes, x: int, y: int) -> None:
    """Copy ``source`` into ``target`` at even (x, y), clipped to the target."""
    for i, (dst, src) in enumerate(zip(target, source, strict=True)):
        shift = 0 if i == 0 else 1
        tx, ty = x >> shift, y >> shift
        h = min(src.shape[0], dst.shape[0] - ty)
        w = min(src.shape[1], dst.shape[1] - tx)
        if h > 0 and w > 0:
            dst[ty : ty + h, tx : tx + w] = src[:h, :w]


def fill(target: Planes, x: int, y: int, width: int, height: int, yuv: tuple[int, ...]) -> None:
    for i, (dst, value) in enumerate(zip(target, yuv, strict=True)):
        shift = 0 if i == 0 else 1
        dst[y >> shift : (y + height) >> shift, x >> shift : (x + width) >> shift] = value


def fit_size(width: int, height: int, box_w: int, box_h: int) -> tuple[int, int]:
    """The largest even size of ``width``x``height``'s shape that fits the box."""
    scale = min(box_w / width, box_h / height)
    return min(box_w, _even(width * scale)), min(box_h, _even(height * scale))


def _yuv420p(frame: av.VideoFrame, width: int, height: int) -> av.VideoFrame:
    # PyAV returns the frame itself when nothing changes: no copy, no scaling.
    return frame.reformat(width=width, height=height, format="yuv420p")


def render_badge(label: str, scale: int) -> Planes:
    """The badge (white text on red with a white edge) as YUV planes of even size."""
    unit = scale
    pad_x, pad_y = 3 * unit, 2 * unit
    advance = (_GLYPH_W + 1) * unit
    text_w = max(1, len(label) * advance - unit)
    width = _even(text_w + 2 * pad_x + 1)
    height = _even(_GLYPH_H * unit + 2 * pad_y + 1)
    rgb = np.empty((height, width, 3), np.uint8)
    rgb[:, :] = WHITE  # the edge
    rgb[unit:-unit, unit:-unit] = RED
    for n, char in enumerate(label):
        rows = _GLYPHS.get(char)
        if rows is None:
            continue
        bitmap = np.array([[c == "#" for c in row] for row in rows])
        mask = np.kron(bitmap, np.ones((unit, unit), bool))
        x0, y0 = pad_x + n * advance, pad_y
        area = rgb[y0 : y0 + mask.shape[0], x0 : x0 + mask.shape[1]]
        area[mask[: area.shape[0], : area.shape[1]]] = WHITE
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
    y, u, v = planes(frame)
    return y.copy(), u.copy(), v.copy()


class Compositor:
    """Turns camera and screen frames into one picture of ``width``x``height``.

    Runs in the sink's writer thread; ``recording`` may be set from the event loop (a plain
    attribute: the next picture shows the change).
    """

    def __init__(self, width: int, height: int, label: str) -> None:
        self.width, self.height = _even(width), _even(height)
        self.recording = False
        self.layout = "camera"  # or "screen": what the last picture showed large
        self._label = label
        self._badge: Planes | None = None
        self._screen: Planes | None = None  # the last screen frame, fitted to the canvas
        self._screen_at: float | None = None
        self._camera_at: float | None = None
        self.margin = _even(self.width / 40)
        self.border = _even(self.width / 320)

    # -- what arrives ------------------------------------------------------------------------
    def camera(self, frame: av.VideoFrame, now: float) -> av.VideoFrame:
        """The picture to show for a new camera frame."""
        self._camera_at = now
        if self.screen_showing(now):
            self._set_layout("screen")
            out = self._screen_picture()
            self._add_small_camera(planes(out), frame)
            return self._with_badge(out)
        self._set_layout("camera")
        if (frame.width, frame.height) == (self.width, self.height):
            out = _yuv420p(frame, self.width, self.height)
            if not self.recording:
                return out  # nothing to do: the decoder's frame goes on as it is
            if out is frame:  # never draw on the decoder's buffer: a copy
                out = self._copy(frame)
            return self._with_badge(out)
        w, h = fit_size(frame.width, frame.height, self.width, self.height)
        out = blank(self.width, self.height)
        paste(planes(out), planes(_yuv420p(frame, w, h)), *self._centre(w, h))
        return self._with_badge(out)

    def screen(self, frame: av.VideoFrame, now: float) -> av.VideoFrame | None:
        """Keep a new screen frame; a picture only while no camera drives the output."""
        canvas = blank(self.width, self.height)
        w, h = fit_size(frame.width, frame.height, self.width, self.height)
        paste(planes(canvas), planes(_yuv420p(frame, w, h)), *self._centre(w, h))
        self._screen, self._screen_at = planes(canvas), now
        if self._camera_at is not None and now - self._camera_at < CAMERA_IDLE_SECONDS:
            return None  # the next camera frame shows it, with the camera small
        self._set_layout("screen")
        return self._with_badge(self._screen_picture())

    def idle(self, now: float) -> av.VideoFrame:
        """The picture to repeat while nothing arrives: the screen share if it is still
        showing, else black."""
        if self.screen_showing(now):
            return self._with_badge(self._screen_picture())
        self._set_layout("camera")
        return self._with_badge(blank(self.width, self.height))

    def screen_showing(self, now: float) -> bool:
        return self._screen_at is not None and now - self._screen_at < SCREEN_IDLE_SECONDS

    # -- building pictures (each new frame built here is ours to draw on) ---------------------
    def _set_layout(self, layout: str) -> None:
        if layout != self.layout:
            self.layout = layout
            logger.info(
                "picture: %s",
                "screen share large, camera small" if layout == "screen" else "camera full",
            )

    def _centre(self, w: int, h: int) -> tuple[int, int]:
        return (self.width - w) // 4 * 2, (self.height - h) // 4 * 2

    def _copy(self, source: av.VideoFrame | Planes) -> av.VideoFrame:
        out = av.VideoFrame(self.width, self.height, "yuv420p")
        src = planes(source) if isinstance(source, av.VideoFrame) else source
        for dst, plane in zip(planes(out), src, strict=True):
            dst[:] = plane
        return out

    def _screen_picture(self) -> av.VideoFrame:
        assert self._screen is not None
        return self._copy(self._screen)

    def _add_small_camera(self, target: Planes, frame: av.VideoFrame) -> None:
        box_w = _even(self.width * PIP_WIDTH)
        w, h = fit_size(frame.width, frame.height, box_w, self.height // 2)
        b = self.border
        x = self.width - self.margin - b - w
        y = self.height - self.margin - b - h
        fill(target, x - b, y - b, w + 2 * b, h + 2 * b, (235, 128, 128))  # white edge
        paste(target, planes(_yuv420p(frame, w, h)), x, y)

    def _with_badge(self, out: av.VideoFrame) -> av.VideoFrame:
        """Draws the badge on ``out`` (a frame built here) while recording."""
        if not self.recording:
            return out
        if self._badge is None:
            scale = max(1, self.height // 160)
            badge = render_badge(self._label, scale)
            while scale > 1 and badge[0].shape[1] > self.width - 2 * self.margin:
                scale -= 1
                badge = render_badge(self._label, scale)
            self._badge = badge
        x = self.width - self.margin - self._badge[0].shape[1]
        paste(planes(out), self._badge, max(0, x), self.margin)
        return out
