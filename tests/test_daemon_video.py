"""The daemon on a shared clip, as a subprocess against mosquitto: alerts arrive at a subscriber."""

import pytest

from edge_agent.events import Alert, Telemetry
from edge_agent.vision.models import fetch_model
from tests.support.assets import assets_dir, footage, model_path
from tests.support.daemon import Daemon, Watcher, base_config
from tests.support.wait import wait_for


@pytest.fixture
def models_dir(tmp_path):
    model_path()  # fails in CI, skips elsewhere, when the shared model is missing
    directory = tmp_path / "models"
    fetch_model("yolox_nano", directory, mirror_dir=assets_dir())  # the same API `models fetch --from` uses
    return directory


def test_alerts_from_a_clip_reach_a_subscriber(tmp_path, mosquitto, models_dir):
    clip = footage("entrance-one-by-one.mp4")
    config = base_config(
        tmp_path / "state",
        mosquitto.port,
        detector={"models_dir": str(models_dir), "threads": 1},
        cameras=[
            {
                "id": "entrance",
                "url": str(clip),
                "kind": "file",
                "loop": True,
                "realtime": True,
                "detect_fps": 5,
                "zones": {"room": {"points": [[0, 0], [1, 0], [1, 1], [0, 1]]}},
            }
        ],
        rules=[
            {
                "name": "anyone",
                "type": "intrusion",
                "camera": "entrance",
                "zone": "room",
                "classes": ["person"],
                "min_dwell": 0.2,
                "cooldown": 0,
                "severity": "major",
            }
        ],
        telemetry={"interval": 2},
    )
    watcher = Watcher(mosquitto.port)
    daemon = Daemon(tmp_path / "agent", config).start()
    try:
        alert = wait_for(lambda: watcher.payloads("alerts/intrusion"), timeout=60, message="an intrusion alert")[0]
        parsed = Alert.model_validate(alert)
        assert parsed.rule == "anyone" and parsed.source.id == "entrance" and parsed.device_id == "dev-1"
        assert parsed.details.zone == "room" and parsed.details.object_class == "person"

        def camera_telemetry():
            for sample in reversed(watcher.payloads("telemetry")):
                camera = Telemetry.model_validate(sample).cameras.get("entrance", {})
                if camera.get("detector_calls", 0) > 0 and camera.get("processed_fps", 0) > 0:
                    return sample
            return None

        sample = wait_for(camera_telemetry, timeout=20, message="camera figures in telemetry")
        camera = sample["cameras"]["entrance"]
        assert camera["online"] is True and 5 <= camera["capture_fps"] <= 15  # the clip is 10 fps, played in real time
        assert 0 < camera["motion_gate_ratio"] <= 1 and camera["detector_ms"] > 0
        assert sample["detector"]["calls"] > 0 and sample["stages"]["camera-entrance"]["status"] == "running"
    finally:
        code = daemon.stop()
        watcher.close()
    assert code == 0
