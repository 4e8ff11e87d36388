#!/usr/bin/env bash
# Install edge-agent as a systemd service on Raspberry Pi OS, Ubuntu (Jetson, arm64) or x86_64 Linux.
#
#   sudo scripts/install.sh                       # online: builds from this source tree
#   sudo scripts/install.sh --offline /media/usb  # offline: wheels and the model from a local mirror
#   scripts/install.sh --prefix /tmp/root --offline DIR --no-deps   # throwaway root (tests)
#
# Idempotent: running it again upgrades the package and leaves an edited config alone.
# See docs/install.md.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"

PREFIX=""
OFFLINE=""
ENABLE=1
PYTHON="${PYTHON:-python3}"
MODEL="yolox_nano"
NO_DEPS=0
BENCH=1
SERVICE_USER="edge-agent"

usage() {
  cat <<EOF
usage: $0 [--offline DIR] [--prefix DIR] [--no-enable] [--python PY] [--model NAME|none] [--no-deps]
          [--no-bench]

  --offline DIR   install from DIR only: wheels (DIR/*.whl or DIR/wheels/*.whl) and the model
                  (DIR/models/<file> or DIR/<file>); nothing is downloaded
  --prefix DIR    install under DIR instead of / (tests): no user is created, nothing is chowned,
                  systemd is not touched
  --no-enable     do not enable the systemd unit
  --python PY     interpreter for the venv (default: python3, needs >= 3.10)
  --model NAME    model to install (default: yolox_nano); 'none' skips it
  --no-deps       install only the edge-agent package, not its dependencies (they must already be
                  importable, e.g. a venv made with --system-site-packages; used by the test suite)
  --no-bench      do not time the model's variants on this device (by default \`models bench\` runs
                  once, and again after a new variant is installed, so \`variant: auto\` fits this CPU)
EOF
}

die() { echo "install.sh: error: $*" >&2; exit 1; }
say() { echo "install.sh: $*"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --offline) OFFLINE="${2:?--offline needs a directory}"; shift 2 ;;
    --prefix) PREFIX="${2:?--prefix needs a directory}"; shift 2 ;;
    --no-enable) ENABLE=0; shift ;;
    --python) PYTHON="${2:?--python needs an interpreter}"; shift 2 ;;
    --model) MODEL="${2:?--model needs a name}"; shift 2 ;;
    --no-deps) NO_DEPS=1; shift ;;
    --no-bench) BENCH=0; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown option $1" ;;
  esac
done

if [ -n "$PREFIX" ]; then
  mkdir -p "$PREFIX"
  PREFIX="$(cd "$PREFIX" && pwd)"
  ENABLE=0
elif [ "$(id -u)" -ne 0 ]; then
  die "run as root (sudo), or use --prefix DIR for a throwaway install"
fi
if [ -n "$OFFLINE" ]; then
  [ -d "$OFFLINE" ] || die "--offline $OFFLINE is not a directory"
  OFFLINE="$(cd "$OFFLINE" && pwd)"
fi

APP_DIR="$PREFIX/opt/edge-agent"
VENV="$APP_DIR/venv"
CONF_DIR="$PREFIX/etc/edge-agent"
CONFIG="$CONF_DIR/config.yaml"
STATE_DIR="$PREFIX/var/lib/edge-agent"
MODELS_DIR="$STATE_DIR/models"
UNIT_DIR="$PREFIX/etc/systemd/system"
UNIT="$UNIT_DIR/edge-agent.service"
BIN_LINK="$PREFIX/usr/local/bin/edge-agent"

check_python() {
  command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON not found (install python3 and python3-venv)"
  "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' \
    || die "$PYTHON is $("$PYTHON" -V 2>&1); edge-agent needs Python 3.10 or newer"
  "$PYTHON" -c 'import venv, ensurepip' 2>/dev/null || die "$PYTHON lacks venv/ensurepip (apt-get install python3-venv)"
}

create_user() {
  if [ -n "$PREFIX" ]; then
    say "would create system user $SERVICE_USER in groups video,dialout (skipped under --prefix)"
    return
  fi
  for group in video dialout; do
    getent group "$group" >/dev/null || groupadd --system "$group"
  done
  if id "$SERVICE_USER" >/dev/null 2>&1; then
    usermod -a -G video,dialout "$SERVICE_USER"
  else
    useradd --system --home-dir /var/lib/edge-agent --no-create-home --shell /usr/sbin/nologin \
      --groups video,dialout --comment "edge-agent daemon" "$SERVICE_USER"
    say "created system user $SERVICE_USER"
  fi
}

owned_dir() {  # owned_dir PATH MODE OWNER:GROUP
  mkdir -p "$1"
  chmod "$2" "$1"
  [ -n "$PREFIX" ] || chown "$3" "$1"
}

make_dirs() {
  mkdir -p "$APP_DIR" "$UNIT_DIR"
  # sticky and group-writable: the agent may replace its own config.yaml (remote set-config)
  # but not the root-owned secret files beside it
  owned_dir "$CONF_DIR" 1770 "root:$SERVICE_USER"
  owned_dir "$STATE_DIR" 0750 "$SERVICE_USER:$SERVICE_USER"
  owned_dir "$MODELS_DIR" 0750 "$SERVICE_USER:$SERVICE_USER"
}

install_package() {
  if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
    say "created venv $VENV"
  fi
  local pip=("$VENV/bin/python" -m pip --disable-pip-version-check --no-input --quiet)
  local args=(install --upgrade)
  [ "$NO_DEPS" -eq 1 ] && args+=(--no-deps)
  if [ -n "$OFFLINE" ]; then
    local wheel
    wheel="$(ls -t "$OFFLINE"/edge_agent-*.whl "$OFFLINE"/wheels/edge_agent-*.whl 2>/dev/null | head -n1 || true)"
    [ -n "$wheel" ] || die "no edge_agent-*.whl in $OFFLINE or $OFFLINE/wheels"
    args+=(--no-index --find-links "$OFFLINE")
    [ -d "$OFFLINE/wheels" ] && args+=(--find-links "$OFFLINE/wheels")
    # --force-reinstall of the agent only: a rebuilt wheel with the same version still replaces the old one
    "${pip[@]}" "${args[@]}" "$wheel" || die "pip could not install $wheel offline (are all dependency wheels in $OFFLINE?)"
    "${pip[@]}" install --no-index --no-deps --force-reinstall "$wheel" >/dev/null
    say "installed $(basename "$wheel") into $VENV"
  else
    [ -f "$ROOT/setup.cfg" ] || die "not a source tree ($ROOT); use --offline DIR with a wheel"
    "${pip[@]}" "${args[@]}" "$ROOT" || die "pip could not install from $ROOT"
    say "installed edge-agent from $ROOT into $VENV"
  fi
  "$VENV/bin/edge-agent" --version >/dev/null || die "the installed edge-agent does not run (missing dependencies?)"
  link_command
}

check_link() {  # before anything is installed: a file of the site's own where the link goes stops the install
  if [ -e "$BIN_LINK" ] && [ ! -L "$BIN_LINK" ]; then
    die "$BIN_LINK exists and is not a link; move it away and run install.sh again"
  fi
}

link_command() {
  # on PATH for everyone, so the docs' `sudo -u edge-agent edge-agent web passwd` works on an installed box
  mkdir -p "$(dirname "$BIN_LINK")"
  ln -sfn "$VENV/bin/edge-agent" "$BIN_LINK"
  say "linked $BIN_LINK -> $VENV/bin/edge-agent"
}

install_config() {
  if [ -f "$CONFIG" ]; then
    say "keeping existing $CONFIG"
  else
    sed -e "s#^\(  state_dir:\).*#\1 $STATE_DIR#" "$ROOT/configs/example.yaml" > "$CONFIG.new"
    chmod 0640 "$CONFIG.new"
    [ -n "$PREFIX" ] || chown "$SERVICE_USER:$SERVICE_USER" "$CONFIG.new"
    mv "$CONFIG.new" "$CONFIG"
    say "wrote config template $CONFIG (edit it: device, mqtt, cameras)"
  fi
}

install_model() {
  [ "$MODEL" = "none" ] && { say "skipping the model (--model none)"; return; }
  local mirror=()
  [ -n "$OFFLINE" ] && mirror=(--from "$OFFLINE")
  # umask 027 as under the unit (UMask=0027): whatever the tools write beside the model stays 0640/0750
  (umask 027 && EDGE_AGENT_MANIFESTS="$ROOT/models" "$VENV/bin/edge-agent" models fetch "$MODEL" \
    --models-dir "$MODELS_DIR" "${mirror[@]}") || die "could not install model $MODEL into $MODELS_DIR"
  [ -n "$PREFIX" ] || chown -R "$SERVICE_USER:$SERVICE_USER" "$MODELS_DIR"
}

bench_model() {
  [ "$MODEL" = "none" ] && return
  [ "$BENCH" -eq 1 ] || { say "not benching $MODEL (--no-bench)"; return; }
  # `models bench` records its verdict in the model record; fetch/quantize clear it, so this runs
  # once per installed set of variants, not on every upgrade.
  if ! grep -q '^bench: null' "$MODELS_DIR/$MODEL.model.yaml" 2>/dev/null; then
    say "model $MODEL already benched on this device (models bench $MODEL to run it again)"
    return
  fi
  (umask 027 && "$VENV/bin/edge-agent" models bench "$MODEL" --models-dir "$MODELS_DIR" --runs 15) \
    || die "models bench $MODEL failed (skip it with --no-bench)"
  [ -n "$PREFIX" ] || chown -R "$SERVICE_USER:$SERVICE_USER" "$MODELS_DIR"
}

install_unit() {
  sed -e "s#/opt/edge-agent#$APP_DIR#g" -e "s#/etc/edge-agent#$CONF_DIR#g" -e "s#/var/lib/edge-agent#$STATE_DIR#g" \
    "$ROOT/systemd/edge-agent.service" > "$UNIT.new"
  chmod 0644 "$UNIT.new"
  mv "$UNIT.new" "$UNIT"
  mkdir -p "$APP_DIR/share/doc"
  cp "$ROOT"/docs/install.md "$ROOT"/docs/troubleshooting.md "$ROOT"/docs/configuration.md "$APP_DIR/share/doc/" 2>/dev/null || true
  say "installed unit $UNIT"
  if [ "$ENABLE" -eq 1 ]; then
    systemctl daemon-reload
    systemctl enable edge-agent.service >/dev/null
    if systemctl is-active --quiet edge-agent.service; then
      systemctl restart edge-agent.service
      say "restarted edge-agent (upgrade)"
    else
      say "enabled edge-agent; start it with: systemctl start edge-agent"
    fi
  else
    say "unit not enabled (--no-enable or --prefix)"
  fi
}

check_python
check_link
create_user
make_dirs
install_package
install_config
install_model
bench_model
install_unit
"$VENV/bin/edge-agent" check-config "$CONFIG" >/dev/null 2>&1 \
  && say "config $CONFIG is valid" \
  || say "config $CONFIG needs editing: $VENV/bin/edge-agent check-config $CONFIG"
say "done"
