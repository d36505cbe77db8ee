#!/bin/sh
# /usr/sbin/phoenix-ga: runs the supervisor (or `status`, `install`, ...) on the Node runtime the
# package installed, with a minimal explicit environment: an inherited NODE_OPTIONS could change
# Node's behaviour, and NODE_EXTRA_CA_CERTS costs ~80 ms and 1 MB at every start.
LIB=@LIB@
U="${LIB%/current}/update"
# A version switched to by an update and not yet proven: count its starts; after 3 (its supervisor
# never got far enough to switch back itself) the previous version comes back (docs/updates.md).
if [ -f "$U/pending" ] && { [ $# -eq 0 ] || [ "$1" = run ]; }; then
  read -r NEW OLD _ < "$U/pending"
  if [ "$(readlink "$LIB")" = "$NEW" ]; then
    echo . >> "$U/starts"
    if [ "$(wc -l < "$U/starts")" -gt 3 ]; then
      ln -sfn "$OLD" "$LIB.phoenix-new" && mv -Tf "$LIB.phoenix-new" "$LIB" && sync
      printf '{"state":"update-failed","from":"%s","to":"%s","why":"supervisor-failed","reason":"the supervisor of %s did not start (3 starts)","at":"%s"}\n' \
        "$OLD" "$NEW" "$NEW" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" > "$U/last.json.new" && mv -f "$U/last.json.new" "$U/last.json"
      rm -f "$U/pending" "$U/starts"
    fi
  fi
fi
# The malloc settings the supervisor gives its worker, for the supervisor itself (about 0.15 MiB
# less): one arena, and the mmap threshold fixed at glibc's starting value (128 KiB), so that large
# blocks stay mapped and go back to the system when freed. guest-exec's commands do not get them.
exec /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C MALLOC_ARENA_MAX=1 MALLOC_MMAP_THRESHOLD_=131072 PHOENIX_GA_LAUNCHER="$0" "$LIB/node" "$LIB/supervisor.js" "$@"
