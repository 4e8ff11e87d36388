"""MJPEG in AVI from JPEGs already encoded: the frames are copied in, nothing is decoded or encoded again.

Why this container: every frame is a whole JPEG (no inter-frame codec to license, ship or run on the box), and
VLC, ffmpeg, OpenCV, Windows' player and most VMS import it as it is; a browser that cannot play it can show any
frame. Layout: RIFF 'AVI ' [LIST hdrl [avih, LIST strl [strh, strf]], LIST movi [00dc ...], idx1].
"""

from __future__ import annotations

import struct

AVIF_HASINDEX = 0x10
AVIIF_KEYFRAME = 0x10


def _chunk(fourcc: bytes, data: bytes) -> bytes:
    return fourcc + struct.pack("<I", len(data)) + data + (b"\0" if len(data) % 2 else b"")


def _list(kind: bytes, data: bytes) -> bytes:
    return _chunk(b"LIST", kind + data)


def mjpeg_avi(jpegs: list[bytes], width: int, height: int, fps: float) -> bytes:
    """An AVI file holding `jpegs` as its frames, shown at `fps`."""
    rate, scale = max(1, round(fps * 1000)), 1000
    largest = max((len(jpeg) for jpeg in jpegs), default=0)
    avih = struct.pack(
        "<14I",
        round(1_000_000 / max(fps, 1e-3)),  # microseconds per frame
        largest * max(1, round(fps)),  # max bytes per second
        0,
        AVIF_HASINDEX,
        len(jpegs),
        0,
        1,  # streams
        largest,
        width,
        height,
        0,
        0,
        0,
        0,
    )
    strh = (
        b"vids"
        + b"MJPG"
        + struct.pack("<IHHIIIIIIII4h", 0, 0, 0, 0, scale, rate, 0, len(jpegs), largest, 0, 0, 0, 0, width, height)
    )
    strf = struct.pack("<IiiHH4sIiiII", 40, width, height, 1, 24, b"MJPG", width * height * 3, 0, 0, 0, 0)
    header = _list(b"hdrl", _chunk(b"avih", avih) + _list(b"strl", _chunk(b"strh", strh) + _chunk(b"strf", strf)))
    frames, index, offset = [], [], 4  # idx1 offsets count from the 'movi' fourcc
    for jpeg in jpegs:
        frame = _chunk(b"00dc", jpeg)
        index.append(b"00dc" + struct.pack("<III", AVIIF_KEYFRAME, offset, len(jpeg)))
        frames.append(frame)
        offset += len(frame)
    body = header + _list(b"movi", b"".join(frames)) + _chunk(b"idx1", b"".join(index))
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"AVI " + body
