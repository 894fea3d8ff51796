# threads: Python threads do an unsynchronized read-modify-write of a shared
# counter.
#
# The GIL makes each bytecode atomic, not the increment: time.sleep(0)
# between the read and the write releases the GIL, and a thread that runs
# then has its increments overwritten when the sleeper writes back its stale
# value.
#
# Prints "counter=N want=M"; exits 1 when updates were lost.
import sys
import threading
import time

THREADS = 4
ITERS = 200

counter = 0
start = threading.Barrier(THREADS)


def work():
    global counter
    start.wait()
    for _ in range(ITERS):
        v = counter
        time.sleep(0)
        counter = v + 1


threads = [threading.Thread(target=work) for _ in range(THREADS)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(f"counter={counter} want={THREADS * ITERS}")
sys.exit(0 if counter == THREADS * ITERS else 1)
