"""Evidence on request (docs/evidence.md): snapshots and clips taken as alerts start, people pixelated, kept on the
box (store/evidence_files.py) and sent only when `get-evidence` asks (desk.py)."""
