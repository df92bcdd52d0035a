# Runs a command whose output path (the token FIFO among its arguments) is a
# FIFO with a reader: the bytes must arrive through the pipe, and the FIFO
# must still be a FIFO afterwards (not replaced by a regular file).
import os
import stat
import subprocess
import sys
import tempfile
import threading

folder = tempfile.mkdtemp()
fifo = os.path.join(folder, "out.fifo")
os.mkfifo(fifo)
received = bytearray()


def read():
    with open(fifo, "rb") as pipe:
        received.extend(pipe.read())


# A daemon: if the FIFO was replaced, nothing will ever write to the one it waits on.
reader = threading.Thread(target=read, daemon=True)
reader.start()
command = [fifo if arg == "FIFO" else arg for arg in sys.argv[1:]]
rc = subprocess.run(command).returncode
still_fifo = stat.S_ISFIFO(os.stat(fifo).st_mode)
if rc != 0 and still_fifo:
    # Release the reader, which waits for a writer.
    open(fifo, "wb").close()
reader.join(timeout=30)
print(f"exit {rc}, {len(received)} bytes through the pipe, still a FIFO: {still_fifo}")
