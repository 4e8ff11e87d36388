"""Object tracking: detections in, tracks with stable ids out."""

from edge_agent.tracking.tracker import Tracker, iou_matrix

__all__ = ["Tracker", "iou_matrix"]
