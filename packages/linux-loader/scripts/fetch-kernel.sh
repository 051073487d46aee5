#!/usr/bin/env bash
# Fetches Debian's cloud kernel (linux-image-cloud-amd64 -> the versioned linux-image-*-cloud-amd64
# it depends on) with apt-get download into a cache outside git, extracts it with dpkg-deb -x and
# prints the path of the bzImage (vmlinuz) on stdout. Cached: a second run only prints the path.
#
#   cache: ${TS_VMM_CACHE:-$HOME/.cache/ts-vmm}/kernel/<package>/
#   usage: scripts/fetch-kernel.sh            prints /.../boot/vmlinuz-<version>
#
# Exit status: 0 and a path on stdout, or non-zero with the reason on stderr (no network, no apt).
set -euo pipefail

cache_root=${TS_VMM_CACHE:-${HOME:-/tmp}/.cache/ts-vmm}
meta=linux-image-cloud-amd64
kdir="$cache_root/kernel"
mkdir -p "$kdir"

log() { echo "fetch-kernel: $*" >&2; }

# One fetch at a time per cache (tests and benchmarks may start together).
if command -v flock >/dev/null; then
  exec 9>"$kdir/.lock"
  flock 9
fi
command -v apt-get >/dev/null || { log "apt-get not found"; exit 3; }
command -v dpkg-deb >/dev/null || { log "dpkg-deb not found"; exit 3; }

# A previously extracted kernel satisfies the request without touching the network.
if [[ -f "$kdir/current" ]]; then
  cached=$(cat "$kdir/current")
  if [[ -f "$cached" ]]; then
    echo "$cached"
    exit 0
  fi
fi

resolve() {
  apt-cache depends "$meta" 2>/dev/null | awk '/Depends: linux-image-/ { print $2; exit }'
}

pkg=$(resolve || true)
if [[ -z $pkg ]]; then
  log "package lists do not know $meta; running apt-get update"
  if [[ $(id -u) == 0 ]]; then
    apt-get update -qq >&2 || { log "apt-get update failed (no network?)"; exit 4; }
  else
    log "not root: cannot run apt-get update"; exit 4
  fi
  pkg=$(resolve || true)
fi
[[ -n $pkg ]] || { log "cannot resolve $meta to a versioned linux-image package"; exit 4; }

pdir="$kdir/$pkg"
mkdir -p "$pdir"
cd "$pdir"
if ! ls "$pdir"/"$pkg"_*.deb >/dev/null 2>&1; then
  log "downloading $pkg"
  if ! apt-get download -q "$pkg" >&2; then
    if [[ $(id -u) == 0 ]]; then
      log "download failed; running apt-get update and retrying"
      apt-get update -qq >&2 || { log "apt-get update failed (no network?)"; exit 4; }
      apt-get download -q "$pkg" >&2 || { log "apt-get download $pkg failed"; exit 4; }
    else
      log "apt-get download $pkg failed"; exit 4
    fi
  fi
fi
deb=$(ls "$pdir"/"$pkg"_*.deb | head -n1)
tmpx=$(mktemp -d "$pdir/extract.XXXXXX")
trap 'rm -rf "$tmpx"' EXIT
dpkg-deb -x "$deb" "$tmpx"
rm -rf "$pdir/root"
mv "$tmpx" "$pdir/root"
trap - EXIT
vmlinuz=$(ls "$pdir"/root/boot/vmlinuz-* | head -n1)
[[ -f $vmlinuz ]] || { log "no boot/vmlinuz-* in $deb"; exit 5; }
echo "$vmlinuz" > "$kdir/current"
echo "$vmlinuz"
