"""Checking an SDP offer before aiortc sees it.

aiortc accepts nonsense ("", "hello world", offers without a DTLS fingerprint) and fails on
malformed input with a zoo of exceptions. These checks give people a precise message instead.
"""

from __future__ import annotations

import dataclasses

MAX_MEDIA_SECTIONS = 8


class SdpError(ValueError):
    """The offer cannot be used; the message says what is wrong."""


class SdpTooLarge(SdpError):
    """The offer is over the size limit."""


@dataclasses.dataclass(frozen=True)
class MediaSection:
    kind: str
    direction: str
    codecs: tuple[str, ...]
    mid: str | None


@dataclasses.dataclass(frozen=True)
class OfferSummary:
    sections: tuple[MediaSection, ...]

    def kinds(self) -> list[str]:
        return [s.kind for s in self.sections]


def parse_offer(text: str, max_bytes: int) -> OfferSummary:
    """Validate an SDP offer's shape and summarise its media sections.

    Checks: size, ``v=0`` first, at least one audio/video section, ICE credentials and a
    DTLS fingerprint for every section, a known direction, a unique ``a=mid`` in every
    section, and a BUNDLE group that names only those mids (aiortc bundles onto a missing
    mid's transport, ``None``, and its connect task then fails after the answer).
    """
    if len(text.encode("utf-8")) > max_bytes:
        raise SdpTooLarge(f"SDP is larger than {max_bytes} bytes")
    lines = [line.rstrip("\r") for line in text.split("\n") if line.strip()]
    if not lines or lines[0] != "v=0":
        raise SdpError("SDP must start with v=0")
    for line in lines:
        if len(line) < 2 or line[1] != "=" or not line[0].isalpha():
            raise SdpError(f"malformed SDP line: {line[:60]!r}")
    session_lines: list[str] = []
    media_blocks: list[list[str]] = []
    for line in lines:
        if line.startswith("m="):
            media_blocks.append([line])
        elif media_blocks:
            media_blocks[-1].append(line)
        else:
            session_lines.append(line)
    if not media_blocks:
        raise SdpError("SDP has no media sections")
    if len(media_blocks) > MAX_MEDIA_SECTIONS:
        raise SdpError(f"SDP has more than {MAX_MEDIA_SECTIONS} media sections")

    def has(block: list[str], prefix: str) -> bool:
        return any(line.startswith(prefix) for line in block) or any(
            line.startswith(prefix) for line in session_lines
        )

    sections: list[MediaSection] = []
    for block in media_blocks:
        fields = block[0][2:].split()
        if len(fields) < 4:
            raise SdpError(f"malformed media line: {block[0][:60]!r}")
        kind = fields[0]
        if kind not in ("audio", "video"):
            raise SdpError(f"unsupported media kind {kind!r} (only audio and video)")
        if fields[2] != "UDP/TLS/RTP/SAVPF":
            raise SdpError(f"unsupported transport {fields[2]!r} (need UDP/TLS/RTP/SAVPF)")
        if not has(block, "a=fingerprint:"):
            raise SdpError(f"{kind} section has no DTLS fingerprint")
        if not has(block, "a=ice-ufrag:") or not has(block, "a=ice-pwd:"):
            raise SdpError(f"{kind} section has no ICE credentials")
        direction = "sendrecv"
        for line in block:
            if line[2:] in ("sendrecv", "sendonly", "recvonly", "inactive"):
                direction = line[2:]
        codecs = []
        mid = None
        for line in block:
            if line.startswith("a=rtpmap:"):
                try:
                    codecs.append(line.split(None, 1)[1].split("/")[0].upper())
                except IndexError:
                    raise SdpError(f"malformed rtpmap line: {line[:60]!r}") from None
            elif line.startswith("a=mid:"):
                mid = line[6:].strip()
        if not mid:
            raise SdpError(f"{kind} section has no a=mid")
        if any(section.mid == mid for section in sections):
            raise SdpError(f"a=mid:{mid[:20]} is used twice")
        sections.append(MediaSection(kind, direction, tuple(codecs), mid))
    _check_bundle(session_lines, {s.mid for s in sections})
    return OfferSummary(tuple(sections))


def _check_bundle(session_lines: list[str], mids: set[str | None]) -> None:
    groups = [line for line in session_lines if line.startswith("a=group:")]
    bundles = [line.split()[1:] for line in groups if line.startswith("a=group:BUNDLE")]
    if len(bundles) > 1:
        raise SdpError("SDP has more than one BUNDLE group")
    for items in bundles:
        if not items:
            raise SdpError("the BUNDLE group is empty")
        unknown = [item for item in items if item not in mids]
        if unknown:
            raise SdpError(f"the BUNDLE group names a missing mid {unknown[0][:20]!r}")


def require_codecs(summary: OfferSummary, video_codec: str) -> None:
    """Forwarding means no transcoding: the offer must carry the server's codecs."""
    for section in summary.sections:
        if section.direction == "inactive":
            continue
        wanted = video_codec if section.kind == "video" else "OPUS"
        if wanted not in section.codecs:
            raise SdpError(
                f"{section.kind} section does not offer {wanted}; this server forwards "
                f"{section.kind} as {wanted} without transcoding"
            )
