"""The root config model: one field per section."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, PrivateAttr, ValidationInfo, model_validator
from pydantic_core import PydanticCustomError

from edge_agent.config.access import AccessConfig, access_reference_problems
from edge_agent.config.actions import ActionConfig, action_reference_problems
from edge_agent.config.base import Section
from edge_agent.config.cameras import CameraConfig
from edge_agent.config.counts import CountsConfig
from edge_agent.config.daemon import CommandsConfig, LoggingConfig, SupervisorConfig, TelemetryConfig
from edge_agent.config.detector import DetectorConfig
from edge_agent.config.device import DeviceConfig
from edge_agent.config.enrolment import EnrolmentConfig
from edge_agent.config.evidence import EvidenceConfig
from edge_agent.config.mqtt import MqttConfig
from edge_agent.config.outbox import OutboxConfig
from edge_agent.config.rules import VideoRuleConfig
from edge_agent.config.web import WebConfig


class AgentConfig(Section):
    """An edge-agent configuration file."""

    device: DeviceConfig
    mqtt: MqttConfig = Field(default_factory=MqttConfig)
    enrolment: EnrolmentConfig = Field(default_factory=EnrolmentConfig)
    outbox: OutboxConfig = Field(default_factory=OutboxConfig)
    detector: DetectorConfig = Field(default_factory=DetectorConfig)
    cameras: list[CameraConfig] = Field(default_factory=list, description="Cameras to read.")
    rules: list[VideoRuleConfig] = Field(default_factory=list, description="Video rules.")
    access: AccessConfig = Field(default_factory=AccessConfig)
    actions: list[ActionConfig] = Field(
        default_factory=list, description="Local actions run when alerts fire (docs/actions.md)."
    )
    telemetry: TelemetryConfig = Field(default_factory=TelemetryConfig)
    counts: CountsConfig = Field(default_factory=CountsConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    supervisor: SupervisorConfig = Field(default_factory=SupervisorConfig)
    commands: CommandsConfig = Field(default_factory=CommandsConfig)
    web: WebConfig = Field(default_factory=WebConfig)
    evidence: EvidenceConfig = Field(default_factory=EvidenceConfig)

    # key path -> the value as written, for each value read from the environment (`${NAME}`): get-config shows
    # these as written, and a remote change may keep them (config/yaml_source.py); set by the loader
    _env_references: dict[tuple, str] = PrivateAttr(default_factory=dict)
    # remote text whose hidden values (secrets shown as **********) were put back: the text with them, to run and
    # persist instead of the text as sent (config/hidden.py); None when the text is to be kept as it came
    _kept_text: str | None = PrivateAttr(default=None)

    @property
    def env_references(self) -> dict[tuple, str]:
        return self._env_references

    @env_references.setter
    def env_references(self, references: dict[tuple, str]) -> None:
        self._env_references = references

    @property
    def kept_text(self) -> str | None:
        return self._kept_text

    @kept_text.setter
    def kept_text(self, text: str | None) -> None:
        self._kept_text = text

    def __eq__(self, other: object) -> bool:
        # the same settings are the same config, however the file spelled them (${ENV} or the value itself)
        return type(other) is type(self) and self.__dict__ == other.__dict__

    __hash__ = None  # type: ignore[assignment]  # mutable, like every pydantic model

    @property
    def outbox_path(self) -> Path:
        return self.outbox.path or self.device.state_dir / "outbox.db"

    @property
    def models_dir(self) -> Path:
        return self.detector.models_dir or self.device.state_dir / "models"

    def camera(self, camera_id: str) -> CameraConfig:
        for camera in self.cameras:
            if camera.id == camera_id:
                return camera
        raise KeyError(camera_id)

    def reference_problems(self) -> list[tuple[tuple, str]]:
        """(key path, message) for every id that is used twice or names nothing."""
        return [
            *_unique_ids(self),
            *_rule_names_shared(self),
            *_rule_references(self),
            *_class_references(self),
            *_door_references(self),
            *action_reference_problems(self),
        ]

    @model_validator(mode="after")
    def _references_resolve(self, info: ValidationInfo) -> AgentConfig:
        problems = self.reference_problems()
        collector = (info.context or {}).get("reference_problems")
        if collector is not None:  # the loader reports each with its YAML line
            collector.extend(problems)
        elif problems:
            raise PydanticCustomError("reference", "; ".join(message for _, message in problems))
        return self


def _unique_ids(config: AgentConfig):
    for label, path, key, items in (
        ("camera", ("cameras",), "id", config.cameras),
        ("rule", ("rules",), "name", config.rules),
        ("door", ("access", "doors"), "id", config.access.doors),
        ("adapter", ("access", "adapters"), "id", config.access.adapters),
    ):
        seen = set()
        for index, item in enumerate(items):
            value = getattr(item, key)
            if value in seen:
                yield (*path, index, key), f"{label} {key} {value!r} is used twice"
            seen.add(value)


def _rule_names_shared(config: AgentConfig):
    """A welfare watch's alerts carry its name as their `rule`, which local actions match on: one namespace."""
    rules = {rule.name for rule in config.rules}
    for index, watch in enumerate(config.access.welfare):
        if watch.name in rules:
            yield (
                ("access", "welfare", index, "name"),
                f"welfare watch {watch.name!r} has the name of a video rule; its alerts would run that rule's actions",
            )


def _rule_references(config: AgentConfig):
    cameras = {c.id: c for c in config.cameras}
    for index, rule in enumerate(config.rules):
        camera = cameras.get(rule.camera)
        if camera is None:
            yield ("rules", index, "camera"), f"camera {rule.camera!r} is not configured (known: {sorted(cameras)})"
            continue
        zone = getattr(rule, "zone", None)
        if zone is not None and zone not in camera.zones:
            yield ("rules", index, "zone"), f"camera {camera.id!r} has no zone {zone!r} (known: {sorted(camera.zones)})"
        line = getattr(rule, "line", None)
        if line is not None and line not in camera.lines:
            yield ("rules", index, "line"), f"camera {camera.id!r} has no line {line!r} (known: {sorted(camera.lines)})"


MERGED_VEHICLE_CLASSES = ("bus", "car", "truck")  # edge_agent.vision.detector reports these as `vehicle` when merging


def _class_references(config: AgentConfig):
    """Classes a rule or line waits for that the detector, as configured, never reports: it would stay silent."""
    detector = config.detector
    kept = None if detector.classes is None else set(detector.classes)
    if detector.merge_vehicles and kept is not None:
        merged = sorted(set(MERGED_VEHICLE_CLASSES) & kept)
        if merged:
            yield (
                ("detector", "classes"),
                (
                    f"{merged} never pass: merge_vehicles reports car, truck and bus as "
                    "'vehicle'; keep 'vehicle' or set merge_vehicles: false"
                ),
            )
    users = [(("rules", i, "classes"), f"rule {r.name!r}", r.classes) for i, r in enumerate(config.rules)]
    for c_index, camera in enumerate(config.cameras):
        users += [
            (("cameras", c_index, "lines", name, "classes"), f"line {camera.id}/{name}", line.classes)
            for name, line in camera.lines.items()
        ]
    for path, who, classes in users:
        wanted = set(classes)
        if detector.merge_vehicles and "vehicle" not in wanted and wanted & set(MERGED_VEHICLE_CLASSES):
            yield (
                path,
                (
                    f"{who} waits for {sorted(wanted & set(MERGED_VEHICLE_CLASSES))}, which detector.merge_vehicles "
                    "reports as 'vehicle'; add 'vehicle' or set merge_vehicles: false"
                ),
            )
        elif kept is not None and not wanted & kept:
            yield path, f"{who} waits for {sorted(wanted)}, none of which detector.classes keeps ({sorted(kept)})"


def _door_references(config: AgentConfig):
    cameras = {c.id: c for c in config.cameras}
    doors = {d.id for d in config.access.doors}
    for index, door in enumerate(config.access.doors):
        ref = door.camera_line
        if ref is None:
            continue
        camera = cameras.get(ref.camera)
        where = ("access", "doors", index, "camera_line")
        if camera is None:
            yield (*where, "camera"), f"camera {ref.camera!r} is not configured"
        elif ref.line not in camera.lines:
            yield (*where, "line"), f"camera {ref.camera!r} has no line {ref.line!r}"
    for a_index, adapter in enumerate(config.access.adapters):
        for r_index, reader in enumerate(getattr(adapter, "readers", [])):
            if reader.door not in doors:
                yield (
                    ("access", "adapters", a_index, "readers", r_index, "door"),
                    f"unknown door {reader.door!r} (known: {sorted(doors)})",
                )
    if config.access.adapters and config.access.site_key_file is None:
        yield (
            ("access", "site_key_file"),
            "required when access adapters are configured (card numbers are tokenized with it)",
        )
    yield from access_reference_problems(config.access)
