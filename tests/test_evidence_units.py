"""Evidence parts on their own: the mosaic, the AVI container, the file store's retention and refusals, and the
remote allow-list for `privacy: none` (evidence end to end: tests/test_evidence_daemon.py)."""

from __future__ import annotations

import base64
import hashlib
import json
from collections import namedtuple

import cv2
import numpy as np
import pytest

from edge_agent.clock import FakeClock
from edge_agent.config.evidence import EvidenceConfig
from edge_agent.events import Box, Topics
from edge_agent.events.evidence_messages import EvidencePart, EvidenceSent
from edge_agent.events.ids import UUIDv7Generator
from edge_agent.evidence.desk import EvidenceDesk, EvidenceRefused
from edge_agent.evidence.mjpeg_avi import mjpeg_avi
from edge_agent.store.evidence_files import EvidenceStore, record_fields
from edge_agent.vision.pixelate import block_size, pixel_rect, pixelate
from tests.test_remote_policy import _judge

Usage = namedtuple("Usage", "total used free")


def test_every_person_box_becomes_flat_blocks_of_a_sixth_of_its_height():
    rng = np.random.default_rng(7)
    image = rng.integers(0, 256, size=(480, 640, 3), dtype=np.uint8)
    box = Box(0.30, 0.20, 0.50, 0.90)
    out = pixelate(image, [box])
    x1, y1, x2, y2 = pixel_rect(box, 640, 480)
    assert (x1, y1) < (int(0.30 * 640), int(0.20 * 480)), "the box grows before it is mosaicked"
    block = block_size(0.70 * 480)
    assert block >= (y2 - y1) / 8 and block >= 0.70 * 480 / 6
    for top in range(y1, y2, block):
        for left in range(x1, x2, block):
            cell = out[top : min(top + block, y2), left : min(left + block, x2)]
            assert (cell == cell[0, 0]).all(), f"block at {left},{top} is not flat"
    outside = np.ones(image.shape[:2], bool)
    outside[y1:y2, x1:x2] = False
    assert (out[outside] == image[outside]).all(), "nothing outside the grown boxes changes"
    assert not (out[y1:y2, x1:x2] == image[y1:y2, x1:x2]).all()


def test_a_small_box_still_gets_blocks_of_eight_pixels():
    assert block_size(20) == 8 and block_size(400) == 67


def test_the_avi_holds_the_jpegs_as_frames_opencv_plays():
    frames = []
    for shade in (30, 120, 220):
        ok, jpeg = cv2.imencode(".jpg", np.full((96, 128, 3), shade, np.uint8))
        frames.append(jpeg.tobytes())
    data = mjpeg_avi(frames, 128, 96, 2.0)
    assert data[:4] == b"RIFF" and data[8:12] == b"AVI " and all(jpeg in data for jpeg in frames)


def test_opencv_reads_the_avi_back(tmp_path):
    shades = (30, 120, 220)
    frames = [cv2.imencode(".jpg", np.full((96, 128, 3), s, np.uint8))[1].tobytes() for s in shades]
    path = tmp_path / "clip.avi"
    path.write_bytes(mjpeg_avi(frames, 128, 96, 2.0))
    capture = cv2.VideoCapture(str(path))
    seen = []
    while True:
        ok, image = capture.read()
        if not ok:
            break
        seen.append(int(image.mean()))
    capture.release()
    assert len(seen) == 3 and all(abs(a - b) <= 3 for a, b in zip(seen, shades))


def _store(tmp_path, clock, free_mb=10_000, **settings) -> EvidenceStore:
    usage = lambda path: Usage(0, 0, free_mb * 1024 * 1024)  # noqa: E731 - the disk as the store sees it
    return EvidenceStore(tmp_path / "evidence", EvidenceConfig(**settings), clock, disk_usage=usage)


def _id(clock) -> str:
    """An event id made at the fake clock's time, as the agent's alerts are made at theirs."""
    return UUIDv7Generator(lambda: int(clock.wall() * 1000))()


def _keep(store, clock, kind="snapshot", size=1000, privacy="pixelate_people"):
    event_id = _id(clock)
    fields = record_fields(event_id, kind, clock.wall(), privacy, "cam", "r")
    return store.write(fields, b"\xff\xd8\xff" + bytes(size))


def test_retention_deletes_by_age_then_oldest_first_by_size(tmp_path):
    clock = FakeClock(wall=1_800_000_000.0)
    store = _store(tmp_path, clock, keep_days=1, max_mb=1)
    old = _keep(store, clock)
    clock.advance(2 * 86400)
    kept = []
    for _ in range(4):  # 1.2 MB: one over max_mb
        clock.advance(1)
        kept.append(_keep(store, clock, size=300_000))
    assert store.prune() == 2
    assert store.find(old.event_id) is None and store.find(kept[0].event_id) is None
    assert all(store.find(record.event_id) for record in kept[1:])
    figures = store.figures()
    assert figures["deleted_age"] == 1 and figures["deleted_size"] == 1 and figures["snapshots_written"] == 5


def test_a_low_disk_stops_evidence_and_says_so(tmp_path):
    clock = FakeClock(wall=1_800_000_000.0)
    store = _store(tmp_path, clock, free_mb=100, min_free_mb=400)
    assert _keep(store, clock) is None
    assert store.figures()["refused_disk_low"] == 1 and list(store.directory.iterdir()) == []


class _Outbox:
    """Records what the desk stores (the real outbox is exercised end to end in test_evidence_daemon.py)."""

    def __init__(self):
        self.rows = []

    def enqueue(self, topic, payload, cls, event_id=None, expires_at=None):
        self.rows.append((topic, payload))

    def enqueue_many(self, items):
        self.rows.extend((item[0], item[1]) for item in items)


@pytest.fixture
def desk(tmp_path):
    clock = FakeClock(wall=1_800_000_000.0)
    store = _store(tmp_path, clock, keep_days=2, fetches_per_minute=5, chunk_kb=16)
    return EvidenceDesk(store, _Outbox(), Topics("edge", "s", "d"), "s", clock), clock


def _sent(desk) -> list[dict]:
    return [EvidenceSent.model_validate_json(p).model_dump() for t, p in desk.outbox.rows if t.endswith("sent")]


@pytest.mark.parametrize(
    "event_id, says",
    [
        ("../../etc/passwd", "is not an alert's event id"),
        ("0192a0c0-0000-7000-8000-000000000000/../x", "is not an alert's event id"),
        ("0192A0C0-0000-7000-8000-000000000000", "is not an alert's event id"),
        ("", "is not an alert's event id"),
    ],
)
def test_a_request_that_is_no_event_id_is_refused_and_recorded(desk, event_id, says):
    desk, _ = desk
    with pytest.raises(EvidenceRefused, match=says):
        desk.send(event_id, None, "req-1", "op")
    (record,) = _sent(desk)
    assert record["outcome"] == "refused" and record["bytes"] == 0 and record["requested_by"] == "op"


def test_unknown_expired_and_unpixelated_evidence_are_refused(desk):
    desk, clock = desk
    with pytest.raises(EvidenceRefused, match="no evidence is kept"):
        desk.send(_id(clock), None, "r", None)
    bare = _keep(desk.store, clock, privacy="none")
    with pytest.raises(EvidenceRefused, match="never leaves the box"):
        desk.send(bare.event_id, None, "r", None)
    old = _keep(desk.store, clock)
    clock.advance(3 * 86400)
    desk.store.prune()
    with pytest.raises(EvidenceRefused, match="has expired"):
        desk.send(old.event_id, None, "r", None)
    assert [r["outcome"] for r in _sent(desk)] == ["refused"] * 3


def test_a_clip_goes_in_ordered_chunks_whose_hashes_add_up(desk):
    desk, clock = desk
    record = _keep(desk.store, clock, kind="clip", size=40_000)
    result = desk.send(record.event_id, "clip", "r", "op")
    parts = [EvidencePart.model_validate_json(p) for t, p in desk.outbox.rows if t.endswith(record.event_id)]
    assert result["parts"] == len(parts) == 3 and [p.index for p in parts] == [0, 1, 2]
    data = b"".join(base64.b64decode(p.data) for p in parts)
    assert hashlib.sha256(data).hexdigest() == record.sha256 == parts[0].file_sha256
    assert all(hashlib.sha256(base64.b64decode(p.data)).hexdigest() == p.sha256 for p in parts)
    (sent,) = _sent(desk)
    assert sent["outcome"] == "sent" and sent["bytes"] == record.bytes and sent["parts"] == 3


def test_a_flood_of_requests_is_refused_past_the_rate(desk):
    desk, clock = desk
    record = _keep(desk.store, clock)
    for _ in range(5):
        desk.send(record.event_id, None, "r", None)
    with pytest.raises(EvidenceRefused, match="too many evidence requests"):
        desk.send(record.event_id, None, "r", None)
    assert desk.figures()["refused_rate"] == 1 and len(_sent(desk)) == 5
    clock.advance(61)
    desk.send(record.event_id, None, "r", None)


EVIDENCE_BASE = {"snapshot": True}


def _with_evidence(config, **evidence):
    config["rules"][0]["evidence"] = {**EVIDENCE_BASE, **evidence}


def test_privacy_none_is_local_only_while_the_rest_of_evidence_is_remote():
    assert _judge(lambda c: _with_evidence(c, clip={"before": 3, "after": 4})) == []
    assert _judge(lambda c: _with_evidence(c, privacy="faces")) == []
    assert _judge(lambda c: _with_evidence(c, privacy="none")) == ["rules[0].evidence.privacy"]
    added = {**json.loads(json.dumps(_rule())), "name": "r2", "evidence": {"snapshot": True, "privacy": "none"}}
    assert _judge(lambda c: c["rules"].append(added)) == ["rules[1]"]
    assert _judge(lambda c: c.update(evidence={"keep_days": 30})) == ["evidence.keep_days"]


def _rule():
    from tests.test_remote_policy import BASE

    return BASE["rules"][0]
