#!/usr/bin/env bash
# An arm64 Debian bookworm root file system (the base of Raspberry Pi OS) with the agent installed by
# install.sh from aarch64 wheels and the shared model, then, inside it under qemu-user emulation:
# `check-config` on the example, `models bench`, and a replay of a shared clip whose alerts must match the
# same replay on this (x86_64) machine. See docs/install.md ("One image for every box").
#
#   sudo scripts/build-rootfs.sh                    # builds var/rootfs-arm64 once, reuses it after
#   sudo scripts/build-rootfs.sh --rootfs DIR --assets ../shared   # .ci/run: a cache outside the clone
#
# Exit status: 0 all good; 3 binfmt_misc/qemu cannot be set up here (nothing was run; .ci/run says so);
# anything else: a step failed (its output says which). Everything heavy runs under `nice -n 19`.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"
ROOTFS="$ROOT/var/rootfs-arm64"
OUT="$ROOT/var/arm64-check"
ASSETS="${EDGE_AGENT_ASSETS:-$ROOT/../shared}"
HOST_PYTHON="${HOST_PYTHON:-$ROOT/.venv/bin/python}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
CLIP="entrance-one-by-one.mp4"
CLIP_CONFIG="configs/replay-entrance.yaml"
# The first visitor at detect_fps 2 (the config's 5 would be 2.5 times the detector runs): 22 s of clip, 44
# detector runs, 3 alerts (in over the floor line, the table visit's start and end). Emulated, one fp32 run of
# yolox_nano takes seconds (10 s on a loaded 2-core VM), so this is what fits the 10-minute budget.
MAX_SECONDS=22
DETECT_FPS=2
NICE=(nice -n 19)

while [ $# -gt 0 ]; do
  case "$1" in
    --rootfs) ROOTFS="$2"; shift 2 ;;
    --assets) ASSETS="$2"; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "build-rootfs.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
ASSETS="$(cd "$ASSETS" && pwd)"
WHEELS="$(dirname "$ROOTFS")/wheels-aarch64"  # cached beside the rootfs
say() { echo "build-rootfs.sh: $*"; }
die() { echo "build-rootfs.sh: error: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "run as root (debootstrap, chroot and binfmt_misc need it)"

setup_binfmt() {  # exit 3 when this machine cannot run aarch64 binaries
  local missing=()
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  [ -e /usr/libexec/qemu-binfmt/aarch64-binfmt-P ] || command -v qemu-aarch64-static >/dev/null || missing+=(qemu-user-static)
  command -v update-binfmts >/dev/null || missing+=(binfmt-support)
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
      || { say "cannot install ${missing[*]}"; exit 3; }
  fi
  if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null \
      || { say "cannot mount binfmt_misc (a container without that privilege?)"; exit 3; }
  fi
  if ! grep -qx enabled /proc/sys/fs/binfmt_misc/qemu-aarch64 2>/dev/null; then
    update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
  fi
  grep -qx enabled /proc/sys/fs/binfmt_misc/qemu-aarch64 2>/dev/null \
    || { say "qemu-aarch64 is not registered with binfmt_misc (update-binfmts --enable qemu-aarch64 failed)"; exit 3; }
  # F (fix binary): the kernel opens the interpreter now, so it works inside the chroot without a copy there
  grep -q '^flags: .*F' /proc/sys/fs/binfmt_misc/qemu-aarch64 || say "warning: qemu-aarch64 lacks the F flag"
}

build_rootfs() {
  if [ -f "$ROOTFS/.edge-agent-rootfs" ]; then
    say "reusing $ROOTFS (rm -r it to build afresh)"
    return
  fi
  rm -rf "$ROOTFS.tmp"
  mkdir -p "$(dirname "$ROOTFS")"
  say "debootstrap arm64 bookworm into $ROOTFS (minutes: its second stage runs emulated)"
  "${NICE[@]}" debootstrap --arch=arm64 --variant=minbase \
    --include=python3,python3-venv,ca-certificates,libgomp1,passwd bookworm "$ROOTFS.tmp" "$MIRROR" \
    > "$ROOT/var/debootstrap.log" 2>&1 || die "debootstrap failed; see var/debootstrap.log"
  mv "$ROOTFS.tmp" "$ROOTFS"
  date -u +%FT%TZ > "$ROOTFS/.edge-agent-rootfs"
}

fetch_wheels() {  # on the host: the agent's wheel and every dependency's aarch64 wheel (cached in var/)
  mkdir -p "$WHEELS"
  rm -f "$WHEELS"/edge_agent-*.whl
  "${NICE[@]}" "$HOST_PYTHON" -m pip wheel -q --no-deps -w "$WHEELS" "$ROOT" >/dev/null 2>&1 || die "cannot build the agent's wheel"
  local python_version
  python_version="$(chroot "$ROOTFS" python3 -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
  say "aarch64 wheels for Python $python_version into $WHEELS"
  "${NICE[@]}" "$HOST_PYTHON" -m pip download -q --isolated --only-binary=:all: --implementation cp \
    --python-version "$python_version" --platform manylinux_2_28_aarch64 --platform manylinux_2_17_aarch64 \
    --platform manylinux2014_aarch64 --platform linux_aarch64 -d "$WHEELS" "$WHEELS"/edge_agent-*.whl \
    || die "pip could not download every aarch64 wheel (see above)"
}

MOUNTS=()
bind() {  # bind SRC DEST-IN-ROOTFS [ro]
  mkdir -p "$ROOTFS$2"
  mount --bind "$1" "$ROOTFS$2"
  [ "${3:-}" = ro ] && mount -o remount,bind,ro "$ROOTFS$2"
  MOUNTS+=("$ROOTFS$2")
}
unbind() {
  local index
  for ((index = ${#MOUNTS[@]} - 1; index >= 0; index--)); do umount "${MOUNTS[$index]}" 2>/dev/null || true; done
  MOUNTS=()
}

stage() {  # the source tree, wheels, model and footage where the chroot sees them
  rm -rf "$ROOTFS/opt/edge-agent-src"
  mkdir -p "$ROOTFS/opt/edge-agent-src" "$ROOTFS/tmp/offline/models"
  (cd "$ROOT" && git ls-files -z | tar --null -T - -cf -) | tar -C "$ROOTFS/opt/edge-agent-src" -xf -
  sed "s/^\( *detect_fps:\).*/\1 $DETECT_FPS/" "$ROOT/$CLIP_CONFIG" > "$OUT/replay.yaml"
  cp "$OUT/replay.yaml" "$ROOTFS/tmp/replay.yaml"
  cp "$ASSETS/models/yolox_nano.onnx" "$ROOTFS/tmp/offline/models/"
  trap unbind EXIT
  mount -t proc proc "$ROOTFS/proc" && MOUNTS+=("$ROOTFS/proc")
  bind /dev /dev
  # no /sys: with the host's CPU lists there, onnxruntime's cpuinfo crashes under qemu-user 7.2 (SIGSEGV in
  # `models bench`); without them it warns ("cpuinfo_initialize failed") and runs
  bind "$WHEELS" /tmp/offline/wheels ro
  bind "$ASSETS" /mnt/shared ro
}

TIMES=()
emulated() {  # emulated LABEL COMMAND...: run inside the rootfs, timed
  local started=$SECONDS
  say "[emulated] $1"
  shift
  "${NICE[@]}" chroot "$ROOTFS" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
    EDGE_AGENT_ASSETS=/mnt/shared EDGE_AGENT_STATE=/tmp/replay-state EDGE_AGENT_MODELS=/var/lib/edge-agent/models "$@"
  TIMES+=("$(printf '%-34s %5ss' "${label:-step}" $((SECONDS - started)))")
}

run_checks() {
  local started=$SECONDS
  label="install.sh --offline" emulated "install.sh from aarch64 wheels" \
    /opt/edge-agent-src/scripts/install.sh --offline /tmp/offline --no-enable --no-bench
  # no systemd in this rootfs: enable the unit as `systemctl enable` would, for the image (docs/install.md)
  mkdir -p "$ROOTFS/etc/systemd/system/multi-user.target.wants"
  ln -sfn /etc/systemd/system/edge-agent.service "$ROOTFS/etc/systemd/system/multi-user.target.wants/edge-agent.service"
  label="check-config example.yaml" emulated "check-config" \
    edge-agent check-config /opt/edge-agent-src/configs/example.yaml
  label="models bench (3 runs)" emulated "models bench" \
    edge-agent models bench yolox_nano --models-dir /var/lib/edge-agent/models --runs 3
  label="replay ${MAX_SECONDS}s of $CLIP" emulated "replay" \
    sh -c "edge-agent replay /mnt/shared/footage/$CLIP --config /tmp/replay.yaml --max-seconds $MAX_SECONDS \
      > /tmp/arm64-replay.jsonl"
  cp "$ROOTFS/tmp/arm64-replay.jsonl" "$OUT/arm64.jsonl"
  say "EMULATED timings (qemu-user aarch64 on this x86_64 machine under nice 19, NOT a Pi's speed):"
  printf '  %s\n' "${TIMES[@]}"
  say "  emulated total: $((SECONDS - started))s"
}

x86_replay() {
  local state="$OUT/x86-state"
  mkdir -p "$state"
  EDGE_AGENT_MANIFESTS="$ROOT/models" PYTHONPATH="$ROOT" "$HOST_PYTHON" -m edge_agent models fetch yolox_nano \
    --models-dir "$state/models" --from "$ASSETS" >/dev/null
  (cd "$ROOT" && EDGE_AGENT_ASSETS="$ASSETS" EDGE_AGENT_STATE="$state" EDGE_AGENT_MODELS="$state/models" \
    PYTHONPATH="$ROOT" "${NICE[@]}" "$HOST_PYTHON" -m edge_agent replay "$ASSETS/footage/$CLIP" \
    --config "$OUT/replay.yaml" --max-seconds "$MAX_SECONDS" > "$OUT/x86.jsonl")
}

mkdir -p "$OUT" "$(dirname "$ROOTFS")"
# One build or check at a time per rootfs: two CI runs on one machine share the cache, and two installs or two
# bind mounts into one rootfs at once would break each other. The second waits (at most 30 minutes).
exec 9>"$ROOTFS.lock"
flock -w 1800 9 || die "another build-rootfs.sh has held $ROOTFS.lock for 30 minutes"
setup_binfmt
build_rootfs
fetch_wheels
stage
run_checks
unbind
trap - EXIT
x86_replay
"$HOST_PYTHON" "$SCRIPT_DIR/compare_replays.py" "$OUT/x86.jsonl" "$OUT/arm64.jsonl"
