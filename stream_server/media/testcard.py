"""A test card: moving colour bars and a beep, encoded once, fed into a session's program.

The demo uses it so a newcomer sees and hears something before any library broadcasts;
it is just another publisher of the room (encoded once, forwarded like any other), and a
real publisher takes over the program the moment it arrives.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import logging
import math
import time

import av
import numpy as np

from stream_server.media.forwarding import MediaSource

logger = logging.getLogger(__name__)

WIDTH, HEIGHT, FPS = 640, 360, 15
AUDIO_RATE, AUDIO_SAMPLES = 48000, 960
BARS = [
    (192, 192, 192),
    (192, 192, 0),
    (0, 192, 192),
    (0, 192, 0),
    (192, 0, 192),
    (192, 0, 0),
    (0, 0, 192),
]


def _bars() -> np.ndarray:
    image = np.zeros((HEIGHT, WIDTH, 3), dtype=np.uint8)
    width = WIDTH // len(BARS) + 1
    for index, colour in enumerate(BARS):
        image[:, index * width : (index + 1) * width] = colour
    return image


class TestCard:
    """Encodes the test card in a worker thread and pushes frames to two sources."""

    def __init__(self, video_codec: str, label: str = "testcard") -> None:
        self.video = MediaSource("video", video_codec, send_pli=self._force_keyframe, label=label)
        self.audio = MediaSource("audio", "OPUS", label=label)
        self._codec_name = "libx264" if video_codec == "H264" else "libvpx"
        self._keyframe = True
        self._task: asyncio.Task[None] | None = None
        self._background = _bars()

    def _force_keyframe(self) -> None:
        self._keyframe = True

    def _video_encoder(self) -> av.VideoCodecContext:
        encoder = av.CodecContext.create(self._codec_name, "w")
        assert isinstance(encoder, av.VideoCodecContext)
        encoder.width, encoder.height = WIDTH, HEIGHT
        encoder.pix_fmt = "yuv420p"
        encoder.framerate = fractions.Fraction(FPS, 1)
        encoder.time_base = fractions.Fraction(1, FPS)
        encoder.bit_rate = 600_000
        encoder.gop_size = FPS * 4
        encoder.thread_count = 1  # measured faster than automatic threads on small frames
        if self._codec_name == "libx264":
            # Constrained baseline, no B-frames: what every browser and tablet decodes.
            encoder.options = {
                "profile": "baseline",
                "level": "31",
                "tune": "zerolatency",
                "preset": "ultrafast",
            }
        else:
            encoder.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
        return encoder

    @staticmethod
    def _audio_encoder() -> av.AudioCodecContext:
        encoder = av.CodecContext.create("libopus", "w")
        assert isinstance(encoder, av.AudioCodecContext)
        encoder.sample_rate = AUDIO_RATE
        encoder.layout = "stereo"
        encoder.format = "s16"
        encoder.time_base = fractions.Fraction(1, AUDIO_RATE)
        return encoder

    def _picture(self, index: int) -> av.VideoFrame:
        image = self._background.copy()
        x = int((WIDTH - 80) * (0.5 + 0.5 * math.sin(index / FPS)))
        image[HEIGHT // 2 - 40 : HEIGHT // 2 + 40, x : x + 80] = 255
        frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p")
        frame.pts = index
        frame.time_base = fractions.Fraction(1, FPS)
        if self._keyframe:
            self._keyframe = False
            frame.pict_type = av.video.frame.PictureType.I
        return frame

    @staticmethod
    def _sound(index: int) -> av.AudioFrame:
        t = (np.arange(AUDIO_SAMPLES) + index * AUDIO_SAMPLES) / AUDIO_RATE
        beep = (t % 1.0) < 0.12  # a short beep each second
        wave = (np.sin(2 * math.pi * 660 * t) * 6000 * beep).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(
            np.repeat(wave, 2).reshape(1, -1), format="s16", layout="stereo"
        )
        frame.sample_rate = AUDIO_RATE
        frame.pts = index * AUDIO_SAMPLES
        frame.time_base = fractions.Fraction(1, AUDIO_RATE)
        return frame

    def start(self) -> None:
        """Run until :meth:`stop`; nothing is encoded while nobody watches."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        video, audio = self._video_encoder(), self._audio_encoder()
        start = time.monotonic()
        video_index = audio_index = 0
        try:
            while True:
                now = time.monotonic() - start
                if not (self.video.has_subscribers or self.audio.has_subscribers):
                    await asyncio.sleep(0.2)
                    start = time.monotonic() - video_index / FPS
                    self._keyframe = True
                    continue
                while audio_index * AUDIO_SAMPLES / AUDIO_RATE <= now:
                    for packet in audio.encode(self._sound(audio_index)):
                        self.audio.push(bytes(packet), audio_index * AUDIO_SAMPLES)
                    audio_index += 1
                if video_index / FPS <= now:
                    frame = self._picture(video_index)
                    packets = await loop.run_in_executor(None, video.encode, frame)
                    for packet in packets:
                        self.video.push(bytes(packet), video_index * (90000 // FPS))
                    video_index += 1
                await asyncio.sleep(min(1 / FPS, AUDIO_SAMPLES / AUDIO_RATE) / 2)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("test card stopped")

    async def stop(self) -> None:
        self.video.close()
        self.audio.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
