#!/usr/bin/env python3
# The host side of a serial agent channel, as QEMU's socket chardev serves it: one pseudo-terminal
# (raw, no echo; its slave is the agent's port, linked at PORT) and a unix socket at SOCK that
# relays one host connection at a time to it. Output of the agent while no host is connected is
# dropped; a second connection waits until the first closes.
# With --cooked the pty keeps a terminal's default line discipline (echo, CR/LF translation,
# XON/XOFF), as an ISA serial port comes up in a guest.
# Usage: serial-host.py PORT SOCK [--cooked]
import os, pty, select, socket, sys, tty

port, sock_path = sys.argv[1], sys.argv[2]
master, slave = pty.openpty()
if '--cooked' not in sys.argv[3:]:
    tty.setraw(slave)
os.symlink(os.ttyname(slave), port)
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(sock_path)
srv.listen(16)
client = None
while True:
    watch = [master, client if client else srv]
    ready, _, _ = select.select(watch, [], [])
    if master in ready:
        try:
            data = os.read(master, 65536)
        except OSError:
            data = b''
        if data and client:
            try:
                client.sendall(data)
            except OSError:
                client.close()
                client = None
    if client is None and srv in ready:
        client, _ = srv.accept()
    elif client is not None and client in ready:
        data = client.recv(65536)
        if not data:
            client.close()
            client = None
        else:
            os.write(master, data)
