#!/bin/sh
# /usr/sbin/phoenix-ga: runs the supervisor (or `status`, `install`, ...) on the Node runtime the
# package installed, with a minimal explicit environment: an inherited NODE_OPTIONS could change
# Node's behaviour, and NODE_EXTRA_CA_CERTS costs ~80 ms and 1 MB at every start.
LIB=@LIB@
exec /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C PHOENIX_GA_LAUNCHER="$0" "$LIB/node" "$LIB/supervisor.js" "$@"
