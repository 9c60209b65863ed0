#!/usr/bin/env bash
# Install sollama.
#
#   ./install.sh            for use: pipx when present, else a venv under the
#                           user's data dir with a link in ~/.local/bin
#   ./install.sh --dev      for development: .venv with the test dependencies,
#                           plus the shells the completion tests drive
#   ./install.sh --alias    also add `eval "$(sollama shell-init --alias)"` to your shell rc
#   ./install.sh --timer    also a systemd user timer that runs `sollama preload --now` hourly
#   ./install.sh --service  also a systemd user service running `sollama proxy` (127.0.0.1:11400)
#   ./install.sh --uninstall  remove exactly what this script added
#
# Idempotent: running it again upgrades in place.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here"
dev=0 alias=0 uninstall=0 completions=1 timer=0 service=0
for arg in "$@"; do
  case "$arg" in
    --dev) dev=1 ;;
    --alias) alias=1 ;;
    --timer) timer=1 ;;
    --service) service=1 ;;
    --uninstall) uninstall=1 ;;
    --no-completions) completions=0 ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install.sh: unknown option $arg (see --help)" >&2; exit 2 ;;
  esac
done

say() { printf 'install.sh: %s\n' "$*"; }
die() { printf 'install.sh: error: %s\n' "$*" >&2; exit 1; }

data_home=${XDG_DATA_HOME:-$HOME/.local/share}
unit_dir=${XDG_CONFIG_HOME:-$HOME/.config}/systemd/user
timer_unit=sollama-preload.timer
service_unit=sollama-preload.service
proxy_unit=sollama-proxy.service
bin_dir=$HOME/.local/bin
user_venv=$data_home/sollama/venv

find_python() {
  for py in "${PYTHON:-}" python3.13 python3.12 python3.11 python3; do
    [ -n "$py" ] || continue
    command -v "$py" >/dev/null 2>&1 || continue
    if "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$py"; return 0
    fi
  done
  return 1
}

remove_timer() {  # the units --timer wrote (their .service names the dirs it created)
  [ -f "$unit_dir/$service_unit" ] && grep -q '^# written by sollama' "$unit_dir/$service_unit" || return 0
  if command -v systemctl >/dev/null 2>&1; then
    systemctl --user disable --now "$timer_unit" >/dev/null 2>&1 || true
  fi
  rm -f "$unit_dir/timers.target.wants/$timer_unit"
  rmdir "$unit_dir/timers.target.wants" 2>/dev/null || true
  local dirs
  dirs=$(sed -n 's/^# created-dirs: //p' "$unit_dir/$service_unit")
  rm -f "$unit_dir/$service_unit" "$unit_dir/$timer_unit"
  for d in $dirs; do rmdir "$d" 2>/dev/null || true; done
  say "removed the systemd user timer $timer_unit"
}

enable_unit() {  # enable_unit UNIT KIND WHAT VERB: enabled now, or how to do it by hand
  if command -v systemctl >/dev/null 2>&1 && systemctl --user daemon-reload >/dev/null 2>&1 \
      && systemctl --user enable --now "$1" >/dev/null 2>&1; then
    say "enabled the systemd user $2 $1 ($3)"
  else
    say "wrote $unit_dir/$1; $4 it with: systemctl --user enable --now $1"
  fi
}

make_unit_dir() {  # make_unit_dir UNIT: the unit directory made; `made` lists the dirs
  # this made (innermost first), or, on a reinstall, the ones the first install made
  local d
  made=()
  for d in "${XDG_CONFIG_HOME:-$HOME/.config}" "${XDG_CONFIG_HOME:-$HOME/.config}/systemd" "$unit_dir"; do
    [ -d "$d" ] || { mkdir -p "$d"; made=("$d" "${made[@]}"); }
  done
  if [ -f "$unit_dir/$1" ]; then
    mapfile -t made < <(sed -n 's/^# created-dirs: //p' "$unit_dir/$1" | tr ' ' '\n' | sed '/^$/d')
  fi
}

install_timer() {  # install_timer SOLLAMA: an hourly `sollama preload --now`, absolute path
  local made
  make_unit_dir "$service_unit"
  cat > "$unit_dir/$service_unit" <<UNIT
# written by sollama's install.sh --timer; removed by install.sh --uninstall
# created-dirs: ${made[*]}
[Unit]
Description=Load the models of sollama's [[preload]] schedule

[Service]
Type=oneshot
ExecStart=$1 preload --now
UNIT
  cat > "$unit_dir/$timer_unit" <<UNIT
# written by sollama's install.sh --timer; removed by install.sh --uninstall
[Unit]
Description=Run sollama preload every hour

[Timer]
OnCalendar=hourly
Persistent=true

[Install]
WantedBy=timers.target
UNIT
  enable_unit "$timer_unit" "timer" "hourly: $1 preload --now" "enable"
}

remove_service() {  # the unit --service wrote (it names the dirs it created)
  [ -f "$unit_dir/$proxy_unit" ] && grep -q '^# written by sollama' "$unit_dir/$proxy_unit" || return 0
  if command -v systemctl >/dev/null 2>&1; then
    systemctl --user disable --now "$proxy_unit" >/dev/null 2>&1 || true
  fi
  rm -f "$unit_dir/default.target.wants/$proxy_unit"
  rmdir "$unit_dir/default.target.wants" 2>/dev/null || true
  # the dirs it made: removed (when empty) after the timer's units are gone too
  service_dirs=$(sed -n 's/^# created-dirs: //p' "$unit_dir/$proxy_unit")
  rm -f "$unit_dir/$proxy_unit"
  say "removed the systemd user service $proxy_unit"
}

install_service() {  # install_service SOLLAMA: `sollama proxy` as a user service, absolute path
  local made
  make_unit_dir "$proxy_unit"
  cat > "$unit_dir/$proxy_unit" <<UNIT
# written by sollama's install.sh --service; removed by install.sh --uninstall
# created-dirs: ${made[*]}
[Unit]
Description=sollama proxy: Ollama- and OpenAI-compatible endpoint that routes every request
After=network-online.target

[Service]
ExecStart=$1 proxy --listen 127.0.0.1:11400
# SIGTERM lets the answers being streamed finish, then the proxy exits
KillSignal=SIGTERM
TimeoutStopSec=300
Restart=on-failure

[Install]
WantedBy=default.target
UNIT
  enable_unit "$proxy_unit" "service" "$1 proxy on 127.0.0.1:11400" "start"
}

if [ "$uninstall" = 1 ]; then
  service_dirs=""
  remove_service
  remove_timer
  for d in $service_dirs; do rmdir "$d" 2>/dev/null || true; done
  [ -x "$here/scripts/shell-setup.sh" ] && "$here/scripts/shell-setup.sh" uninstall || true
  if command -v pipx >/dev/null 2>&1 && pipx list --short 2>/dev/null | grep -q '^smartollama '; then
    pipx uninstall smartollama >/dev/null && say "removed the pipx install"
  fi
  if [ -L "$bin_dir/sollama" ] && [ "$(readlink "$bin_dir/sollama")" = "$user_venv/bin/sollama" ]; then
    rm -f "$bin_dir/sollama" && say "removed $bin_dir/sollama"
  fi
  created_list=""
  [ -f "$data_home/sollama/created-dirs" ] && created_list=$(cat "$data_home/sollama/created-dirs")
  if [ -d "$user_venv" ]; then
    rm -rf "$user_venv"
    say "removed $user_venv"
  fi
  rm -f "$data_home/sollama/created-dirs"
  rmdir "$data_home/sollama" 2>/dev/null || true
  # directories the install created, deepest first, if nothing else lives there now
  if [ -n "$created_list" ]; then
    printf '%s\n' "$created_list" | awk '{ print length, $0 }' | sort -rn | cut -d' ' -f2- |
      while IFS= read -r d; do rmdir "$d" 2>/dev/null || true; done
  fi
  exit 0
fi

py=$(find_python) || die "Python 3.11 or newer is needed (set PYTHON=/path/to/python3.11)"

if [ "$dev" = 1 ]; then
  [ -x .venv/bin/python ] || "$py" -m venv .venv
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null 2>&1 || true
  .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
  # The completion tests drive real shells: install the ones that are missing.
  if [ -x scripts/test-deps.sh ]; then scripts/test-deps.sh || say "some test shells could not be installed; their tests will skip"; fi
  say "installed sollama for development in $here/.venv (editable, with test dependencies)"
  say "run the tests with: .venv/bin/python -m pytest -n auto"
  exit 0
fi

installed=""
if command -v pipx >/dev/null 2>&1; then
  pipx install --force "$here" >/dev/null
  sollama_bin="$(pipx environment --value PIPX_BIN_DIR 2>/dev/null || echo "$bin_dir")/sollama"
  installed="with pipx ($sollama_bin)"
else
  # remember the directories this install creates, so --uninstall removes exactly those
  created=()
  for d in "$HOME/.local" "$data_home" "$data_home/sollama" "$bin_dir"; do
    [ -d "$d" ] || { mkdir -p "$d"; created+=("$d"); }
  done
  if [ ${#created[@]} -gt 0 ] && [ ! -f "$data_home/sollama/created-dirs" ]; then
    printf '%s\n' "${created[@]}" > "$data_home/sollama/created-dirs"
  fi
  [ -x "$user_venv/bin/python" ] || "$py" -m venv "$user_venv"
  "$user_venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade "$here"
  ln -sfn "$user_venv/bin/sollama" "$bin_dir/sollama"
  sollama_bin=$bin_dir/sollama
  installed="in $user_venv, linked from $bin_dir/sollama"
fi
say "installed sollama $installed"
[ "$timer" = 1 ] && install_timer "$sollama_bin"
[ "$service" = 1 ] && install_service "$sollama_bin"

if [ "$completions" = 1 ] && [ -x scripts/shell-setup.sh ]; then
  if [ "$alias" = 1 ]; then scripts/shell-setup.sh install --alias; else scripts/shell-setup.sh install; fi
fi
case ":$PATH:" in
  *":$bin_dir:"*) ;;
  *) say "note: $bin_dir is not on your PATH; add it, or run $bin_dir/sollama" ;;
esac
say "try: sollama demo"
