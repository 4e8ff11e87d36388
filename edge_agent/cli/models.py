"""`edge-agent models ...`: fetch, install, list, verify, quantize and bench detector models.

The models directory is --models-dir, else the one the config (--config) names, else
$EDGE_AGENT_MODELS_DIR, else /var/lib/edge-agent/models. `fetch` copies from a mirror
(edge_agent.assets.find_mirror: --from DIR, $EDGE_AGENT_ASSETS, ../shared beside the source
checkout), otherwise downloads; both check sha256.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path

from edge_agent.assets import MIRROR_HINT, find_mirror
from edge_agent.cli.common import load_config_or_exit
from edge_agent.private_files import GROUP_READABLE_FILE, atomic_write_private

DEFAULT_MODELS_DIR = Path("/var/lib/edge-agent/models")


def register(subparsers) -> None:
    parser = subparsers.add_parser("models", help="fetch, install, verify, quantize and bench detector models")
    commands = parser.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--models-dir", type=Path, help="models directory (default: from --config, $EDGE_AGENT_MODELS_DIR)"
    )
    common.add_argument("--config", help="agent config whose detector.models_dir / device.state_dir to use")
    _register_getting(commands, common)
    listing = commands.add_parser("list", parents=[common], help="installed models and known manifests")
    listing.set_defaults(handler=run_list)
    verify = commands.add_parser("verify", parents=[common], help="check every installed file against its sha256")
    verify.set_defaults(handler=run_verify)
    _register_quantize(commands, common)
    _register_bench(commands, common)


def _register_getting(commands, common: argparse.ArgumentParser) -> None:
    """`fetch` a known model, `install` a custom one."""
    fetch = commands.add_parser("fetch", parents=[common], help="download (or copy from a mirror) and check sha256")
    fetch.add_argument("name")
    fetch.add_argument(
        "--from",
        dest="mirror",
        type=Path,
        help="mirror directory (default: $EDGE_AGENT_ASSETS, else ../shared beside the source checkout, else download)",
    )
    fetch.add_argument("--force", action="store_true", help="fetch again even when an installed copy verifies")
    fetch.set_defaults(handler=run_fetch)

    install = commands.add_parser("install", parents=[common], help="install a custom model file, recording its sha256")
    install.add_argument("file", type=Path)
    install.add_argument("--name", required=True)
    how = install.add_mutually_exclusive_group(required=True)
    how.add_argument("--like", help="reuse this known manifest's family, input spec and labels")
    how.add_argument("--manifest", type=Path, help="a manifest YAML for the model")
    install.set_defaults(handler=run_install)


def _register_quantize(commands, common: argparse.ArgumentParser) -> None:
    quantize = commands.add_parser("quantize", parents=[common], help="INT8 static quantization with a report")
    quantize.add_argument("name")
    quantize.add_argument("--calib", type=Path, required=True, help="clip, image or directory of real footage")
    # Unset options fall back to QuantizeOptions, whose defaults are what measured best here.
    quantize.add_argument(
        "--method", choices=["minmax", "entropy", "percentile"], help="calibration (default: percentile)"
    )
    quantize.add_argument("--format", dest="quant_format", choices=["qdq", "qoperator"], help="default: qdq")
    quantize.add_argument("--calib-frames", type=int, help="frames sampled for calibration (default: 60)")
    quantize.add_argument("--eval-frames", type=int, help="held-out frames for the agreement report (default: 60)")
    quantize.add_argument(
        "--float-first-convs",
        type=int,
        help="leading convolutions kept in float (default: 0; the most sensitive ones are kept float anyway)",
    )
    quantize.add_argument("--all-ops", action="store_true", help="quantize every supported op, not only Conv")
    quantize.add_argument(
        "--min-agreement",
        type=float,
        default=None,
        help="refuse to install an INT8 whose detection F1 against FP32 is below this (default: 0.95)",
    )
    quantize.set_defaults(handler=run_quantize)


def _register_bench(commands, common: argparse.ArgumentParser) -> None:
    bench = commands.add_parser(
        "bench", parents=[common], help="time fp32 and int8 here; prefer int8 only when faster and faithful"
    )
    bench.add_argument("name")
    bench.add_argument("--runs", type=int, default=30, help="timed runs per variant")
    bench.add_argument("--frames", type=Path, help="clip or images to time on (default: synthetic frames)")
    bench.add_argument(
        "--min-agreement", type=float, default=None, help="INT8 agreement F1 needed to prefer it (default: 0.95)"
    )
    bench.set_defaults(handler=run_bench)


def models_dir(args) -> Path:
    if args.models_dir:
        return args.models_dir
    if args.config:
        return load_config_or_exit(args.config).models_dir
    return Path(os.environ.get("EDGE_AGENT_MODELS_DIR", DEFAULT_MODELS_DIR))


def _fail(message: str, code: int) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def run_fetch(args) -> int:
    from edge_agent.vision.manifest import ManifestError
    from edge_agent.vision.models import ModelIntegrityError, ensure_model, fetch_model, read_record

    mirror = find_mirror(args.mirror).path
    target_dir = models_dir(args)
    try:
        if args.force:
            path, fetched = fetch_model(args.name, target_dir, mirror_dir=mirror), True
        else:
            path, fetched = ensure_model(args.name, target_dir, mirror_dir=mirror)
    except (ManifestError, ModelIntegrityError) as exc:
        return _fail(str(exc), os.EX_DATAERR)
    except OSError as exc:
        return _fail(f"cannot fetch model {args.name!r}: {exc}; {MIRROR_HINT}", os.EX_NOINPUT)
    entry = read_record(target_dir, args.name).variants["fp32"]
    if not fetched:
        print(f"{args.name}: already installed {path} sha256 {entry.sha256} (verified; --force fetches again)")
        return 0
    print(f"{args.name}: installed {path} sha256 {entry.sha256} from {entry.source}")
    return 0


def run_install(args) -> int:
    from edge_agent.vision.manifest import ManifestError, load_manifest, load_manifest_file
    from edge_agent.vision.models import install_model, read_record

    try:
        manifest = load_manifest(args.like) if args.like else load_manifest_file(args.manifest)
        path = install_model(args.file, args.name, models_dir(args), manifest)
    except ManifestError as exc:
        return _fail(str(exc), os.EX_DATAERR)
    except FileNotFoundError as exc:
        return _fail(str(exc), os.EX_NOINPUT)
    entry = read_record(models_dir(args), args.name).variants["fp32"]
    print(f"{args.name}: installed {path} sha256 {entry.sha256}")
    return 0


def run_list(args) -> int:
    from edge_agent.vision.manifest import known_manifests
    from edge_agent.vision.models import installed_records

    directory = models_dir(args)
    records = installed_records(directory) if directory.is_dir() else []
    print(f"installed in {directory}:")
    for record in records:
        variants = ", ".join(f"{v} {e.file} {e.sha256[:12]}" for v, e in sorted(record.variants.items()))
        preferred = f" preferred={record.preferred_variant}" if record.preferred_variant else ""
        print(f"  {record.name} [{record.manifest.family}] {variants}{preferred}")
    if not records:
        print("  (none)")
    installed = {r.name for r in records}
    print("available to fetch:")
    for manifest in known_manifests():
        mark = " (installed)" if manifest.name in installed else ""
        print(f"  {manifest.name} [{manifest.family}] {manifest.licence}{mark}")
    return 0


def run_verify(args) -> int:
    from edge_agent.vision.models import verify_models

    results = verify_models(models_dir(args))
    for name, variant, problem in results:
        print(f"{name} ({variant}): {'OK' if problem is None else 'FAILED: ' + problem}")
    if not results:
        print(f"no models installed in {models_dir(args)}")
    return os.EX_DATAERR if any(problem for *_, problem in results) else 0


def quantize_unavailable() -> str | None:
    """Why this onnxruntime cannot quantize, or None: quantize.py reuses one calibration via its cache."""
    import onnxruntime
    from onnxruntime.quantization import calibrate

    if hasattr(calibrate, "save_tensors_data"):
        return None
    return (
        f"models quantize needs onnxruntime's calibration cache, which onnxruntime {onnxruntime.__version__}"
        " lacks; newer releases have it (on PyPI only for Python 3.11 and later)"
    )


def run_quantize(args) -> int:
    from edge_agent.vision.cpu_features import describe_cpu
    from edge_agent.vision.models import MIN_AGREEMENT, ModelIntegrityError, ModelNotInstalled, resolve_variant
    from edge_agent.vision.quantize import quantize_and_report

    if (unavailable := quantize_unavailable()) is not None:
        return _fail(unavailable, os.EX_SOFTWARE)
    directory = models_dir(args)
    try:
        fp32_path, record, _ = resolve_variant(directory, args.name, "fp32")
    except (ModelNotInstalled, ModelIntegrityError) as exc:
        return _fail(str(exc), os.EX_DATAERR)
    min_agreement = MIN_AGREEMENT if args.min_agreement is None else args.min_agreement
    # Quantized beside, not over, the installed INT8: a refused candidate must not replace it.
    candidate = directory / f".{args.name}.int8.candidate.onnx"
    try:
        report = quantize_and_report(fp32_path, candidate, record.manifest, args.calib, _quantize_options(args))
    except (FileNotFoundError, ValueError) as exc:
        candidate.unlink(missing_ok=True)
        return _fail(str(exc), os.EX_NOINPUT)
    f1 = report.agreement["f1"]
    accepted = f1 >= min_agreement
    report.notes.append(describe_cpu())
    # A refused attempt is kept under its own name: NAME.int8.* always describes the installed INT8.
    stem = f"{args.name}.int8" if accepted else f"{args.name}.int8.rejected"
    report_path = directory / f"{stem}.report.json"
    document = {**report.as_dict(), "min_agreement": min_agreement, "installed": accepted}
    atomic_write_private(report_path, (json.dumps(document, indent=2) + "\n").encode(), GROUP_READABLE_FILE)
    _print_quant_report(args.name, report, report_path)
    os.chmod(candidate, GROUP_READABLE_FILE)  # written by onnxruntime under the umask; like the other model files
    os.replace(candidate, directory / f"{stem}.onnx")
    if not accepted:
        return _fail(
            f"not installing the INT8 variant: its agreement with FP32 (F1 {f1:.3f}) is below --min-agreement "
            f"{min_agreement:.2f}; report {report_path}, refused model {directory / f'{stem}.onnx'} (never loaded)",
            os.EX_DATAERR,
        )
    from edge_agent.vision.models import record_int8

    int8_path = directory / f"{stem}.onnx"
    record_int8(directory, args.name, int8_path, f"quantized from {fp32_path.name} on {args.calib}", agreement_f1=f1)
    print(f"{args.name}: installed {int8_path} (agreement F1 {f1:.3f} >= {min_agreement:.2f})")
    return 0


def _quantize_options(args):
    from edge_agent.vision.quantize import QuantizeOptions

    chosen = {
        "method": args.method,
        "quant_format": args.quant_format,
        "calib_frames": args.calib_frames,
        "eval_frames": args.eval_frames,
        "float_first_convs": args.float_first_convs,
    }
    options = QuantizeOptions(**{key: value for key, value in chosen.items() if value is not None})
    return dataclasses.replace(options, quantize_ops=None) if args.all_ops else options


def _print_quant_report(name: str, report, report_path: Path) -> None:
    a, m = report.agreement, report.agreement_with_margin
    print(f"{name}: wrote report {report_path}")
    print(f"  {report.notes[-1]}")
    print(f"  size {report.int8_bytes:,} / {report.fp32_bytes:,} bytes = {report.size_ratio:.2f}")
    print(
        f"  agreement with FP32 on {report.eval_frames} held-out frames (IoU 0.5): "
        f"P {a['precision']:.3f} R {a['recall']:.3f} F1 {a['f1']:.3f}; with score margin F1 {m['f1']:.3f}"
    )
    print(
        f"  latency here: fp32 {report.fp32_ms:.1f} ms, int8 {report.int8_ms:.1f} ms (ratio {report.latency_ratio:.2f})"
    )


def run_bench(args) -> int:
    from edge_agent.vision.cpu_features import describe_cpu
    from edge_agent.vision.models import MIN_AGREEMENT, ModelIntegrityError, ModelNotInstalled
    from edge_agent.vision.variant_bench import bench_variants

    min_agreement = MIN_AGREEMENT if args.min_agreement is None else args.min_agreement
    try:
        record, why = bench_variants(
            models_dir(args), args.name, runs=args.runs, frames=args.frames, min_agreement=min_agreement
        )
    except (ModelNotInstalled, ModelIntegrityError) as exc:
        return _fail(str(exc), os.EX_DATAERR)
    print(describe_cpu())
    for variant, ms in sorted(record.bench.items()):
        f1 = record.variants[variant].agreement_f1
        print(f"{args.name} {variant}: median {ms:.1f} ms" + (f", agreement F1 {f1:.3f}" if f1 is not None else ""))
    print(f"{args.name}: preferred variant {record.preferred_variant} (used when detector.variant is auto): {why}")
    return 0
