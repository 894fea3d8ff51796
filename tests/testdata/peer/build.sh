#!/usr/bin/env bash
# tests/testdata/peer/build.sh: build the Linux mm selftests that TestPeerSuites
# (tests/peer_test.go) runs natively and under madvisor.
#
#   build.sh TEST...      e.g. build.sh madv_populate mseal_test
#   PEER_STATIC=1 build.sh TEST...   statically linked, for the old-host guest
#
# Source: Debian's linux-source-6.12 package (/usr/src/linux-source-6.12.tar.xz,
# or $PEER_TARBALL). Only what the build needs is extracted: the mm selftests,
# kselftest*.h, tools/include, mm/gup_test.h, and what `make headers` needs
# (top Makefile, scripts/, include/uapi, arch/x86). `make headers` installs the
# kernel's uapi headers into the tree's usr/include, which an unconfigured x86
# tree allows (no rsync, no .config); bookworm's libc headers are from 6.1 and
# lack MAP_DROPPABLE, __NR_mseal, PAGEMAP_SCAN, ....
# Each test is then compiled with gcc directly, with the flags of the
# selftests' Makefile (tools/testing/selftests/mm/Makefile, lib.mk):
#   -Wall -O2 -I TREE -isystem TREE/usr/include -isystem TREE/tools/include/uapi
#   -U_FORTIFY_SOURCE   TEST.c vm_util.c thp_settings.c  -lrt -lpthread -lm
# (+ -luring when liburing is installed, as check_config.sh finds). Unlike the
# Makefile on x86_64, no -no-pie: a non-PIE binary has its randomised brk heap
# low (tens of MB), where mremap_test's "40MB Preamble" case maps with
# MAP_FIXED_NOREPLACE below a destination it checked for room, not the
# preamble; the case then fails natively with EEXIST in about one run in twenty.
#
# PEER_STATIC=1 links the tests with -static-pie (TestOldHost runs them in a
# 6.1 qemu guest that has no libc): a static PIE keeps the randomised layout of
# the dynamic build (see -no-pie above), and the objects are the same -fPIE
# ones (gcc's default). Only -luring needs a liburing.a, which bookworm's
# liburing-dev lacks: without it, a test that uses liburing (cow,
# gup_longterm, when local_config.h has it) fails to link statically.
#
# Cache: ${PEER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/madvisor-peer}/NAME-SIZE-MTIME
# (one per tarball version). The extracted tree with its headers is kept there
# and reused; binaries go to bin-HASH/ (bin-static-HASH/ with PEER_STATIC=1),
# HASH being this script's checksum, so a change of flags rebuilds them. A
# lock (flock) serialises concurrent builds.
#
# Output: the binaries' directory, alone on stdout's last line. Progress and
# compiler messages go to stderr. Exit status 1 with the directory printed if
# any TEST failed to build (the others are still built); another failure
# (no tarball, a tree that cannot be extracted or prepared) prints no directory.
set -euo pipefail

if (($# == 0)); then
  echo "usage: $0 TEST..." >&2
  exit 2
fi

tarball=${PEER_TARBALL:-/usr/src/linux-source-6.12.tar.xz}
if [[ ! -f $tarball ]]; then
  echo "build.sh: $tarball not found (Debian package linux-source-6.12)" >&2
  exit 2
fi
top=$(basename "$tarball" .tar.xz) # the tarball's top directory
cache_root=${PEER_CACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/madvisor-peer}
cache=$cache_root/$top-$(stat -c '%s-%Y' "$tarball")
tree=$cache/tree
mkdir -p "$cache"

exec 9>"$cache/lock"
flock 9

log() { printf 'build.sh: %s\n' "$*" >&2; }

# 1. Extract (once). xz streams are not seekable: about 20 s whatever the
# selection.
if [[ ! -f $tree/.extracted ]]; then
  log "extracting the needed parts of $tarball into $tree"
  rm -rf "$tree" "$tree.tmp"
  mkdir -p "$tree.tmp"
  tar -xJf "$tarball" -C "$tree.tmp" --strip-components=1 --wildcards \
    "$top/Makefile" \
    "$top/scripts/*" \
    "$top/include/uapi/*" \
    "$top/arch/x86/*" \
    "$top/mm/gup_test.h" \
    "$top/tools/include/*" \
    "$top/tools/testing/selftests/kselftest*" \
    "$top/tools/testing/selftests/mm/*"
  mv "$tree.tmp" "$tree"
  touch "$tree/.extracted"
fi

# 2. uapi headers into $tree/usr/include (once; about 1 minute on 2 CPUs: the
# kernel runs scripts/headers_install.sh once per header).
if [[ ! -f $tree/.headers ]]; then
  log "make headers (kernel uapi headers into $tree/usr/include)"
  make -C "$tree" -s -j"$(nproc)" ARCH=x86 headers >&2
  touch "$tree/.headers"
fi

# 3. Compile. local_config.h records whether liburing is there, as the
# selftests' Makefile does (check_config.sh writes it in the current directory).
mmdir=$tree/tools/testing/selftests/mm
hash=$(sha256sum "${BASH_SOURCE[0]}" | cut -c1-12)
static=${PEER_STATIC:-}
[[ $static == 0 || $static == false ]] && static=
if [[ -n $static ]]; then
  bin=$cache/bin-static-$hash
else
  bin=$cache/bin-$hash
fi
mkdir -p "$bin"
if [[ ! -f $mmdir/local_config.h ]]; then
  (cd "$mmdir" && /bin/sh ./check_config.sh gcc)
fi
extra_libs=()
if grep -q LOCAL_CONFIG_HAVE_LIBURING "$mmdir/local_config.h"; then
  extra_libs=(-luring)
fi
cflags=(-Wall -O2 -I "$tree" -isystem "$tree/usr/include" -isystem "$tree/tools/include/uapi"
  -U_FORTIFY_SOURCE)
ldlibs=(-lrt -lpthread -lm)
ldflags=()
if [[ -n $static ]]; then
  ldflags=(-static-pie)
fi

# The helpers every test links (the Makefile's vm_util.c thp_settings.c,
# plus uffd-common.c for the uffd tests), compiled once.
objs=$bin/obj
mkdir -p "$objs"
compile_helper() {
  local o=$objs/$1.o
  [[ -f $o ]] && return 0
  (cd "$mmdir" && gcc "${cflags[@]}" -c "$1.c" -o "$o.tmp") && mv "$o.tmp" "$o"
}

build_one() {
  local t=$1 out=$bin/$1 objs_t=("$objs/vm_util.o" "$objs/thp_settings.o")
  [[ -x $out ]] && return 0
  case $t in
  uffd-stress | uffd-unit-tests) objs_t+=("$objs/uffd-common.o") ;;
  esac
  if [[ ! -f $mmdir/$t.c ]]; then
    log "$t: no $t.c in the mm selftests of $top"
    return 1
  fi
  log "gcc ${static:+-static-pie }$t"
  if ! (cd "$mmdir" && gcc "${cflags[@]}" "${ldflags[@]}" "$t.c" "${objs_t[@]}" "${ldlibs[@]}" "${extra_libs[@]}" -o "$out.tmp"); then
    rm -f "$out.tmp"
    log "$t: compilation failed"
    return 1
  fi
  mv "$out.tmp" "$out"
}

# As many gcc at a time as there are CPUs.
failed=0
for h in vm_util thp_settings uffd-common; do
  compile_helper "$h" &
done
for h in vm_util thp_settings uffd-common; do
  wait -n || { log "cannot compile the selftests' helpers"; exit 2; }
done
jobs=$(nproc)
pids=()
for t in "$@"; do
  build_one "$t" &
  pids+=($!)
  if ((${#pids[@]} >= jobs)); then
    wait "${pids[0]}" || failed=1
    pids=("${pids[@]:1}")
  fi
done
for p in "${pids[@]}"; do
  wait "$p" || failed=1
done

echo "$bin"
exit $failed
